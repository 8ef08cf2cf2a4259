"""SLAC management messages of ISO 15118-3 Annex A.8 (HomePlug GreenPHY, MMV 0x01): payload codecs.

Each class packs and parses its payload (frame offset 19 onwards, after the 5-byte MMV/MMTYPE/FMI header).
Frame sizes on the wire (ISO 15118-3 A.8; pyslac reads these exact sizes)::

    CM_SLAC_PARM.REQ 60   CM_SLAC_PARM.CNF 60   CM_START_ATTEN_CHAR.IND 60   CM_MNBC_SOUND.IND 71
    CM_ATTEN_PROFILE.IND 85   CM_ATTEN_CHAR.IND 129   CM_ATTEN_CHAR.RSP 70
    CM_VALIDATE.REQ/CNF 60   CM_SLAC_MATCH.REQ 85   CM_SLAC_MATCH.CNF 109

Decoders reject only what makes a frame unusable: a payload too short for its fields, APP_TYPE other than 0
(another application) or SEC_TYPE other than 0 (another layout: cipher suites), NumGroups outside 1..58 or
NUM_SOUNDS 0 in CM_ATTEN_CHAR.IND (the attenuation values the EV ranks on), a CM_VALIDATE Result outside 0..4
(the EV acts on it); they raise
:class:`~evcc.plc.mme.FrameError` naming the message and field. Fields the EV receives but does not act on are
kept as received and listed by ``deviations()`` when they differ from what ISO 15118-3 fixes (RESP_TYPE 1,
TIME_OUT 6, NUM_SOUNDS 10, M-SOUND_TARGET broadcast, MVFLength, SignalType 0): the EV goes on and reports them
(issue #14; the chip vendor's reference EVSE sends RESP_TYPE 0). What the EV sends is unchanged (RESP_TYPE 1).
Trailing bytes (padding, optional cipher-suite fields, a 326-byte CM_ATTEN_CHAR.IND) are ignored; the frame
length itself is bounded by :func:`~evcc.plc.mme.parse_mme`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from evcc.plc.reader import Reader

APP_TYPE_PEV_EVSE = 0x00
SEC_TYPE_NONE = 0x00
RESP_TYPE_OTHER_GP_STATION = 0x01
MAX_GROUPS = 58
RUN_ID_LEN = 8
ID_LEN = 17
MVF_MATCH_REQ = 0x3E
MVF_MATCH_CNF = 0x56

BROADCAST_TARGET = b"\xff" * 6
DEFAULT_NUM_SOUNDS = 10  # C_EV_match_MNBC
DEFAULT_TIME_OUT = 6  # TT_EVSE_match_MNBC 600 ms in units of 100 ms
VALIDATE_RESULTS = frozenset(range(5))
CLAUSE_PARM_CNF = "ISO 15118-3 A.8, CM_SLAC_PARM.CNF"
CLAUSE_START_ATTEN = "ISO 15118-3 A.8, CM_START_ATTEN_CHAR.IND"
CLAUSE_ATTEN_IND = "ISO 15118-3 A.8, CM_ATTEN_CHAR.IND"
CLAUSE_VALIDATE = "ISO 15118-3 A.8, CM_VALIDATE.CNF"
CLAUSE_MATCH_CNF = "ISO 15118-3 A.8, CM_SLAC_MATCH.CNF"


class PeerDeviation(NamedTuple):
    """A received field the EV does not act on, with a value other than the one ISO 15118-3 fixes."""

    field: str
    value: str
    expected: str
    clause: str


def _odd(message: str, field: str, value: int | bytes, expected: int | bytes, clause: str) -> list[PeerDeviation]:
    if value == expected:
        return []
    return [PeerDeviation(f"{message} {field}", _show(value), _show(expected), clause)]


def _show(value: int | bytes) -> str:
    return value.hex(":") if isinstance(value, bytes) else str(value)


def _app_sec(r: Reader) -> None:
    r.expect("APPLICATION_TYPE", r.u8("APPLICATION_TYPE"), frozenset({APP_TYPE_PEV_EVSE}))
    r.expect("SECURITY_TYPE", r.u8("SECURITY_TYPE"), frozenset({SEC_TYPE_NONE}))


_APP_SEC = bytes([APP_TYPE_PEV_EVSE, SEC_TYPE_NONE])


@dataclass(frozen=True, slots=True)
class CmSlacParmReq:
    NAME: ClassVar[str] = "CM_SLAC_PARM.REQ"
    run_id: bytes

    def encode(self) -> bytes:
        return _APP_SEC + self.run_id

    @classmethod
    def decode(cls, payload: bytes) -> CmSlacParmReq:
        r = Reader(payload, cls.NAME)
        _app_sec(r)
        return cls(r.take(RUN_ID_LEN, "RunID"))


@dataclass(frozen=True, slots=True)
class CmSlacParmCnf:
    NAME: ClassVar[str] = "CM_SLAC_PARM.CNF"
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = DEFAULT_NUM_SOUNDS
    time_out: int = DEFAULT_TIME_OUT
    msound_target: bytes = BROADCAST_TARGET
    resp_type: int = RESP_TYPE_OTHER_GP_STATION

    def encode(self) -> bytes:
        return (
            self.msound_target
            + bytes([self.num_sounds, self.time_out, self.resp_type])
            + self.forwarding_sta
            + _APP_SEC
            + self.run_id
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmSlacParmCnf:
        r = Reader(payload, cls.NAME)
        target = r.take(6, "M-SOUND_TARGET")
        num_sounds = r.u8("NUM_SOUNDS")
        time_out = r.u8("TIME_OUT")
        resp_type = r.u8("RESP_TYPE")
        fwd = r.take(6, "FORWARDING_STA")
        _app_sec(r)
        return cls(fwd, r.take(RUN_ID_LEN, "RunID"), num_sounds, time_out, target, resp_type)

    def deviations(self) -> list[PeerDeviation]:
        """Fields the EV does not act on (it sounds C_EV_match_MNBC times to broadcast whatever they say)."""
        c = CLAUSE_PARM_CNF
        return (_odd(self.NAME, "M-SOUND_TARGET", self.msound_target, BROADCAST_TARGET, c)
                + _odd(self.NAME, "NUM_SOUNDS", self.num_sounds, DEFAULT_NUM_SOUNDS, c)
                + _odd(self.NAME, "TIME_OUT", self.time_out, DEFAULT_TIME_OUT, c)
                + _odd(self.NAME, "RESP_TYPE", self.resp_type, RESP_TYPE_OTHER_GP_STATION, c))


@dataclass(frozen=True, slots=True)
class CmStartAttenCharInd:
    NAME: ClassVar[str] = "CM_START_ATTEN_CHAR.IND"
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = DEFAULT_NUM_SOUNDS
    time_out: int = DEFAULT_TIME_OUT
    resp_type: int = RESP_TYPE_OTHER_GP_STATION

    def encode(self) -> bytes:
        return (
            _APP_SEC
            + bytes([self.num_sounds, self.time_out, self.resp_type])
            + self.forwarding_sta
            + self.run_id
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmStartAttenCharInd:
        r = Reader(payload, cls.NAME)
        _app_sec(r)
        num_sounds = r.u8("NUM_SOUNDS")
        time_out = r.u8("TIME_OUT")
        resp_type = r.u8("RESP_TYPE")
        fwd = r.take(6, "FORWARDING_STA")
        return cls(fwd, r.take(RUN_ID_LEN, "RunID"), num_sounds, time_out, resp_type)

    def deviations(self) -> list[PeerDeviation]:
        return _odd(self.NAME, "RESP_TYPE", self.resp_type, RESP_TYPE_OTHER_GP_STATION, CLAUSE_START_ATTEN)


@dataclass(frozen=True, slots=True)
class CmMnbcSoundInd:
    NAME: ClassVar[str] = "CM_MNBC_SOUND.IND"
    run_id: bytes
    cnt: int
    rnd: bytes
    sender_id: bytes = b"\x00" * ID_LEN

    def encode(self) -> bytes:
        return _APP_SEC + self.sender_id + bytes([self.cnt]) + self.run_id + b"\x00" * 8 + self.rnd

    @classmethod
    def decode(cls, payload: bytes) -> CmMnbcSoundInd:
        r = Reader(payload, cls.NAME)
        _app_sec(r)
        sender = r.take(ID_LEN, "SenderID")
        cnt = r.u8("CNT")
        run_id = r.take(RUN_ID_LEN, "RunID")
        r.take(8, "RSVD")
        # RND is not used by anyone (a modem measures the sound, not its payload); open-plc-utils' pev sends
        # 64-byte frames that hold only 9 of its 16 bytes: read what is there, deviations() reports the rest.
        return cls(run_id, cnt, r.take(min(16, r.remaining), "RND"), sender)

    def deviations(self) -> list[PeerDeviation]:
        if len(self.rnd) == 16:
            return []
        return [PeerDeviation(f"{self.NAME} RND", f"{len(self.rnd)} bytes", "16 bytes", "ISO 15118-3 A.8, "
                              "CM_MNBC_SOUND.IND")]


def _groups(r: Reader) -> tuple[int, ...]:
    num = r.u8("NumGroups")
    if not 1 <= num <= MAX_GROUPS:
        raise r.fail(f"NumGroups={num} outside 1..{MAX_GROUPS}")
    return tuple(r.take(num, "AAG"))


@dataclass(frozen=True, slots=True)
class CmAttenProfileInd:
    NAME: ClassVar[str] = "CM_ATTEN_PROFILE.IND"
    pev_mac: bytes
    aag: tuple[int, ...]

    def encode(self) -> bytes:
        return self.pev_mac + bytes([len(self.aag), 0]) + bytes(self.aag)

    @classmethod
    def decode(cls, payload: bytes) -> CmAttenProfileInd:
        r = Reader(payload, cls.NAME)
        mac = r.take(6, "PEV_MAC")
        num = r.u8("NumGroups")
        if not 1 <= num <= MAX_GROUPS:
            raise r.fail(f"NumGroups={num} outside 1..{MAX_GROUPS}")
        r.take(1, "RSVD")
        return cls(mac, tuple(r.take(num, "AAG")))


@dataclass(frozen=True, slots=True)
class CmAttenCharInd:
    NAME: ClassVar[str] = "CM_ATTEN_CHAR.IND"
    source_address: bytes
    run_id: bytes
    num_sounds: int
    aag: tuple[int, ...]
    source_id: bytes = b"\x00" * ID_LEN
    resp_id: bytes = b"\x00" * ID_LEN

    def encode(self) -> bytes:
        return (
            _APP_SEC
            + self.source_address
            + self.run_id
            + self.source_id
            + self.resp_id
            + bytes([self.num_sounds, len(self.aag)])
            + bytes(self.aag)
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmAttenCharInd:
        r = Reader(payload, cls.NAME)
        _app_sec(r)
        src = r.take(6, "SOURCE_ADDRESS")
        run_id = r.take(RUN_ID_LEN, "RunID")
        source_id = r.take(ID_LEN, "SOURCE_ID")
        resp_id = r.take(ID_LEN, "RESP_ID")
        num_sounds = r.u8("NUM_SOUNDS")
        if num_sounds == 0:  # then the AAG the EV ranks on are no measurement: unusable
            raise r.fail("NUM_SOUNDS=0: no sound was received")
        return cls(src, run_id, num_sounds, _groups(r), source_id, resp_id)

    def deviations(self, sent: int = DEFAULT_NUM_SOUNDS) -> list[PeerDeviation]:
        """NUM_SOUNDS counts the sounds received: more than the EV sent is not a count of ours (the EV ranks on
        the AAG values; 0 is rejected by ``decode``: no measurement)."""
        if self.num_sounds <= sent:
            return []
        return [PeerDeviation(f"{self.NAME} NUM_SOUNDS", str(self.num_sounds), f"1..{sent}", CLAUSE_ATTEN_IND)]

    @property
    def average(self) -> float:
        """Mean attenuation over the groups, in dB."""
        return sum(self.aag) / len(self.aag)


@dataclass(frozen=True, slots=True)
class CmAttenCharRsp:
    NAME: ClassVar[str] = "CM_ATTEN_CHAR.RSP"
    source_address: bytes
    run_id: bytes
    result: int = 0
    source_id: bytes = b"\x00" * ID_LEN
    resp_id: bytes = b"\x00" * ID_LEN

    def encode(self) -> bytes:
        return (
            _APP_SEC + self.source_address + self.run_id + self.source_id + self.resp_id + bytes([self.result])
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmAttenCharRsp:
        r = Reader(payload, cls.NAME)
        _app_sec(r)
        src = r.take(6, "SOURCE_ADDRESS")
        run_id = r.take(RUN_ID_LEN, "RunID")
        source_id = r.take(ID_LEN, "SOURCE_ID")
        resp_id = r.take(ID_LEN, "RESP_ID")
        return cls(src, run_id, r.u8("Result"), source_id, resp_id)


@dataclass(frozen=True, slots=True)
class CmValidate:
    """CM_VALIDATE.REQ (timer_or_toggles = Timer) and .CNF (timer_or_toggles = ToggleNum)."""

    NAME: ClassVar[str] = "CM_VALIDATE"
    signal_type: int
    timer_or_toggles: int
    result: int

    def encode(self) -> bytes:
        return bytes([self.signal_type, self.timer_or_toggles, self.result])

    @classmethod
    def decode(cls, payload: bytes) -> CmValidate:
        r = Reader(payload, cls.NAME)
        sig = r.u8("SignalType")
        timer = r.u8("Timer/ToggleNum")
        result = r.expect("Result", r.u8("Result"), VALIDATE_RESULTS)
        return cls(sig, timer, result)

    def deviations(self) -> list[PeerDeviation]:
        """SignalType: the EV toggles S2 as it asked (0) whatever the EVSE echoes."""
        return _odd(self.NAME + ".CNF", "SignalType", self.signal_type, 0, CLAUSE_VALIDATE)


@dataclass(frozen=True, slots=True)
class CmSlacMatch:
    """CM_SLAC_MATCH.REQ (nid/nmk None) and CM_SLAC_MATCH.CNF (with NID and NMK)."""

    NAME: ClassVar[str] = "CM_SLAC_MATCH"
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes | None = None
    nmk: bytes | None = None
    pev_id: bytes = b"\x00" * ID_LEN
    evse_id: bytes = b"\x00" * ID_LEN
    mvf_length: int | None = field(default=None, compare=False)  # as received; encode writes ISO 15118-3's

    def encode(self) -> bytes:
        mvf = MVF_MATCH_REQ if self.nmk is None else MVF_MATCH_CNF
        body = (
            _APP_SEC
            + mvf.to_bytes(2, "little")
            + self.pev_id
            + self.pev_mac
            + self.evse_id
            + self.evse_mac
            + self.run_id
            + b"\x00" * 8
        )
        if self.nmk is not None and self.nid is not None:
            body += self.nid + b"\x00" + self.nmk
        return body

    @classmethod
    def decode(cls, payload: bytes, *, confirmation: bool) -> CmSlacMatch:
        r = Reader(payload, cls.NAME + (".CNF" if confirmation else ".REQ"))
        _app_sec(r)
        mvf = r.u16le("MVFLength")  # the layout is fixed: a wrong length is reported, the fields are read
        pev_id = r.take(ID_LEN, "PEV_ID")
        pev_mac = r.take(6, "PEV_MAC")
        evse_id = r.take(ID_LEN, "EVSE_ID")
        evse_mac = r.take(6, "EVSE_MAC")
        run_id = r.take(RUN_ID_LEN, "RunID")
        r.take(8, "RSVD")
        if not confirmation:
            return cls(pev_mac, evse_mac, run_id, None, None, pev_id, evse_id, mvf)
        nid = r.take(7, "NID")
        r.take(1, "RSVD")
        nmk = r.take(16, "NMK")
        return cls(pev_mac, evse_mac, run_id, nid, nmk, pev_id, evse_id, mvf)

    def deviations(self, sender: bytes | None = None) -> list[PeerDeviation]:
        """MVFLength (the EV reads the fixed layout) and an EVSE_MAC other than the frame's sender (the EV
        answers the sender)."""
        confirmation = self.nmk is not None
        name = self.NAME + (".CNF" if confirmation else ".REQ")
        want = MVF_MATCH_CNF if confirmation else MVF_MATCH_REQ
        out = [] if self.mvf_length is None else _odd(name, "MVFLength", self.mvf_length, want, CLAUSE_MATCH_CNF)
        if sender is not None:
            out += _odd(name, "EVSE_MAC", self.evse_mac, sender, CLAUSE_MATCH_CNF)
        return out
