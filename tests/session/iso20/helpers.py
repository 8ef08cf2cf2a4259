"""Shared set-up of the ISO 15118-20 machine tests: a vehicle, a machine and the in-memory pairing with a peer."""

from __future__ import annotations

from typing import Any

from evcc import exi
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.session.iso2.ac_vehicle import AcBatteryModel
from evcc.session.iso20 import Iso20Config, Iso20Evcc
from tests.session.iso20.peer import TIME_BASE, MiniSecc

EVCC_ID = "0242AC110002"
COMBINATIONS = [(s, c) for s in ("DC", "AC", "DC_BPT", "AC_BPT") for c in ("Scheduled", "Dynamic")]


def car(soc: float = 75.0, target: float = 80.0, **kw: Any) -> AcBatteryModel:
    """A small battery (400 Wh) so that a session reaches its target in a few hundred loop messages."""
    return AcBatteryModel(capacity_wh=400.0, soc=soc, target_soc=target, **kw)


def machine(vehicle: AcBatteryModel | None = None, **kw: Any) -> Iso20Evcc:
    config = Iso20Config(evcc_id=EVCC_ID, unix_time_offset=TIME_BASE, **kw)
    return Iso20Evcc(config, vehicle if vehicle is not None else car())


def pair(ev: Iso20Evcc, secc: MiniSecc | None = None, max_steps: int = 1_000_000) -> tuple[PairResult, MiniSecc]:
    peer = secc if secc is not None else MiniSecc(kind="DC" if ev.config.dc else "AC")
    return run_in_memory(ev, peer, max_steps=max_steps), peer


def drive(ev: Iso20Evcc, secc: MiniSecc, until: str, now: float = 0.0) -> float:
    """Run the pair by hand until the EV waits for ``until`` (a response name); returns the time."""
    ev.start(now)
    for _ in range(10_000):
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
        if ev.state.response == until or ev.done:
            return now
        now += 0.02
        for msg in secc.messages_to_send(now):
            ev.receive_payload(exi.encode(msg), now)
    raise AssertionError(f"never reached {until}")


def answer(ev: Iso20Evcc, secc: MiniSecc, now: float) -> None:
    """Deliver the peer's pending answers."""
    for msg in secc.messages_to_send(now + 1.0):
        ev.receive_payload(exi.encode(msg), now)


def run_typed(ev: Iso20Evcc, secc: Any, now: float = 0.0, max_steps: int = 1_000_000) -> PairResult:
    """As evcc.bench.secc.memory.run_in_memory, but every payload carries its V2GTP payload type both ways (what
    the TCP/TLS runner does), so a responder that decodes by payload type gets DC/AC messages right."""
    from evcc.bench.secc.memory import deliver as to_secc
    from evcc.bench.secc.memory import payload_type_for
    from evcc.session.machine import deliver as to_ev
    from evcc.session.machine import payload_type_of

    events: list[Any] = []
    sent = 0
    ev.start(now)
    for _ in range(max_steps):
        for msg in ev.messages_to_send():
            sent += 1
            to_secc(secc, payload_type_of(ev, msg), exi.encode(msg), now)
        events += ev.events()
        if ev.ended is not None:
            return PairResult(ev.ended, now, events, sent)
        deadlines = [t for t in (ev.get_timer(), secc.get_timer()) if t is not None]
        now = max(now, min(deadlines))
        for out in secc.messages_to_send(now):
            to_ev(ev, payload_type_for(secc, out), exi.encode(out), now)
        ev.handle_timer(now)
    raise RuntimeError(f"no end after {max_steps} steps")


class Recorder:
    """Wraps a typed responder (the bench SECC): every request the EV sends, decoded by its V2GTP payload type,
    lands in ``requests`` as (element name, message) before the responder answers it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.requests: list[tuple[str, Any]] = []

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        from evcc.session.iso20.values import GRAMMAR_OF_PAYLOAD

        named = exi.decode_named(GRAMMAR_OF_PAYLOAD[payload_type], data)
        self.requests.append((named.name, named.value))
        self.inner.receive_typed(payload_type, data, now)

    def messages_to_send(self, now: float) -> list[Any]:
        return list(self.inner.messages_to_send(now))

    def get_timer(self) -> float | None:
        timer = self.inner.get_timer()
        return None if timer is None else float(timer)

    def payload_type_of(self, msg: Any) -> int:
        return int(self.inner.payload_type_of(msg))

    @property
    def accepted_payload_types(self) -> frozenset[int]:
        return frozenset(self.inner.accepted_payload_types)

    def names(self) -> list[str]:
        return [name for name, _ in self.requests]

    def last(self, name: str) -> Any:
        return [msg for n, msg in self.requests if n == name][-1]
