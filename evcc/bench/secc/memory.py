"""Pair an EV machine with the SECC responder in memory, on an injected clock: every message goes through the
EXI codec both ways, time jumps from one deadline to the next. Used by the tests, the benchmarks and the bench's
in-process link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.session.din.machine import DinEvcc
from evcc.session.events import SessionEnded, SessionEvent
from evcc.session.machine import EvccMachine


class SeccResponder(Protocol):
    """What the in-memory pairing and the server need of a sans-IO SECC responder (DIN, ISO 15118-2)."""

    def receive_payload(self, data: bytes, now: float) -> None: ...

    def messages_to_send(self, now: float) -> list[Any]: ...

    def get_timer(self) -> float | None: ...


@dataclass
class PairResult:
    ended: SessionEnded
    end_time: float
    events: list[SessionEvent] = field(default_factory=list)
    ev_payloads: int = 0


def run_din_in_memory(ev: DinEvcc, secc: DinSecc, now: float = 0.0, max_steps: int = 1_000_000) -> PairResult:
    return run_in_memory(ev, secc, now, max_steps)


def run_in_memory(ev: EvccMachine, secc: SeccResponder, now: float = 0.0, max_steps: int = 1_000_000) -> PairResult:
    """Any EV machine against any responder of the same protocol, until the EV machine ends."""
    events: list[SessionEvent] = []
    sent = 0
    ev.start(now)
    for _ in range(max_steps):
        for msg in ev.messages_to_send():
            sent += 1
            secc.receive_payload(exi.encode(msg), now)
        events += ev.events()
        if ev.ended is not None:
            return PairResult(ev.ended, now, events, sent)
        deadlines = [t for t in (ev.get_timer(), secc.get_timer()) if t is not None]
        if not deadlines:
            raise RuntimeError("deadlock: neither side has anything to do")
        now = max(now, min(deadlines))
        for msg in secc.messages_to_send(now):
            ev.receive_payload(exi.encode(msg), now)
        ev.handle_timer(now)
    raise RuntimeError(f"no end after {max_steps} steps")
