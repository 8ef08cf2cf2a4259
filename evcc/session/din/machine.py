"""The DIN SPEC 70121 DC EIM EVCC as a sans-IO state machine (§9.4 messages, §9.6 timing, Figure 107 sequence).

API in the manner of aioquic/h11: ``start(now)``, ``receive_payload(exi, now)`` or ``receive_message(msg, now)``,
``handle_timer(now)``; ``messages_to_send()`` (evcc.exi.din messages; the adapter encodes them for V2GTP
0x8001), ``events()`` and ``get_timer()``. The machine never reads a clock or a socket and never waits for the
vehicle (it calls the synchronous :class:`~evcc.session.vehicle.VehiclePort`).

Every response passes the same checks before its handler (transitions.py) runs, in this order: known in the
current state (else an unexpected message), V2G_EVCC_Msg_Timeout cancelled, SessionID equal to the one from
SessionSetupRes, ResponseCode not FAILED*. Any failure ends the session with a stated reason (``SessionEnded``)
and the adapter closes the connection. Stops the EV or the EVSE asks for go the orderly way: PowerDelivery
(stop) and WeldingDetection when power flowed, then SessionStop.
"""

from __future__ import annotations

from typing import Any

from evcc import exi
from evcc.exi import din
from evcc.session import v2gtp
from evcc.session.din import requests as rq
from evcc.session.din.config import DinConfig, State
from evcc.session.din.transitions import FORWARD_STATES, ON_RESPONSE
from evcc.session.din.values import body_element, message
from evcc.session.events import EndKind, Exchange, LateResponse, SessionEnded, SessionEvent
from evcc.session.vehicle import VehiclePort

SESSION_ID_SETUP = bytes(8)  # SessionSetupReq carries SessionID 0


class DinEvcc:
    grammar = "din"
    payload_type = v2gtp.EXI_ENCODED

    def __init__(self, config: DinConfig, vehicle: VehiclePort) -> None:
        self.config = config
        self.timers = config.timers
        self.vehicle = vehicle
        self.state = State.IDLE
        self.session_id = SESSION_ID_SETUP
        self.last_header_session_id = SESSION_ID_SETUP
        self.ended: SessionEnded | None = None
        self.power_stage = False  # PowerDeliveryReq(start) sent: stops must go through PowerDelivery(stop)
        self.stop_reason: tuple[EndKind, str] | None = None
        self.evse_max_voltage: float | None = None
        self.evse_max_current: float | None = None
        self.evse_present_voltage: float | None = None
        self.service_id: int | None = None
        self.welding_requests = 0
        self.current_demand_count = 0
        self._out: list[din.V2G_Message] = []
        self._events: list[SessionEvent] = []
        self._timers: dict[str, float] = {}
        self._pending: tuple[str, float] | None = None

    # ------------------------------------------------------------------ API
    def start(self, now: float, setup_deadline: float | None = None) -> None:
        """Send SessionSetupReq. ``setup_deadline``: when V2G_EVCC_CommunicationSetup_Timer (started at link
        set-up by the adapter) expires; it covers the wait for SessionSetupRes."""
        if self.state is not State.IDLE:
            raise RuntimeError("DinEvcc.start() called twice")
        if setup_deadline is not None:
            self._timers["V2G_EVCC_CommunicationSetup_Timeout"] = setup_deadline
        self.send("SessionSetupReq", din.SessionSetupReqType(EVCCID=self.config.evcc_id), now)
        self.state = State.WAIT_SESSION_SETUP_RES

    def messages_to_send(self) -> list[din.V2G_Message]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[SessionEvent]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        return min(self._timers.values()) if self._timers else None

    @property
    def done(self) -> bool:
        return self.state is State.ENDED

    def receive_payload(self, data: bytes, now: float) -> None:
        """Decode and handle one V2GTP payload; undecodable input ends the session, it never raises."""
        if self.done:
            return
        try:
            msg = exi.decode(self.grammar, data)
        except exi.ExiError as exc:
            self.end(EndKind.PROTOCOL_ERROR, f"undecodable DIN message while waiting for {self.state.value}: {exc}")
            return
        if not isinstance(msg, din.V2G_Message):
            self.end(EndKind.PROTOCOL_ERROR, f"{type(msg).__name__} is not a V2G_Message")
            return
        self.receive_message(msg, now)

    def receive_message(self, msg: din.V2G_Message, now: float) -> None:
        if self.done:
            return
        name, res = body_element(msg.Body)
        handler = ON_RESPONSE.get((self.state, name))
        if handler is None:
            self.end(EndKind.PROTOCOL_ERROR, f"unexpected {name or 'empty Body'} while waiting for {self.state.value}")
            return
        self._answered(name, now)
        if self.state is not State.WAIT_SESSION_SETUP_RES and msg.Header.SessionID != self.session_id:
            self.end(
                EndKind.PROTOCOL_ERROR,
                f"{name} carries SessionID {msg.Header.SessionID.hex()}, the session is {self.session_id.hex()}",
            )
            return
        code = str(res.ResponseCode)
        if code.startswith("FAILED"):
            self.end(EndKind.FAILED_RESPONSE, f"{name}: {code}", response_code=code)
            return
        self.last_header_session_id = msg.Header.SessionID
        if self.stop_reason is not None and self.state in FORWARD_STATES:
            self.begin_stop(*self.stop_reason, now)
            return
        handler(self, res, now)

    def handle_timer(self, now: float) -> None:
        """Every V2G_EVCC timer is fatal when it expires: the session ends at once, with the timer's name."""
        if self.done or not self._timers:
            return
        name, deadline = min(self._timers.items(), key=lambda item: item[1])
        if deadline > now:
            return
        waiting = self._pending[0].replace("Req", "Res") if self._pending else self.state.value
        limit = self._limit(name)
        self.end(EndKind.TIMEOUT, f"{name} ({limit} s) expired waiting for {waiting}", timer=name)

    def stop(self, now: float, reason: str) -> None:
        """The EV wants to end (user, BMS): PowerDelivery(stop) when charging, then SessionStop. Takes effect
        when the pending response arrives."""
        if not self.done and self.stop_reason is None:
            self.stop_reason = (EndKind.STOPPED, reason)

    # ------------------------------------------------------- for transitions
    def emit(self, event: SessionEvent) -> None:
        self._events.append(event)

    def send(self, name: str, value: Any, now: float) -> None:
        self._out.append(message(self.session_id, name, value))
        self._timers["V2G_EVCC_Msg_Timeout"] = now + self.timers.msg_timeout(name)
        self._pending = (name, now)

    def arm(self, timer: str, now: float) -> None:
        """Start a sequence timer unless it runs already (loops keep their first start)."""
        if timer not in self._timers:
            self._timers[timer] = now + self._limit(timer)

    def disarm(self, *timers: str) -> None:
        for timer in timers:
            self._timers.pop(timer, None)

    def end(self, kind: EndKind, reason: str, response_code: str | None = None, timer: str | None = None) -> None:
        state = self.state.value
        self.state = State.ENDED
        self._timers.clear()
        self._pending = None
        self.ended = SessionEnded(kind, reason, state, response_code, timer)
        self._events.append(self.ended)

    def begin_stop(self, kind: EndKind, reason: str, now: float) -> None:
        """Orderly way out: PowerDelivery(stop) if the power stage began, else SessionStop."""
        if self.stop_reason is None or self.stop_reason[0] is EndKind.COMPLETED:
            self.stop_reason = (kind, reason)
        self.disarm("V2G_EVCC_Ongoing_Timeout", "V2G_EVCC_CableCheck_Timeout", "V2G_EVCC_PreCharge_Timeout",
                    "V2G_EVCC_ReadyToCharge_Timeout")
        if self.power_stage:
            self.send("PowerDeliveryReq", rq.power_delivery(self.vehicle, now, start=False), now)
            self.state = State.WAIT_POWER_DELIVERY_STOP_RES
        else:
            self.send_session_stop(now)

    def send_session_stop(self, now: float) -> None:
        self.send("SessionStopReq", din.SessionStopType(), now)
        self.state = State.WAIT_SESSION_STOP_RES

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
