"""The bench's vehicle: the battery model behind the vehicle port (session/vehicle.py, AC part in
session/iso2/ac_vehicle.py) on a faster clock.

:class:`ScaledVehicle` passes ``now * time_scale`` to the battery model, so the energy the charger reports
raises the state of charge ``time_scale`` times faster than real time; the protocol machine's own clock and
timers are untouched. It remembers the last targets the EV asked for and the last output the charger reported,
records them as a time series (report.py, plot.py; power < 0 while an ISO 15118-20 BPT session discharges)
and tells its observers about every call (the progress line, the D-Bus state, scripted steps). It is also the
ISO 15118-20 vehicle port (BPT limits down to the battery's minimum SoC, energy requests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from evcc.bounded import Decimator
from evcc.session.battery_model import BptLimits, EnergyRequest
from evcc.session.iso2.ac_vehicle import AcBatteryModel, AcLimits
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets

SAMPLE_PERIOD = 0.02  # s of protocol time between two recorded samples (the last one is always kept)
SERIES_POINTS = 1000  # the series is decimated to at most about twice this many samples (evcc.bounded.Decimator)


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    soc: float
    voltage: float  # last EVSEPresentVoltage reported
    current: float  # last EVSEPresentCurrent reported
    delivered_wh: float
    now: float = 0.0  # protocol clock of the call


@dataclass(frozen=True, slots=True)
class Sample:
    """One point of the session's time series (``t``: protocol clock)."""

    t: float
    soc: float
    target_voltage: float  # what the EV asked for (EVTargetVoltage; AC: 0)
    target_current: float  # EVTargetCurrent (AC: the EVSE's current limit used)
    present_voltage: float  # EVSEPresentVoltage (AC: nominal voltage x phases)
    present_current: float  # EVSEPresentCurrent
    power: float  # W, present voltage x present current


@dataclass
class ScaledVehicle:
    """A (DC and AC) vehicle port over ``battery`` with simulated time ``now * time_scale``."""

    battery: AcBatteryModel
    time_scale: float
    observers: list[Callable[[VehicleSnapshot], None]] = field(default_factory=list)
    voltage: float = 0.0
    current: float = 0.0
    target_voltage: float = 0.0
    target_current: float = 0.0
    series: Decimator[Sample] = field(default_factory=lambda: Decimator(SERIES_POINTS))  # bounded
    _trail: Sample | None = None  # the newest sample, held aside while a later call may still replace it
    _anchor: float | None = None
    _trailing: bool = False
    _fresh: bool = False

    def snapshot(self, now: float = 0.0) -> VehicleSnapshot:
        return VehicleSnapshot(self.battery.soc, self.voltage, self.current, self.battery.delivered_wh, now)

    def _seen(self, now: float) -> None:
        snap = self.snapshot(now)
        for observer in list(self.observers):
            observer(snap)

    def dc_status(self, now: float) -> DcStatus:
        status = self.battery.dc_status(now * self.time_scale)
        self._seen(now)
        return status

    def dc_limits(self) -> DcLimits:
        return self.battery.dc_limits()

    def dc_targets(self, now: float) -> DcTargets:
        targets = self.battery.dc_targets(now * self.time_scale)
        self.target_voltage, self.target_current = targets.voltage, targets.current
        return targets

    def battery_voltage(self, now: float) -> float:
        return self.battery.battery_voltage(now * self.time_scale)

    def new_session(self) -> None:
        """A new V2G session on this vehicle (after a pause): no energy flowed in between, so the battery's
        integration restarts at the next report."""
        self._fresh = True

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        self.voltage, self.current = voltage, current
        if self._fresh:
            self.battery.evse_output(voltage, 0.0, now * self.time_scale)  # a start point, no energy
            self._fresh = False
        self.battery.evse_output(voltage, current, now * self.time_scale)
        self._record(now)
        self._seen(now)

    # --- ISO 15118-20 (BPT limits, energy requests; a negative EVSEPresentCurrent discharges) -----------------
    def bpt_limits(self, now: float) -> BptLimits:
        return self.battery.bpt_limits(now * self.time_scale)

    def energy_request(self, now: float) -> EnergyRequest:
        return self.battery.energy_request(now * self.time_scale)

    # --- AC (ISO 15118-2 AC_EVChargeParameter, ChargingStatus) ---------------------------------------------
    def ac_limits(self) -> AcLimits:
        return self.battery.ac_limits()

    def ac_charging_complete(self, now: float) -> bool:
        return self.battery.ac_charging_complete(now * self.time_scale)

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        self.target_voltage, self.target_current = 0.0, max_current
        current = max(0.0, min(self.battery.ac_max_current, max_current))
        self.evse_output(voltage * phases, current, now)

    @property
    def samples(self) -> list[Sample]:
        """The recorded series, decimated to at most about 2 x SERIES_POINTS evenly spaced samples (evcc.bounded),
        ending with the newest."""
        kept = self.series.items()
        return kept + [self._trail] if self._trail is not None else kept

    def _record(self, now: float) -> None:
        """One sample per SAMPLE_PERIOD: the newest call inside a period replaces the period's trailing sample."""
        sample = Sample(now, round(self.battery.soc, 4), round(self.target_voltage, 2),
                        round(self.target_current, 2), round(self.voltage, 2), round(self.current, 2),
                        round(self.voltage * self.current, 1))
        if not self._trailing and self._trail is not None:
            self.series.append(self._trail)  # the previous sample is final; the new one may still be replaced
        self._trail = sample
        if self._anchor is None or now - self._anchor >= SAMPLE_PERIOD:
            self._anchor, self._trailing = now, False
        else:
            self._trailing = True

def make_vehicle(start_soc: float, target_soc: float, capacity_kwh: float, time_scale: float,
                 observer: Callable[[VehicleSnapshot], None] | None = None, max_current: float = 200.0,
                 max_power_kw: float = 80.0) -> ScaledVehicle:
    battery = AcBatteryModel(capacity_wh=capacity_kwh * 1000.0, soc=start_soc, target_soc=target_soc,
                             max_current=max_current, max_power=max_power_kw * 1000.0)
    return ScaledVehicle(battery, time_scale, [observer] if observer is not None else [])
