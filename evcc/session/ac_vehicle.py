"""The AC part of the vehicle port (ISO 15118-2 §8.5.3 AC_EVChargeParameterType; ISO 15118-20 AC and AC_BPT
charge loops use the same limits) and an AC variant of the bench battery model.

Beside :mod:`evcc.session.vehicle` (the DC port); ``evcc.session.iso2.ac_vehicle`` re-exports it for older
imports. Same rules: synchronous answers from the latest values, SI units. Implementations: the battery model
(below, bench and tests) and the BMS bridge (evcc.bms_bridge.vehicle.BridgeVehicle, the car).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from evcc.session.battery_model import BatteryModel, Memo
from evcc.session.vehicle import VehiclePort


@dataclass(frozen=True, slots=True)
class AcLimits:
    """AC_EVChargeParameter: energy wanted (EAmount, Wh), voltage and per-phase current limits."""

    energy_request: float
    max_voltage: float
    max_current: float
    min_current: float
    departure_time: int | None = None  # s from now


@runtime_checkable
class AcVehiclePort(VehiclePort, Protocol):
    """The DC port plus what AC charging needs."""

    def ac_limits(self) -> AcLimits: ...

    def ac_charging_complete(self, now: float) -> bool: ...

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        """What the EVSE offers (nominal voltage, current limit per phase, phases in use): the on-board charger
        draws up to it."""
        ...


@dataclass
class AcBatteryModel(BatteryModel):
    """BatteryModel charged through an on-board charger limited to ``ac_max_current`` per phase."""

    ac_max_voltage: float = 250.0
    ac_max_current: float = 16.0
    ac_min_current: float = 6.0

    _ac: Memo[AcLimits] = field(default_factory=Memo, init=False, repr=False, compare=False)

    def ac_limits(self) -> AcLimits:
        """Remembered like the DC answers (:class:`~evcc.session.battery_model.Memo`): asked twice per -20 AC
        charge-loop message, built once per SoC step."""
        soc, memo = self.soc, self._ac
        if memo.soc is soc and memo.gen is self._gen:
            return memo.value  # type: ignore[return-value]
        return memo.put(self._gen, soc, AcLimits(
            energy_request=max(0.0, (self.target_soc - soc) / 100.0 * self.capacity_wh),
            max_voltage=self.ac_max_voltage, max_current=self.ac_max_current, min_current=self.ac_min_current,
        ))

    def ac_charging_complete(self, now: float) -> bool:
        return self.soc >= self.target_soc

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        current = max(0.0, min(self.ac_max_current, max_current))
        self.evse_output(voltage * phases, current, now)
