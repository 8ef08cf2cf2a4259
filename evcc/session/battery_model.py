"""A simple battery model implementing the vehicle port, for the bench and the tests.

Open-circuit voltage rises linearly with the state of charge; the charge current follows the limits and tapers
over the last 5 % before the target; the energy the charger reports (voltage x current x elapsed time) raises
the state of charge, and a negative current (ISO 15118-20 BPT discharging) lowers it. Not a cell model: enough
to drive a session to its target and back. ``bpt_limits`` and ``energy_request`` are the ISO 15118-20 part of
the port (evcc.session.iso20.vehicle.Iso20VehiclePort).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evcc.session.vehicle import DcLimits, DcStatus, DcTargets, EVErrorCode


@dataclass(frozen=True, slots=True)
class BptLimits:
    """ISO 15118-20 BPT limits (positive numbers; discharging is a negative current)."""

    max_discharge_current: float
    max_discharge_power: float
    min_discharge_soc: int
    min_voltage: float


@dataclass(frozen=True, slots=True)
class EnergyRequest:
    """ISO 15118-20 EVTargetEnergyRequest / EVMinimumEnergyRequest / EVMaximumEnergyRequest (Wh)."""

    target: float
    minimum: float
    maximum: float
    departure_time: float | None


@dataclass
class BatteryModel:
    capacity_wh: float = 50_000.0
    soc: float = 40.0  # percent
    target_soc: float = 80.0
    voltage_empty: float = 330.0
    voltage_full: float = 400.0
    max_voltage: float = 420.0
    max_current: float = 200.0
    max_power: float = 80_000.0
    ready: bool = True
    error: EVErrorCode = "NO_ERROR"
    delivered_wh: float = 0.0  # net energy into the battery
    discharged_wh: float = 0.0  # energy given back (BPT)
    max_discharge_current: float = 100.0
    max_discharge_power: float = 30_000.0
    min_discharge_soc: int = 20
    departure_time: float | None = None  # s from the session start, None: not known
    _last: float | None = field(default=None, repr=False)

    def dc_status(self, now: float) -> DcStatus:
        return DcStatus(ready=self.ready, soc=int(self.soc), error=self.error)

    def dc_limits(self) -> DcLimits:
        return DcLimits(
            max_voltage=self.max_voltage, max_current=self.max_current, max_power=self.max_power,
            energy_capacity=self.capacity_wh, energy_request=self._energy_to_target(),
            full_soc=100, bulk_soc=80,
        )

    def dc_targets(self, now: float) -> DcTargets:
        done = self.soc >= self.target_soc
        current = 0.0 if done else min(self.max_current, self.max_power / self.battery_voltage(now))
        left = self.target_soc - self.soc
        if 0 < left < 5:
            current *= max(0.2, left / 5)
        power = current * self.battery_voltage(now)
        remaining = self._energy_to_target() / power * 3600 if power > 0 else 0.0
        return DcTargets(
            voltage=min(self.max_voltage, self.battery_voltage(now) + 10.0), current=current,
            charging_complete=done, bulk_complete=self.soc >= 80.0, remaining_time_to_full=remaining,
        )

    def battery_voltage(self, now: float) -> float:
        return self.voltage_empty + (self.voltage_full - self.voltage_empty) * self.soc / 100.0

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        if self._last is not None and now > self._last and current != 0 and voltage > 0:
            wh = voltage * current * (now - self._last) / 3600.0
            self.delivered_wh += wh
            if wh < 0:
                self.discharged_wh -= wh
            self.soc = max(0.0, min(100.0, self.soc + wh / self.capacity_wh * 100.0))
        self._last = now

    def bpt_limits(self, now: float) -> BptLimits:
        return BptLimits(self.max_discharge_current, self.max_discharge_power, self.min_discharge_soc,
                         self.voltage_empty)

    def energy_request(self, now: float) -> EnergyRequest:
        """Target: up to ``target_soc``; minimum: what may be given back down to ``min_discharge_soc``."""
        down_to = (self.min_discharge_soc - self.soc) / 100.0 * self.capacity_wh
        full = (100.0 - self.soc) / 100.0 * self.capacity_wh
        return EnergyRequest(target=self._energy_to_target(), minimum=min(0.0, down_to), maximum=max(0.0, full),
                             departure_time=self.departure_time)

    def _energy_to_target(self) -> float:
        return max(0.0, (self.target_soc - self.soc) / 100.0 * self.capacity_wh)
