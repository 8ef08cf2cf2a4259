"""What every DIN SPEC 70121 / ISO 15118-2 / ISO 15118-20 EVCC machine does with a response before its handler
runs, and the timers, events and output queue they share (DIN SPEC 70121 §9.6 and ISO 15118-2 §8.7 timing,
§8.8.3/§9.8 response codes; ISO 15118-20 §8.8 timing, §8.3.2 response codes).

Checks, in this order (:meth:`MachineCore.checked`):

    0. a request is outstanding (a second answer, or one while the EV paces its loop: sequence error)
    1. the response element is in the transition table for the current state   else unexpected message
    2. V2G_EVCC_Msg_Timeout stops; an Exchange event (and LateResponse past V2G_SECC_Msg_Performance_Time)
    3. Header.SessionID equals the session's (not for SessionSetupRes: it assigns it)   else protocol error
    4. ResponseCode does not start with FAILED ([V2G2-539], [V2G-DC-...]: the session ends with the code as the
       reason; nothing more is sent, the adapter closes the connection)
    5. OK_CertificateExpiresSoon is reported as a ResponseNote (the contract port decides about an update;
       ``noted_codes``, none for -20)

Timers run from the write (:meth:`MachineCore.request_written`): V2G_EVCC_Msg_Timeout is the time the EVCC
waits for a response after it sent the request (ISO 15118-2 §8.7 Table 109, DIN SPEC 70121 §9.6 Table 75,
ISO 15118-20 §8.8);
:meth:`queue` arms it provisionally from the queueing time, the adapter re-arms it once the bytes are written,
so the EV's own time (encoding, a pause) is never charged to the charger.

The charge loop is paced (:meth:`MachineCore.pace`): the next CurrentDemandReq / ChargingStatusReq /
-20 ChargeLoopReq goes out ``timers.charge_loop_min_cycle`` after the previous one at the earliest, as real
vehicles do (0.1-0.25 s, see README); 0 sends at once. The pacing wait is a deadline of its own in
:meth:`get_timer`, never a V2G_EVCC timer.

A failure ends the machine with a SessionEnded event. A failure while a stop is under way (the EV's stop, or an
orderly stop begun for a stated reason: PowerDelivery(Stop), WeldingDetection, SessionStop answered FAILED or
not at all) keeps the stop's kind and first reason and adds the failure as detail (:func:`ending`); only a stop
after a completed charge gives way to the failure (the session did not complete after all). Sans-IO: the machine is given ``now``; it reports one
deadline (:meth:`get_timer`); :meth:`handle_timer` ends it when a V2G_EVCC timer has expired, naming the timer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from evcc import exi
from evcc.session.events import EndKind, Exchange, LateResponse, ResponseNote, SessionEnded, SessionEvent
from evcc.session.timeouts import EvccTimers

S = TypeVar("S", bound=enum.Enum)
M = TypeVar("M")

NOTED_CODES = frozenset({"OK_CertificateExpiresSoon"})
LOOP_REQUESTS = frozenset({"CurrentDemandReq", "ChargingStatusReq", "DC_ChargeLoopReq", "AC_ChargeLoopReq"})


def ending(stop: tuple[EndKind, str] | None, kind: EndKind, reason: str) -> tuple[EndKind, str]:
    """Kind and reason of the SessionEnded when the machine ends with ``kind``/``reason`` while ``stop`` (the stop
    under way, or None) is in progress."""
    if stop is None or stop == (kind, reason):
        return kind, reason
    first_kind, first = stop
    if first_kind is EndKind.COMPLETED:  # the charge was done: the failure is the story, not "completed"
        return kind, reason
    return first_kind, f"{first} (then {reason})"


def body_element(body: Any) -> tuple[str, Any]:
    """(element name, value) of the one message in a Body, or ("", None) when it is empty."""
    for name, value in zip(body._fields, body):
        if value is not None:
            return name, value
    return "", None


class MachineCore(Generic[S, M]):
    """Timers, events, output queue and the response checks of one protocol machine. ``protocol`` names it in
    reasons; ``setup_state`` is the state whose response assigns the SessionID; ``ended_state`` the final one."""

    grammar: str
    protocol: str
    noted_codes: frozenset[str] = NOTED_CODES  # OK_* codes reported as a ResponseNote

    def __init__(self, timers: EvccTimers, initial: S, setup_state: S, ended_state: S, session_id: bytes) -> None:
        self.timers = timers
        self.state: S = initial
        self._initial = initial
        self._setup_state = setup_state
        self._ended_state = ended_state
        self.session_id = session_id
        self.last_header_session_id = session_id
        self.stop_reason: tuple[EndKind, str] | None = None  # set when a stop begins; see ending()
        self.ended: SessionEnded | None = None
        self._out: list[M] = []
        self._events: list[SessionEvent] = []
        self._timers: dict[str, float] = {}
        self._pending: tuple[str, float] | None = None
        self._loop_sent_at: float | None = None  # when the previous charge-loop request (LOOP_REQUESTS) was queued
        self._paced: tuple[float, Callable[[float], None]] | None = None  # (due, send) of the next loop request

    # ------------------------------------------------------------------ API
    def begin(self, setup_deadline: float | None) -> None:
        """The first step of every machine's ``start()`` (once only): ``setup_deadline`` is when
        V2G_EVCC_CommunicationSetup_Timeout, started by the adapter at link set-up, expires; it runs until
        SessionSetupRes."""
        if self.state is not self._initial:
            raise RuntimeError(f"{type(self).__name__}.start() called twice")
        if setup_deadline is not None:
            self._timers["V2G_EVCC_CommunicationSetup_Timeout"] = setup_deadline

    def messages_to_send(self) -> list[M]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[SessionEvent]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        deadline = min(self._timers.values()) if self._timers else None
        if self._paced is not None and (deadline is None or self._paced[0] < deadline):
            return self._paced[0]
        return deadline

    def request_written(self, now: float) -> None:
        """The adapter wrote the queued request(s) to the connection at ``now``: V2G_EVCC_Msg_Timeout (and the
        response time reported for the exchange) run from here."""
        if self._pending is None or self.done:
            return
        name = self._pending[0]
        self._pending = (name, now)
        self._timers["V2G_EVCC_Msg_Timeout"] = now + self.timers.msg_timeout(name)

    @property
    def pacing(self) -> bool:
        """Waiting for the charge loop's minimum cycle (no request outstanding)."""
        return self._paced is not None

    @property
    def done(self) -> bool:
        return self.state is self._ended_state

    def decode(self, data: bytes, message_type: type) -> Any:
        """The decoded V2G_Message, or None when the session ended because the payload was not one."""
        try:
            msg = exi.decode(self.grammar, data)
        except exi.ExiError as exc:
            self.end(EndKind.PROTOCOL_ERROR, f"undecodable {self.protocol} message while waiting for "
                                             f"{self.state.value}: {exc}")
            return None
        if not isinstance(msg, message_type):
            self.end(EndKind.PROTOCOL_ERROR, f"{type(msg).__name__} is not a V2G_Message")
            return None
        return msg

    def checked(self, msg: Any, now: float, table: Mapping[tuple[S, str], Callable[..., None]]
                ) -> tuple[Callable[..., None], Any] | None:
        """The handler and response body when ``msg`` passes the checks; None when the session ended."""
        name, res = body_element(msg.Body)
        handler = self.check(name, res, msg.Header.SessionID, now, table)
        return None if handler is None else (handler, res)

    def check(self, name: str, res: Any, session_id: bytes, now: float,
              table: Mapping[tuple[S, str], Callable[..., None]]) -> Callable[..., None] | None:
        """The handler of response ``name`` (``res``, whose header carries ``session_id``) when it passes the
        checks; None when the session ended."""
        if self._pending is None:  # nothing asked: a second answer, or one while the loop is paced
            self.end(EndKind.PROTOCOL_ERROR, f"{name or 'empty Body'} while no request was outstanding "
                                             f"(after {self.state.value}: the SECC answered twice or unasked)")
            return None
        handler = table.get((self.state, name))
        if handler is None:
            self.end(EndKind.PROTOCOL_ERROR, f"unexpected {name or 'empty Body'} while waiting for {self.state.value}")
            return None
        self._answered(name, now)
        if self.state is not self._setup_state and session_id != self.session_id:
            self.end(EndKind.PROTOCOL_ERROR,
                     f"{name} carries SessionID {session_id.hex()}, the session is {self.session_id.hex()}")
            return None
        code = str(res.ResponseCode)
        if code.startswith("FAILED"):
            self.end(EndKind.FAILED_RESPONSE, f"{name}: {code}", response_code=code)
            return None
        if code in self.noted_codes:
            self._events.append(ResponseNote(name, code))
        self.last_header_session_id = session_id
        return handler

    def handle_timer(self, now: float) -> None:
        """Every V2G_EVCC timer is fatal when it expires: the session ends at once, with the timer's name."""
        if self.done:
            return
        if self._paced is not None and self._paced[0] <= now:
            _, send = self._paced
            self._paced = None
            send(now)
        if self.done or not self._timers:
            return
        name, deadline = min(self._timers.items(), key=lambda item: item[1])
        if deadline > now:
            return
        waiting = self._pending[0].replace("Req", "Res") if self._pending else self.state.value
        self.end(EndKind.TIMEOUT, f"{name} ({self._limit(name)} s) expired waiting for {waiting}", timer=name)

    # ------------------------------------------------------- for transitions
    def emit(self, event: SessionEvent) -> None:
        self._events.append(event)

    def queue(self, name: str, msg: M, now: float) -> None:
        """Send ``msg`` (request ``name``) and start its V2G_EVCC_Msg_Timeout."""
        self._out.append(msg)
        self._timers["V2G_EVCC_Msg_Timeout"] = now + self.timers.msg_timeout(name)
        self._pending = (name, now)
        if name in LOOP_REQUESTS:
            self._loop_sent_at = now

    def pace(self, send: Callable[[float], None], now: float) -> None:
        """Send the next charge-loop request (``send(t)`` builds it from the vehicle's values at ``t`` and queues
        it, or stops) at once when ``timers.charge_loop_min_cycle`` has passed since the previous one, else
        when it will have: the EV never loops faster than its minimum cycle."""
        cycle = self.timers.charge_loop_min_cycle
        due = now if self._loop_sent_at is None or cycle <= 0.0 else self._loop_sent_at + cycle
        if due <= now:
            send(now)
        else:
            self._paced = (due, send)

    def arm(self, timer: str, now: float) -> None:
        """Start a sequence timer unless it runs already (loops keep their first start)."""
        if timer not in self._timers:
            self._timers[timer] = now + self._limit(timer)

    def disarm(self, *timers: str) -> None:
        for timer in timers:
            self._timers.pop(timer, None)

    def end(self, kind: EndKind, reason: str, response_code: str | None = None, timer: str | None = None) -> None:
        """End the machine. During a stop the first reason stays (:func:`ending`); ``response_code`` and
        ``timer`` are those of what ended it."""
        state = self.state.value
        self.state = self._ended_state
        self._timers.clear()
        self._pending = None
        self._paced = None
        kind, reason = ending(self.stop_reason, kind, reason)
        self.ended = SessionEnded(kind, reason, state, response_code, timer)
        self._events.append(self.ended)

    # -------------------------------------------------------------- helpers
    def _answered(self, name: str, now: float) -> None:
        self._timers.pop("V2G_EVCC_Msg_Timeout", None)
        if self._pending is None:
            return
        request, sent_at = self._pending
        self._pending = None
        self._events.append(Exchange(request, sent_at, now))
        budget = self.timers.V2G_SECC_Msg_Performance_Time.get(name)
        if budget is not None and now - sent_at > budget:
            self._events.append(LateResponse(name, now - sent_at, budget))

    def _limit(self, timer: str) -> float:
        if timer == "V2G_EVCC_Msg_Timeout":
            return self.timers.msg_timeout(self._pending[0]) if self._pending else 0.0
        value = getattr(self.timers, timer)
        assert isinstance(value, float)
        return value
