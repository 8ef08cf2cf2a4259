"""Bench traces (TEST ONLY): a pcap of the EV side's traffic and the TLS key log, for Wireshark/tshark.

Capture: an AF_PACKET socket (all EtherTypes, both directions) on the EV's veth in its network namespace, read
by the asyncio loop; the frames (SLAC's HomePlug AV, SDP over UDP, V2GTP over TCP/TLS) go into a classic pcap
file (LINKTYPE_ETHERNET) written atomically when the capture stops. The key log is the EV's TLS secrets in NSS
format (``TlsConfig.keylog_file``): tshark ``-o tls.keylog_file:FILE`` decrypts the session with it. Both file
names say TEST-ONLY: anyone holding them reads the session.

pcap (all little-endian)::

    global header: magic a1b2c3d4 | major 2 | minor 4 | thiszone 0 | sigfigs 0 | snaplen | linktype 1
    record:        ts_sec | ts_usec | incl_len | orig_len | frame bytes

The reader (for tests and for the decoded log) checks every length before it slices.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evcc.bench.netns import in_netns
from evcc.errors import ConfigError, PlatformError
from evcc.session.report_common import write_atomic

PCAP_NAME = "evcc-TEST-ONLY-ev-trace.pcap"
KEYLOG_NAME = "evcc-TEST-ONLY-tls-keylog.txt"
MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
MAX_BYTES = 256 * 1024 * 1024  # stop recording beyond this (a bench session is a few MB at most)
ETH_P_ALL = 0x0003
ETHERTYPE_IPV6 = 0x86DD
V2GTP_PORT = 15118
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class TraceError(ConfigError):
    """A pcap file that is not what it claims (names the offset)."""


@dataclass(frozen=True, slots=True)
class Record:
    t: float
    frame: bytes
    orig_len: int


def pcap_bytes(records: list[Record]) -> bytes:
    out = [_GLOBAL.pack(MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)]
    for r in records:
        sec = int(r.t)
        usec = min(999_999, int(round((r.t - sec) * 1e6)))
        frame = r.frame[:SNAPLEN]
        out.append(_RECORD.pack(sec, usec, len(frame), max(r.orig_len, len(frame))) + frame)
    return b"".join(out)


def read_pcap(data: bytes) -> list[Record]:
    if len(data) < _GLOBAL.size:
        raise TraceError(f"pcap: {len(data)} bytes, shorter than the global header")
    magic, major, _minor, _zone, _sig, _snap, linktype = _GLOBAL.unpack_from(data)
    if magic != MAGIC or major != 2:
        raise TraceError(f"pcap: magic {magic:#010x} version {major}: not a little-endian microsecond pcap")
    if linktype != LINKTYPE_ETHERNET:
        raise TraceError(f"pcap: link type {linktype}, expected {LINKTYPE_ETHERNET} (Ethernet)")
    records, at = [], _GLOBAL.size
    while at < len(data):
        if at + _RECORD.size > len(data):
            raise TraceError(f"pcap: record header at offset {at} cut short")
        sec, usec, incl, orig = _RECORD.unpack_from(data, at)
        at += _RECORD.size
        if incl > SNAPLEN or at + incl > len(data):
            raise TraceError(f"pcap: record at offset {at - _RECORD.size} claims {incl} bytes")
        records.append(Record(sec + usec / 1e6, data[at:at + incl], orig))
        at += incl
    return records


@dataclass(frozen=True, slots=True)
class V2gtpFrame:
    """A V2GTP message header seen in a captured frame (ISO 15118-2 §7.8.3)."""

    t: float
    transport: str  # "udp" (SDP) or "tcp"
    payload_type: int
    length: int


def _ip_payload(frame: bytes) -> tuple[int, bytes] | None:
    if len(frame) < 14 + 40 or int.from_bytes(frame[12:14], "big") != ETHERTYPE_IPV6:
        return None
    ip = frame[14:]
    length = int.from_bytes(ip[4:6], "big")
    return ip[6], ip[40:40 + length]


def _transport_payload(frame: bytes) -> tuple[str, bytes] | None:
    found = _ip_payload(frame)
    if found is None:
        return None
    proto, seg = found
    if proto == 17 and len(seg) >= 8 and V2GTP_PORT in struct.unpack_from("!HH", seg):
        return "udp", seg[8:]
    if proto == 6 and len(seg) >= 20:
        return "tcp", seg[(seg[12] >> 4) * 4:]
    return None


def v2gtp_frames(records: list[Record]) -> Iterator[V2gtpFrame]:
    """Every V2GTP header at the start of a UDP/TCP payload (and those following it in the same segment)."""
    for r in records:
        found = _transport_payload(r.frame)
        if found is None:
            continue
        transport, data = found
        while len(data) >= 8 and data[0] == 0x01 and data[1] == 0xFE:
            payload_type, length = struct.unpack_from("!HI", data, 2)
            yield V2gtpFrame(r.t, transport, payload_type, length)
            data = data[8 + length:]


@dataclass
class Capture:
    """The EV side's capture: :meth:`start` in the EV's namespace, :meth:`stop` writes ``folder/PCAP_NAME``."""

    folder: Path
    clock: Callable[[], float] = time.time
    records: list[Record] = field(default_factory=list)
    _sock: socket.socket | None = None
    _bytes: int = 0
    dropped: int = 0

    @property
    def path(self) -> Path:
        return self.folder / PCAP_NAME

    def start(self, netns: str | None, ifname: str) -> None:
        try:
            with in_netns(netns):
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                sock.bind((ifname, ETH_P_ALL))
        except OSError as exc:
            raise PlatformError(f"trace: cannot capture on {ifname}: {exc.strerror or exc}") from exc
        sock.setblocking(False)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)

    def _read(self) -> None:
        assert self._sock is not None
        while True:
            try:
                frame, _addr = self._sock.recvfrom(SNAPLEN)
            except OSError:  # BlockingIOError: nothing more now; others: the interface went away
                return
            if self._bytes + len(frame) > MAX_BYTES:
                self.dropped += 1
                continue
            self._bytes += len(frame)
            self.records.append(Record(self.clock(), frame, len(frame)))

    def stop(self) -> Path | None:
        """Stop reading and write the file (None when the capture never started)."""
        if self._sock is None:
            return None
        self._read()
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        write_atomic(self.path, pcap_bytes(self.records), "--trace")
        return self.path
