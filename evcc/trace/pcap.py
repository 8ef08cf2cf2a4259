"""Classic pcap files (libpcap format: the 24-byte global header, then 16-byte record headers), either byte order,
microsecond or nanosecond timestamps, Ethernet link type; what a sniffer between a car and a charger or our own
``--trace`` writes. pcapng is refused with a hint (``editcap -F pcap`` converts it). Every length is checked before
it is sliced: a cut or lying file raises :class:`PcapError` naming the offset."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from evcc.errors import ConfigError

LINKTYPE_ETHERNET = 1
MAX_RECORD = 262_144
_MAGICS = {  # magic as read little-endian -> (byte order, timestamp divisor)
    0xA1B2C3D4: ("<", 1e6), 0xD4C3B2A1: (">", 1e6), 0xA1B23C4D: ("<", 1e9), 0x4D3CB2A1: (">", 1e9),
}
PCAPNG = 0x0A0D0D0A


class PcapError(ConfigError):
    """The capture file is not a readable classic Ethernet pcap; the message names the offset or field."""


@dataclass(frozen=True, slots=True)
class Packet:
    t: float  # capture time, seconds since the epoch
    frame: bytes  # the Ethernet frame as captured (maybe cut at the snap length)


def read_pcap(data: bytes) -> list[Packet]:
    if len(data) < 24:
        raise PcapError(f"pcap: {len(data)} bytes, shorter than the 24-byte global header")
    magic = struct.unpack_from("<I", data)[0]
    if magic == PCAPNG:
        raise PcapError("pcapng is not read here: convert it with `editcap -F pcap IN OUT`")
    if magic not in _MAGICS:
        raise PcapError(f"pcap: magic {magic:#010x} is not a pcap file")
    order, divisor = _MAGICS[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise PcapError(f"pcap: link type {linktype}, only Ethernet ({LINKTYPE_ETHERNET}) is decoded")
    packets, at = [], 24
    record = struct.Struct(order + "IIII")
    while at < len(data):
        if at + record.size > len(data):
            raise PcapError(f"pcap: record header at offset {at} cut short")
        sec, frac, incl, _orig = record.unpack_from(data, at)
        if incl > MAX_RECORD or at + record.size + incl > len(data):
            raise PcapError(f"pcap: record at offset {at} claims {incl} bytes")
        at += record.size
        packets.append(Packet(sec + frac / divisor, data[at:at + incl]))
        at += incl
    return packets
