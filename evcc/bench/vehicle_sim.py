"""The bench's vehicle: the battery model behind the vehicle port (session/vehicle.py) on a faster clock.

:class:`ScaledVehicle` passes ``now * time_scale`` to the battery model, so the energy the charger reports
raises the state of charge ``time_scale`` times faster than real time; the protocol machine's own clock and
timers are untouched. It also remembers the last output the charger reported and tells an observer about
every call, which is what the progress line shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evcc.session.battery_model import BatteryModel
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    soc: float
    voltage: float  # last EVSEPresentVoltage reported
    current: float  # last EVSEPresentCurrent reported
    delivered_wh: float


class ScaledVehicle:
    """A :class:`~evcc.session.vehicle.VehiclePort` over ``battery`` with simulated time ``now * time_scale``."""

    def __init__(self, battery: BatteryModel, time_scale: float,
                 observer: Callable[[VehicleSnapshot], None] | None = None) -> None:
        self.battery = battery
        self.time_scale = time_scale
        self.observer = observer
        self.voltage = 0.0
        self.current = 0.0

    def snapshot(self) -> VehicleSnapshot:
        return VehicleSnapshot(self.battery.soc, self.voltage, self.current, self.battery.delivered_wh)

    def _seen(self) -> None:
        if self.observer is not None:
            self.observer(self.snapshot())

    def dc_status(self, now: float) -> DcStatus:
        status = self.battery.dc_status(now * self.time_scale)
        self._seen()
        return status

    def dc_limits(self) -> DcLimits:
        return self.battery.dc_limits()

    def dc_targets(self, now: float) -> DcTargets:
        return self.battery.dc_targets(now * self.time_scale)

    def battery_voltage(self, now: float) -> float:
        return self.battery.battery_voltage(now * self.time_scale)

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        self.voltage, self.current = voltage, current
        self.battery.evse_output(voltage, current, now * self.time_scale)
        self._seen()


def make_vehicle(start_soc: float, target_soc: float, capacity_kwh: float, time_scale: float,
                 observer: Callable[[VehicleSnapshot], None] | None = None) -> ScaledVehicle:
    battery = BatteryModel(capacity_wh=capacity_kwh * 1000.0, soc=start_soc, target_soc=target_soc)
    return ScaledVehicle(battery, time_scale, observer)
