"""V2G Transfer Protocol framing, ISO 15118-2 §7.8.3 (same header in DIN SPEC 70121 §8.7.3 and ISO 15118-20).

Header, 8 bytes, big-endian::

    0        1          2                 4                                 8
    +--------+----------+-----------------+---------------------------------+----------------
    | 0x01   | 0xFE     | payload type    | payload length (bytes)          | payload ...
    |version | ~version | (uint16)        | (uint32, header not included)   |
    +--------+----------+-----------------+---------------------------------+----------------

A TCP read is not a message: :class:`Reassembler` takes byte chunks of any size and yields complete
``(payload_type, payload)`` messages once the header's length has arrived. The length is bounded before any
buffering (a CertificateInstallationRes is about 4.1 kB; the default bound is 64 kB).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from evcc.session.errors import V2gtpError

HEADER_LEN = 8
PROTOCOL_VERSION = 0x01
INVERSE_PROTOCOL_VERSION = 0xFE

EXI_ENCODED = 0x8001  # SAP, DIN 70121, ISO 15118-2
ISO20_COMMON = 0x8002
ISO20_AC = 0x8003
ISO20_DC = 0x8004
ISO20_ACDP = 0x8005
ISO20_WPT = 0x8006
SDP_REQUEST = 0x9000
SDP_RESPONSE = 0x9001
SDP_REQUEST_WIRELESS = 0x9002
SDP_RESPONSE_WIRELESS = 0x9003

SESSION_PAYLOAD_TYPES = frozenset({EXI_ENCODED})
"""What a DIN or ISO 15118-2 TCP session carries."""
ISO20_PAYLOAD_TYPES = frozenset({ISO20_COMMON, ISO20_AC, ISO20_DC, ISO20_ACDP, ISO20_WPT})

DEFAULT_MAX_PAYLOAD = 64 * 1024
MIN_MAX_PAYLOAD = 8 * 1024  # certificate messages must fit

_HEADER = struct.Struct(">BBHI")


@dataclass(frozen=True, slots=True)
class V2gtpMessage:
    payload_type: int
    payload: bytes


def encode(payload_type: int, payload: bytes) -> bytes:
    """One V2GTP message: header + payload."""
    if not 0 <= payload_type <= 0xFFFF:
        raise ValueError(f"payload type {payload_type:#x} is not a uint16")
    return _HEADER.pack(PROTOCOL_VERSION, INVERSE_PROTOCOL_VERSION, payload_type, len(payload)) + payload


def parse_header(header: bytes, accepted: Iterable[int], max_payload: int) -> tuple[int, int]:
    """Check an 8-byte header; return (payload type, payload length) or raise :class:`V2gtpError`."""
    version, inverse, payload_type, length = _HEADER.unpack(header)
    if version != PROTOCOL_VERSION:
        raise V2gtpError("protocol version", f"{version:#04x}, expected {PROTOCOL_VERSION:#04x}")
    if inverse != INVERSE_PROTOCOL_VERSION:
        raise V2gtpError("inverse protocol version", f"{inverse:#04x}, expected {INVERSE_PROTOCOL_VERSION:#04x}")
    if payload_type not in accepted:
        names = ", ".join(f"{t:#06x}" for t in sorted(accepted))
        raise V2gtpError("payload type", f"{payload_type:#06x} not accepted here (accepted: {names})")
    if length > max_payload:
        raise V2gtpError("payload length", f"{length} bytes exceeds the limit of {max_payload}")
    return payload_type, length


def decode(datagram: bytes, accepted: Iterable[int], max_payload: int = DEFAULT_MAX_PAYLOAD) -> V2gtpMessage:
    """Exactly one message in ``datagram`` (UDP/SDP): no bytes missing, none trailing."""
    if len(datagram) < HEADER_LEN:
        raise V2gtpError("header", f"{len(datagram)} bytes, shorter than the 8-byte header")
    payload_type, length = parse_header(datagram[:HEADER_LEN], accepted, max_payload)
    if len(datagram) != HEADER_LEN + length:
        raise V2gtpError("payload length", f"header says {length} bytes, datagram carries {len(datagram) - 8}")
    return V2gtpMessage(payload_type, bytes(datagram[HEADER_LEN:]))


class Reassembler:
    """Stream side: feed TCP chunks, get whole messages. After an error the stream is unusable (every later
    ``feed`` raises the same error): a broken length means the framing is lost for good. Whole messages that
    preceded the bad header in the same chunk are in the error's ``complete`` list."""

    def __init__(
        self, accepted: Iterable[int] = SESSION_PAYLOAD_TYPES, max_payload: int = DEFAULT_MAX_PAYLOAD
    ) -> None:
        if max_payload < MIN_MAX_PAYLOAD:
            raise ValueError(f"max_payload {max_payload} < {MIN_MAX_PAYLOAD}: certificate messages would not fit")
        self.accepted = frozenset(accepted)
        self.max_payload = max_payload
        self._buf = bytearray()
        self._pending: tuple[int, int] | None = None  # header parsed, waiting for its payload
        self._error: V2gtpError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[V2gtpMessage]:
        if self._error is not None:
            raise self._error
        self._buf += data
        out: list[V2gtpMessage] = []
        try:
            while True:
                if self._pending is None:
                    if len(self._buf) < HEADER_LEN:
                        return out
                    self._pending = parse_header(bytes(self._buf[:HEADER_LEN]), self.accepted, self.max_payload)
                    del self._buf[:HEADER_LEN]
                payload_type, length = self._pending
                if len(self._buf) < length:
                    return out
                out.append(V2gtpMessage(payload_type, bytes(self._buf[:length])))
                del self._buf[:length]
                self._pending = None
        except V2gtpError as exc:
            exc.complete = out  # the whole messages that came before the bad header
            self._error = exc
            self._buf.clear()
            raise
