"""The vehicle port: what a protocol machine asks the car (ARCHITECTURE.md "ports between parts").

The machines call these methods synchronously while they build a request; an implementation answers at once
from the latest values it holds (the BMS bridge keeps a fresh snapshot from CAN; the battery model computes),
so no state ever awaits the vehicle. Units are SI (V, A, W, Wh, s) and percent; the machines convert to the
standards' PhysicalValueType.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

EVErrorCode = Literal[
    "NO_ERROR", "FAILED_RESSTemperatureInhibit", "FAILED_EVShiftPosition", "FAILED_ChargerConnectorLockFault",
    "FAILED_EVRESSMalfunction", "FAILED_ChargingCurrentdifferential", "FAILED_ChargingVoltageOutOfRange",
    "FAILED_ChargingSystemIncompatibility", "NoData",
]


@dataclass(frozen=True, slots=True)
class DcStatus:
    """DC_EVStatus: readiness, error, state of charge."""

    ready: bool
    soc: int  # EVRESSSOC, percent 0..100
    error: EVErrorCode = "NO_ERROR"
    cabin_conditioning: bool | None = None
    ress_conditioning: bool | None = None


@dataclass(frozen=True, slots=True)
class DcLimits:
    """DC_EVChargeParameter: the car's limits for this session."""

    max_voltage: float
    max_current: float
    max_power: float | None = None
    energy_capacity: float | None = None  # Wh
    energy_request: float | None = None  # Wh
    full_soc: int | None = None
    bulk_soc: int | None = None


@dataclass(frozen=True, slots=True)
class DcTargets:
    """What CurrentDemandReq asks for now, and whether the car is done."""

    voltage: float
    current: float
    charging_complete: bool
    bulk_complete: bool | None = None
    remaining_time_to_full: float | None = None  # s
    remaining_time_to_bulk: float | None = None  # s


class VehiclePort(Protocol):
    def dc_status(self, now: float) -> DcStatus: ...

    def dc_limits(self) -> DcLimits: ...

    def dc_targets(self, now: float) -> DcTargets: ...

    def battery_voltage(self, now: float) -> float:
        """The RESS voltage the charger must match before the contactors close (PreCharge target)."""
        ...

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        """What the charger reports it delivers (CurrentDemandRes/PreChargeRes/WeldingDetectionRes)."""
        ...


@runtime_checkable
class ScheduleRenegotiationPort(Protocol):
    """Optional part of the vehicle port (ISO 15118-2 §8.4.3.9, EV-triggered renegotiation): a vehicle that
    implements it is asked in the charge loop whether it wants new SASchedules (new departure time, energy
    request, ...). The machine checks once, at construction, whether the port has it."""

    def wants_renegotiation(self, now: float) -> bool:
        """True once per wish: the machine starts a renegotiation and does not ask again until it is done."""
        ...
