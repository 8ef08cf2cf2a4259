"""Local GreenPHY modem operations over a raw socket: CM_SET_KEY (HPAV 1.1 §11.5.4), VS_SW_VER, VS_LINK_STATUS
and VS_RS_DEV (Qualcomm vendor MMEs), addressed to the local-cast MAC 00:B0:52:00:00:01.

Frame builders and confirmation checks are pure functions; :class:`LocalModem` is the asyncio adapter that sends
a request and waits for the matching confirmation.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from evcc.errors import PeerError, PeerTimeout
from evcc.plc import modem_mme as mm
from evcc.plc.frames import EmptyVendorReq, Message, decode_frame, encode_frame
from evcc.plc.mme import LOCALCAST, FrameError, MMType, Mode, mmtype
from evcc.plc.rawsock import RawSocket

SET_KEY_CNF = mmtype(MMType.CM_SET_KEY, Mode.CNF)
SW_VER_CNF = mmtype(MMType.VS_SW_VER, Mode.CNF)
LINK_STATUS_CNF = mmtype(MMType.VS_LINK_STATUS, Mode.CNF)


class ModemError(PeerError):
    """The local modem refused or answered something unusable."""


def set_key_frame(host_mac: bytes, nmk: bytes, nid: bytes | None = None) -> bytes:
    """CM_SET_KEY.REQ for ``nmk`` (NID derived from it when not given) to the local modem."""
    nid = nid if nid is not None else mm.nid_from_nmk(nmk)
    return encode_frame(LOCALCAST, host_mac, mmtype(MMType.CM_SET_KEY, Mode.REQ), mm.CmSetKeyReq(nid, nmk))


def vendor_req_frame(host_mac: bytes, base: MMType, dst: bytes = LOCALCAST) -> bytes:
    """An OUI-only vendor request (VS_SW_VER, VS_LINK_STATUS, VS_RS_DEV)."""
    return encode_frame(dst, host_mac, mmtype(base, Mode.REQ), EmptyVendorReq())


@dataclass(frozen=True, slots=True)
class SoftwareVersion:
    modem_mac: bytes
    device_id: int
    version: str


class LocalModem:
    """Request/confirmation exchanges with the local modem on ``sock`` (started in the running loop)."""

    def __init__(self, sock: RawSocket) -> None:
        self._sock = sock

    async def _exchange(self, frame: bytes, want: int, timeout: float) -> tuple[bytes, Message]:
        self._sock.send(frame)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            data = await self._sock.recv(left)
            if data is None:
                break
            try:
                mme, msg = decode_frame(data)
            except FrameError:
                continue
            if mme.mmtype == want and msg is not None and mme.dst in (self._sock.mac, b"\xff" * 6):
                return mme.src, msg
        raise PeerTimeout(f"local modem on {self._sock.iface} did not answer MMTYPE 0x{want - 1:04x} in {timeout} s")

    async def set_key(self, nmk: bytes, nid: bytes | None = None, timeout: float = 1.0) -> int:
        """Set NMK/NID; return the CNF Result (0 or Qualcomm's 1). ModemError if refused."""
        _src, msg = await self._exchange(set_key_frame(self._sock.mac, nmk, nid), SET_KEY_CNF, timeout)
        assert isinstance(msg, mm.CmSetKeyCnf)
        if not msg.accepted:
            raise ModemError(f"local modem refused CM_SET_KEY (Result={msg.result})")
        return msg.result

    async def sw_version(self, timeout: float = 1.0) -> SoftwareVersion:
        src, msg = await self._exchange(vendor_req_frame(self._sock.mac, MMType.VS_SW_VER), SW_VER_CNF, timeout)
        assert isinstance(msg, mm.VsSwVerCnf)
        return SoftwareVersion(src, msg.device_id, msg.version)

    async def link_status(self, timeout: float = 1.0) -> bool:
        """True when the modem reports it is part of an AVLN with a peer (link_status 0x01)."""
        frame = vendor_req_frame(self._sock.mac, MMType.VS_LINK_STATUS)
        _src, msg = await self._exchange(frame, LINK_STATUS_CNF, timeout)
        assert isinstance(msg, mm.VsLinkStatusCnf)
        return msg.linked

    def reset(self) -> None:
        """Ask the modem to restart (VS_RS_DEV.REQ); it confirms nothing useful and goes silent for seconds."""
        self._sock.send(vendor_req_frame(self._sock.mac, MMType.VS_RS_DEV))

    async def wait_ready(self, timeout: float, period: float = 0.1) -> SoftwareVersion:
        """Poll VS_SW_VER until the modem answers (after a restart); PeerTimeout after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self.sw_version(min(period, max(deadline - time.monotonic(), 0.001)))
            except PeerTimeout:
                if time.monotonic() >= deadline:
                    raise PeerTimeout(f"local modem on {self._sock.iface} silent for {timeout} s") from None
