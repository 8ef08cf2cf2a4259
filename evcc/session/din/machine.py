"""The DIN SPEC 70121 DC EIM EVCC as a sans-IO state machine (§9.4 messages, §9.6 timing, Figure 107 sequence).

API in the manner of aioquic/h11: ``start(now)``, ``receive_payload(exi, now)`` or ``receive_message(msg, now)``,
``handle_timer(now)``; ``messages_to_send()`` (evcc.exi.din messages; the adapter encodes them for V2GTP
0x8001), ``events()`` and ``get_timer()``. The machine never reads a clock or a socket and never waits for the
vehicle (it calls the synchronous :class:`~evcc.session.vehicle.VehiclePort`).

Every response passes the checks shared with the ISO 15118-2 machine (evcc.session.checks) before its handler
(transitions.py) runs: known in the current state, V2G_EVCC_Msg_Timeout cancelled, SessionID equal to the one
from SessionSetupRes, ResponseCode not FAILED*. Any failure ends the session with a stated reason
(``SessionEnded``) and the adapter closes the connection. Stops the EV or the EVSE asks for go the orderly way: PowerDelivery
(stop) and WeldingDetection when power flowed, then SessionStop.
"""

from __future__ import annotations

from typing import Any

from evcc.exi import din
from evcc.session import v2gtp
from evcc.session.din import requests as rq
from evcc.session.din.config import DinConfig, State
from evcc.session.din.transitions import FORWARD_STATES, ON_RESPONSE
from evcc.session.checks import MachineCore
from evcc.session.din.values import message
from evcc.session.events import EndKind
from evcc.session.limits import LimitTracker
from evcc.session.vehicle import VehiclePort

SESSION_ID_SETUP = bytes(8)  # SessionSetupReq carries SessionID 0


class DinEvcc(MachineCore[State, din.V2G_Message]):
    grammar = "din"
    protocol = "DIN"
    payload_type = v2gtp.EXI_ENCODED

    def __init__(self, config: DinConfig, vehicle: VehiclePort) -> None:
        super().__init__(config.timers, State.IDLE, State.WAIT_SESSION_SETUP_RES, State.ENDED, SESSION_ID_SETUP)
        self.config = config
        self.vehicle = vehicle
        self.power_stage = False  # PowerDeliveryReq(start) sent: stops must go through PowerDelivery(stop)
        self.stop_reason: tuple[EndKind, str] | None = None
        self.evse_max_voltage: float | None = None
        self.evse_max_current: float | None = None
        self.evse_present_voltage: float | None = None
        self.service_id: int | None = None
        self.welding_requests = 0
        self.current_demand_count = 0
        self.limits = LimitTracker()  # what the EV may ask for (evcc.session.limits)

    # ------------------------------------------------------------------ API
    def start(self, now: float, setup_deadline: float | None = None) -> None:
        """Send SessionSetupReq. ``setup_deadline``: when V2G_EVCC_CommunicationSetup_Timer (started at link
        set-up by the adapter) expires; it covers the wait for SessionSetupRes."""
        self.begin(setup_deadline)
        self.send("SessionSetupReq", din.SessionSetupReqType(EVCCID=self.config.evcc_id), now)
        self.state = State.WAIT_SESSION_SETUP_RES

    def receive_payload(self, data: bytes, now: float) -> None:
        """Decode and handle one V2GTP payload; undecodable input ends the session, it never raises."""
        if not self.done:
            msg = self.decode(data, din.V2G_Message)
            if msg is not None:
                self.receive_message(msg, now)

    def receive_message(self, msg: din.V2G_Message, now: float) -> None:
        if self.done:
            return
        checked = self.checked(msg, now, ON_RESPONSE)
        if checked is None:
            return
        handler, res = checked
        if self.stop_reason is not None and self.state in FORWARD_STATES:
            self.begin_stop(*self.stop_reason, now)
            return
        handler(self, res, now)

    def stop(self, now: float, reason: str) -> None:
        """The EV wants to end (user, BMS): PowerDelivery(stop) when charging, then SessionStop. Takes effect
        when the pending response arrives."""
        if not self.done and self.stop_reason is None:
            self.stop_reason = (EndKind.STOPPED, reason)

    # ------------------------------------------------------- for transitions
    def send(self, name: str, value: Any, now: float) -> None:
        self.queue(name, message(self.session_id, name, value), now)

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
