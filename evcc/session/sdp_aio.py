"""asyncio adapter of the SDP client (ISO 15118-2 §7.10.1): one UDP socket on the PLC interface, requests to
``ff02::1`` port 15118 with the interface's scope id, responses fed to :class:`~evcc.session.sdp.SdpClient` (which checks what they announce). Datagrams that did not arrive
on the SDP interface are dropped here: the announced link-local address is reached with that interface's scope.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from evcc.errors import PlatformError
from evcc.session.errors import SdpTimeout
from evcc.session.sdp import SDP_MULTICAST, SDP_PORT, SdpClient, SdpDropped, SdpFailed, SdpResponse, SeccFound

log = logging.getLogger(__name__)


def interface_index(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError as exc:
        raise PlatformError(f"network interface {ifname!r} not found") from exc


def sdp_socket(ifname: str) -> socket.socket:
    """A non-blocking UDP/IPv6 socket whose multicasts leave on ``ifname``."""
    index = interface_index(ifname)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        sock.bind(("::", 0, 0, index))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise PlatformError(f"SDP socket on {ifname}: {exc}") from exc
    return sock


MAX_QUEUED = 64  # datagrams waiting for the client; a flood beyond that is dropped unread


class _Datagrams(asyncio.DatagramProtocol):
    """Answers that arrived on the SDP interface (scope id ``index``); others are dropped with the reason."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(MAX_QUEUED)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        scope = addr[3] if len(addr) > 3 else 0
        if scope != self.index:
            log.info("SDP datagram dropped: from %s on interface index %s, not the SDP interface (%s)", addr[0],
                     scope, self.index)
            return
        if self.queue.full():
            log.debug("SDP datagram dropped: %d answers already waiting", MAX_QUEUED)
            return
        self.queue.put_nowait(data)


async def discover(
    client: SdpClient, sock: socket.socket, clock: Callable[[], float] = time.monotonic
) -> SdpResponse:
    """Run SDP on ``sock`` (see :func:`sdp_socket`) until a SECC answers; raise :class:`SdpTimeout` otherwise."""
    loop = asyncio.get_running_loop()
    index = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF)  # the SDP interface (sdp_socket)
    transport, proto = await loop.create_datagram_endpoint(lambda: _Datagrams(index), sock=sock)
    try:
        client.start(clock())
        while True:
            for datagram in client.datagrams_to_send():
                transport.sendto(datagram, (SDP_MULTICAST, SDP_PORT, 0, index))
            for event in client.events():
                if isinstance(event, SeccFound):
                    return event.response
                if isinstance(event, SdpFailed):
                    raise SdpTimeout(event.reason)
                if isinstance(event, SdpDropped):
                    log.info("SDP answer ignored: %s", event.reason)
            deadline = client.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - clock())
            try:
                async with asyncio.timeout(timeout):  # not wait_for: 3.11's wait_for can swallow a cancel
                    data = await proto.queue.get()
            except TimeoutError:
                client.handle_timer(clock())
            else:
                client.receive_datagram(data, clock())
    finally:
        transport.close()
