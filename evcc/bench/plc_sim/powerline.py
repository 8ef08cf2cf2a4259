"""Sans-IO model of a HomePlug GreenPHY powerline with one simulated modem per port (bench only).

What it models (shared docs SLAC.md §5, ISO 15118-3 Annex A):

* SLAC MMEs (CM_SLAC_PARM ... CM_SLAC_MATCH) cross the line between every pair of ports, keyed or not;
  every other frame (IPv6: SDP, TCP) only between ports whose modems hold the same NMK (an AVLN).
* Each port's modem answers its host's local requests: CM_SET_KEY.REQ (CNF with Result 1 like Qualcomm
  firmware, then a restart that drops all traffic for ``restart_s``), VS_SW_VER.REQ, VS_LINK_STATUS.REQ.
* An EVSE port's modem adds CM_ATTEN_PROFILE.IND (85 bytes, its attenuation in every group) after each
  CM_MNBC_SOUND.IND it delivers to its host.

``receive(port, frame, now)`` returns the deliveries ``[(port, frame), ...]``; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evcc.plc import modem_mme as mm
from evcc.plc import slac_mme as sm
from evcc.plc.frames import SLAC_BASES, decode_frame, encode_frame
from evcc.plc.mme import BROADCAST, LOCALCAST, ETH_HEADER_LEN, FrameError, MMType, Mode, mmtype

ETH_P_HOMEPLUG_AV_BYTES = b"\x88\xe1"
_LOCAL_REQUESTS = frozenset(
    {
        mmtype(MMType.CM_SET_KEY, Mode.REQ),
        mmtype(MMType.VS_SW_VER, Mode.REQ),
        mmtype(MMType.VS_LINK_STATUS, Mode.REQ),
        mmtype(MMType.VS_RS_DEV, Mode.REQ),
    }
)
MNBC_IND = mmtype(MMType.CM_MNBC_SOUND, Mode.IND)
SIM_VERSION = "MAC-QCA7000-1.2.5.3207-00-20180927-CS (evcc powerline simulator)"


@dataclass
class ModemPort:
    """One simulated modem and the host behind it. ``attenuation_db`` is what an EVSE modem measures."""

    name: str
    modem_mac: bytes
    evse: bool = False
    attenuation_db: int = 20
    restart_s: float = 0.5
    confirm_set_key: bool = True
    set_key_result: int = 0x01
    nmk: bytes | None = None
    restart_until: float = float("-inf")
    host_macs: set[bytes] = field(default_factory=set)

    def restarting(self, now: float) -> bool:
        return now < self.restart_until


class Powerline:
    """The shared medium plus its modems."""

    def __init__(self, ports: list[ModemPort]) -> None:
        self.ports = ports
        self.delivered_ip = 0

    def receive(self, index: int, frame: bytes, now: float) -> list[tuple[int, bytes]]:
        """A frame from the host behind port ``index``: what the line delivers, and where."""
        port = self.ports[index]
        if len(frame) < ETH_HEADER_LEN or port.restarting(now):
            return []
        src = frame[6:12]
        if not src[0] & 1:
            port.host_macs.add(src)
        if frame[12:14] != ETH_P_HOMEPLUG_AV_BYTES:
            return self._bridge(index, frame, now, keyed_only=True)
        try:
            mme, msg = decode_frame(frame)
        except FrameError:
            return []  # a real modem drops what it cannot parse
        if mme.mmtype in _LOCAL_REQUESTS and mme.dst in (LOCALCAST, BROADCAST, port.modem_mac):
            return self._local(index, mme.src, mme.mmtype, msg, now)
        if mme.base in SLAC_BASES:
            return self._bridge(index, frame, now, keyed_only=False)
        return self._bridge(index, frame, now, keyed_only=True)

    def _targets(self, index: int, dst: bytes, now: float, keyed_only: bool) -> list[int]:
        me = self.ports[index]
        out = []
        for i, port in enumerate(self.ports):
            if i == index or port.restarting(now):
                continue
            if keyed_only and (me.nmk is None or port.nmk != me.nmk):
                continue
            out.append(i)
        if not dst[0] & 1:  # unicast: only to the port that learned the address, if any did
            owners = [i for i in out if dst in self.ports[i].host_macs]
            return owners or out
        return out

    def _bridge(self, index: int, frame: bytes, now: float, *, keyed_only: bool) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        is_sound = frame[12:14] == ETH_P_HOMEPLUG_AV_BYTES and frame[15:17] == MNBC_IND.to_bytes(2, "little")
        for i in self._targets(index, frame[0:6], now, keyed_only):
            out.append((i, frame))
            target = self.ports[i]
            if is_sound and target.evse:
                aag = (target.attenuation_db,) * sm.MAX_GROUPS
                profile = sm.CmAttenProfileInd(frame[6:12], aag)
                mtype = mmtype(MMType.CM_ATTEN_PROFILE, Mode.IND)
                host = next(iter(target.host_macs), BROADCAST)
                out.append((i, encode_frame(host, target.modem_mac, mtype, profile)))
        if not is_sound and frame[12:14] != ETH_P_HOMEPLUG_AV_BYTES:
            self.delivered_ip += len(out)
        return out

    def linked(self, index: int, now: float) -> bool:
        me = self.ports[index]
        return me.nmk is not None and any(
            i != index and p.nmk == me.nmk and not p.restarting(now) for i, p in enumerate(self.ports)
        )

    def _local(self, index: int, host: bytes, mtype: int, msg: object, now: float) -> list[tuple[int, bytes]]:
        port = self.ports[index]
        reply = mtype | int(Mode.CNF)
        if isinstance(msg, mm.CmSetKeyReq):
            if not port.confirm_set_key:
                return []
            cnf = mm.CmSetKeyCnf(port.set_key_result, your_nonce=msg.my_nonce, my_nonce=0)
            port.nmk = msg.nmk
            port.restart_until = now + port.restart_s
            return [(index, encode_frame(host, port.modem_mac, reply, cnf))]
        if mtype == mmtype(MMType.VS_SW_VER, Mode.REQ):
            return [(index, encode_frame(host, port.modem_mac, reply, mm.VsSwVerCnf(0, 0x20, SIM_VERSION)))]
        if mtype == mmtype(MMType.VS_LINK_STATUS, Mode.REQ):
            status = mm.VsLinkStatusCnf(mm.LINK_STATUS_LINKED if self.linked(index, now) else 0)
            return [(index, encode_frame(host, port.modem_mac, reply, status))]
        if mtype == mmtype(MMType.VS_RS_DEV, Mode.REQ):
            port.restart_until = now + port.restart_s
        return []
