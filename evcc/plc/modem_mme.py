"""Local-modem management messages: CM_SET_KEY (HPAV 1.1 clause 11.5.4, MMV 0x01) and the Qualcomm Atheros
vendor MMEs VS_SW_VER, VS_LINK_STATUS and VS_RS_DEV (MMV 0x00, OUI 00:B0:52), plus the HomePlug AV NID
derivation from an NMK (HPAV 1.1 clause 13.5.3: PBKDF1/SHA-256, 5 rounds, 52 bits + 2-bit security level).

CM_SET_KEY.REQ payload (frame offset 19)::

    KeyType(1)=1 NMK | MyNonce(4) | YourNonce(4) | PID(1)=4 HLE | PRN(2) | PMN(1) | CCoCap(1) | NID(7)
    | NewEKS(1)=1 | NewKey(16)=NMK

Qualcomm firmware confirms an accepted key with Result = 0x01 (the HPAV spec says 0x00) and then restarts; both
values count as accepted (SLAC.md §4.8).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from evcc.plc.reader import Reader

NMK_LEN = 16
NID_LEN = 7
KEY_TYPE_NMK = 0x01
PID_HLE = 0x04
NEW_EKS_NMK = 0x01
#: Nonce used by open-plc-utils, pyslac and pyPLC alike.
DEFAULT_NONCE = 0xAAAAAAAA
#: CM_SET_KEY.CNF Result values that mean "key accepted": 0 per HPAV, 1 from Qualcomm firmware.
SET_KEY_ACCEPTED = frozenset({0x00, 0x01})
LINK_STATUS_LINKED = 0x01
MAX_VERSION_LEN = 253


def nid_from_nmk(nmk: bytes, security_level: int = 0) -> bytes:
    """The 7-byte NID of an AVLN from its NMK: SHA-256 applied 5 times, first 7 bytes, last nibble = level."""
    if len(nmk) != NMK_LEN:
        raise ValueError(f"an NMK is {NMK_LEN} bytes, got {len(nmk)}")
    digest = hashlib.sha256(nmk).digest()
    for _ in range(4):
        digest = hashlib.sha256(digest).digest()
    last = (digest[6] >> 4) | ((security_level & 0x3) << 4)
    return digest[:6] + bytes([last])


@dataclass(frozen=True, slots=True)
class CmSetKeyReq:
    NAME: ClassVar[str] = "CM_SET_KEY.REQ"
    nid: bytes
    nmk: bytes
    my_nonce: int = DEFAULT_NONCE

    def encode(self) -> bytes:
        return (
            bytes([KEY_TYPE_NMK])
            + self.my_nonce.to_bytes(4, "little")
            + b"\x00" * 4
            + bytes([PID_HLE])
            + b"\x00\x00"
            + b"\x00"
            + b"\x00"
            + self.nid
            + bytes([NEW_EKS_NMK])
            + self.nmk
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmSetKeyReq:
        r = Reader(payload, cls.NAME)
        r.expect("KeyType", r.u8("KeyType"), frozenset({KEY_TYPE_NMK}))
        nonce = r.u32le("MyNonce")
        r.take(4, "YourNonce")
        r.u8("PID")
        r.take(2, "PRN")
        r.u8("PMN")
        r.u8("CCoCap")
        nid = r.take(NID_LEN, "NID")
        r.u8("NewEKS")
        return cls(nid, r.take(NMK_LEN, "NewKey"), nonce)


@dataclass(frozen=True, slots=True)
class CmSetKeyCnf:
    NAME: ClassVar[str] = "CM_SET_KEY.CNF"
    result: int
    your_nonce: int = DEFAULT_NONCE
    my_nonce: int = 0

    @property
    def accepted(self) -> bool:
        return self.result in SET_KEY_ACCEPTED

    def encode(self) -> bytes:
        return (
            bytes([self.result])
            + self.my_nonce.to_bytes(4, "little")
            + self.your_nonce.to_bytes(4, "little")
            + bytes([PID_HLE])
            + b"\x00\x00\x00\x00"
        )

    @classmethod
    def decode(cls, payload: bytes) -> CmSetKeyCnf:
        r = Reader(payload, cls.NAME)
        result = r.u8("Result")
        my_nonce = r.u32le("MyNonce")
        your_nonce = r.u32le("YourNonce")
        return cls(result, your_nonce, my_nonce)


@dataclass(frozen=True, slots=True)
class VsSwVerCnf:
    NAME: ClassVar[str] = "VS_SW_VER.CNF"
    mstatus: int
    device_id: int
    version: str

    def encode(self) -> bytes:
        raw = self.version.encode("ascii", "replace")[:MAX_VERSION_LEN]
        return bytes([self.mstatus, self.device_id, len(raw)]) + raw

    @classmethod
    def decode(cls, payload: bytes) -> VsSwVerCnf:
        r = Reader(payload, cls.NAME)
        mstatus = r.u8("MSTATUS")
        device = r.u8("DEVICE_ID")
        length = r.u8("VERLEN")
        raw = r.take(length, "VERSION")
        text = raw.split(b"\x00", 1)[0].decode("ascii", "replace")
        return cls(mstatus, device, text)


@dataclass(frozen=True, slots=True)
class VsLinkStatusCnf:
    NAME: ClassVar[str] = "VS_LINK_STATUS.CNF"
    link_status: int

    @property
    def linked(self) -> bool:
        return self.link_status == LINK_STATUS_LINKED

    def encode(self) -> bytes:
        return bytes([0, self.link_status])

    @classmethod
    def decode(cls, payload: bytes) -> VsLinkStatusCnf:
        r = Reader(payload, cls.NAME)
        r.u8("reserved")
        return cls(r.u8("link_status"))
