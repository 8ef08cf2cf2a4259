"""Sans-IO decoder of a capture (issue 16 point 4): Ethernet frames in, events out, with the product's own parsers.

    Ethernet 0x88E1 -> HomePlug AV MME (ISO 15118-3 SLAC; evcc.plc.mme)          layer "slac"
    Ethernet 0x86DD -> IPv6 -> UDP 15118 -> SDP request/response (§7.10.1)        layer "sdp"
                            -> TCP -> per direction: in-order reassembly -> V2GTP (§7.8.3) -> EXI   layer "v2g"
                                      SupportedAppProtocol first (grammar "sap"), then the namespace it chose
                                      (DIN, ISO 15118-2; ISO 15118-20 by payload type, §7.8.3.3 Table 14)

A TLS connection is recognised and reported as encrypted; its decrypted application data (tshark with the key
log: evcc.trace.tls) comes in through :meth:`TraceDecoder.feed_plain`. A
segment gap, a broken V2GTP header or an undecodable payload is an event naming what was wrong; nothing raises.
Bounded: at most ``MAX_PENDING`` out-of-order segments per direction are held.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evcc import exi
from evcc.errors import EvccError
from evcc.plc.mme import ETH_P_HOMEPLUG_AV, FrameError, Mode, MMType, mac_str, parse_mme
from evcc.session import v2gtp
from evcc.session.elements import element_name
from evcc.session.errors import V2gtpError
from evcc.session.sap import DIN_NAMESPACE, ISO2_NAMESPACE
from evcc.session.sdp import SDP_PORT, decode_request, decode_response
from evcc.trace.pcap import Packet

ETH_P_IPV6 = 0x86DD
MAX_PENDING = 256
GRAMMAR_OF_PAYLOAD = {v2gtp.ISO20_COMMON: "iso20-common", v2gtp.ISO20_AC: "iso20-ac", v2gtp.ISO20_DC: "iso20-dc",
                      v2gtp.ISO20_ACDP: "iso20-acdp", v2gtp.ISO20_WPT: "iso20-wpt"}
GRAMMAR_OF_NAMESPACE = {DIN_NAMESPACE: "din", ISO2_NAMESPACE: "iso2"}


@dataclass(frozen=True, slots=True)
class Event:
    t: float
    layer: str  # slac, sdp, v2g, tcp, tls
    src: str
    dst: str
    type: str  # message name, or what went wrong
    detail: Any = None
    message: Any = field(default=None, compare=False, repr=False)  # the decoded message object (not serialised)

    def as_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "layer": self.layer, "src": self.src, "dst": self.dst, "type": self.type,
                "detail": self.detail}


@dataclass
class _Direction:
    next_seq: int | None = None
    pending: dict[int, bytes] = field(default_factory=dict)
    reassembler: v2gtp.Reassembler = field(default_factory=lambda: v2gtp.Reassembler(
        v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES, v2gtp.DEFAULT_MAX_PAYLOAD))
    state: str = "new"  # new, v2gtp, tls, broken


@dataclass
class _Connection:
    offers: dict[int, str] = field(default_factory=dict)  # SchemaID -> namespace (supportedAppProtocolReq)
    namespace: str | None = None  # chosen by supportedAppProtocolRes


class TraceDecoder:
    def __init__(self) -> None:
        self._dirs: dict[tuple[str, ...], _Direction] = {}
        self._conns: dict[frozenset[str], _Connection] = {}

    def feed(self, packet: Packet) -> list[Event]:
        frame = packet.frame
        if len(frame) < 14:
            return [Event(packet.t, "eth", "", "", "short frame", f"{len(frame)} bytes")]
        ethertype = int.from_bytes(frame[12:14], "big")
        if ethertype == ETH_P_HOMEPLUG_AV:
            return [self._mme(packet)]
        if ethertype == ETH_P_IPV6:
            return self._ipv6(packet.t, frame[14:])
        return []

    def feed_plain(self, t: float, src: str, dst: str, data: bytes) -> list[Event]:
        """Decrypted TLS application data of one direction (evcc.trace.tls), in order: V2GTP, then EXI."""
        d = self._dirs.setdefault(("tls", src, dst), _Direction(state="v2gtp"))
        return self._stream(t, src, dst, d, data)

    # ------------------------------------------------------------------------------------------------ SLAC
    def _mme(self, packet: Packet) -> Event:
        try:
            mme = parse_mme(packet.frame)
        except FrameError as exc:
            return Event(packet.t, "slac", "", "", "malformed MME", str(exc))
        try:
            name = f"{MMType(mme.base).name}.{mme.mode.name}"
        except ValueError:
            name = f"MMTYPE {mme.mmtype:#06x}"
        return Event(packet.t, "slac", mac_str(mme.src), mac_str(mme.dst), name,
                     {"mmv": mme.mmv, "payload_bytes": len(mme.payload)})

    # ------------------------------------------------------------------------------------------- IPv6, UDP
    def _ipv6(self, t: float, ip: bytes) -> list[Event]:
        if len(ip) < 40:
            return [Event(t, "ipv6", "", "", "short IPv6 header", f"{len(ip)} bytes")]
        length, next_header = struct.unpack_from("!HB", ip, 4)
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        body = ip[40:40 + length]
        if next_header == 17 and len(body) >= 8:
            sport, dport = struct.unpack_from("!HH", body)
            if SDP_PORT in (sport, dport):
                return [self._sdp(t, f"[{src}]:{sport}", f"[{dst}]:{dport}", body[8:], dport == SDP_PORT)]
            return []
        if next_header == 6 and len(body) >= 20:
            return self._tcp(t, src, dst, body)
        return []

    def _sdp(self, t: float, src: str, dst: str, data: bytes, request: bool) -> Event:
        try:
            if request:
                security, transport = decode_request(data)
                return Event(t, "sdp", src, dst, "SECC Discovery Request",
                             {"security": security.name, "transport": transport.name})
            r = decode_response(data)
            return Event(t, "sdp", src, dst, "SECC Discovery Response",
                         {"address": str(r.address), "port": r.port, "security": r.security.name,
                          "transport": r.transport.name})
        except EvccError as exc:
            return Event(t, "sdp", src, dst, "malformed SDP", str(exc))

    # ----------------------------------------------------------------------------------------------- TCP
    def _tcp(self, t: float, src_ip: str, dst_ip: str, seg: bytes) -> list[Event]:
        sport, dport, seq = struct.unpack_from("!HHI", seg)
        offset, flags = (seg[12] >> 4) * 4, seg[13]
        src, dst = f"[{src_ip}]:{sport}", f"[{dst_ip}]:{dport}"
        d = self._dirs.setdefault((src, dst), _Direction())
        if flags & 0x02:  # SYN: the data starts at seq + 1
            d.next_seq = (seq + 1) & 0xFFFFFFFF
            return []
        data = seg[offset:]
        if not data:
            return []
        if d.next_seq is None:  # the capture began mid-connection
            d.next_seq = seq
        events: list[Event] = []
        if seq != d.next_seq:
            ahead = (seq - d.next_seq) & 0xFFFFFFFF
            if ahead < 0x80000000:  # a later segment: hold it
                if len(d.pending) < MAX_PENDING:
                    d.pending[seq] = data
                else:
                    events.append(Event(t, "tcp", src, dst, "segment gap", f"more than {MAX_PENDING} held"))
                return events
            behind = (d.next_seq - seq) & 0xFFFFFFFF  # a retransmission: only what is new
            data = data[behind:] if behind < len(data) else b""
        while data:
            events += self._stream(t, src, dst, d, data)
            d.next_seq = (d.next_seq + len(data)) & 0xFFFFFFFF
            data = d.pending.pop(d.next_seq, b"")
        return events

    def _stream(self, t: float, src: str, dst: str, d: _Direction, data: bytes) -> list[Event]:
        if d.state == "new":
            d.state = "tls" if data[:1] == b"\x16" and data[1:2] == b"\x03" else "v2gtp"
            if d.state == "tls":
                return [Event(t, "tls", src, dst, "TLS", "encrypted (decryption from a key log is not done here)")]
        if d.state != "v2gtp":
            return []
        try:
            messages = d.reassembler.feed(data)
        except V2gtpError as exc:
            d.state = "broken"
            return [self._v2g(t, src, dst, m.payload_type, m.payload) for m in exc.complete] + [
                Event(t, "v2g", src, dst, "broken V2GTP", str(exc))]
        return [self._v2g(t, src, dst, m.payload_type, m.payload) for m in messages]

    # -------------------------------------------------------------------------------------------- V2G EXI
    def _v2g(self, t: float, src: str, dst: str, payload_type: int, payload: bytes) -> Event:
        conn = self._conns.setdefault(frozenset((src, dst)), _Connection())
        grammar = GRAMMAR_OF_PAYLOAD.get(payload_type)
        if grammar is None:
            grammar = "sap" if conn.namespace is None else GRAMMAR_OF_NAMESPACE.get(conn.namespace, "")
        if not grammar:
            return Event(t, "v2g", src, dst, "unknown grammar", {"namespace": conn.namespace,
                                                                  "payload_type": f"{payload_type:#06x}"})
        try:
            msg = exi.decode(grammar, payload)
            detail = json.loads(exi.to_json(grammar, payload))
        except (exi.ExiError, ValueError) as exc:
            return Event(t, "v2g", src, dst, "undecodable EXI", {"grammar": grammar, "error": str(exc),
                                                                 "payload": payload.hex()})
        name = element_name(msg)
        if name == "supportedAppProtocolReq":
            conn.offers = {a.SchemaID: a.ProtocolNamespace for a in msg.AppProtocol}
        elif name == "supportedAppProtocolRes" and msg.SchemaID is not None:
            conn.namespace = conn.offers.get(msg.SchemaID)
        return Event(t, "v2g", src, dst, name, {"grammar": grammar, "payload_type": f"{payload_type:#06x}",
                                                "message": detail}, msg)


def decode_packets(packets: list[Packet], plain: Sequence[tuple[float, str, str, bytes]] = ()) -> list[Event]:
    """Every event of ``packets`` and of ``plain`` (decrypted TLS data: time, from, to, bytes), by time."""
    decoder = TraceDecoder()
    events = [event for packet in packets for event in decoder.feed(packet)]
    if plain:
        events += [event for t, src, dst, data in plain for event in decoder.feed_plain(t, src, dst, data)]
        events.sort(key=lambda e: e.t)
    return events
