"""SLAC management messages of ISO 15118-3 Annex A.8 (HomePlug GreenPHY, MMV 0x01): payload codecs.

Each class packs and parses its payload (frame offset 19 onwards, after the 5-byte MMV/MMTYPE/FMI header).
Frame sizes on the wire (ISO 15118-3 A.8; pyslac reads these exact sizes)::

    CM_SLAC_PARM.REQ 60   CM_SLAC_PARM.CNF 60   CM_START_ATTEN_CHAR.IND 60   CM_MNBC_SOUND.IND 71
    CM_ATTEN_PROFILE.IND 85   CM_ATTEN_CHAR.IND 129   CM_ATTEN_CHAR.RSP 70
    CM_VALIDATE.REQ/CNF 60   CM_SLAC_MATCH.REQ 85   CM_SLAC_MATCH.CNF 109

Decoders check every field they rely on (APP_TYPE 0, SEC_TYPE 0, counts, NumGroups <= 58, MVFLength) and raise
:class:`~evcc.plc.mme.FrameError` naming the message and field; trailing bytes (padding, optional cipher-suite
fields) are ignored, the frame length itself is bounded by :func:`~evcc.plc.mme.parse_mme`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from evcc.plc.reader import Reader

APP_TYPE_PEV_EVSE = 0x00
SEC_TYPE_NONE = 0x00
RESP_TYPE_OTHER_GP_STATION = 0x01
MAX_GROUPS = 58
RUN_ID_LEN = 8
ID_LEN = 17
MVF_MATCH_REQ = 0x3E
MVF_MATCH_CNF = 0x56

_ZERO = frozenset({0})


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
    num_sounds: int = 10
    time_out: int = 6
    msound_target: bytes = b"\xff" * 6

    def encode(self) -> bytes:
        return (
            self.msound_target
            + bytes([self.num_sounds, self.time_out, RESP_TYPE_OTHER_GP_STATION])
            + self.forwarding_sta
            + _APP_SEC
            + self.run_id
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmSlacParmCnf:
        r = Reader(payload, cls.NAME)
        target = r.take(6, "M-SOUND_TARGET")
        num_sounds = r.u8("NUM_SOUNDS")
        if not 1 <= num_sounds <= 255:
            raise r.fail(f"NUM_SOUNDS={num_sounds} is zero")
        time_out = r.u8("TIME_OUT")
        r.expect("RESP_TYPE", r.u8("RESP_TYPE"), frozenset({RESP_TYPE_OTHER_GP_STATION}))
        fwd = r.take(6, "FORWARDING_STA")
        _app_sec(r)
        return cls(fwd, r.take(RUN_ID_LEN, "RunID"), num_sounds, time_out, target)


@dataclass(frozen=True, slots=True)
class CmStartAttenCharInd:
    NAME: ClassVar[str] = "CM_START_ATTEN_CHAR.IND"
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = 10
    time_out: int = 6

    def encode(self) -> bytes:
        return (
            _APP_SEC
            + bytes([self.num_sounds, self.time_out, RESP_TYPE_OTHER_GP_STATION])
            + self.forwarding_sta
            + self.run_id
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmStartAttenCharInd:
        r = Reader(payload, cls.NAME)
        _app_sec(r)
        num_sounds = r.u8("NUM_SOUNDS")
        time_out = r.u8("TIME_OUT")
        r.expect("RESP_TYPE", r.u8("RESP_TYPE"), frozenset({RESP_TYPE_OTHER_GP_STATION}))
        fwd = r.take(6, "FORWARDING_STA")
        return cls(fwd, r.take(RUN_ID_LEN, "RunID"), num_sounds, time_out)


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
        return cls(run_id, cnt, r.take(16, "RND"), sender)


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
        if num_sounds == 0:
            raise r.fail("NUM_SOUNDS=0: no sound was received")
        return cls(src, run_id, num_sounds, _groups(r), source_id, resp_id)

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
        sig = r.expect("SignalType", r.u8("SignalType"), _ZERO)
        timer = r.u8("Timer/ToggleNum")
        result = r.expect("Result", r.u8("Result"), frozenset(range(5)))
        return cls(sig, timer, result)


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
        mvf = r.u16le("MVFLength")
        want = MVF_MATCH_CNF if confirmation else MVF_MATCH_REQ
        if mvf != want:
            raise r.fail(f"MVFLength=0x{mvf:04x}, expected 0x{want:04x}")
        pev_id = r.take(ID_LEN, "PEV_ID")
        pev_mac = r.take(6, "PEV_MAC")
        evse_id = r.take(ID_LEN, "EVSE_ID")
        evse_mac = r.take(6, "EVSE_MAC")
        run_id = r.take(RUN_ID_LEN, "RunID")
        r.take(8, "RSVD")
        if not confirmation:
            return cls(pev_mac, evse_mac, run_id, None, None, pev_id, evse_id)
        nid = r.take(7, "NID")
        r.take(1, "RSVD")
        nmk = r.take(16, "NMK")
        return cls(pev_mac, evse_mac, run_id, nid, nmk, pev_id, evse_id)
