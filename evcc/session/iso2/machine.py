"""The ISO 15118-2 EVCC (AC and DC, EIM) as a sans-IO state machine: §8.4 messages, §8.7 timing (Table 109/111),
§8.8 sequences, pause and resume ([V2G2-741]..), SAScheduleTuple selection (schedules.py).

API as the DIN machine's (evcc.session.machine.EvccMachine): ``start(now)``, ``receive_payload(exi, now)`` or
``receive_message(msg, now)``, ``handle_timer(now)``; ``messages_to_send()`` (evcc.exi.iso2 messages for V2GTP
0x8001), ``events()``, ``get_timer()``. No clock, no socket, no waiting for the vehicle.

Every response passes the checks shared with the DIN machine (evcc.session.checks) before its handler
(transitions.py) runs: known in the current state, V2G_EVCC_Msg_Timeout cancelled, SessionID equal to the
session's (SessionSetupRes: see on_session_setup), ResponseCode not FAILED*, OK_CertificateExpiresSoon noted. A
failure ends the session with a stated reason (``SessionEnded``). Stops the EV or the EVSE asks for go the orderly way: PowerDelivery(Stop), DC
WeldingDetection when power flowed, then SessionStop with ChargingSession Terminate or Pause.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from evcc.errors import ConfigError
from evcc.exi import iso2
from evcc.session import v2gtp
from evcc.session.checks import MachineCore
from evcc.session.events import EndKind
from evcc.session.limits import LimitTracker
from evcc.session.iso2 import requests as rq
from evcc.session.iso2.ac_vehicle import AcVehiclePort
from evcc.session.iso2.config import Iso2Config, State
from evcc.session.iso2.transitions import FORWARD_STATES, ON_RESPONSE
from evcc.session.iso2.values import message
from evcc.session.vehicle import ScheduleRenegotiationPort, VehiclePort

if TYPE_CHECKING:
    from evcc.contracts.store import Contract

SESSION_ID_NEW = bytes(8)  # SessionSetupReq of a new session carries SessionID 0 [V2G2-756]
ChargingSession = Literal["Terminate", "Pause"]


class Iso2Evcc(MachineCore[State, iso2.V2G_Message]):
    grammar = "iso2"
    protocol = "ISO 15118-2"
    payload_type = v2gtp.EXI_ENCODED

    def __init__(self, config: Iso2Config, vehicle: VehiclePort) -> None:
        if config.ac and not isinstance(vehicle, AcVehiclePort):
            raise ConfigError(f"{config.energy_transfer_mode} needs a vehicle port with AC limits (AcVehiclePort)")
        super().__init__(config.timers, State.IDLE, State.WAIT_SESSION_SETUP_RES, State.ENDED,
                         config.resume_session_id or SESSION_ID_NEW)
        self.config = config
        self.vehicle = vehicle
        self.dc = not config.ac
        self.resumed = False  # SessionSetupRes OK_OldSessionJoined
        self.paused = False  # SessionStopRes answered a SessionStopReq(Pause): resume with ``session_id``
        self.last_message: iso2.V2G_Message | None = None  # the response being handled (signatures)
        self.selected_services: list[iso2.SelectedServiceType] = []
        self.contract: Contract | None = None  # Plug & Charge: the contract in use
        self.gen_challenge: bytes | None = None  # PaymentDetailsRes
        self.certificate_service_id: int | None = None  # the SECC's certificate service (ServiceDetail asked)
        self.certificate_update = False  # the certificate service with "Update" was selected
        self.receipts = 0  # MeteringReceiptReq sent
        self.evse_id = ""
        self.power_stage = False  # PowerDeliveryReq(Start) sent: stops go through PowerDelivery(Stop)
        self.stop_reason: tuple[EndKind, str] | None = None
        self.charging_session: ChargingSession = "Terminate"
        self.service_id: int | None = None
        self.detail_queue: list[int] = []
        self.sa_schedule_tuple_id: int | None = None
        self.charging_profile: iso2.ChargingProfileType | None = None
        self.evse_max_voltage: float | None = None
        self.evse_present_voltage: float | None = None
        self.ac_nominal_voltage: float | None = None
        self.ac_max_current: float | None = None
        self.welding_requests = 0
        self.loop_count = 0  # CurrentDemandReq / ChargingStatusReq sent
        self.schedule_port = vehicle if isinstance(vehicle, ScheduleRenegotiationPort) else None
        self.renegotiation_wanted: str | None = None  # "EVSE" / "EV": renegotiate at the next loop turn
        self.renegotiation: str | None = None  # who asked for the renegotiation under way
        self.renegotiations = 0  # renegotiations completed
        self.limits = LimitTracker()  # what the EV may ask for (evcc.session.limits)

    # ------------------------------------------------------------------ API
    def start(self, now: float, setup_deadline: float | None = None) -> None:
        """Send SessionSetupReq (with the stored SessionID when resuming). ``setup_deadline``: when
        V2G_EVCC_CommunicationSetup_Timeout (started by the adapter at link set-up) expires."""
        self.begin(setup_deadline)
        self.send("SessionSetupReq", iso2.SessionSetupReqType(EVCCID=self.config.evcc_id), now)
        self.state = State.WAIT_SESSION_SETUP_RES

    def receive_payload(self, data: bytes, now: float) -> None:
        """Decode and handle one V2GTP payload; undecodable input ends the session, it never raises."""
        if not self.done:
            msg = self.decode(data, iso2.V2G_Message)
            if msg is not None:
                self.receive_message(msg, now)

    def receive_message(self, msg: iso2.V2G_Message, now: float) -> None:
        if self.done:
            return
        checked = self.checked(msg, now, ON_RESPONSE)
        if checked is None:
            return
        handler, res = checked
        self.last_message = msg
        if self.stop_reason is not None and self.state in FORWARD_STATES:
            self.begin_stop(*self.stop_reason, now)
            return
        handler(self, res, now)

    def stop(self, now: float, reason: str, pause: bool = False) -> None:
        """The EV wants to end (user, BMS) or pause: PowerDelivery(Stop) when charging, then SessionStop with
        ChargingSession Terminate or Pause. Takes effect when the pending response arrives."""
        if not self.done and self.stop_reason is None:
            self.charging_session = "Pause" if pause else "Terminate"
            self.stop_reason = (EndKind.STOPPED, f"paused: {reason}" if pause else reason)

    # ------------------------------------------------------- for transitions
    def send(self, name: str, value: Any, now: float, signature: Any = None) -> None:
        self.queue(name, message(self.session_id, name, value, signature), now)

    def send_message(self, name: str, msg: iso2.V2G_Message, now: float) -> None:
        """A complete message built elsewhere (signed by the contracts part)."""
        self.queue(name, msg, now)

    def begin_stop(self, kind: EndKind, reason: str, now: float) -> None:
        """Orderly way out: PowerDelivery(Stop) if the power stage began, else SessionStop."""
        if self.stop_reason is None or self.stop_reason[0] is EndKind.COMPLETED:
            self.stop_reason = (kind, reason)
        self.disarm("V2G_EVCC_Ongoing_Timeout", "V2G_EVCC_CableCheck_Timeout", "V2G_EVCC_PreCharge_Timeout")
        if self.power_stage:
            self.power_stage = False
            req = rq.power_delivery(self.vehicle, now, "Stop", self.sa_schedule_tuple_id or 1, None, self.dc)
            self.send("PowerDeliveryReq", req, now)
            self.state = State.WAIT_POWER_DELIVERY_STOP_RES
        else:
            self.send_session_stop(now)

    def send_session_stop(self, now: float) -> None:
        self.send("SessionStopReq", iso2.SessionStopReqType(ChargingSession=self.charging_session), now)
        self.state = State.WAIT_SESSION_STOP_RES
