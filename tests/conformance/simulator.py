"""The bench's SECC simulator as the charger under test, in memory (evcc.conformance.memory) or served over
loopback: every protocol it has (DIN, ISO 15118-2, ISO 15118-20 DC and AC), optionally with one fault of its fault
layer (evcc.bench.secc.faults) on every connection. Shared by the tests and benchmarks/conformance_bench.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from evcc import exi
from evcc.bench.protocols import PROTOCOLS as BENCH, SeccOptions
from evcc.bench.secc.faults import Disconnect, Fault, RawFrame, RawPayload
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.sdp_server import SdpResponder
from evcc.bench.secc.server import SeccLog, SeccSession
from evcc.conformance.memory import MemoryCharger, MemoryPeer
from evcc.session import v2gtp
from evcc.session.sdp import SdpResponse, Security, Transport

ADDRESS = ("::1", 61851)
PLAN_NAMES = ("din", "iso2", "iso20-dc", "iso20-ac")


def supported() -> list[Any]:
    return [BENCH[name].supported for name in PLAN_NAMES]


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


def sdp_responder(address: tuple[str, int] = ADDRESS, security: Security = Security.NO_TLS) -> SdpResponder:
    return SdpResponder(SdpResponse(ipaddress.IPv6Address(address[0]), address[1], security, Transport.TCP),
                        security_from_request=False)


def memory_charger(fault: Fault | None = None, record: SeccLog | None = None) -> MemoryCharger:
    log = record if record is not None else SeccLog()
    made = factories()

    def peer() -> MemoryPeer:
        session = SeccSession(supported(), made, log)
        if fault is None:
            return session
        return FaultySecc(session, fault, session.timers, log.injected)

    return MemoryCharger(peer, sdp_responder().answer, wire, ADDRESS)
