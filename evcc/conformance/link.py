"""The charger under test as the suite sees it: SDP datagrams out and in, a TCP/TLS connection carrying raw bytes
out (the suite sends broken V2GTP frames on purpose) and whole V2GTP messages in (ISO 15118-2 §7.8.3 framing,
§7.10.1 SDP), and the charger's clock. Two implementations: :class:`NetworkCharger` (a real charger on an
interface, or any SECC on an address, e.g. the simulator over loopback) and, in :mod:`evcc.conformance.memory`,
an SECC responder in the same process on a virtual clock.

Everything a charger sends is untrusted: a framing error, a close or a reset is a :class:`Broken` or
:class:`Closed` item for the verdict, never an exception out of the runner.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from evcc.errors import PlatformError
from evcc.session import v2gtp
from evcc.session.connection import PreparedTls, os_cause
from evcc.session.errors import ConnectionFailed, TlsError, V2gtpError
from evcc.session.sdp import SDP_MULTICAST, SDP_PORT

ALL_PAYLOAD_TYPES = v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES


@dataclass(frozen=True, slots=True)
class Frame:
    """One whole V2GTP message from the charger and when it arrived."""

    payload_type: int
    payload: bytes
    t: float


@dataclass(frozen=True, slots=True)
class Broken:
    """The charger's bytes are no valid V2GTP (version, payload type, length): what was wrong."""

    reason: str
    t: float


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str
    t: float


Received = Frame | Broken | Closed


class Link(Protocol):
    """One connection to the charger."""

    tls_version: str | None
    cipher: str | None

    def send_raw(self, data: bytes) -> None: ...

    async def receive(self, timeout: float) -> Received | None: ...

    def close(self) -> None: ...


class Charger(Protocol):
    """What the runner needs of the charger under test."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sdp_exchange(self, datagram: bytes, wait: float, first: bool = False) -> list[bytes]:
        """Send one SDP datagram; every answer within ``wait`` seconds (``first``: return on the first one)."""
        ...

    async def connect(self, address: str, port: int, tls: PreparedTls | None) -> Link:
        """TCP (and TLS) to the SECC; ConnectionFailed / TlsError naming the cause."""
        ...


class _StreamLink(asyncio.Protocol):
    """The asyncio side of one connection: raw bytes out, V2GTP messages (or what broke) in."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.reassembler = v2gtp.Reassembler(ALL_PAYLOAD_TYPES, v2gtp.DEFAULT_MAX_PAYLOAD)
        self.queue: asyncio.Queue[Received] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self.tls_version: str | None = None
        self.cipher: str | None = None
        self._ended = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sslobj = transport.get_extra_info("ssl_object")
        if isinstance(sslobj, ssl.SSLObject):
            self.tls_version = sslobj.version()
            cipher = sslobj.cipher()
            self.cipher = cipher[0] if cipher else None

    def data_received(self, data: bytes) -> None:
        if self._ended:
            return
        try:
            for msg in self.reassembler.feed(data):
                self.queue.put_nowait(Frame(msg.payload_type, msg.payload, self.clock()))
        except V2gtpError as exc:
            for msg in exc.complete:
                self.queue.put_nowait(Frame(msg.payload_type, msg.payload, self.clock()))
            self._ended = True
            self.queue.put_nowait(Broken(str(exc), self.clock()))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ended:
            self._ended = True
            why = "the charger closed the connection"
            if isinstance(exc, ssl.SSLError):
                why = f"the charger ended the TLS session: {exc.reason or exc}"
            elif exc is not None:
                why += f": {exc}"
            self.queue.put_nowait(Closed(why, self.clock()))
        self.transport = None

    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def receive(self, timeout: float) -> Received | None:
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                item = await self.queue.get()
        except TimeoutError:
            return None
        if not isinstance(item, Frame):
            self.queue.put_nowait(item)  # stays ended for every later read
        return item

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def time_fn() -> float:
    return time.monotonic()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)


class NetworkCharger:
    """A charger reached over the network. ``iface``: SDP multicasts to ff02::1 port 15118 on it and link-local
    addresses get its scope (a real charger on a lab cable, or the simulator in a namespace); ``sdp_address``:
    SDP goes to that (address, port) instead (the simulator on loopback)."""

    def __init__(self, iface: str | None = None, sdp_address: tuple[str, int] | None = None,
                 connect_timeout: float = 10.0) -> None:
        if (iface is None) == (sdp_address is None):
            raise PlatformError("the charger is reached either on an interface or at an SDP address")
        self.iface = iface
        self.sdp_address = sdp_address
        self.connect_timeout = connect_timeout
        self.scope = socket.if_nametoindex(iface) if iface is not None else 0

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def _socket(self) -> tuple[socket.socket, tuple[str, int, int, int]]:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            if self.iface is not None:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.scope)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
                sock.bind(("::", 0, 0, self.scope))
                target = (SDP_MULTICAST, SDP_PORT, 0, self.scope)
            else:
                assert self.sdp_address is not None
                sock.bind(("::", 0))
                target = (self.sdp_address[0], self.sdp_address[1], 0, 0)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise PlatformError(f"SDP socket: {os_cause(exc)}") from exc
        return sock, target

    async def sdp_exchange(self, datagram: bytes, wait: float, first: bool = False) -> list[bytes]:
        sock, target = self._socket()
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Datagrams, sock=sock)
        answers: list[bytes] = []
        try:
            transport.sendto(datagram, target)
            deadline = loop.time() + wait
            while (left := deadline - loop.time()) > 0:
                try:
                    async with asyncio.timeout(left):
                        answers.append(await proto.queue.get())
                except TimeoutError:
                    break
                if first:
                    break
        finally:
            transport.close()
        return answers

    async def connect(self, address: str, port: int, tls: PreparedTls | None) -> Link:
        loop = asyncio.get_running_loop()
        scoped = address.lower().startswith("fe80") and "%" not in address and self.iface is not None
        target = f"{address}%{self.scope}" if scoped else address
        ctx = tls.context if tls is not None else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, proto = await loop.create_connection(lambda: _StreamLink(time_fn), target, port, ssl=ctx,
                                                        server_hostname="" if ctx is not None else None)
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(f"SECC certificate chain rejected: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise TlsError(f"TLS handshake with the SECC failed: {exc.reason or exc}") from exc
        except TimeoutError as exc:
            raise ConnectionFailed(f"no connection to [{target}]:{port} within {self.connect_timeout} s") from exc
        except OSError as exc:
            raise ConnectionFailed(f"TCP connection to [{target}]:{port} failed: {os_cause(exc)}") from exc
        return proto
