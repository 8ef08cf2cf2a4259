"""In-memory bench: EV and EVSE SLAC machines on the sans-IO powerline with a virtual clock.

For tests of long timers (TT_match_join, dozens of CM_SLAC_PARM.REQ retries) and for the CPU benchmark: the same
machines and powerline the socket bench uses, without sockets or waiting (ISO 15118-3 Annex A flows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from evcc.bench.plc_sim.powerline import Powerline


class Host(Protocol):
    def receive_frame(self, frame: bytes, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def get_timer(self) -> float | None: ...
    def frames_to_send(self) -> list[bytes]: ...


class MemoryBench:
    """``hosts[i]`` sits behind ``line.ports[i]`` (None: nobody there). Frames take ``latency`` seconds."""

    def __init__(self, line: Powerline, hosts: list[Host | None], latency: float = 0.0005) -> None:
        self.line = line
        self.hosts = hosts
        self.latency = latency
        self.now = 0.0
        self._inflight: list[tuple[float, int, bytes]] = []
        self.tap: Callable[[int, bytes, float], None] | None = None

    def inject(self, port: int, frame: bytes, at: float | None = None) -> None:
        """Deliver ``frame`` to the host behind ``port`` (as if the line carried it)."""
        self._inflight.append((self.now if at is None else at, port, frame))

    def _collect(self) -> None:
        for index, host in enumerate(self.hosts):
            if host is None:
                continue
            for frame in host.frames_to_send():
                if self.tap is not None:
                    self.tap(index, frame, self.now)
                for port, out in self.line.receive(index, frame, self.now):
                    self._inflight.append((self.now + self.latency, port, out))

    def run_until(self, done: Callable[[], bool], limit: float) -> float:
        """Advance virtual time until ``done()`` or ``limit``; returns the virtual time reached."""
        self._collect()
        while not done() and self.now <= limit:
            deadlines = [t for h in self.hosts if h is not None and (t := h.get_timer()) is not None]
            deadlines += [t for t, _p, _f in self._inflight]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            due = [item for item in self._inflight if item[0] <= self.now]
            self._inflight = [item for item in self._inflight if item[0] > self.now]
            for _t, port, frame in due:
                host = self.hosts[port]
                if host is not None:
                    host.receive_frame(frame, self.now)
            for host in self.hosts:
                if host is not None:
                    host.handle_timer(self.now)
            self._collect()
        return self.now
