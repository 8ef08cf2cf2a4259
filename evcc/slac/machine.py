"""The EV side of SLAC, ISO 15118-3 §9 and Annex A.9 (Figure A.2), as a sans-IO state machine.

Everything that affects the machine lives here: states, the two transition tables (frames, timers) and the
handlers. Input is ``receive_frame(frame, now)`` and ``handle_timer(now)``; output is ``frames_to_send()``,
``events()`` and ``get_timer()`` (the next deadline). The machine never reads a clock or a socket.

Flow (EV)::

    plug_in -> CM_SLAC_PARM.REQ (retry TT_match_response) -> .CNF
            -> 3 x CM_START_ATTEN_CHAR.IND, 10 x CM_MNBC_SOUND.IND (TP_EV_batch_msg_interval)
            -> CM_ATTEN_CHAR.IND from each EVSE (answered by .RSP) until TT_EV_atten_results
            -> lowest average attenuation [-> CM_VALIDATE] -> CM_SLAC_MATCH.REQ -> .CNF (NID, NMK)
            -> CM_SET_KEY.REQ to the local modem -> VS_LINK_STATUS polls until linked, within TT_match_join
    unplug  -> CM_SET_KEY.REQ with a fresh random NMK [V2G3-M09-17] -> modem restart -> IDLE

Every received SLAC frame is filtered by destination MAC and RunID (SLAC.md §6); frames not in the table for the
current state are reported as :class:`~evcc.slac.events.Dropped` and change nothing.

Liberal where the standard allows, strict where it matters (issue #14). Rejected: another RunID, another PEV MAC
(FORWARDING_STA, SOURCE_ADDRESS, PEV_MAC), another destination, a frame too short or of another application or
security layout, values the EV acts on out of range (NumGroups, NUM_SOUNDS 0 under the AAG it ranks on,
the CM_VALIDATE Result). Tolerated and counted
in ``deviations`` (a :class:`~evcc.session.deviations.DeviationRecord`, one :class:`Tolerated` event the first
time): fields the EV receives but does not act on (RESP_TYPE, TIME_OUT, NUM_SOUNDS, M-SOUND_TARGET, MVFLength,
EVSE_MAC, SignalType; ``deviations()`` of each :mod:`evcc.plc.slac_mme` message). What the EV sends is unchanged.

Two decisions rest on ISO 15118-3 Annex A.9 and Table A.1:

- **End of the attenuation window.** TT_EV_atten_results is a *maximum* (Table A.1: max 1200 ms from the first
  CM_START_ATTEN_CHAR.IND [V2G3-A09-30]): the longest the EV waits for results, not a wait it must sit out.
  Every EVSE taking part announced itself with CM_SLAC_PARM.CNF (answered within TT_match_response, long before
  the sounds end), so once all sounds are sent and each of those EVSEs has reported, no result is outstanding
  and the EV goes on to the selection at once (``SlacConfig.early_atten_results``). This gives an EVSE that waits
  only ~1 s for CM_SLAC_MATCH.REQ after CM_ATTEN_CHAR.RSP (open-plc-utils ``evse``) its time back. An EVSE whose
  CM_SLAC_PARM.CNF was lost is unknown to the EV and so not waited for (its CM_ATTEN_CHAR.IND still counts if it
  comes before the others'); an EVSE that answered but never reports keeps the full window running.
- **CM_VALIDATE unanswered.** Validation is an optional step on top of the matching by attenuation (Annex A.9;
  CM_VALIDATE.CNF Result 4 "not required" exists because an EVSE need not take part). When the chosen EVSE
  answers no CM_VALIDATE.REQ (the first, Timer 0, sent 1 + C_EV_match_retry times, each waiting
  TT_match_response), the EV goes on with the attenuation-based choice (the lowest mean attenuation, already
  under the threshold) and records the deviation. An EVSE that answered and then fails or stops answering during
  the toggles still ends matching (Phase.VALIDATE): there validation ran and said no.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from evcc.plc import modem_mme as mm
from evcc.plc import slac_mme as sm
from evcc.plc.frames import Message, decode_frame, encode_frame
from evcc.plc.mme import BROADCAST, LOCALCAST, FrameError, Mme, MMType, Mode, mac_str, mmtype
from evcc.plc.modem import set_key_frame, vendor_req_frame
from evcc.slac.config import SlacConfig
from evcc.session.deviations import DeviationRecord
from evcc.slac.events import Dropped, Event, Failed, Left, Matched, Phase, ToggleRequest, Tolerated

PARM_REQ = mmtype(MMType.CM_SLAC_PARM, Mode.REQ)
PARM_CNF = mmtype(MMType.CM_SLAC_PARM, Mode.CNF)
START_ATTEN_IND = mmtype(MMType.CM_START_ATTEN_CHAR, Mode.IND)
MNBC_IND = mmtype(MMType.CM_MNBC_SOUND, Mode.IND)
ATTEN_IND = mmtype(MMType.CM_ATTEN_CHAR, Mode.IND)
ATTEN_RSP = mmtype(MMType.CM_ATTEN_CHAR, Mode.RSP)
VALIDATE_REQ = mmtype(MMType.CM_VALIDATE, Mode.REQ)
VALIDATE_CNF = mmtype(MMType.CM_VALIDATE, Mode.CNF)
MATCH_REQ = mmtype(MMType.CM_SLAC_MATCH, Mode.REQ)
MATCH_CNF = mmtype(MMType.CM_SLAC_MATCH, Mode.CNF)
SET_KEY_CNF = mmtype(MMType.CM_SET_KEY, Mode.CNF)
SW_VER_CNF = mmtype(MMType.VS_SW_VER, Mode.CNF)
LINK_STATUS_CNF = mmtype(MMType.VS_LINK_STATUS, Mode.CNF)
_MODEM_CNFS = frozenset({SET_KEY_CNF, SW_VER_CNF, LINK_STATUS_CNF})

VALIDATE_READY = 1
VALIDATE_SUCCESS = 2
VALIDATE_NOT_REQUIRED = 4


class State(enum.Enum):
    IDLE = "idle"
    WAIT_FOR_LEAVE_KEY_CNF = "wait for CM_SET_KEY.CNF (fresh NMK)"
    WAIT_FOR_MODEM_READY = "wait for the local modem after its restart"
    WAIT_FOR_SLAC_PARM_CNF = "wait for CM_SLAC_PARM.CNF"
    WAIT_FOR_ATTEN_CHAR_IND = "sounding; collecting CM_ATTEN_CHAR.IND"
    WAIT_FOR_VALIDATE_CNF = "wait for CM_VALIDATE.CNF"
    WAIT_FOR_SLAC_MATCH_CNF = "wait for CM_SLAC_MATCH.CNF"
    WAIT_FOR_SET_KEY_CNF = "wait for CM_SET_KEY.CNF (EVSE NMK)"
    WAIT_FOR_LINK = "wait for the AVLN link (VS_LINK_STATUS)"
    MATCHED = "matched, link up"
    FAILED = "failed"


FrameHandler = Callable[["EvSlac", Mme, Message, float], None]
TimerHandler = Callable[["EvSlac", float], None]


class EvSlac:
    """One EV SLAC machine per modem. ``rng(n)`` returns n random bytes (RunID, NMK, sound RND)."""

    def __init__(self, config: SlacConfig, rng: Callable[[int], bytes],
                 deviations: DeviationRecord | None = None) -> None:
        self.config = config
        self.deviations = deviations if deviations is not None else DeviationRecord()
        self.t = config.timers
        self._rng = rng
        self.state = State.IDLE
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self._timers: dict[str, float] = {}
        self._key_fresh = False
        self._plug_pending = False
        self.run_id = b""
        self._started = 0.0
        self._tries = 0
        self._sounds = 0
        self._validate_step = 0
        self.candidates: dict[bytes, sm.CmAttenCharInd] = {}
        self.responders: set[bytes] = set()  # EVSEs that answered CM_SLAC_PARM.REQ with our RunID
        self._validate_answered = False
        self.chosen: bytes | None = None
        self._nid = b""
        self._nmk = b""
        self._set_key_frame = b""

    # ----------------------------------------------------------------- API
    def frames_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        return min(self._timers.values()) if self._timers else None

    def plug_in(self, now: float) -> None:
        """Start matching (CP state B with 5 % PWM). Sets a fresh NMK first if the last one was used."""
        if self.state in (State.WAIT_FOR_LEAVE_KEY_CNF, State.WAIT_FOR_MODEM_READY):
            self._plug_pending = True
        elif self._key_fresh:
            self._start_parm(now)
        else:
            self._plug_pending = True
            self._leave(now)

    def unplug(self, now: float) -> None:
        """Leave the AVLN: a fresh random NMK to the local modem [V2G3-M09-17]."""
        self._plug_pending = False
        self._leave(now)

    def receive_frame(self, frame: bytes, now: float) -> None:
        """Feed one received Ethernet frame. Never raises: bad or foreign frames become Dropped events."""
        dst = frame[0:6]
        if dst != self.config.host_mac and dst != BROADCAST:  # cheap first: neighbours' unicast traffic
            self._events.append(Dropped(f"frame for {dst.hex(':')}, not this EV"))
            return
        try:
            mme, msg = decode_frame(frame)
        except FrameError as exc:
            self._events.append(Dropped(str(exc)))
            return
        if msg is None:
            self._events.append(Dropped(f"MMTYPE 0x{mme.mmtype:04x} not handled"))
            return
        reason = self._filter(mme, msg)
        if reason is not None:
            self._events.append(Dropped(reason))
            return
        handler = _ON_FRAME.get((self.state, mme.mmtype))
        if handler is None:
            self._events.append(Dropped(f"MMTYPE 0x{mme.mmtype:04x} not expected in state {self.state.name}"))
            return
        handler(self, mme, msg, now)

    def handle_timer(self, now: float) -> None:
        """Run every timer whose deadline is at or before ``now``, earliest first."""
        while self._timers:
            name, deadline = min(self._timers.items(), key=lambda item: item[1])
            if deadline > now:
                return
            del self._timers[name]
            handler = _ON_TIMER.get((self.state, name))
            if handler is not None:
                handler(self, now)

    # ----------------------------------------------------------- helpers
    def _filter(self, mme: Mme, msg: Message) -> str | None:
        host = self.config.host_mac
        if mme.mmtype in _MODEM_CNFS:
            return None if mme.dst == host else f"modem CNF for {mac_str(mme.dst)}, not this host"
        if mme.dst not in (host, BROADCAST):
            return f"frame for {mac_str(mme.dst)}, not this EV"
        run_id = getattr(msg, "run_id", None)
        if run_id is not None and run_id != self.run_id:
            return f"RunID {run_id.hex()} is not ours ({self.run_id.hex()})"
        return None

    def _enter(self, state: State, keep: tuple[str, ...] = ()) -> None:
        self.state = state
        self._timers = {k: v for k, v in self._timers.items() if k in keep}

    def _send(self, dst: bytes, mtype: int, msg: Message) -> None:
        self._out.append(encode_frame(dst, self.config.host_mac, mtype, msg))

    def _tolerate(self, found: list[sm.PeerDeviation]) -> None:
        for d in found:
            if self.deviations.note(d.field, d.value, d.expected, d.clause):
                self._events.append(Tolerated(d.field, d.value, d.expected, d.clause))

    def _fail(self, phase: Phase, reason: str) -> None:
        self._enter(State.FAILED)
        self._events.append(Failed(phase, reason))

    # ------------------------------------------------- leave / modem ready
    def _leave(self, now: float) -> None:
        self._nmk = self._rng(mm.NMK_LEN)
        self._set_key_frame = set_key_frame(self.config.host_mac, self._nmk)
        self._key_fresh = False
        self._tries = 0
        self._enter(State.WAIT_FOR_LEAVE_KEY_CNF)
        self._out.append(self._set_key_frame)
        self._timers["vendor_set_key_cnf"] = now + self.t.vendor_set_key_cnf

    def _on_leave_key_timeout(self, now: float) -> None:
        if self._tries >= self.t.C_vendor_set_key_retry:
            self._fail(Phase.LEAVE, "local modem never confirmed CM_SET_KEY with the fresh NMK")
            return
        self._tries += 1
        self._out.append(self._set_key_frame)
        self._timers["vendor_set_key_cnf"] = now + self.t.vendor_set_key_cnf

    def _on_leave_key_cnf(self, mme: Mme, msg: Message, now: float) -> None:
        assert isinstance(msg, mm.CmSetKeyCnf)
        if not msg.accepted:
            self._fail(Phase.LEAVE, f"local modem refused the fresh NMK (Result={msg.result})")
            return
        self._key_fresh = True
        self._enter(State.WAIT_FOR_MODEM_READY)
        self._timers["vendor_modem_poll"] = now + self.t.vendor_modem_poll
        self._timers["vendor_modem_ready"] = now + self.t.vendor_modem_ready

    def _poll_modem(self, now: float) -> None:
        self._out.append(vendor_req_frame(self.config.host_mac, MMType.VS_SW_VER))
        self._timers["vendor_modem_poll"] = now + self.t.vendor_modem_poll

    def _on_modem_ready(self, mme: Mme, msg: Message, now: float) -> None:
        self._enter(State.IDLE)
        self._events.append(Left())
        if self._plug_pending:
            self._plug_pending = False
            self._start_parm(now)

    def _on_modem_ready_timeout(self, now: float) -> None:
        self._fail(Phase.MODEM_READY, f"local modem silent for {self.t.vendor_modem_ready} s after CM_SET_KEY")

    # ------------------------------------------------------------ PARM
    def _start_parm(self, now: float) -> None:
        self.run_id = self._rng(sm.RUN_ID_LEN)
        self.candidates = {}
        self.responders = set()
        self.chosen = None
        self._started = now
        self._tries = 0
        self._enter(State.WAIT_FOR_SLAC_PARM_CNF)
        self._send_parm_req(now)

    def _send_parm_req(self, now: float) -> None:
        self._send(BROADCAST, PARM_REQ, sm.CmSlacParmReq(self.run_id))
        self._timers["TT_match_response"] = now + self.t.TT_match_response

    def _on_parm_timeout(self, now: float) -> None:
        if self._tries >= self.config.parm_retries:
            self._fail(Phase.PARM, f"no CM_SLAC_PARM.CNF after {self._tries + 1} CM_SLAC_PARM.REQ")
            return
        self._tries += 1
        self._send_parm_req(now)

    def _on_parm_cnf(self, mme: Mme, msg: Message, now: float) -> None:
        if not self._take_parm_cnf(mme, msg):
            return
        self._sounds = 0
        self._enter(State.WAIT_FOR_ATTEN_CHAR_IND)
        if self.t.TP_match_sequence <= 0:
            self._send_next_sound(now)
        else:
            self._timers["TP_EV_batch_msg_interval"] = now + self.t.TP_match_sequence

    def _on_more_parm_cnf(self, mme: Mme, msg: Message, now: float) -> None:
        """Another EVSE's CM_SLAC_PARM.CNF while sounding: it takes part, its result is awaited."""
        self._take_parm_cnf(mme, msg)

    def _take_parm_cnf(self, mme: Mme, msg: Message) -> bool:
        """A CM_SLAC_PARM.CNF forwarding to us: its sender takes part (False, and dropped, otherwise)."""
        assert isinstance(msg, sm.CmSlacParmCnf)
        if msg.forwarding_sta != self.config.host_mac:
            self._events.append(Dropped(f"CM_SLAC_PARM.CNF forwards to {mac_str(msg.forwarding_sta)}, not us"))
            return False
        self._tolerate(msg.deviations())
        self.responders.add(mme.src)
        return True

    # ------------------------------------------------------- sounding
    def _send_next_sound(self, now: float) -> None:
        n_start, n_sounds = self.t.C_EV_start_atten_char_inds, self.t.C_EV_match_MNBC
        time_out = round(self.t.TT_EVSE_match_MNBC / 0.1)
        if self._sounds < n_start:
            ind = sm.CmStartAttenCharInd(self.config.host_mac, self.run_id, n_sounds, time_out)
            self._send(BROADCAST, START_ATTEN_IND, ind)
        else:
            cnt = n_sounds - 1 - (self._sounds - n_start)
            self._send(BROADCAST, MNBC_IND, sm.CmMnbcSoundInd(self.run_id, cnt, self._rng(16), self.config.pev_id))
        self._sounds += 1
        if self._sounds == 1:
            self._timers["TT_EV_atten_results"] = now + self.t.TT_EV_atten_results
        if self._sounds < n_start + n_sounds:
            self._timers["TP_EV_batch_msg_interval"] = now + self.t.TP_EV_batch_msg_interval
        else:
            self._maybe_results_complete(now)

    def _maybe_results_complete(self, now: float) -> None:
        """End the TT_EV_atten_results window early once nothing is outstanding (see the module docstring)."""
        if not self.config.early_atten_results or self.state is not State.WAIT_FOR_ATTEN_CHAR_IND:
            return
        sounding = self._sounds < self.t.C_EV_start_atten_char_inds + self.t.C_EV_match_MNBC
        if not sounding and self.responders and self.responders <= self.candidates.keys():
            self._on_atten_results(now)

    def _on_atten_char_ind(self, mme: Mme, msg: Message, now: float) -> None:
        assert isinstance(msg, sm.CmAttenCharInd)
        if msg.source_address != self.config.host_mac:
            self._events.append(Dropped(f"CM_ATTEN_CHAR.IND for {mac_str(msg.source_address)}, not us"))
            return
        self._tolerate(msg.deviations(self.t.C_EV_match_MNBC))
        if self.state is State.WAIT_FOR_ATTEN_CHAR_IND:
            self.candidates[mme.src] = msg
        rsp = sm.CmAttenCharRsp(self.config.host_mac, self.run_id, 0, msg.source_id, msg.resp_id)
        self._send(mme.src, ATTEN_RSP, rsp)
        self._maybe_results_complete(now)

    def _on_atten_results(self, now: float) -> None:
        if not self.candidates:
            window = self.t.TT_EV_atten_results
            self._fail(Phase.ATTEN_CHAR, f"no CM_ATTEN_CHAR.IND within TT_EV_atten_results ({window} s)")
            return
        ranked = sorted(self.candidates.items(), key=lambda item: item[1].average)
        best_mac, best = ranked[0]
        if best.average > self.config.max_attenuation_db:
            self._fail(
                Phase.SELECTION,
                f"lowest attenuation {best.average:.1f} dB ({mac_str(best_mac)})"
                f" above {self.config.max_attenuation_db} dB",
            )
            return
        self.chosen = best_mac
        ambiguous = len(ranked) > 1 and ranked[1][1].average - best.average <= self.config.validate_margin_db
        self._tries = 0
        if self.config.validate and ambiguous:
            self._validate_step = 1
            self._validate_answered = False
            self._enter(State.WAIT_FOR_VALIDATE_CNF)
            self._send_validate_req(now)
        else:
            self._enter(State.WAIT_FOR_SLAC_MATCH_CNF)
            self._send_match_req(now)

    # ------------------------------------------------------- validate
    def _send_validate_req(self, now: float) -> None:
        assert self.chosen is not None
        timer = 0 if self._validate_step == 1 else round(self.t.TT_EVSE_vald_toggle / 0.1)
        self._send(self.chosen, VALIDATE_REQ, sm.CmValidate(0, timer, VALIDATE_READY))
        wait = self.t.TT_match_response
        if self._validate_step == 2:
            wait += self.t.TT_EVSE_vald_toggle
            self._events.append(ToggleRequest(self.t.C_EV_vald_nb_toggles, self.t.TP_EV_vald_state_duration))
        self._timers["TT_match_response"] = now + wait

    def _on_validate_timeout(self, now: float) -> None:
        if self._tries >= self.config.match_retries and self._validate_step == 1 and not self._validate_answered:
            # The EVSE does not take part in validation (optional, Annex A.9): match by attenuation.
            self._tolerate([sm.PeerDeviation(
                "CM_VALIDATE.CNF", f"none after {self._tries + 1} CM_VALIDATE.REQ",
                "Result 0..4 within TT_match_response (4: not required)",
                "ISO 15118-3 A.9 (validation optional; matched by attenuation)")])
            self._tries = 0
            self._enter(State.WAIT_FOR_SLAC_MATCH_CNF)
            self._send_match_req(now)
            return
        if self._tries >= self.config.match_retries:
            self._fail(Phase.VALIDATE, f"no CM_VALIDATE.CNF (step {self._validate_step})")
            return
        self._tries += 1
        self._send_validate_req(now)

    def _on_validate_cnf(self, mme: Mme, msg: Message, now: float) -> None:
        assert isinstance(msg, sm.CmValidate)
        if mme.src != self.chosen:
            self._events.append(Dropped(f"CM_VALIDATE.CNF from {mac_str(mme.src)}, not the chosen EVSE"))
            return
        self._validate_answered = True
        self._tolerate(msg.deviations())
        done = msg.result in (VALIDATE_SUCCESS, VALIDATE_NOT_REQUIRED)
        if self._validate_step == 1 and msg.result == VALIDATE_READY:
            self._validate_step, self._tries = 2, 0
            self._send_validate_req(now)
        elif done and (self._validate_step == 1 or msg.timer_or_toggles == self.t.C_EV_vald_nb_toggles):
            self._tries = 0
            self._enter(State.WAIT_FOR_SLAC_MATCH_CNF)
            self._send_match_req(now)
        else:
            self._fail(Phase.VALIDATE, f"CM_VALIDATE.CNF Result={msg.result} ToggleNum={msg.timer_or_toggles}")

    # ---------------------------------------------------------- match
    def _send_match_req(self, now: float) -> None:
        assert self.chosen is not None
        req = sm.CmSlacMatch(self.config.host_mac, self.chosen, self.run_id, pev_id=self.config.pev_id)
        self._send(self.chosen, MATCH_REQ, req)
        self._timers["TT_match_response"] = now + self.t.TT_match_response

    def _on_match_timeout(self, now: float) -> None:
        if self._tries >= self.config.match_retries:
            self._fail(Phase.MATCH, f"no CM_SLAC_MATCH.CNF after {self._tries + 1} CM_SLAC_MATCH.REQ")
            return
        self._tries += 1
        self._send_match_req(now)

    def _on_match_cnf(self, mme: Mme, msg: Message, now: float) -> None:
        assert isinstance(msg, sm.CmSlacMatch) and msg.nid is not None and msg.nmk is not None
        if mme.src != self.chosen or msg.pev_mac != self.config.host_mac:
            self._events.append(
                Dropped(f"CM_SLAC_MATCH.CNF from {mac_str(mme.src)} for PEV {mac_str(msg.pev_mac)}, not our match")
            )
            return
        self._tolerate(msg.deviations(mme.src))
        self._nid, self._nmk = msg.nid, msg.nmk
        self._set_key_frame = set_key_frame(self.config.host_mac, msg.nmk, msg.nid)
        self._key_fresh = False
        self._enter(State.WAIT_FOR_SET_KEY_CNF)
        self._out.append(self._set_key_frame)
        self._timers["TT_match_join"] = now + self.t.TT_match_join
        self._timers["vendor_set_key_cnf"] = now + self.t.vendor_set_key_cnf

    # ----------------------------------------------------- key + link
    def _resend_set_key(self, now: float) -> None:
        self._out.append(self._set_key_frame)
        self._timers["vendor_set_key_cnf"] = now + self.t.vendor_set_key_cnf

    def _on_set_key_cnf(self, mme: Mme, msg: Message, now: float) -> None:
        assert isinstance(msg, mm.CmSetKeyCnf)
        if not msg.accepted:
            self._fail(Phase.SET_KEY, f"local modem refused the EVSE's NMK (Result={msg.result})")
            return
        self._enter(State.WAIT_FOR_LINK, keep=("TT_match_join",))
        self._poll_link(now)

    def _poll_link(self, now: float) -> None:
        self._out.append(vendor_req_frame(self.config.host_mac, MMType.VS_LINK_STATUS, LOCALCAST))
        self._timers["vendor_link_poll"] = now + self.t.vendor_link_poll

    def _on_link_status(self, mme: Mme, msg: Message, now: float) -> None:
        assert isinstance(msg, mm.VsLinkStatusCnf)
        if not msg.linked:
            return
        assert self.chosen is not None
        average = self.candidates[self.chosen].average
        self._enter(State.MATCHED)
        self._events.append(Matched(self.chosen, average, self._nid, self._nmk, self.run_id, self._started, now))

    def _on_join_timeout(self, now: float) -> None:
        if self.state is State.WAIT_FOR_SET_KEY_CNF:
            self._fail(Phase.SET_KEY,
                       f"local modem never confirmed CM_SET_KEY within TT_match_join ({self.t.TT_match_join} s)")
        else:
            self._fail(Phase.LINK, f"no link to the EVSE within TT_match_join ({self.t.TT_match_join} s)")


S = State
# (state, received MMTYPE) -> handler. Anything not in this map is dropped with a reason.
_ON_FRAME: dict[tuple[State, int], FrameHandler] = {
    (S.WAIT_FOR_LEAVE_KEY_CNF, SET_KEY_CNF): EvSlac._on_leave_key_cnf,
    (S.WAIT_FOR_MODEM_READY, SW_VER_CNF): EvSlac._on_modem_ready,
    (S.WAIT_FOR_SLAC_PARM_CNF, PARM_CNF): EvSlac._on_parm_cnf,
    (S.WAIT_FOR_ATTEN_CHAR_IND, PARM_CNF): EvSlac._on_more_parm_cnf,
    (S.WAIT_FOR_ATTEN_CHAR_IND, ATTEN_IND): EvSlac._on_atten_char_ind,
    (S.WAIT_FOR_VALIDATE_CNF, VALIDATE_CNF): EvSlac._on_validate_cnf,
    (S.WAIT_FOR_SLAC_MATCH_CNF, ATTEN_IND): EvSlac._on_atten_char_ind,  # EVSE repeats: answer, don't count
    (S.WAIT_FOR_SLAC_MATCH_CNF, MATCH_CNF): EvSlac._on_match_cnf,
    (S.WAIT_FOR_SET_KEY_CNF, SET_KEY_CNF): EvSlac._on_set_key_cnf,
    (S.WAIT_FOR_LINK, LINK_STATUS_CNF): EvSlac._on_link_status,
}
# (state, timer name from SlacTimers) -> handler.
_ON_TIMER: dict[tuple[State, str], TimerHandler] = {
    (S.WAIT_FOR_LEAVE_KEY_CNF, "vendor_set_key_cnf"): EvSlac._on_leave_key_timeout,
    (S.WAIT_FOR_MODEM_READY, "vendor_modem_poll"): EvSlac._poll_modem,
    (S.WAIT_FOR_MODEM_READY, "vendor_modem_ready"): EvSlac._on_modem_ready_timeout,
    (S.WAIT_FOR_SLAC_PARM_CNF, "TT_match_response"): EvSlac._on_parm_timeout,
    (S.WAIT_FOR_ATTEN_CHAR_IND, "TP_EV_batch_msg_interval"): EvSlac._send_next_sound,
    (S.WAIT_FOR_ATTEN_CHAR_IND, "TT_EV_atten_results"): EvSlac._on_atten_results,
    (S.WAIT_FOR_VALIDATE_CNF, "TT_match_response"): EvSlac._on_validate_timeout,
    (S.WAIT_FOR_SLAC_MATCH_CNF, "TT_match_response"): EvSlac._on_match_timeout,
    (S.WAIT_FOR_SET_KEY_CNF, "vendor_set_key_cnf"): EvSlac._resend_set_key,
    (S.WAIT_FOR_SET_KEY_CNF, "TT_match_join"): EvSlac._on_join_timeout,
    (S.WAIT_FOR_LINK, "vendor_link_poll"): EvSlac._poll_link,
    (S.WAIT_FOR_LINK, "TT_match_join"): EvSlac._on_join_timeout,
}
