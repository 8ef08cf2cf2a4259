"""asyncio TCP/TLS server of the simulated SECC: V2GTP framing, SupportedAppProtocol, then the DIN responder or,
for other negotiated protocols, the responder ``responders[protocol]()`` makes (ISO 15118-2: Iso2Secc). Delayed
answers are sent when the responder says they are due (loop.call_at on the loop's clock)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.memory import SeccResponder
from evcc.bench.secc.sap_responder import SupportedProtocol, respond
from evcc.exi import ExiError, sap
from evcc.session import v2gtp
from evcc.session.errors import V2gtpError

log = logging.getLogger(__name__)


@dataclass
class SeccLog:
    """What the server saw, for the tests: the negotiated protocol and each responder it made."""

    negotiated: list[str] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)  # DinSecc, Iso2Secc ...
    errors: list[str] = field(default_factory=list)


class _SeccConnection(asyncio.Protocol):
    def __init__(
        self, supported: Sequence[SupportedProtocol], make_din: Callable[[], DinSecc], record: SeccLog,
        responders: Mapping[str, Callable[[], SeccResponder]],
    ) -> None:
        self.supported = supported
        self.make_din = make_din
        self.responders = responders
        self.record = record
        self.reassembler = v2gtp.Reassembler()
        self.din: SeccResponder | None = None  # the negotiated protocol's responder (DIN or another)
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            for msg in self.reassembler.feed(data):
                self._handle(msg.payload)
        except (V2gtpError, ExiError, AssertionError) as exc:
            self.record.errors.append(str(exc))
            if self.transport is not None:
                self.transport.close()

    def _handle(self, payload: bytes) -> None:
        if self.din is None:
            req = exi.decode("sap", payload)
            assert isinstance(req, sap.supportedAppProtocolReq), type(req).__name__
            res, chosen = respond(req, self.supported)
            self._write(exi.encode(res))
            if chosen is not None and chosen.protocol in self.responders:
                self.din = self.responders[chosen.protocol]()
            elif chosen is not None and chosen.protocol == "din":
                self.din = self.make_din()
            if chosen is not None and self.din is not None:
                self.record.negotiated.append(chosen.protocol)
                self.record.sessions.append(self.din)
            return
        self.din.receive_payload(payload, self.loop.time())
        self._schedule()

    def _schedule(self) -> None:
        if self.din is not None and (due := self.din.get_timer()) is not None:
            self.loop.call_at(due, self._flush)

    def _flush(self) -> None:
        if self.din is None:
            return
        for msg in self.din.messages_to_send(self.loop.time()):
            self._write(exi.encode(msg))
        self._schedule()

    def _write(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(v2gtp.encode(v2gtp.EXI_ENCODED, payload))


async def serve_secc(
    host: str,
    port: int,
    supported: Sequence[SupportedProtocol],
    make_din: Callable[[], DinSecc],
    ssl_context: ssl.SSLContext | None = None,
    record: SeccLog | None = None,
    responders: Mapping[str, Callable[[], SeccResponder]] | None = None,
) -> tuple[asyncio.Server, SeccLog]:
    """``make_din`` answers DIN sessions; ``responders`` maps other protocol keys (``iso2``) to factories."""
    record = record if record is not None else SeccLog()
    loop = asyncio.get_running_loop()
    extra = dict(responders or {})
    server = await loop.create_server(
        lambda: _SeccConnection(supported, make_din, record, extra), host, port, ssl=ssl_context
    )
    return server, record
