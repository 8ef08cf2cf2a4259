"""asyncio TCP/TLS server of the simulated SECC: V2GTP framing (ISO 15118-2 §7.8.3), SupportedAppProtocol
(§8.2.1), then the negotiated protocol's responder: ``make_din()`` for DIN SPEC 70121, ``responders[key]()`` for
the others (ISO 15118-2: Iso2Secc; -20 alike). Optionally a hostile charger: ``fault`` wraps each connection's
session in :class:`~evcc.bench.secc.hostile.FaultySecc` (the responders know nothing of it).

:class:`SeccSession` is the sans-IO part of one connection: payloads routed by V2GTP payload type (0x8001 to
SupportedAppProtocol until a protocol is negotiated, then the types the responder accepts), answers typed by the
responder (see :mod:`evcc.bench.secc.memory`). Answers are sent when due (``loop.call_at`` on the loop's
clock). Nothing the EVCC sends crashes the server: a broken frame, an undecodable or unexpected request is
recorded in :class:`SeccLog` ``errors`` and the connection is closed, as a real SECC would.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Disconnect, Fault, RawFrame, RawPayload
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.memory import SeccResponder, accepted_payload_types, deliver, payload_type_for
from evcc.bench.secc.sap_responder import SupportedProtocol, respond
from evcc.errors import EvccError, ProtocolError
from evcc.exi import sap
from evcc.session import v2gtp
from evcc.session.iso20.config import ISO_15118_20
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers

log = logging.getLogger(__name__)

SECC_PORT_RANGE = (49152, 65536)  # dynamic/private ports, upper bound exclusive

TIMERS: Mapping[str, EvccTimers] = {"din": DIN_70121, "iso2": ISO_15118_2,
                                     "iso20-dc": ISO_15118_20, "iso20-ac": ISO_15118_20}
"""EVCC timer tables by protocol key (the SupportedAppProtocol keys: -20 BPT rides on the DC and AC namespaces),
for delay faults; before a protocol is negotiated (SupportedAppProtocol) DIN's: the same 2 s in all of them."""


class SeccInputError(ProtocolError):
    """What the EVCC sent cannot be answered (wrong payload type, undecodable SupportedAppProtocolReq)."""


@dataclass
class SeccLog:
    """What the server saw, for the tests: the negotiated protocol, each responder it made (unwrapped), the
    errors that closed a connection, and the fault actions taken."""

    negotiated: list[str] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)  # DinSecc, Iso2Secc ...
    errors: list[str] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    connections: int = 0


class SeccSession:
    """One connection, sans-IO: SupportedAppProtocol, then the negotiated responder."""

    def __init__(self, supported: Sequence[SupportedProtocol], factories: Mapping[str, Callable[[], SeccResponder]],
                 record: SeccLog, timers: Mapping[str, EvccTimers] = TIMERS) -> None:
        self.supported = supported
        self.factories = factories
        self.record = record
        self.timer_tables = timers
        self.protocol: str | None = None
        self.responder: SeccResponder | None = None  # the negotiated protocol's
        self._sap_answer: list[tuple[float, Any]] = []  # (received at, supportedAppProtocolRes)

    def timers(self) -> EvccTimers | None:
        return self.timer_tables.get(self.protocol or "din")

    @property
    def accepted_payload_types(self) -> frozenset[int]:
        if self.responder is None:
            return frozenset({v2gtp.EXI_ENCODED})
        return accepted_payload_types(self.responder)

    def receive_payload(self, data: bytes, now: float) -> None:
        self.receive_typed(v2gtp.EXI_ENCODED, data, now)

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        if payload_type not in self.accepted_payload_types:
            stage = self.protocol or "SupportedAppProtocol"
            raise SeccInputError(f"V2GTP payload type {payload_type:#06x} in the {stage} stage")
        if self.responder is not None:
            deliver(self.responder, payload_type, data, now)
            return
        if self._sap_answer or self.protocol is not None:
            raise SeccInputError("a second supportedAppProtocolReq, or a request after Failed_NoNegotiation")
        try:
            req = exi.decode("sap", data)
        except exi.ExiError as exc:
            raise SeccInputError(f"undecodable supportedAppProtocolReq: {exc}") from exc
        if not isinstance(req, sap.supportedAppProtocolReq):
            raise SeccInputError(f"{type(req).__name__} instead of supportedAppProtocolReq")
        res, chosen = respond(req, self.supported)
        self._sap_answer.append((now, res))
        if chosen is not None and chosen.protocol in self.factories:
            self.protocol = chosen.protocol
            self.responder = self.factories[chosen.protocol]()
            self.record.negotiated.append(chosen.protocol)
            self.record.sessions.append(self.responder)

    def messages_to_send(self, now: float) -> list[Any]:
        out = [res for _, res in self._sap_answer]
        self._sap_answer = []
        if self.responder is not None:
            out += self.responder.messages_to_send(now)
        return out

    def get_timer(self) -> float | None:
        if self._sap_answer:
            return self._sap_answer[0][0]  # due at once
        return self.responder.get_timer() if self.responder is not None else None

    def payload_type_of(self, msg: Any) -> int:
        if isinstance(msg, sap.supportedAppProtocolRes) or self.responder is None:
            return v2gtp.EXI_ENCODED
        return payload_type_for(self.responder, msg)


class _SeccConnection(asyncio.Protocol):
    """The asyncio adapter of one :class:`SeccSession` (maybe wrapped by the fault layer)."""

    def __init__(self, session: SeccResponder, record: SeccLog) -> None:
        self.session = session
        self.record = record
        self.reassembler = v2gtp.Reassembler(v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            for msg in self.reassembler.feed(data):
                deliver(self.session, msg.payload_type, msg.payload, self.loop.time())
        except EvccError as exc:  # V2gtpError, ExiError, SeccInputError: the EVCC sent something wrong
            self._fail(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a simulator bug must not kill the server: recorded, loud in tests
            log.exception("SECC simulator failed on a request")
            self._fail(f"SECC simulator bug: {type(exc).__name__}: {exc}")
            return
        self._flush()

    def _flush(self) -> None:
        self._timer = None
        if self.transport is None:
            return
        try:
            out = self.session.messages_to_send(self.loop.time())
            for item in out:
                self._send(item)
        except EvccError as exc:  # a fault that cannot apply here, an answer that does not encode
            self._fail(str(exc))
            return
        if (due := self.session.get_timer()) is not None and self.transport is not None:
            self._timer = self.loop.call_at(max(due, self.loop.time()), self._flush)

    def _send(self, item: Any) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if isinstance(item, Disconnect):
            self.transport.close()
        elif isinstance(item, RawFrame):
            self.transport.write(item.data)
        elif isinstance(item, RawPayload):
            self.transport.write(v2gtp.encode(item.payload_type, item.data))
        else:
            self.transport.write(v2gtp.encode(payload_type_for(self.session, item), exi.encode(item)))

    def _fail(self, reason: str) -> None:
        self.record.errors.append(reason)
        if self.transport is not None:
            self.transport.close()


async def serve_secc(
    host: str,
    port: int,
    supported: Sequence[SupportedProtocol],
    make_din: Callable[[], SeccResponder] = DinSecc,
    ssl_context: ssl.SSLContext | None = None,
    record: SeccLog | None = None,
    responders: Mapping[str, Callable[[], SeccResponder]] | None = None,
    fault: Fault | None = None,
    faulty_connections: int | None = None,
    timers: Mapping[str, EvccTimers] = TIMERS,
) -> tuple[asyncio.Server, SeccLog]:
    """``make_din`` answers DIN sessions, ``responders`` maps other protocol keys (``iso2``) to factories.
    ``fault``: the hostile charger, for the first ``faulty_connections`` connections (None: all of them);
    a certificate fault is the ``ssl_context`` of :func:`evcc.bench.secc.hostile_tls.hostile_tls`."""
    record = record if record is not None else SeccLog()
    factories: dict[str, Callable[[], SeccResponder]] = {"din": make_din, **(responders or {})}

    def connection() -> _SeccConnection:
        session = SeccSession(supported, factories, record, timers)
        faulty = fault is not None and (faulty_connections is None or record.connections < faulty_connections)
        record.connections += 1  # accepted TCP connections (a TLS handshake may still fail)
        if fault is not None and faulty:
            return _SeccConnection(FaultySecc(session, fault, session.timers, record.injected), record)
        return _SeccConnection(session, record)

    loop = asyncio.get_running_loop()
    if port != 0:
        return await loop.create_server(connection, host, port, ssl=ssl_context), record
    # Port 0: a free port in the dynamic port range 49152-65535 (RFC 6335) that the SECC's TCP port announced in
    # SDP belongs to (ISO 15118-2 §7.10.1); the kernel's ephemeral ports lie below it and strict EVCCs drop them.
    picker = random.Random()
    for _ in range(64):
        try:
            server = await loop.create_server(connection, host, picker.randrange(*SECC_PORT_RANGE), ssl=ssl_context)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return server, record
    raise OSError(errno.EADDRINUSE, f"no free TCP port in {SECC_PORT_RANGE[0]}..{SECC_PORT_RANGE[1] - 1}")
