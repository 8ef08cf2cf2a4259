"""The ISO 15118-20 EVCC (DC, AC, DC_BPT, AC_BPT; Scheduled and Dynamic control; EIM and Plug & Charge) as a
sans-IO state machine: §8.3 messages, §8.8 sequences, the timer table in config.py, pause and resume.

API as the other EVCC machines (evcc.session.machine): ``start(now)``, ``receive_payload(exi, now,
payload_type=None)`` or ``receive_message(name, msg, now)``, ``handle_timer(now)``; ``messages_to_send()``
(-20 message objects; ``payload_type_of(msg)`` names their V2GTP payload type 0x8002/0x8003/0x8004), ``events()``,
``get_timer()``. No clock, no socket, no waiting for the vehicle.

Every response passes the same checks before its handler (transitions.py) runs: known in the current state
(else an unexpected message), V2G_EVCC_Msg_Timeout cancelled, SessionID equal to the session's (SessionSetupRes:
see setup.on_session_setup), ResponseCode not FAILED*. A failure ends the session with a stated reason. Stops go
the orderly way: PowerDelivery(Stop), DC_WeldingDetection when power flowed, SessionStop(Terminate | Pause).
Every response's Header TimeStamp also tells the SECC's clock (clock.py): schedules are read on it, and a
schedule that no longer applies ends the session in order; BPT Dynamic at the vehicle's minimum: bpt_hold.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from evcc import exi
from evcc.errors import ConfigError
from evcc.exi import Message
from evcc.session.checks import MachineCore
from evcc.session.events import EndKind
from evcc.session.iso2.ac_vehicle import AcVehiclePort
from evcc.session.iso20 import values as v
from evcc.session.iso20.clock import SeccClock
from evcc.session.iso20.config import Iso20Config, State
from evcc.session.iso20.requests import Displays
from evcc.session.iso20.schedule import Schedule
from evcc.session.iso20.stopping import begin_stop
from evcc.session.iso20.transitions import FORWARD_STATES, ON_RESPONSE
from evcc.session.iso20.vehicle import Iso20VehiclePort
from evcc.session.limits import LimitTracker

if TYPE_CHECKING:
    from evcc.contracts.store import Contract

SESSION_ID_NEW = bytes(8)  # SessionSetupReq of a new session carries SessionID 0
ChargingSession = Literal["Terminate", "Pause"]
_MODULE_OF = {"iso20-common": v.common, "iso20-dc": v.dc, "iso20-ac": v.ac}


class Iso20Evcc(MachineCore[State, Message]):
    """Timers, events, output queue and response checks: evcc.session.checks.MachineCore."""

    grammar = "iso20-common"
    protocol = "ISO 15118-20"
    noted_codes: frozenset[str] = frozenset()  # -20 notes PowerDeliveryRes tolerance codes in its handler
    payload_type = v.PAYLOAD_COMMON

    def __init__(self, config: Iso20Config, vehicle: Iso20VehiclePort) -> None:
        if not config.dc and not isinstance(vehicle, AcVehiclePort):
            raise ConfigError(f"{config.service} needs a vehicle port with AC limits (AcVehiclePort)")
        super().__init__(config.timers, State.IDLE, State.WAIT_SESSION_SETUP_RES, State.ENDED,
                         config.resume_session_id or SESSION_ID_NEW)
        self.config = config
        self.vehicle = vehicle
        self.energy_grammar = "iso20-dc" if config.dc else "iso20-ac"
        self.bpt = config.bpt
        self.dynamic = config.control_mode == "Dynamic"
        energy_module = v.dc() if config.dc else v.ac()
        self.rationals = v.Rationals(energy_module)  # the charge loops' RationalNumberTypes, remembered
        self.displays = Displays(energy_module)  # and their DisplayParameters
        self._request_types: dict[str, tuple[Any, Any]] = {}  # request name -> (schema module, class)
        self._headers: dict[Any, Any] = {}  # schema module -> the last MessageHeaderType built
        self.payload_types = frozenset({v.PAYLOAD_COMMON, v.PAYLOAD_DC if config.dc else v.PAYLOAD_AC})
        self.resumed = False  # SessionSetupRes OK_OldSessionJoined
        self.paused = False  # SessionStopRes answered SessionStopReq(Pause): resume with ``session_id``
        self.evse_id = ""
        self.authorization: str = config.authorization  # EIM or PnC as used (fallback may change it)
        self.gen_challenge: bytes | None = None
        self.certificate_installation_offered = False
        self.contract_queue: list[Contract] = []  # PnC: contracts still to try, best first
        self.contract: Contract | None = None
        self.refused_contracts: list[str] = []  # eMAIDs the charger refused
        self.installed = 0  # contracts installed in this session
        self.parameter_set_id: int | None = None
        self.parameters: dict[str, Any] = {}  # ServiceDetail parameters of the chosen set
        self.schedule: Schedule | None = None  # Scheduled mode: the chosen ScheduleTuple
        self.evse_limits: dict[str, float] = {}  # from ChargeParameterDiscoveryRes
        self.limits = LimitTracker()  # what the EV may ask for now (allowed.py, evcc.session.limits)
        self.evse_present_voltage: float | None = None
        self.precharge_finished = False  # DC_PreChargeReq with EVProcessing=Finished sent
        self.ac_power = 0.0  # W the on-board charger draws now (< 0: feeding the grid)
        self.power_stage = False  # PowerDeliveryReq(Start) sent: stops go through PowerDelivery(Stop)
        self.termination: tuple[str, str] | None = None  # SessionStopReq EVTerminationCode, -Explanation
        self.charging_session: ChargingSession = "Terminate"
        self.secc_clock = SeccClock()  # the SECC's clock from the responses' Header TimeStamp (clock.py)
        self.no_discharge_since: float | None = None  # BPT Dynamic: nothing to give back, the EVSE asks (bpt_hold)
        self.loop_count = 0
        self.confirmations = 0  # MeteringConfirmationReq sent
        self.meter_info_wanted = False  # MeteringConfirmation asked, MeterInfoRequested in the next loop request
        self.welding_requests = 0
        self.last_message: Any = None

    # ------------------------------------------------------------------ API
    def start(self, now: float, setup_deadline: float | None = None) -> None:
        """Send SessionSetupReq (with the stored SessionID when resuming). ``setup_deadline``: when
        V2G_EVCC_CommunicationSetup_Timeout (started by the adapter at link set-up) expires."""
        self.begin(setup_deadline)
        self.send("SessionSetupReq", now, EVCCID=self.config.evcc_id)
        self.state = State.WAIT_SESSION_SETUP_RES

    def payload_type_of(self, msg: Message) -> int:
        return v.payload_type_of(msg)

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        """A payload with its V2GTP payload type (the runner over TCP/TLS): decoded with that type's grammar."""
        self.receive_payload(data, now, payload_type)

    def receive_payload(self, data: bytes, now: float, payload_type: int | None = None) -> None:
        """Decode and handle one payload; undecodable input ends the session, it never raises. Without a payload
        type (in memory) the awaited response's grammar is tried first, then the others of this session."""
        if self.done:
            return
        if payload_type is not None and payload_type not in self.payload_types:
            self.end(EndKind.PROTOCOL_ERROR, f"V2GTP payload type {payload_type:#06x} in an ISO 15118-20 "
                                             f"{self.config.service} session")
            return
        if payload_type is not None:
            grammars = [v.GRAMMAR_OF_PAYLOAD[payload_type]]
        else:
            expected = v.grammar_of(self.state.response)
            grammars = [expected] + [g for g in ("iso20-common", self.energy_grammar) if g != expected]
        error: exi.ExiError | None = None
        for grammar in grammars:
            try:
                named = exi.decode_named(grammar, data)
            except exi.ExiError as exc:
                error = error or exc
                continue
            self.receive_message(named.name, named.value, now)
            return
        self.end(EndKind.PROTOCOL_ERROR, f"undecodable ISO 15118-20 message while waiting for "
                                         f"{self.state.value}: {error}")

    def receive_message(self, name: str, res: Any, now: float) -> None:
        if self.done:
            return
        handler = self.check(name, res, res.Header.SessionID, now, ON_RESPONSE)
        if handler is None:
            return
        self.last_message = res
        self.secc_clock.note(res.Header.TimeStamp, self.timestamp(now))
        if self.stop_reason is not None and self.state in FORWARD_STATES:
            begin_stop(self, *self.stop_reason, now)
            return
        handler(self, res, now)

    def stop(self, now: float, reason: str, pause: bool = False) -> None:
        """The EV wants to end (user, BMS) or pause: PowerDelivery(Stop) when charging, then SessionStop with
        ChargingSession Terminate or Pause. Takes effect when the pending response arrives."""
        if not self.done and self.stop_reason is None:
            self.charging_session = "Pause" if pause else "Terminate"
            self.stop_reason = (EndKind.STOPPED, f"paused: {reason}" if pause else reason)

    # ------------------------------------------------------- for transitions
    def timestamp(self, now: float) -> int:
        """Header TimeStamp: seconds since the Unix epoch (the adapter supplies the offset to ``now``)."""
        return max(0, int(now + self.config.unix_time_offset))

    def secc_time(self, now: float) -> int:
        """The SECC's Unix time at ``now``: the time base of its schedules (TimeAnchor; clock.py)."""
        return self.secc_clock.at(self.timestamp(now))

    def module(self, name: str) -> Any:
        return _MODULE_OF[v.grammar_of(name)]()

    def send(self, name: str, now: float, **fields: Any) -> None:
        """Build request ``name`` in its schema set with this session's header and send it."""
        types = self._request_types.get(name)
        if types is None:
            m = self.module(name)
            types = self._request_types[name] = (m, getattr(m, name + "Type"))
        m, cls = types
        self.queue(name, cls(Header=self._header(m, now), **fields), now)

    def _header(self, m: Any, now: float) -> Any:
        """MessageHeaderType of schema set ``m``: SessionID and TimeStamp (whole seconds), so loop requests in the
        same second share one (requests are for encoding, never changed afterwards)."""
        timestamp = self.timestamp(now)
        cached = self._headers.get(m)
        if cached is not None and cached.TimeStamp == timestamp and cached.SessionID == self.session_id:
            return cached
        made = self._headers[m] = v.header(m, self.session_id, timestamp)
        return made
