"""The shared part of the hostile-input (Hypothesis) tests of the EVCC machines (DIN SPEC 70121, ISO 15118-2,
ISO 15118-20): run k good exchanges against an in-memory SECC, then check what a machine must hold after any
input (a session that ended has a reason, sends nothing more and has no timer; a running one has a deadline)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from evcc import exi
from evcc.bench.secc.memory import SeccResponder
from evcc.session.events import EndKind, SessionEnded


class FuzzedEvcc(Protocol):
    """What the fuzz tests drive of a sans-IO EVCC machine (evcc.session.checks.MachineCore and its start/receive)."""

    ended: SessionEnded | None

    def start(self, now: float, setup_deadline: float | None = None) -> None: ...

    def receive_payload(self, data: bytes, now: float) -> None: ...

    def messages_to_send(self) -> list[Any]: ...

    def events(self) -> list[Any]: ...

    def get_timer(self) -> float | None: ...

    @property
    def done(self) -> bool: ...


E = TypeVar("E", bound=FuzzedEvcc)


def run_exchanges(ev: E, secc: SeccResponder, k: int, step: float) -> tuple[E, float]:
    """Start ``ev`` and run up to ``k`` request/response rounds with ``secc`` (``step`` seconds per round); the
    machine's queued output and events are drained. Returns the machine and the time reached."""
    now = 0.0
    ev.start(now)
    for _ in range(k):
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
        now += step
        for msg in secc.messages_to_send(now):
            ev.receive_payload(exi.encode(msg), now)
        if ev.done:
            break
    ev.messages_to_send()
    ev.events()
    return ev, now


def check_after(ev: FuzzedEvcc) -> None:
    """An ended session names its reason, sends nothing more and has no timer; a running one waits with a deadline."""
    if ev.done:
        assert ev.ended is not None and ev.ended.reason
        assert ev.messages_to_send() == []
        assert ev.get_timer() is None
    else:
        assert ev.get_timer() is not None  # waiting for something, with a deadline


def check_bytes_ending(ev: FuzzedEvcc, was_done: bool) -> None:
    """A session that random bytes ended was ended as a protocol error, a failed response or a stop."""
    if not was_done and ev.done:
        assert ev.ended is not None
        assert ev.ended.kind in (EndKind.PROTOCOL_ERROR, EndKind.FAILED_RESPONSE, EndKind.STOPPED)
