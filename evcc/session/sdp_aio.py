"""asyncio adapter of the SDP client (ISO 15118-2 §7.10.1): one UDP socket on the PLC interface, requests to
``ff02::1`` port 15118 with the interface's scope id, responses fed to :class:`~evcc.session.sdp.SdpClient`.
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


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)


async def discover(
    client: SdpClient, sock: socket.socket, clock: Callable[[], float] = time.monotonic
) -> SdpResponse:
    """Run SDP on ``sock`` (see :func:`sdp_socket`) until a SECC answers; raise :class:`SdpTimeout` otherwise."""
    loop = asyncio.get_running_loop()
    index = sock.getsockname()[3]
    transport, proto = await loop.create_datagram_endpoint(_Datagrams, sock=sock)
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
                    log.debug("SDP datagram dropped: %s", event.reason)
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
