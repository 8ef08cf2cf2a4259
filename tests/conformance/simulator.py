"""The bench's SECC simulator as the charger under test, in memory (evcc.conformance.memory) or served over
loopback: every protocol it has (DIN, ISO 15118-2, ISO 15118-20 DC and AC), optionally with one fault of its fault
layer (evcc.bench.secc.faults) on every connection. Shared by the tests and benchmarks/conformance_bench.py."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from evcc import exi
from evcc.bench.protocols import PROTOCOLS as BENCH, SeccOptions
from evcc.bench.secc.faults import Disconnect, Fault, RawFrame, RawPayload
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.sdp_server import SdpResponder
from evcc.bench.secc.server import SeccLog, SeccSession, serve_secc
from evcc.conformance.memory import MemoryCharger, MemoryPeer
from evcc.session import v2gtp
from evcc.session.sdp import SdpResponse, Security, Transport

ADDRESS = ("::1", 61851)
PLAN_NAMES = ("din", "iso2", "iso20-dc", "iso20-ac")


def supported(names: tuple[str, ...] = PLAN_NAMES) -> list[Any]:
    return [BENCH[name].supported for name in names]


def factories(options: SeccOptions | None = None) -> dict[str, Callable[[], Any]]:
    opts = options or SeccOptions()

    def maker(name: str) -> Callable[[], Any]:
        return lambda: BENCH[name].make_responder(opts)

    return {BENCH[name].sap_key: maker(name) for name in PLAN_NAMES}


def wire(peer: MemoryPeer, item: Any) -> bytes | None:
    """The fault layer's raw items as the server writes them."""
    if isinstance(item, Disconnect):
        return None
    if isinstance(item, RawFrame):
        return item.data
    if isinstance(item, RawPayload):
        return v2gtp.encode(item.payload_type, item.data)
    return v2gtp.encode(peer.payload_type_of(item), exi.encode(item))


def sdp_responder(address: tuple[str, int] = ADDRESS, security: Security | None = Security.NO_TLS) -> SdpResponder:
    """Answers with ``security``; None: with the security the EV asked for (a charger offering both)."""
    return SdpResponder(SdpResponse(ipaddress.IPv6Address(address[0]), address[1], security or Security.NO_TLS,
                                    Transport.TCP), security_from_request=security is None)


def memory_charger(fault: Fault | None = None, record: SeccLog | None = None,
                   protocols: tuple[str, ...] = PLAN_NAMES, options: SeccOptions | None = None) -> MemoryCharger:
    """``protocols``: the bench plans the charger negotiates (default all); ``options``: the simulated SECC's
    (Plug & Charge: ``options.pnc``)."""
    log = record if record is not None else SeccLog()
    made = factories(options)

    def peer() -> MemoryPeer:
        session = SeccSession(supported(protocols), made, log)
        if fault is None:
            return session
        return FaultySecc(session, fault, session.timers, log.injected)

    return MemoryCharger(peer, sdp_responder().answer, wire, ADDRESS)


class _SdpServer(asyncio.DatagramProtocol):
    def __init__(self, responder: SdpResponder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.responder.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@dataclass
class Served:
    record: SeccLog
    port: int  # the SECC's TCP port
    sdp_port: int  # where SDP is answered on ::1


@contextlib.contextmanager
def served_simulator(context: ssl.SSLContext | None = None, fault: Fault | None = None,
                     security: Security | None = Security.NO_TLS, options: SeccOptions | None = None
                     ) -> Iterator[Served]:
    """The simulator over loopback on its own loop and thread (as on another device): SECC server on ::1 (a free
    port in the dynamic range), SDP answered on ::1 at a free UDP port announcing it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="conformance-secc", daemon=True)
    thread.start()

    async def start() -> tuple[asyncio.Server, SeccLog, asyncio.DatagramTransport, int]:
        server, record = await serve_secc("::1", 0, supported(), responders=factories(options), ssl_context=context,
                                          fault=fault)
        port = server.sockets[0].getsockname()[1]
        responder = sdp_responder(("::1", port), security)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _SdpServer(responder), local_addr=("::1", 0))
        return server, record, transport, transport.get_extra_info("sockname")[1]

    server, record, transport, sdp_port = asyncio.run_coroutine_threadsafe(start(), loop).result(10.0)
    try:
        yield Served(record, server.sockets[0].getsockname()[1], sdp_port)
    finally:
        async def stop() -> None:
            transport.close()
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        loop.close()
