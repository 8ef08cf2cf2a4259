"""SECC Discovery Protocol, EV side, ISO 15118-2 §7.10.1 (DIN SPEC 70121 §8.7.3.2 is the same wire format).

The EVCC multicasts a request to ``ff02::1`` UDP port 15118 on the PLC interface; the SECC answers with its
address and TCP port. Payloads inside a V2GTP header::

    SECC Discovery Request  (payload type 0x9000, 2 bytes):  security (1) | transport protocol (1)
    SECC Discovery Response (payload type 0x9001, 20 bytes): SECC IPv6 address (16) | SECC port (2, BE)
                                                             | security (1) | transport protocol (1)

    security: 0x00 secured with TLS, 0x10 no transport layer security
    transport protocol: 0x00 TCP, 0x10 UDP (reserved)

What the EV accepts from an answer (everything from the charger is untrusted): the SECC address must be an IPv6
link-local unicast address (fe80::/10; SDP and the V2G connection are link-local, ISO 15118-2 §7.10.1 and §7.6.1;
the adapter connects to it with the scope of the interface SDP ran on, and drops answers that arrived on another
one), the port must lie in the dynamic port range 49152-65535 (IETF RFC 6335) from which the SECC takes its TCP
server port (ISO 15118-2 §7.10.1, the response's "SECC Port"; Josev and the bench SECC announce ports there), the security byte must be the one asked for (unless policy accepts the other),
the transport TCP. Anything else is dropped with the reason, like a malformed answer, and counts as no answer:
the request is repeated.

Retry timing, ISO 15118-2 [V2G2-160]/[V2G2-161] (the standard gives values in the requirement text, not timer
names; the names below are ours): resend the request when no valid response came within 250 ms, stop after
50 requests without one. :class:`SdpClient` is sans-IO; ``evcc.session.sdp_aio`` carries its datagrams.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from evcc.session import v2gtp
from evcc.session.errors import SdpError, V2gtpError

SDP_PORT = 15118  # [V2G2-139] UDP server port of the SECC
SDP_MULTICAST = "ff02::1"  # all nodes, link-local scope
SECC_PORTS = range(49152, 65536)  # dynamic ports (IETF RFC 6335): the SECC's TCP server port, ISO 15118-2 §7.10.1
LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")


class Security(enum.IntEnum):
    TLS = 0x00
    NO_TLS = 0x10


class Transport(enum.IntEnum):
    TCP = 0x00
    UDP = 0x10


@dataclass(frozen=True, slots=True)
class SdpTimers:
    """ISO 15118-2 §7.10.1.2: 250 ms per request [V2G2-160], at most 50 requests [V2G2-161]."""

    sdp_response_wait: float = 0.25
    sdp_max_requests: int = 50


@dataclass(frozen=True, slots=True)
class SdpResponse:
    address: ipaddress.IPv6Address
    port: int
    security: Security
    transport: Transport


def encode_request(security: Security, transport: Transport = Transport.TCP) -> bytes:
    return v2gtp.encode(v2gtp.SDP_REQUEST, bytes([security, transport]))


def decode_request(datagram: bytes) -> tuple[Security, Transport]:
    """SECC side (bench): parse a request or raise :class:`SdpError`."""
    try:
        msg = v2gtp.decode(datagram, {v2gtp.SDP_REQUEST}, max_payload=v2gtp.MIN_MAX_PAYLOAD)
    except V2gtpError as exc:
        raise SdpError(f"SDP request: {exc}") from exc
    if len(msg.payload) != 2:
        raise SdpError(f"SDP request payload is {len(msg.payload)} bytes, expected 2")
    return _security(msg.payload[0]), _transport(msg.payload[1])


def encode_response(resp: SdpResponse) -> bytes:
    body = resp.address.packed + resp.port.to_bytes(2, "big") + bytes([resp.security, resp.transport])
    return v2gtp.encode(v2gtp.SDP_RESPONSE, body)


def decode_response(datagram: bytes) -> SdpResponse:
    """Parse a SECC Discovery Response or raise :class:`SdpError` naming what was wrong."""
    try:
        msg = v2gtp.decode(datagram, {v2gtp.SDP_RESPONSE}, max_payload=v2gtp.MIN_MAX_PAYLOAD)
    except V2gtpError as exc:
        raise SdpError(f"SDP response: {exc}") from exc
    p = msg.payload
    if len(p) != 20:
        raise SdpError(f"SDP response payload is {len(p)} bytes, expected 20")
    port = int.from_bytes(p[16:18], "big")
    if port == 0:
        raise SdpError("SDP response names port 0")
    return SdpResponse(ipaddress.IPv6Address(p[:16]), port, _security(p[18]), _transport(p[19]))


def answer_problem(resp: SdpResponse) -> str | None:
    """Why the EV must not connect where ``resp`` points (None: it may): the checks of the module docstring."""
    address = resp.address
    if address not in LINK_LOCAL or address.is_multicast:
        kind = ("loopback" if address.is_loopback else "multicast" if address.is_multicast
                else "unspecified" if address.is_unspecified else "IPv4-mapped" if address.ipv4_mapped
                else "not link-local")
        return f"SECC address {address} is {kind}: only an IPv6 link-local unicast address (fe80::/10) is used"
    if resp.port not in SECC_PORTS:
        return (f"SECC port {resp.port} is outside the dynamic port range {SECC_PORTS.start}-{SECC_PORTS.stop - 1} "
                "(ISO 15118-2 §7.10.1, RFC 6335)")
    return None


def _security(value: int) -> Security:
    try:
        return Security(value)
    except ValueError:
        raise SdpError(f"SDP security byte {value:#04x} is neither 0x00 (TLS) nor 0x10 (no TLS)") from None


def _transport(value: int) -> Transport:
    try:
        return Transport(value)
    except ValueError:
        raise SdpError(f"SDP transport byte {value:#04x} is neither 0x00 (TCP) nor 0x10 (UDP)") from None


@dataclass(frozen=True, slots=True)
class SeccFound:
    response: SdpResponse


@dataclass(frozen=True, slots=True)
class SdpDropped:
    reason: str


@dataclass(frozen=True, slots=True)
class SdpFailed:
    reason: str


SdpEvent = SeccFound | SdpDropped | SdpFailed


class SdpClient:
    """Sans-IO SDP client: ``start(now)``, ``receive_datagram(data, now)``, ``handle_timer(now)``;
    ``datagrams_to_send()``, ``events()``, ``get_timer()``.

    A response with a security other than requested is dropped unless listed in ``accept_security`` (an EV that
    asks for TLS decides by policy whether it charges without it); a response offering UDP is dropped.
    """

    def __init__(
        self,
        security: Security,
        timers: SdpTimers = SdpTimers(),
        accept_security: frozenset[Security] | None = None,
    ) -> None:
        self.security = security
        self.timers = timers
        self.accept_security = accept_security if accept_security is not None else frozenset({security})
        self.requests_sent = 0
        self.result: SdpResponse | None = None
        self._deadline: float | None = None
        self._out: list[bytes] = []
        self._events: list[SdpEvent] = []
        self._done = False

    def start(self, now: float) -> None:
        self._send(now)

    def datagrams_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[SdpEvent]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def receive_datagram(self, data: bytes, now: float) -> None:
        if self._done:
            self._events.append(SdpDropped("SDP already finished"))
            return
        try:
            resp = decode_response(data)
        except SdpError as exc:
            self._events.append(SdpDropped(str(exc)))
            return
        unusable = answer_problem(resp)
        if unusable is not None:
            self._events.append(SdpDropped(unusable))
            return
        if resp.transport is not Transport.TCP:
            self._events.append(SdpDropped(f"SECC offers transport {resp.transport.name}, only TCP is used"))
            return
        if resp.security not in self.accept_security:
            self._events.append(SdpDropped(f"SECC offers security {resp.security.name}, not accepted"))
            return
        self.result = resp
        self._finish(SeccFound(resp))

    def handle_timer(self, now: float) -> None:
        if self._done or self._deadline is None or now < self._deadline:
            return
        if self.requests_sent >= self.timers.sdp_max_requests:
            self._finish(SdpFailed(f"no valid SDP response to {self.requests_sent} requests [V2G2-161]"))
            return
        self._send(now)  # [V2G2-160]

    def _send(self, now: float) -> None:
        self._out.append(encode_request(self.security))
        self.requests_sent += 1
        self._deadline = now + self.timers.sdp_response_wait

    def _finish(self, event: SdpEvent) -> None:
        self._done = True
        self._deadline = None
        self._events.append(event)
