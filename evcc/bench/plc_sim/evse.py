"""Sans-IO EVSE side of SLAC (ISO 15118-3 Annex A.9, Figure A.3) for the bench and the tests.

It answers CM_SLAC_PARM.REQ, counts sounds from its modem's CM_ATTEN_PROFILE.IND, sends CM_ATTEN_CHAR.IND after
C_EV_match_MNBC sounds or TT_EVSE_match_MNBC, answers CM_VALIDATE.REQ with "not required" and CM_SLAC_MATCH.REQ
with its NID/NMK. ``EvseConfig`` can make it behave like real EVSEs that deviate (issue #14): ``resp_type`` in
CM_SLAC_PARM.CNF (open-plc-utils ``evse`` sends 0), ``answer_validate=False`` (no CM_VALIDATE at all). At ``start`` it sets its own NMK on its local modem (as pyslac does). One session at a time; a
CM_SLAC_PARM.REQ with a new RunID starts a new one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from evcc.plc import modem_mme as mm
from evcc.plc import slac_mme as sm
from evcc.plc.frames import Message, decode_frame, encode_frame
from evcc.plc.mme import FrameError, MMType, Mode, mmtype
from evcc.plc.modem import set_key_frame

PARM_REQ = mmtype(MMType.CM_SLAC_PARM, Mode.REQ)
START_ATTEN_IND = mmtype(MMType.CM_START_ATTEN_CHAR, Mode.IND)
PROFILE_IND = mmtype(MMType.CM_ATTEN_PROFILE, Mode.IND)
ATTEN_IND = mmtype(MMType.CM_ATTEN_CHAR, Mode.IND)
ATTEN_RSP = mmtype(MMType.CM_ATTEN_CHAR, Mode.RSP)
VALIDATE_REQ = mmtype(MMType.CM_VALIDATE, Mode.REQ)
MATCH_REQ = mmtype(MMType.CM_SLAC_MATCH, Mode.REQ)

TT_EVSE_match_MNBC = 0.6
TT_match_response = 0.2
C_EV_match_MNBC = 10


class EvseState(enum.Enum):
    WAIT_FOR_SLAC_PARM_REQ = "wait for CM_SLAC_PARM.REQ"
    WAIT_FOR_SOUNDS = "collecting sounds"
    WAIT_FOR_ATTEN_CHAR_RSP = "wait for CM_ATTEN_CHAR.RSP"
    WAIT_FOR_SLAC_MATCH_REQ = "wait for CM_SLAC_MATCH.REQ"
    MATCHED = "matched"


@dataclass(frozen=True, slots=True)
class EvseConfig:
    host_mac: bytes
    evse_id: bytes = b"\x00" * 17
    answer_parm: bool = True
    resp_type: int = sm.RESP_TYPE_OTHER_GP_STATION
    answer_validate: bool = True


class EvseSlac:
    """The EVSE's SLAC. ``rng(n)`` gives the NMK."""

    def __init__(self, config: EvseConfig, rng: Callable[[int], bytes]) -> None:
        self.config = config
        self.nmk = rng(mm.NMK_LEN)
        self.nid = mm.nid_from_nmk(self.nmk)
        self.state = EvseState.WAIT_FOR_SLAC_PARM_REQ
        self.ev_mac = b""
        self.run_id = b""
        self._aag_sum: list[int] = []
        self._sounds = 0
        self._deadline: float | None = None
        self._tries = 0
        self._out: list[bytes] = []
        self.matched_ev: bytes | None = None

    def start(self) -> None:
        """Put this EVSE's NMK on its modem (the modem then restarts)."""
        self._out.append(set_key_frame(self.config.host_mac, self.nmk, self.nid))

    def frames_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def _send(self, mtype: int, msg: Message) -> None:
        self._out.append(encode_frame(self.ev_mac, self.config.host_mac, mtype, msg))

    def receive_frame(self, frame: bytes, now: float) -> None:
        try:
            mme, msg = decode_frame(frame)
        except FrameError:
            return
        if msg is None or mme.src == self.config.host_mac:
            return
        if mme.mmtype == PARM_REQ and isinstance(msg, sm.CmSlacParmReq) and self.config.answer_parm:
            self._on_parm_req(mme.src, msg, now)
        elif getattr(msg, "run_id", self.run_id) != self.run_id or not self.run_id:
            return
        elif mme.mmtype == START_ATTEN_IND and self.state is EvseState.WAIT_FOR_SOUNDS:
            self._deadline = self._deadline or now + TT_EVSE_match_MNBC
        elif mme.mmtype == PROFILE_IND and isinstance(msg, sm.CmAttenProfileInd):
            self._on_profile(msg, now)
        elif mme.mmtype == ATTEN_RSP and self.state is EvseState.WAIT_FOR_ATTEN_CHAR_RSP:
            self.state, self._deadline = EvseState.WAIT_FOR_SLAC_MATCH_REQ, None
        elif mme.mmtype == VALIDATE_REQ and mme.src == self.ev_mac and self.config.answer_validate:
            self._send(mmtype(MMType.CM_VALIDATE, Mode.CNF), sm.CmValidate(0, 0, 4))
        elif mme.mmtype == MATCH_REQ and isinstance(msg, sm.CmSlacMatch):
            self._on_match_req(msg)

    def _on_parm_req(self, src: bytes, msg: sm.CmSlacParmReq, now: float) -> None:
        if msg.run_id != self.run_id:
            self.ev_mac, self.run_id = src, msg.run_id
            self.state = EvseState.WAIT_FOR_SOUNDS
            self._aag_sum, self._sounds, self._deadline, self._tries = [], 0, None, 0
        cnf = sm.CmSlacParmCnf(src, msg.run_id, resp_type=self.config.resp_type)
        self._send(mmtype(MMType.CM_SLAC_PARM, Mode.CNF), cnf)

    def _on_profile(self, msg: sm.CmAttenProfileInd, now: float) -> None:
        if msg.pev_mac != self.ev_mac or self.state is not EvseState.WAIT_FOR_SOUNDS:
            return
        if not self._aag_sum:
            self._aag_sum = [0] * len(msg.aag)
        for i, value in enumerate(msg.aag[: len(self._aag_sum)]):
            self._aag_sum[i] += value
        self._sounds += 1
        self._deadline = self._deadline or now + TT_EVSE_match_MNBC
        if self._sounds >= C_EV_match_MNBC:
            self._send_atten_char(now)

    def _send_atten_char(self, now: float) -> None:
        if self._sounds == 0:
            self.state, self._deadline = EvseState.WAIT_FOR_SLAC_PARM_REQ, None
            return
        aag = tuple(round(total / self._sounds) for total in self._aag_sum)
        self._send(ATTEN_IND, sm.CmAttenCharInd(self.ev_mac, self.run_id, self._sounds, aag))
        self.state, self._deadline = EvseState.WAIT_FOR_ATTEN_CHAR_RSP, now + TT_match_response

    def _on_match_req(self, msg: sm.CmSlacMatch) -> None:
        if msg.evse_mac != self.config.host_mac:
            return
        cnf = sm.CmSlacMatch(msg.pev_mac, self.config.host_mac, self.run_id, self.nid, self.nmk,
                             msg.pev_id, self.config.evse_id)
        self._send(mmtype(MMType.CM_SLAC_MATCH, Mode.CNF), cnf)
        self.state, self._deadline, self.matched_ev = EvseState.MATCHED, None, msg.pev_mac

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        if self.state is EvseState.WAIT_FOR_SOUNDS:
            self._send_atten_char(now)
        elif self.state is EvseState.WAIT_FOR_ATTEN_CHAR_RSP and self._tries < 2:
            self._tries += 1
            aag = tuple(round(total / self._sounds) for total in self._aag_sum)
            self._send(ATTEN_IND, sm.CmAttenCharInd(self.ev_mac, self.run_id, self._sounds, aag))
            self._deadline = now + TT_match_response
        elif self.state is EvseState.WAIT_FOR_ATTEN_CHAR_RSP:
            self.state = EvseState.WAIT_FOR_SLAC_MATCH_REQ  # carry on: the EV may still send MATCH.REQ
