"""Whole-frame encode/decode for the MMEs the EV side and the simulators use (ISO 15118-3 A.8, HPAV 1.1 §11).

:func:`decode_frame` parses the headers, dispatches on MMTYPE through one table and returns the typed message;
unknown MMTYPEs come back as ``None`` (the caller decides whether to care). :func:`encode_frame` pads each frame to
the size ISO 15118-3 gives it (peers such as pyslac read those exact sizes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from evcc.plc import modem_mme as mm
from evcc.plc import slac_mme as sm
from evcc.plc.mme import (
    MIN_FRAME,
    MMV_HPAV_1_0,
    MMV_HPAV_1_1,
    FrameError,
    Mme,
    MMType,
    Mode,
    build_mme,
    mmtype,
    parse_mme,
)

Message = Union[
    sm.CmSlacParmReq,
    sm.CmSlacParmCnf,
    sm.CmStartAttenCharInd,
    sm.CmMnbcSoundInd,
    sm.CmAttenProfileInd,
    sm.CmAttenCharInd,
    sm.CmAttenCharRsp,
    sm.CmValidate,
    sm.CmSlacMatch,
    mm.CmSetKeyReq,
    mm.CmSetKeyCnf,
    mm.VsSwVerCnf,
    mm.VsLinkStatusCnf,
    "EmptyVendorReq",
]


class EmptyVendorReq:
    """A Qualcomm vendor request whose payload is only the OUI (VS_SW_VER, VS_LINK_STATUS, VS_RS_DEV .REQ)."""

    __slots__ = ()
    NAME = "VS_*.REQ"

    def encode(self) -> bytes:
        return b""


def _match(confirmation: bool) -> Callable[[bytes], Message]:
    return lambda payload: sm.CmSlacMatch.decode(payload, confirmation=confirmation)


# MMTYPE -> (MMV, frame size, decoder)
_TABLE: dict[int, tuple[int, int, Callable[[bytes], Message]]] = {
    mmtype(MMType.CM_SLAC_PARM, Mode.REQ): (MMV_HPAV_1_1, 60, sm.CmSlacParmReq.decode),
    mmtype(MMType.CM_SLAC_PARM, Mode.CNF): (MMV_HPAV_1_1, 60, sm.CmSlacParmCnf.decode),
    mmtype(MMType.CM_START_ATTEN_CHAR, Mode.IND): (MMV_HPAV_1_1, 60, sm.CmStartAttenCharInd.decode),
    mmtype(MMType.CM_MNBC_SOUND, Mode.IND): (MMV_HPAV_1_1, 71, sm.CmMnbcSoundInd.decode),
    mmtype(MMType.CM_ATTEN_PROFILE, Mode.IND): (MMV_HPAV_1_1, 85, sm.CmAttenProfileInd.decode),
    mmtype(MMType.CM_ATTEN_CHAR, Mode.IND): (MMV_HPAV_1_1, 129, sm.CmAttenCharInd.decode),
    mmtype(MMType.CM_ATTEN_CHAR, Mode.RSP): (MMV_HPAV_1_1, 70, sm.CmAttenCharRsp.decode),
    mmtype(MMType.CM_VALIDATE, Mode.REQ): (MMV_HPAV_1_1, 60, sm.CmValidate.decode),
    mmtype(MMType.CM_VALIDATE, Mode.CNF): (MMV_HPAV_1_1, 60, sm.CmValidate.decode),
    mmtype(MMType.CM_SLAC_MATCH, Mode.REQ): (MMV_HPAV_1_1, 85, _match(False)),
    mmtype(MMType.CM_SLAC_MATCH, Mode.CNF): (MMV_HPAV_1_1, 109, _match(True)),
    mmtype(MMType.CM_SET_KEY, Mode.REQ): (MMV_HPAV_1_1, 60, mm.CmSetKeyReq.decode),
    mmtype(MMType.CM_SET_KEY, Mode.CNF): (MMV_HPAV_1_1, 60, mm.CmSetKeyCnf.decode),
    mmtype(MMType.VS_SW_VER, Mode.REQ): (MMV_HPAV_1_0, 60, lambda _p: EmptyVendorReq()),
    mmtype(MMType.VS_SW_VER, Mode.CNF): (MMV_HPAV_1_0, 60, mm.VsSwVerCnf.decode),
    mmtype(MMType.VS_LINK_STATUS, Mode.REQ): (MMV_HPAV_1_0, 60, lambda _p: EmptyVendorReq()),
    mmtype(MMType.VS_LINK_STATUS, Mode.CNF): (MMV_HPAV_1_0, 60, mm.VsLinkStatusCnf.decode),
    mmtype(MMType.VS_RS_DEV, Mode.REQ): (MMV_HPAV_1_0, 60, lambda _p: EmptyVendorReq()),
}

SLAC_BASES = frozenset(
    int(b)
    for b in (
        MMType.CM_SLAC_PARM,
        MMType.CM_START_ATTEN_CHAR,
        MMType.CM_ATTEN_CHAR,
        MMType.CM_MNBC_SOUND,
        MMType.CM_VALIDATE,
        MMType.CM_SLAC_MATCH,
        MMType.CM_ATTEN_PROFILE,
    )
)


def decode_frame(frame: bytes) -> tuple[Mme, Message | None]:
    """Parse ``frame``; the message is ``None`` for an MMTYPE this module does not know.

    Raises :class:`FrameError` (and only that) for a malformed frame, including a known MMTYPE sent with the
    wrong MMV.
    """
    mme = parse_mme(frame)
    entry = _TABLE.get(mme.mmtype)
    if entry is None:
        return mme, None
    mmv, _size, decoder = entry
    if (mmv == MMV_HPAV_1_0) != (mme.mmv == MMV_HPAV_1_0):
        raise FrameError(f"MMTYPE 0x{mme.mmtype:04x} sent with MMV {mme.mmv}, expected {mmv}")
    return mme, decoder(mme.payload)


def encode_frame(dst: bytes, src: bytes, mtype: int, message: Message) -> bytes:
    """The complete frame for ``message`` sent as MMTYPE ``mtype``, padded to its ISO 15118-3 size."""
    mmv, size, _decoder = _TABLE.get(mtype, (MMV_HPAV_1_1, MIN_FRAME, None))
    return build_mme(dst, src, mmv, mtype, message.encode(), pad_to=size)


def frame_size(mtype: int) -> int:
    """The padded size :func:`encode_frame` uses for ``mtype``."""
    return _TABLE.get(mtype, (0, MIN_FRAME, None))[1]
