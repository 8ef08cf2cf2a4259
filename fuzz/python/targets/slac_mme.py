"""Fuzz target ``py-slac``: the HomePlug AV / SLAC management-message parsers the EV runs on every frame from the
modem or the EVSE (ISO 15118-3 Annex A.8, HPAV 1.1 clause 11; evcc/plc/mme.py, slac_mme.py, modem_mme.py,
frames.py).

Input layout: byte 0 selects what is fed to :func:`evcc.plc.frames.decode_frame`: a value below the number of
MMTYPEs in :data:`MMTYPES` frames the rest of the input as that MME's payload behind a correct Ethernet/MME
header (the payload parsers are reached at once); any other value hands the rest over as a raw frame (headers
too). Oracles beyond "only FrameError escapes": what decodes re-encodes (``encode_frame``) to a frame that decodes
to the same message (a short CM_MNBC_SOUND.IND RND comes back padded); ``deviations()``, ``average``, ``accepted`` and ``linked`` run on every decoded message.
"""

from __future__ import annotations

import dataclasses
import struct

from evcc.plc import modem_mme as mm
from evcc.plc import slac_mme as sm
from evcc.plc.frames import EmptyVendorReq, decode_frame, encode_frame
from evcc.plc.mme import ETH_P_HOMEPLUG_AV, MAX_FRAME, MMV_HPAV_1_0, MMV_HPAV_1_1, QCA_OUI, FrameError, MMType, Mode, mmtype

EXPECTED: tuple[type[BaseException], ...] = (FrameError,)
MAX_LEN = 1600

DST = bytes.fromhex("020000000001")
SRC = bytes.fromhex("020000000002")
MMTYPES = tuple(
    mmtype(base, mode)
    for base, mode in (
        (MMType.CM_SLAC_PARM, Mode.REQ), (MMType.CM_SLAC_PARM, Mode.CNF), (MMType.CM_START_ATTEN_CHAR, Mode.IND),
        (MMType.CM_MNBC_SOUND, Mode.IND), (MMType.CM_ATTEN_PROFILE, Mode.IND), (MMType.CM_ATTEN_CHAR, Mode.IND),
        (MMType.CM_ATTEN_CHAR, Mode.RSP), (MMType.CM_VALIDATE, Mode.REQ), (MMType.CM_VALIDATE, Mode.CNF),
        (MMType.CM_SLAC_MATCH, Mode.REQ), (MMType.CM_SLAC_MATCH, Mode.CNF), (MMType.CM_SET_KEY, Mode.REQ),
        (MMType.CM_SET_KEY, Mode.CNF), (MMType.VS_SW_VER, Mode.REQ), (MMType.VS_SW_VER, Mode.CNF),
        (MMType.VS_LINK_STATUS, Mode.REQ), (MMType.VS_LINK_STATUS, Mode.CNF), (MMType.VS_RS_DEV, Mode.REQ),
    )
)


def frame_of(mtype: int, payload: bytes) -> bytes:
    """A frame with correct headers for ``mtype`` (MMV 0 and the Qualcomm OUI for vendor MMEs), no padding."""
    vendor = 0xA000 <= mtype <= 0xBFFF
    mmv = MMV_HPAV_1_0 if vendor else MMV_HPAV_1_1
    head = DST + SRC + struct.pack("!HB", ETH_P_HOMEPLUG_AV, mmv) + struct.pack("<H", mtype)
    head += b"" if vendor else b"\x00\x00"
    head += QCA_OUI if vendor else b""
    return (head + payload)[:MAX_FRAME]


def test_one(data: bytes) -> None:
    if not data:
        return
    selector, rest = data[0], data[1:]
    frame = frame_of(MMTYPES[selector], rest) if selector < len(MMTYPES) else rest
    mme, message = decode_frame(frame)
    _ = (mme.base, mme.mode, mme.is_vendor)
    if message is None:
        return
    if isinstance(message, sm.CmMnbcSoundInd | sm.CmSlacParmCnf | sm.CmStartAttenCharInd | sm.CmAttenCharInd
                  | sm.CmValidate):
        message.deviations()
    if isinstance(message, sm.CmSlacMatch):
        message.deviations(mme.src)
    if isinstance(message, sm.CmAttenCharInd):
        assert 0 <= message.average <= 255
    if isinstance(message, mm.CmSetKeyCnf):
        _ = message.accepted
    if isinstance(message, mm.VsLinkStatusCnf):
        _ = message.linked
    if isinstance(message, EmptyVendorReq | mm.VsSwVerCnf):
        return  # no value equality (EmptyVendorReq) / the version text is decoded lossily ("replace")
    again = decode_frame(encode_frame(mme.src, mme.dst, mme.mmtype, message))[1]
    if isinstance(message, sm.CmMnbcSoundInd) and isinstance(again, sm.CmMnbcSoundInd):
        # a short RND (pev's 64-byte frames) comes back with the padding of the 71-byte frame behind it
        assert again.rnd.startswith(message.rnd), "CM_MNBC_SOUND.IND RND changed"
        again = dataclasses.replace(again, rnd=message.rnd)
    assert again == message, f"{type(message).__name__} does not survive encode/decode: {message} -> {again}"
