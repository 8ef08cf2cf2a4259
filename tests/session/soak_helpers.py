"""An EV machine against the simulated SECC in memory, driven the way the session adapter (evcc.session.runner)
drives it: requests written, then ``request_written``; events into a bounded SessionLog; virtual time jumps to the
next deadline. For the long-session tests (memory, pacing, GC) that need millions of steps without sockets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evcc import exi
from evcc.bench.secc.memory import SeccResponder, payload_type_for
from evcc.session import machine as ev_side
from evcc.session.checks import MachineCore
from evcc.session.session_log import SessionLog


@dataclass
class Pair:
    ev: MachineCore  # type: ignore[type-arg]
    secc: SeccResponder
    log: SessionLog
    now: float = 0.0
    requests: int = 0
    responses: int = 0
    last_to_ev: tuple[int, bytes] | None = None  # the last response delivered (payload type, bytes)
    _response_at: float | None = None
    _woke: float = 0.0

    def start(self) -> None:
        self.route = ev_side.routing(self.ev)  # type: ignore[arg-type]  # once, as the runner does
        typed = getattr(self.secc, "receive_typed", None)
        self.to_secc: Callable[[int, bytes, float], None] = typed if callable(typed) else \
            (lambda _t, data, now: self.secc.receive_payload(data, now))
        self.ev.start(self.now)  # type: ignore[attr-defined]  # every protocol machine has start()

    def step(self) -> bool:
        """One turn: the EV's queued requests to the SECC, then whatever is due next. False once the EV ended."""
        ev, secc = self.ev, self.secc
        sent = ev.messages_to_send()
        for msg in sent:
            self.requests += 1
            self.to_secc(self.route.type_of(msg), exi.encode(msg), self.now)
        if sent:
            ev.request_written(self.now)
            self.log.turn(self._response_at, self._woke, self.now)
            self._response_at = None
        self.log.extend(ev.events())
        if ev.ended is not None:
            return False
        deadlines = [t for t in (ev.get_timer(), secc.get_timer()) if t is not None]
        self.now = self._woke = max(self.now, min(deadlines))
        for out in secc.messages_to_send(self.now):
            self._response_at = self.now
            self.responses += 1
            self.last_to_ev = (payload_type_for(secc, out), exi.encode(out))
            self.route.receive(*self.last_to_ev, self.now)
        ev.handle_timer(self.now)
        return True

    def run(self, until: Callable[[Pair], bool] = lambda p: False, max_steps: int = 10_000_000) -> None:
        for _ in range(max_steps):
            if not self.step() or until(self):
                return
        raise AssertionError(f"no end after {max_steps} steps")


class ReplayLoop:
    """A charger that, while ``replay`` is set, answers every request with its last response as it was (no decode,
    no logic): long charge loops where only the EV side costs time. Otherwise the wrapped simulator answers."""

    def __init__(self, inner: SeccResponder) -> None:
        self.inner = inner
        self.replay = False
        self._last: object | None = None
        self._due: float | None = None

    def receive_payload(self, data: bytes, now: float) -> None:
        if self.replay and self._last is not None:
            self._due = now
        else:
            self.inner.receive_payload(data, now)

    def messages_to_send(self, now: float) -> list[object]:
        if self._due is not None and self._due <= now:
            self._due = None
            return [self._last]
        out = list(self.inner.messages_to_send(now))
        if out:
            self._last = out[-1]
        return out

    def get_timer(self) -> float | None:
        return self._due if self._due is not None else self.inner.get_timer()

    @property
    def payload_type(self) -> int:
        return int(getattr(self.inner, "payload_type", 0x8001))
