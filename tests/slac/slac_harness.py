"""In-memory pairing for the EV SLAC machine tests: EV + simulated EVSEs on the sans-IO powerline."""

from __future__ import annotations

import random
from collections.abc import Callable

from evcc.bench.plc_sim.evse import EvseConfig, EvseSlac
from evcc.bench.plc_sim.memory import MemoryBench
from evcc.bench.plc_sim.powerline import ModemPort, Powerline
from evcc.slac.config import SlacConfig
from evcc.slac.events import Dropped, Event, Failed, Left, Matched
from evcc.slac.machine import EvSlac

EV_MAC = bytes.fromhex("02000000ee01")


def evse_mac(i: int) -> bytes:
    return bytes.fromhex(f"02000000e5{i:02x}")


def seeded_rng(seed: int = 7) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return r.randbytes


class Pairing:
    """EV on port 0, EVSEs (attenuations in dB) on ports 1..; ``events`` collects what the EV reported."""

    def __init__(self, attenuations: list[int], config: SlacConfig | None = None, restart_s: float = 0.5,
                 evse_start: bool = True, evse_config: Callable[[bytes], EvseConfig] = EvseConfig) -> None:
        rng = seeded_rng()
        ports = [ModemPort("ev", bytes.fromhex("00b052000000"), restart_s=restart_s)]
        ports += [ModemPort(f"evse{i}", bytes.fromhex(f"00b0520000{i:02x}"), evse=True, attenuation_db=a,
                            restart_s=restart_s) for i, a in enumerate(attenuations, start=1)]
        self.line = Powerline(ports)
        self.ev = EvSlac(config or SlacConfig(EV_MAC), rng)
        self.evses = [EvseSlac(evse_config(evse_mac(i)), rng) for i in range(1, len(attenuations) + 1)]
        self.bench = MemoryBench(self.line, [self.ev, *self.evses])
        self.events: list[Event] = []
        self.sent: list[tuple[int, bytes, float]] = []
        self.bench.tap = lambda port, frame, now: self.sent.append((port, frame, now))
        if evse_start:
            for evse in self.evses:
                evse.start()
        self.bench.run_until(lambda: False, restart_s + 0.01)  # EVSE modems restart after their key

    def _collect(self) -> list[Event]:
        self.events.extend(self.ev.events())
        return self.events

    def final(self) -> Event | None:
        for event in self._collect():
            if isinstance(event, (Matched, Failed)):
                return event
        return None

    def run(self, limit: float = 60.0) -> Event | None:
        self.bench.run_until(lambda: self.final() is not None, self.bench.now + limit)
        return self.final()

    def leave(self, limit: float = 30.0) -> None:
        self.ev.unplug(self.bench.now)
        self.bench.run_until(lambda: any(isinstance(e, (Left, Failed)) for e in self._collect()),
                             self.bench.now + limit)

    def plug_in_fresh(self) -> None:
        """Leave first (fresh NMK, modem restart), then plug in: PARM.REQ starts at a known time."""
        self.leave()
        self.events.clear()
        self.ev.plug_in(self.bench.now)

    def dropped(self) -> list[str]:
        return [e.reason for e in self._collect() if isinstance(e, Dropped)]
