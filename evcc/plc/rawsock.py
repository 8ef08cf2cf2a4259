"""Raw Ethernet socket (Linux AF_PACKET) on the modem's interface, with an asyncio receive queue.

This is an adapter: the only code in ``evcc.plc`` that touches sockets. It opens ``SOCK_RAW`` bound to one
interface and one EtherType (0x88E1 HomePlug AV by default; ``ETH_P_ALL`` for the bench bridge), drops frames the
host itself sent (``PACKET_OUTGOING``) and bounds the receive queue. Missing interface, missing CAP_NET_RAW and a
down interface are reported as :class:`~evcc.errors.PlatformError` naming the interface.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections import deque

from evcc.errors import PlatformError
from evcc.plc.mme import ETH_P_HOMEPLUG_AV, MAX_FRAME

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_RECV_QUEUE_MAX = 1024


class RawSocket:
    """One AF_PACKET socket bound to ``iface``; ``send`` is immediate, ``recv`` awaits the next frame."""

    def __init__(self, sock: socket.socket, iface: str) -> None:
        self._sock = sock
        self.iface = iface
        self.mac: bytes = sock.getsockname()[4]
        self._queue: deque[bytes] = deque(maxlen=_RECV_QUEUE_MAX)
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0

    @classmethod
    def open(cls, iface: str, ethertype: int = ETH_P_HOMEPLUG_AV) -> RawSocket:
        """Open and bind; raise PlatformError for a missing interface or a missing CAP_NET_RAW."""
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        except PermissionError as exc:
            raise PlatformError(
                f"cannot open a raw socket for {iface}: CAP_NET_RAW is missing (run as root or grant it)"
            ) from exc
        try:
            sock.bind((iface, ethertype))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.ENODEV, errno.ENXIO):
                raise PlatformError(f"network interface {iface!r} does not exist") from exc
            raise PlatformError(f"cannot bind a raw socket to {iface!r}: {exc.strerror}") from exc
        return cls(sock, iface)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start reading in the running event loop."""
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        while True:
            try:
                data, addr = self._sock.recvfrom(MAX_FRAME + 4)
            except BlockingIOError:
                break
            except OSError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(data)
        if self._queue and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def send(self, frame: bytes) -> None:
        """Send one frame; raise PlatformError if the interface is down or gone."""
        try:
            self._sock.send(frame)
        except BlockingIOError:
            pass  # the kernel queue is full: a lost frame, like on the powerline
        except OSError as exc:
            if exc.errno == errno.ENETDOWN:
                raise PlatformError(f"network interface {self.iface!r} is down") from exc
            if exc.errno in (errno.ENODEV, errno.ENXIO):
                raise PlatformError(f"network interface {self.iface!r} disappeared") from exc
            raise PlatformError(f"send on {self.iface!r} failed: {exc.strerror}") from exc

    def pop(self) -> bytes | None:
        """The next queued frame, or None."""
        return self._queue.popleft() if self._queue else None

    async def wait_readable(self, timeout: float | None) -> None:
        """Return when a frame is queued or ``timeout`` seconds passed."""
        if self._queue:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            async with asyncio.timeout(timeout):  # not wait_for: 3.11's wait_for can swallow a cancel
                await asyncio.shield(self._waiter)
        except TimeoutError:
            pass
        finally:
            self._waiter = None

    async def recv(self, timeout: float | None = None) -> bytes | None:
        """The next frame, or None after ``timeout`` seconds."""
        await self.wait_readable(timeout)
        return self.pop()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop = None
        self._sock.close()

    def __enter__(self) -> RawSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
