"""Chargers that break the request/response rhythm of a long charge loop (issue 13, bad input), over real TCP on
loopback: the DIN SPEC 70121 SECC simulator behind a proxy that answers twice or streams copies of its charge-loop
answer. Whatever it does, the EV's memory stays bounded (at most MAX_UNREAD messages wait in the connection, the
session's record is a bounded SessionLog) and the session ends in order with the reason, never an exception."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import serve_secc
from evcc.session import sap as evsap
from evcc.session import v2gtp
from evcc.session.battery_model import BatteryModel
from evcc.session.checks import body_element
from evcc.session.connection import MAX_UNREAD, open_connection
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.errors import V2gtpError
from evcc.session.events import EndKind
from evcc.session.pacing import with_min_cycle
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import DIN_OFFER, Negotiated
from evcc.session.timeouts import DIN_70121

SUPPORTED = [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0)]
Mangle = Callable[[str, int, bytes], list[bytes]]  # (SECC message name, its number, its frame) -> frames to send


def twice_in_loop(name: str, count: int, frame: bytes) -> list[bytes]:
    return [frame, frame] if name == "CurrentDemandRes" else [frame]  # every charge-loop answer twice


def stream_in_loop(name: str, count: int, frame: bytes) -> list[bytes]:
    return [frame] * 200 if name == "CurrentDemandRes" and count == 3 else [frame]  # then 199 unasked copies


def _name(payload: bytes, first: bool) -> str:
    if first:
        return "supportedAppProtocolRes"
    return body_element(exi.decode("din", payload).Body)[0]


async def _proxy(upstream_port: int, mangle: Mangle) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("::1", upstream_port)

        async def ev_to_secc() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
            up_writer.close()

        async def secc_to_ev() -> None:
            frames = v2gtp.Reassembler(v2gtp.SESSION_PAYLOAD_TYPES, v2gtp.DEFAULT_MAX_PAYLOAD)
            counts: dict[str, int] = {}
            while data := await up_reader.read(65536):
                for msg in frames.feed(data):
                    name = _name(msg.payload, not counts)
                    counts[name] = counts.get(name, 0) + 1
                    for frame in mangle(name, counts[name], v2gtp.encode(msg.payload_type, msg.payload)):
                        writer.write(frame)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(ev_to_secc(), secc_to_ev())
        except (ConnectionError, OSError, asyncio.CancelledError):  # the test's loop ends: the proxy with it
            writer.close()
            up_writer.close()

    return await asyncio.start_server(client, "::1", 0)


def _session(mangle: Mangle, min_cycle: float) -> SessionReport:
    async def main() -> SessionReport:
        server, _ = await serve_secc("::1", 0, SUPPORTED,
                                     lambda: DinSecc(config=DinSeccConfig(response_time=0.0, stop_after_loop=400)))
        proxy = await _proxy(server.sockets[0].getsockname()[1], mangle)
        try:
            conn = await open_connection("::1", proxy.sockets[0].getsockname()[1])

            def din(negotiated: Negotiated) -> DinEvcc:
                car = BatteryModel(capacity_wh=1e9, soc=10.0, target_soc=100.0)
                return DinEvcc(DinConfig(evcc_id=bytes(6), timers=with_min_cycle(DIN_70121, min_cycle)), car)

            return await run_session(conn, [DIN_OFFER], {"din": din}, DIN_70121)
        finally:
            proxy.close()
            server.close()

    return asyncio.run(main())


def test_answered_twice_while_the_loop_is_paced_ends_with_the_reason() -> None:
    report = _session(twice_in_loop, 0.02)
    ended = report.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR, ended
    assert "CurrentDemandRes while no request was outstanding" in ended.reason
    assert len(report.events) <= 2000


def test_answered_twice_unpaced_goes_on_or_ends_in_order_with_a_reason() -> None:
    """Unpaced, a second copy is taken for the answer to the next request; the answers nobody reads pile up until
    the connection's bound cuts the charger off (or the sequence breaks first)."""
    report = _session(twice_in_loop, 0.0)
    ended = report.ended
    assert ended.kind in (EndKind.PROTOCOL_ERROR, EndKind.STOPPED), ended
    assert ended.reason and "Traceback" not in ended.reason
    assert len(report.events) <= 2000


@pytest.mark.parametrize("min_cycle", [0.0, 0.02])
def test_a_charger_streaming_answers_nobody_asked_for_is_cut_off(min_cycle: float) -> None:
    report = _session(stream_in_loop, min_cycle)
    ended = report.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR, ended
    assert ("V2GTP flow" in ended.reason or "while no request was outstanding" in ended.reason), ended.reason
    assert report.events.rtt.stats["CurrentDemandRes"].count < 2 * MAX_UNREAD + 4


def test_the_connection_holds_at_most_max_unread_messages() -> None:
    frame = v2gtp.encode(v2gtp.EXI_ENCODED, b"\x80\x00")

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(frame * 10_000)
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    async def main() -> tuple[int, str]:
        server = await asyncio.start_server(flood, "::1", 0)
        async with server:
            conn = await open_connection("::1", server.sockets[0].getsockname()[1])
            conn.send(v2gtp.EXI_ENCODED, b"\x80")
            got = 0
            try:
                while await conn.receive(2.0) is not None:
                    got += 1
                    await asyncio.sleep(0.05)  # a slow reader: the flood is all there before it reads on
            except V2gtpError as exc:
                return got, str(exc)
            return got, "no error"

    got, error = asyncio.run(main())
    assert got <= MAX_UNREAD and "V2GTP flow" in error and f"more than {MAX_UNREAD} messages" in error


