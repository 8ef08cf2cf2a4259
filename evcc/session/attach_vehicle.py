"""The vehicle behind `evcc session` (a bench EV on a lab cable): the battery model of
:mod:`evcc.session.battery_model` (AC through an on-board charger: :class:`~evcc.session.iso2.AcBatteryModel`)
behind the vehicle port of :mod:`evcc.session.vehicle` and the AC port of :mod:`evcc.session.iso2.ac_vehicle`.

Three lab knobs, all vehicle policy (the protocol machines and their timers are untouched):

- ``time_scale``: the battery sees ``now * time_scale``, so the energy the charger reports fills it faster;
- ``charge_seconds``: the vehicle declares charging complete (ISO 15118-2 ``ChargingComplete``, DIN 70121
  ``ChargingComplete``, AC: the EV ends the ChargingStatus loop) that many seconds after the charge loop began,
  whatever the state of charge: a session against a charger that delivers no real power still ends in order;
- ``pack_voltage``: the open-circuit voltage at 0 % and 100 % (default 330 .. 400 V), e.g. a low-voltage pack for
  a lab charger whose EVSEMaximumVoltageLimit is below a traction battery's.

For ISO 15118-20 it is also the -20 vehicle port (BPT discharge limits down to the model's minimum SoC, energy
requests of ScheduleExchange and the Dynamic control mode).
"""

from __future__ import annotations

from dataclasses import dataclass

from evcc.errors import ConfigError
from evcc.session.iso2.ac_vehicle import AcBatteryModel, AcLimits
from evcc.session.battery_model import BptLimits, EnergyRequest
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets


@dataclass(frozen=True, slots=True)
class VehicleConfig:
    start_soc: float = 40.0
    target_soc: float = 80.0
    capacity_kwh: float = 50.0
    time_scale: float = 1.0
    charge_seconds: float | None = None
    pack_voltage: tuple[float, float] | None = None  # V at 0 % and at 100 %

    def __post_init__(self) -> None:
        if self.pack_voltage is not None and not 0.0 < self.pack_voltage[0] < self.pack_voltage[1] <= 1500.0:
            raise ConfigError(f"--pack-voltage {self.pack_voltage}: need 0 < empty < full <= 1500 V")
        if not 0.0 <= self.start_soc < self.target_soc <= 100.0:
            raise ConfigError(f"SoC: need 0 <= start ({self.start_soc}) < target ({self.target_soc}) <= 100")
        if not 0.0 < self.capacity_kwh <= 1000.0:
            raise ConfigError(f"--capacity-kwh {self.capacity_kwh} outside (0, 1000]")
        if not 1.0 <= self.time_scale <= 100_000.0:
            raise ConfigError(f"--time-scale {self.time_scale} outside [1, 100000]")
        if self.charge_seconds is not None and not 0.0 <= self.charge_seconds <= 86_400.0:
            raise ConfigError(f"--charge-seconds {self.charge_seconds} outside [0, 86400]")


class LabVehicle:
    """An :class:`~evcc.session.iso2.AcVehiclePort` (hence also a DC vehicle port) and an ISO 15118-20 vehicle port
    over the battery model."""

    def __init__(self, config: VehicleConfig) -> None:
        self.config = config
        self.battery = AcBatteryModel(capacity_wh=config.capacity_kwh * 1000.0, soc=config.start_soc,
                                      target_soc=config.target_soc)
        if config.pack_voltage is not None:
            empty, full = config.pack_voltage
            self.battery.voltage_empty, self.battery.voltage_full, self.battery.max_voltage = empty, full, full * 1.05
        self.loop_started: float | None = None  # machine time of the first charge-loop question

    def _t(self, now: float) -> float:
        return now * self.config.time_scale

    def _time_is_up(self, now: float) -> bool:
        if self.loop_started is None:
            self.loop_started = now
        limit = self.config.charge_seconds
        return limit is not None and now - self.loop_started >= limit

    # DC port
    def dc_status(self, now: float) -> DcStatus:
        return self.battery.dc_status(self._t(now))

    def dc_limits(self) -> DcLimits:
        return self.battery.dc_limits()

    def dc_targets(self, now: float) -> DcTargets:
        targets = self.battery.dc_targets(self._t(now))
        if not targets.charging_complete and self._time_is_up(now):
            return DcTargets(targets.voltage, 0.0, True, targets.bulk_complete, 0.0, targets.remaining_time_to_bulk)
        return targets

    def battery_voltage(self, now: float) -> float:
        return self.battery.battery_voltage(self._t(now))

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        self.battery.evse_output(voltage, current, self._t(now))

    # AC port
    def ac_limits(self) -> AcLimits:
        return self.battery.ac_limits()

    def ac_charging_complete(self, now: float) -> bool:
        return self.battery.ac_charging_complete(self._t(now)) or self._time_is_up(now)

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        self.battery.ac_supply(voltage, max_current, phases, self._t(now))

    # ISO 15118-20 port (evcc.session.iso20.vehicle.Iso20VehiclePort): BPT limits and energy requests
    def bpt_limits(self, now: float) -> BptLimits:
        return self.battery.bpt_limits(self._t(now))

    def energy_request(self, now: float) -> EnergyRequest:
        return self.battery.energy_request(self._t(now))
