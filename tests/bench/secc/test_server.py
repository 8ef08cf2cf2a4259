"""The simulated SECC server (V2GTP ISO 15118-2 §7.8.3, SupportedAppProtocol §8.2.1) over real TCP on loopback:
nothing an EVCC sends crashes it (each bad input closes that connection with the reason recorded, and the same
server then carries a normal session); payloads are routed by V2GTP payload type and answers travel in the type
the responder declares or its messages' schema set implies (ISO 15118-20: 0x8002 common, 0x8004 DC)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.memory import payload_type_for
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import SeccLog, SeccSession, serve_secc
from evcc.errors import EvccError
from evcc.exi import din, iso2, iso20_common, iso20_dc, sap
from evcc.session import sap as evsap
from evcc.session import v2gtp
from evcc.session.events import EndKind
from evcc.session.iso2.values import message as iso2_message
from tests.bench.secc.test_hostile_memory import CASES
from tests.bench.secc.test_hostile_tcp import ev_session

DIN = SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0)
ISO20_DC = SupportedProtocol("iso20-dc", evsap.ISO20_NAMESPACES["iso20-dc"], 1, 0)
ALL_TYPES = v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES


def sap_request(namespace: str = evsap.DIN_NAMESPACE, major: int = 2) -> bytes:
    offer = sap.AppProtocolType(ProtocolNamespace=namespace, VersionNumberMajor=major, VersionNumberMinor=0,
                                SchemaID=1, Priority=1)
    return v2gtp.encode(v2gtp.EXI_ENCODED, exi.encode(sap.supportedAppProtocolReq(AppProtocol=[offer])))


def din_session_setup() -> bytes:
    msg = din.V2G_Message(Header=din.MessageHeaderType(SessionID=bytes(8)),
                          Body=din.BodyType(SessionSetupReq=din.SessionSetupReqType(EVCCID=bytes(6))))
    return v2gtp.encode(v2gtp.EXI_ENCODED, exi.encode(msg))


async def exchange(port: int, chunks: list[bytes], wait: float = 0.3) -> list[v2gtp.V2gtpMessage]:
    """Send ``chunks`` on one connection, return what came back until the server closed (or ``wait`` passed)."""
    reader, writer = await asyncio.open_connection("::1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
    received = bytearray()
    try:
        while data := await asyncio.wait_for(reader.read(65536), wait):
            received += data
    except TimeoutError:
        pass
    writer.close()
    return v2gtp.Reassembler(ALL_TYPES).feed(bytes(received))


BAD_INPUT = {
    "broken header": ([b"\x02\xfd\x80\x01\x00\x00\x00\x01\x00"], "V2GTP protocol version"),
    "oversized length": ([struct.pack(">BBHI", 1, 0xFE, 0x8001, 1 << 30)], "V2GTP payload length"),
    "SDP type on TCP": ([v2gtp.encode(v2gtp.SDP_REQUEST, b"\x10\x00")], "V2GTP payload type"),
    "garbage SAP EXI": ([v2gtp.encode(v2gtp.EXI_ENCODED, b"\x80\xff\xff\xff")], "SE(*)"),
    "-20 type before SAP": ([v2gtp.encode(v2gtp.ISO20_DC, b"\x80\x00")], "0x8004 in the SupportedAppProtocol stage"),
    "DIN request before SAP": ([din_session_setup()], "undecodable supportedAppProtocolReq"),
    "garbage DIN after SAP": ([sap_request(), v2gtp.encode(v2gtp.EXI_ENCODED, b"\x80\xff\xff")], "SE(*)"),
    "-2 message in a DIN session": ([sap_request(), v2gtp.encode(v2gtp.EXI_ENCODED, exi.encode(iso2_message(
        bytes(8), "SessionStopReq", iso2.SessionStopReqType(ChargingSession="Terminate"))))], ""),
    "request after Failed_NoNegotiation": ([sap_request("urn:other", 1), din_session_setup()],
                                           "after Failed_NoNegotiation"),
}


@pytest.mark.parametrize("name", BAD_INPUT)
def test_bad_input_closes_that_connection_only(name: str) -> None:
    chunks, reason = BAD_INPUT[name]

    async def main() -> tuple[list[v2gtp.V2gtpMessage], SeccLog, EndKind]:
        server, record = await serve_secc("::1", 0, [DIN], DinSecc)
        async with server:
            port = server.sockets[0].getsockname()[1]
            answers = await exchange(port, chunks)
            report = await ev_session(port, CASES["din"])
        return answers, record, report.ended.kind

    answers, record, kind = asyncio.run(main())
    assert kind is EndKind.COMPLETED  # the same server, the next connection
    assert len(record.errors) == 1 and reason in record.errors[0], record.errors
    assert all(a.payload_type == v2gtp.EXI_ENCODED for a in answers)


def test_half_a_frame_then_close_leaves_no_trace() -> None:
    async def main() -> tuple[list[v2gtp.V2gtpMessage], SeccLog]:
        server, record = await serve_secc("::1", 0, [DIN], DinSecc)
        async with server:
            answers = await exchange(server.sockets[0].getsockname()[1], [sap_request()[:11]], wait=0.1)
        return answers, record

    answers, record = asyncio.run(main())
    assert answers == [] and record.errors == [] and record.negotiated == []


class _Broken(DinSecc):
    def receive_payload(self, data: bytes, now: float) -> None:
        raise ZeroDivisionError("simulated responder bug")


def test_a_responder_bug_is_recorded_and_the_server_goes_on() -> None:
    calls: list[int] = []

    def make() -> DinSecc:
        calls.append(1)
        return _Broken() if len(calls) == 1 else DinSecc()

    async def main() -> tuple[SeccLog, EndKind]:
        server, record = await serve_secc("::1", 0, [DIN], make)
        async with server:
            port = server.sockets[0].getsockname()[1]
            first = await ev_session(port, CASES["din"])
            assert first.ended.reason == "transport: the SECC closed the connection"
            return record, (await ev_session(port, CASES["din"])).ended.kind

    record, kind = asyncio.run(main())
    assert record.errors == ["SECC simulator bug: ZeroDivisionError: simulated responder bug"]
    assert kind is EndKind.COMPLETED


class Iso20Echo:
    """A -20-shaped responder: requests by payload type (0x8002 common, 0x8004 DC), answers whose type the server
    takes from the message's schema set; ``declared`` overrides it through ``payload_type_of``."""

    accepted_payload_types = frozenset({v2gtp.ISO20_COMMON, v2gtp.ISO20_DC})

    def __init__(self, declared: int | None = None) -> None:
        self.declared = declared
        self.received: list[tuple[int, str]] = []
        self._out: list[Any] = []

    def receive_payload(self, data: bytes, now: float) -> None:
        raise AssertionError("the server must hand -20 payloads over with their type")

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        grammar = {v2gtp.ISO20_COMMON: "iso20-common", v2gtp.ISO20_DC: "iso20-dc"}[payload_type]
        name = exi.decode_named(grammar, data).name
        self.received.append((payload_type, name))
        header = iso20_common.MessageHeaderType(SessionID=b"\x01" * 8, TimeStamp=1)
        if name == "SessionSetupReq":
            self._out.append(iso20_common.SessionSetupResType(Header=header, ResponseCode="OK_NewSessionEstablished",
                                                              EVSEID="DE*EVC*E1"))
        else:
            dc_header = iso20_dc.MessageHeaderType(SessionID=b"\x01" * 8, TimeStamp=1)
            self._out.append(iso20_dc.DC_CableCheckResType(Header=dc_header, ResponseCode="OK",
                                                           EVSEProcessing="Finished"))

    def messages_to_send(self, now: float) -> list[Any]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return 0.0 if self._out else None

    def payload_type_of(self, msg: Any) -> int:
        return self.declared if self.declared is not None else payload_type_for(None, msg)


@pytest.mark.parametrize("declared", [None, v2gtp.ISO20_ACDP])
def test_payloads_are_routed_and_typed_by_v2gtp_payload_type(declared: int | None) -> None:
    echo = Iso20Echo(declared)
    setup = iso20_common.SessionSetupReqType(Header=iso20_common.MessageHeaderType(SessionID=bytes(8), TimeStamp=1),
                                             EVCCID="WMIV1234567890ABCDEX")
    check = iso20_dc.DC_CableCheckReqType(Header=iso20_dc.MessageHeaderType(SessionID=b"\x01" * 8, TimeStamp=2))

    async def main() -> list[v2gtp.V2gtpMessage]:
        server, _ = await serve_secc("::1", 0, [ISO20_DC], DinSecc, responders={"iso20-dc": lambda: echo})
        async with server:
            return await exchange(server.sockets[0].getsockname()[1], [
                sap_request(evsap.ISO20_NAMESPACES["iso20-dc"], 1),
                v2gtp.encode(v2gtp.ISO20_COMMON, exi.encode(setup)), v2gtp.encode(v2gtp.ISO20_DC, exi.encode(check))])

    answers = asyncio.run(main())
    assert echo.received == [(v2gtp.ISO20_COMMON, "SessionSetupReq"), (v2gtp.ISO20_DC, "DC_CableCheckReq")]
    assert [a.payload_type for a in answers] == [v2gtp.EXI_ENCODED] + (
        [declared, declared] if declared else [v2gtp.ISO20_COMMON, v2gtp.ISO20_DC])
    assert exi.decode_named("iso20-dc", answers[2].payload).name == "DC_CableCheckRes"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(ALL_TYPES)), st.binary(max_size=64)), max_size=4),
       st.booleans())
def test_any_payload_in_any_stage_raises_only_the_error_tree(payloads: list[tuple[int, bytes]], after_sap: bool) -> None:
    session = SeccSession([DIN], {"din": DinSecc}, SeccLog())
    if after_sap:
        session.receive_typed(v2gtp.EXI_ENCODED, sap_request()[8:], 0.0)
    for payload_type, data in payloads:
        try:
            session.receive_typed(payload_type, data, 1.0)
        except EvccError:
            return  # the adapter records it and closes the connection
        session.messages_to_send(2.0)


def test_port_zero_picks_a_port_in_the_dynamic_range() -> None:
    """An SECC announces a TCP port in 49152-65535 in SDP; port 0 must not hand out a kernel ephemeral port."""
    from evcc.bench.secc.server import SECC_PORT_RANGE, serve_secc

    async def ports() -> list[int]:
        found: list[int] = []
        servers: list[asyncio.Server] = []
        for _ in range(20):
            server, _log = await serve_secc("127.0.0.1", 0, [])
            servers.append(server)
            found.append(server.sockets[0].getsockname()[1])
        for server in servers:
            server.close()
            await server.wait_closed()
        return found

    got = asyncio.run(ports())
    assert all(SECC_PORT_RANGE[0] <= p < SECC_PORT_RANGE[1] for p in got), got
    assert len(set(got)) == len(got)  # twenty live servers, twenty different ports
