"""In-memory pairing of the bridge core with the bench battery (the EV side and its peer, no bus)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evcc.bms_bridge.battery_bms import BenchBms
from evcc.bms_bridge.codec import ChargeMode, load_codec
from evcc.bms_bridge.config import BridgeConfig, CanBusConfig
from evcc.bms_bridge.core import BridgeCore
from evcc.bms_bridge.state import BridgeEvent, StopRequested
from evcc.bms_bridge.vehicle import BridgeVehicle
from evcc.session.battery_model import BatteryModel

CODEC = load_codec()


@dataclass
class Pair:
    mode: ChargeMode = ChargeMode.DC
    freshness: float = 1.0
    model: BatteryModel = field(default_factory=BatteryModel)
    events: list[tuple[float, BridgeEvent]] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = BridgeConfig(bus=CanBusConfig("virtual", "pair"), mode=self.mode, freshness=self.freshness)
        self.core = BridgeCore(config, CODEC, started=0.0)
        self.vehicle = BridgeVehicle(self.core)
        self.bms = BenchBms(CODEC, self.model, self.mode)
        self.now = 0.0

    def step(self, now: float) -> None:
        self.now = now
        for frame_id, data in self.bms.frames_due(now):
            self.events += [(now, e) for e in self.core.receive_frame(frame_id, data, now)]
        self.events += [(now, e) for e in self.core.handle_timer(now)]
        for frame_id, data in self.core.frames_due(now):
            self.bms.receive_frame(frame_id, data, now)

    def run_until(self, end: float, dt: float = 0.01) -> None:
        t = self.now
        while t < end - 1e-9:
            t = min(end, t + dt)
            self.step(round(t, 6))

    def stops(self) -> list[tuple[float, StopRequested]]:
        return [(t, e) for t, e in self.events if isinstance(e, StopRequested)]
