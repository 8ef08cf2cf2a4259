"""HomePlug AV management message (MME) framing: Ethernet II header plus the MME header.

HomePlug AV 1.1 spec clause 11.1 (MME format); ISO 15118-3 Annex A uses it for every SLAC message.
Byte layout (offsets in the Ethernet frame)::

    0      6      12        14    15        17     19 (MMV >= 1)  / 17.. OUI(3) .. 20 (MMV 0, vendor)
    +------+------+---------+-----+---------+------+----------------
    |  DA  |  SA  | 0x88E1  | MMV | MMTYPE  | FMI  | payload ...
    +------+------+---------+-----+---------+------+----------------
                   big end.        little end.

MMV 0x00 (HPAV 1.0) frames have no FMI field; Qualcomm vendor MMEs (0xA000..0xBFFF) start their payload with
the OUI 00:B0:52. Frames shorter than 60 bytes are padded with zero bytes. Parsing is bounded: a frame longer than
:data:`MAX_FRAME` or shorter than its header is rejected with :class:`FrameError` naming what was wrong.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from evcc.errors import ProtocolError

ETH_P_HOMEPLUG_AV = 0x88E1
ETH_HEADER_LEN = 14
MIN_FRAME = 60
MAX_FRAME = 1518
BROADCAST = b"\xff" * 6
#: "Local cast" address of a Qualcomm Atheros modem: "my own local modem" (open-plc-utils mme/qualcomm.h).
LOCALCAST = bytes.fromhex("00b052000001")
QCA_OUI = bytes.fromhex("00b052")

MMV_HPAV_1_0 = 0x00
MMV_HPAV_1_1 = 0x01
MMV_AV_2_0 = 0x02
KNOWN_MMVS = frozenset({MMV_HPAV_1_0, MMV_HPAV_1_1, MMV_AV_2_0})


class FrameError(ProtocolError):
    """A HomePlug AV frame from the modem or the peer is malformed; the message names the field."""


class Mode(enum.IntEnum):
    """The two least significant bits of MMTYPE."""

    REQ = 0
    CNF = 1
    IND = 2
    RSP = 3


class MMType(enum.IntEnum):
    """MMTYPE base values (mode bits zero) used on the EV side (HPAV 1.1 Table 11-4, ISO 15118-3 A.8)."""

    CM_SET_KEY = 0x6008
    CM_GET_KEY = 0x600C
    CM_AMP_MAP = 0x601C
    CM_SLAC_PARM = 0x6064
    CM_START_ATTEN_CHAR = 0x6068
    CM_ATTEN_CHAR = 0x606C
    CM_MNBC_SOUND = 0x6074
    CM_VALIDATE = 0x6078
    CM_SLAC_MATCH = 0x607C
    CM_ATTEN_PROFILE = 0x6084
    VS_SW_VER = 0xA000
    VS_RS_DEV = 0xA01C
    VS_NW_INFO = 0xA038
    VS_LINK_STATUS = 0xA0B8


def mmtype(base: MMType, mode: Mode) -> int:
    """The 16-bit MMTYPE for a message base and mode."""
    return int(base) | int(mode)


def mac_str(mac: bytes) -> str:
    """Colon-separated lower-case hex form of a MAC address."""
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    """A MAC address from ``aa:bb:cc:dd:ee:ff`` form; ValueError if malformed."""
    parts = text.split(":")
    if len(parts) != 6 or any(len(p) != 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


@dataclass(frozen=True, slots=True)
class Mme:
    """One parsed management message: addresses, header fields and the payload (padding included)."""

    dst: bytes
    src: bytes
    mmv: int
    mmtype: int
    fmi: bytes
    payload: bytes

    @property
    def base(self) -> int:
        return self.mmtype & ~0x3

    @property
    def mode(self) -> Mode:
        return Mode(self.mmtype & 0x3)

    @property
    def is_vendor(self) -> bool:
        return 0xA000 <= self.mmtype <= 0xBFFF


def header_len(mmv: int) -> int:
    """Length of Ethernet header plus MME header (without the vendor OUI)."""
    return ETH_HEADER_LEN + (3 if mmv == MMV_HPAV_1_0 else 5)


def parse_mme(frame: bytes) -> Mme:
    """Parse the Ethernet and MME headers of ``frame``; raise :class:`FrameError` naming the bad field."""
    if len(frame) > MAX_FRAME:
        raise FrameError(f"frame of {len(frame)} bytes exceeds the Ethernet maximum {MAX_FRAME}")
    if len(frame) < ETH_HEADER_LEN + 3:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than the Ethernet and MME headers")
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    if ethertype != ETH_P_HOMEPLUG_AV:
        raise FrameError(f"EtherType 0x{ethertype:04x} is not HomePlug AV (0x88e1)")
    mmv = frame[14]
    if mmv not in KNOWN_MMVS:
        raise FrameError(f"MMV 0x{mmv:02x} is not a known HomePlug AV version")
    (mtype,) = struct.unpack_from("<H", frame, 15)
    hlen = header_len(mmv)
    if len(frame) < hlen:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than the MMV {mmv} header ({hlen})")
    fmi = frame[17:19] if mmv != MMV_HPAV_1_0 else b""
    if fmi and fmi != b"\x00\x00":
        raise FrameError(f"fragmented MME (FMI {fmi.hex()}) is not supported")
    payload = frame[hlen:]
    if 0xA000 <= mtype <= 0xBFFF:
        if payload[:3] != QCA_OUI:
            raise FrameError(f"vendor MMTYPE 0x{mtype:04x} without the Qualcomm OUI (got {payload[:3].hex()})")
        payload = payload[3:]
    return Mme(frame[0:6], frame[6:12], mmv, mtype, fmi, payload)


def build_mme(dst: bytes, src: bytes, mmv: int, mtype: int, payload: bytes, *, pad_to: int = MIN_FRAME) -> bytes:
    """Build one frame: Ethernet header, MME header (OUI for vendor types), payload, zero padding to ``pad_to``."""
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("MAC addresses are 6 bytes")
    head = dst + src + struct.pack("!HB", ETH_P_HOMEPLUG_AV, mmv) + struct.pack("<H", mtype)
    if mmv != MMV_HPAV_1_0:
        head += b"\x00\x00"
    if 0xA000 <= mtype <= 0xBFFF:
        head += QCA_OUI
    frame = head + payload
    if len(frame) > MAX_FRAME:
        raise ValueError(f"MME of {len(frame)} bytes exceeds {MAX_FRAME}")
    return frame + b"\x00" * max(0, pad_to - len(frame))
