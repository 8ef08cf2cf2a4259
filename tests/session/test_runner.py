"""The asyncio session runner (evcc.session.runner) before a protocol machine exists: SupportedAppProtocol over a
real TCP connection on loopback to a peer that reads and never answers, answers garbage or closes. A
supportedAppProtocolRes that does not come ends the session as a TIMEOUT whose ``timer`` names
V2G_EVCC_Msg_Timeout (the table's SupportedAppProtocolReq entry: DIN SPEC 70121 Table 75, ISO 15118-2 Table 109,
ISO 15118-20), never an exception; other SupportedAppProtocol failures name no timer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest

from evcc.errors import ConfigError
from evcc.session import v2gtp
from evcc.session.connection import open_connection
from evcc.session.events import EndKind
from evcc.session.iso20.config import ISO_15118_20
from evcc.session.machine import EvccMachine
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import DIN_OFFER, ISO20_DC_OFFER, Negotiated, ProtocolOffer
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers

Peer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _quick(table: EvccTimers, seconds: float = 0.2) -> EvccTimers:
    return dataclasses.replace(table, V2G_EVCC_Msg_Timeout={**table.V2G_EVCC_Msg_Timeout,
                                                            "SupportedAppProtocolReq": seconds})


def _no_machine(negotiated: Negotiated) -> EvccMachine:
    raise AssertionError("no protocol may be negotiated here")


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)  # the request arrives; no answer ever
    await asyncio.sleep(5.0)
    writer.close()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.write(v2gtp.encode(v2gtp.EXI_ENCODED, b"\x80\xff\xff\xff\xff\x00"))
    await writer.drain()
    await asyncio.sleep(1.0)
    writer.close()


async def _closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.close()


def _run(peer: Peer, timers: EvccTimers, offer: ProtocolOffer = DIN_OFFER) -> SessionReport:
    async def main() -> SessionReport:
        server = await asyncio.start_server(peer, "::1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            conn = await open_connection("::1", port)
            return await run_session(conn, [offer], {offer.protocol: _no_machine}, timers)

    return asyncio.run(main())


@pytest.mark.parametrize("table", [DIN_70121, ISO_15118_2, ISO_15118_20], ids=lambda t: t.protocol)
def test_sap_timeout_names_the_timer(table: EvccTimers) -> None:
    offer = ISO20_DC_OFFER if table is ISO_15118_20 else DIN_OFFER
    report = _run(_silent, _quick(table), offer)
    ended = report.ended
    assert ended.kind is EndKind.TIMEOUT and ended.timer == "V2G_EVCC_Msg_Timeout", ended
    assert ended.state == "SupportedAppProtocol" and report.protocol is None
    assert ended.reason == "SupportedAppProtocol: no response within V2G_EVCC_Msg_Timeout (0.2 s)"
    assert report.finished - report.started >= 0.2  # not before the timer's value


@pytest.mark.parametrize(("peer", "text"), [(_garbage, "SupportedAppProtocol: undecodable response"),
                                            (_closes, "closed")], ids=["garbage", "closed"])
def test_other_sap_failures_name_no_timer(peer: Peer, text: str) -> None:
    ended = _run(peer, _quick(DIN_70121, 2.0)).ended
    assert ended.kind is EndKind.PROTOCOL_ERROR and ended.timer is None, ended
    assert text in ended.reason


def test_an_offer_without_a_machine_is_a_configuration_error() -> None:
    async def main() -> None:
        server = await asyncio.start_server(_closes, "::1", 0)
        async with server:
            conn = await open_connection("::1", server.sockets[0].getsockname()[1])
            try:
                await run_session(conn, [DIN_OFFER], {}, DIN_70121)
            finally:
                conn.close()

    with pytest.raises(ConfigError, match="without a machine"):
        asyncio.run(main())
