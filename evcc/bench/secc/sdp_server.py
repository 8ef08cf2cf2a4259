"""SECC side of SDP (ISO 15118-2 §7.10.1) for the bench: answer each valid request with the configured
address, port and security. A sans-IO ``answer`` plus an asyncio UDP server bound to port 15118.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import cast

from evcc.errors import PlatformError
from evcc.session.errors import SdpError
from evcc.session.sdp import SDP_PORT, SdpResponse, Security, decode_request, encode_response


@dataclass
class SdpResponder:
    """``response`` is what the SECC announces. ``silent`` drops every request (fault injection);
    ``security_from_request`` answers with the security the EV asked for."""

    response: SdpResponse
    silent: bool = False
    security_from_request: bool = True
    requests: list[tuple[Security, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def answer(self, datagram: bytes) -> bytes | None:
        try:
            security, transport = decode_request(datagram)
        except SdpError as exc:
            self.errors.append(str(exc))
            return None
        self.requests.append((security, transport))
        if self.silent:
            return None
        resp = self.response
        if self.security_from_request and security is not resp.security:
            resp = SdpResponse(resp.address, resp.port, security, resp.transport)
        return encode_response(resp)


class _Server(asyncio.DatagramProtocol):
    def __init__(self, responder: SdpResponder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.responder.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def serve_sdp(responder: SdpResponder, ifname: str) -> asyncio.DatagramTransport:
    """Listen on UDP [::]:15118 of ``ifname`` (ff02::1 reaches it: every interface is in all-nodes)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.bind(("::", SDP_PORT))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise PlatformError(f"SDP server on {ifname}: {exc}") from exc
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: _Server(responder), sock=sock)
    return transport
