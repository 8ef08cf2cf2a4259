"""The vehicle port for ISO 15118-20: the DC port (evcc.session.vehicle) plus what -20 asks the vehicle for the
bidirectional services (DC_BPT, AC_BPT: EVMaximumDischargePower/Current, EVMinimumVoltage, the minimum SoC the
vehicle discharges to) and the energy requests of ScheduleExchange and the Dynamic control mode
(EVTargetEnergyRequest, EVMinimum/MaximumEnergyRequest, DepartureTime).

The return types are read-only protocols so that both the bench battery model (evcc.session.battery_model) and
the BMS bridge (evcc.bms_bridge.vehicle: ``bpt_limits(now)``, ``energy_request(now)``) fit without adapters.
AC charging reuses the ISO 15118-2 AC port (evcc.session.iso2.ac_vehicle.AcVehiclePort) for its current limits.
Same rules as every port: synchronous answers from the latest values, SI units; discharging is a negative
current or power.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from evcc.session.vehicle import VehiclePort


class BptLimitsView(Protocol):
    @property
    def max_discharge_current(self) -> float: ...  # A, positive number

    @property
    def max_discharge_power(self) -> float: ...  # W, positive number

    @property
    def min_discharge_soc(self) -> int: ...  # percent: no discharging at or below

    @property
    def min_voltage(self) -> float: ...  # V, EVMinimumVoltage


class EnergyRequestView(Protocol):
    @property
    def target(self) -> float: ...  # Wh

    @property
    def minimum(self) -> float: ...  # Wh (negative: the vehicle may give energy back)

    @property
    def maximum(self) -> float: ...  # Wh

    @property
    def departure_time(self) -> float | None: ...  # s from now


@runtime_checkable
class Iso20VehiclePort(VehiclePort, Protocol):
    def bpt_limits(self, now: float) -> BptLimitsView: ...

    def energy_request(self, now: float) -> EnergyRequestView | None:
        """None when the vehicle cannot say (the machine then derives it from the DC limits)."""
        ...
