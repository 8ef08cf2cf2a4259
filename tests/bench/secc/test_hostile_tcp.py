"""The hostile-charger suite, transport and certificate faults (issue 4 point 5), over real TCP and TLS 1.2 on
loopback: the asyncio session runner (SupportedAppProtocol, then the DIN SPEC 70121 or ISO 15118-2 machine)
against the simulated SECC server with the fault layer on its first connection. Each fault ends the session in
order with the fault named in the report (V2GTP length/version/payload type per ISO 15118-2 §7.8.3, the closed
connection, the timer), nothing escapes ``run_session``, and the SAME process and server then complete a normal
session on a second connection. The SECC's TLS chain, expired or under an untrusted root, is refused
([V2G2-064]) and the same EVCC configuration then completes a session with the PKI's valid chain."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Fault, FaultKind, parse_fault
from evcc.bench.secc.hostile_tls import hostile_tls
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.session import sap as evsap
from evcc.session.connection import TlsConfig, open_connection
from evcc.session.errors import TlsError
from evcc.session.events import EndKind
from evcc.session.machine import EvccMachine
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import DIN_OFFER, ISO2_OFFER, Negotiated
from evcc.session.timeouts import EvccTimers
from tests.bench.secc.test_hostile_memory import CASES, Case

BOTH = [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0), SupportedProtocol("iso2", evsap.ISO2_NAMESPACE, 2, 0)]
DC = [CASES["din"], CASES["iso2-dc"]]
T = TypeVar("T")


async def ev_session(port: int, case: Case, tls: TlsConfig | None = None,
                     sap_timers: EvccTimers | None = None) -> SessionReport:
    conn = await open_connection("::1", port, tls=tls)
    offer, key = (DIN_OFFER, "din") if case.name == "din" else (ISO2_OFFER, "iso2")

    def machine(negotiated: Negotiated) -> EvccMachine:
        return case.make_machine()

    return await run_session(conn, [offer], {key: machine}, sap_timers or case.timers)


def hostile_tcp(case: Case, fault: Fault, sap_timers: EvccTimers | None = None) -> tuple[SessionReport, SeccLog]:
    """The faulty session on the server's first connection, then a normal one on its second."""

    async def main() -> tuple[SessionReport, SessionReport, SeccLog]:
        server, record = await serve_secc("::1", 0, BOTH, DinSecc, responders={"iso2": Iso2Secc}, fault=fault,
                                          faulty_connections=1)
        async with server:
            port = server.sockets[0].getsockname()[1]
            bad = await ev_session(port, case, sap_timers=sap_timers)
            good = await ev_session(port, case)
        return bad, good, record

    bad, good, record = asyncio.run(main())
    assert len(record.injected) == 1 and record.injected[0].startswith(fault.kind.value), record.injected
    assert good.ended.kind is EndKind.COMPLETED, good.ended
    assert record.connections == 2 and len(record.sessions) == 2
    return bad, record


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
@pytest.mark.parametrize("at", ["SessionSetupRes", "CableCheckRes", "CurrentDemandRes"])
def test_disconnect_is_reported_as_a_closed_connection(case: Case, at: str) -> None:
    report, _ = hostile_tcp(case, parse_fault(f"disconnect:{at}"))
    assert report.ended.kind is EndKind.PROTOCOL_ERROR and report.ended.state == "transport"
    assert report.ended.reason == "transport: the SECC closed the connection"


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
@pytest.mark.parametrize("spec", ["oversized", "oversized:ServiceDiscoveryRes=65537"])
def test_oversized_v2gtp_length_is_refused_before_buffering(case: Case, spec: str) -> None:
    fault = parse_fault(spec)
    report, _ = hostile_tcp(case, fault)
    assert report.ended.kind is EndKind.PROTOCOL_ERROR
    assert report.ended.reason == f"transport: V2GTP payload length: {fault.length} bytes exceeds the limit of 65536"


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
def test_truncated_frame_then_silence_ends_with_the_msg_timeout(case: Case) -> None:
    report, _ = hostile_tcp(case, Fault(FaultKind.TRUNCATED, "CurrentDemandRes"))
    assert report.ended.kind is EndKind.TIMEOUT and report.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert report.ended.reason == "V2G_EVCC_Msg_Timeout (0.25 s) expired waiting for CurrentDemandRes"


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
@pytest.mark.parametrize("version", [0x02, 0x00, 0xFE])
def test_wrong_v2gtp_version_is_reported(case: Case, version: int) -> None:
    report, _ = hostile_tcp(case, Fault(FaultKind.WRONG_VERSION, "ServiceDiscoveryRes", version=version))
    assert report.ended.kind is EndKind.PROTOCOL_ERROR
    assert report.ended.reason == f"transport: V2GTP protocol version: {version:#04x}, expected 0x01"


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
@pytest.mark.parametrize("payload_type", [None, 0x8004, 0x9001])
def test_wrong_v2gtp_payload_type_is_reported(case: Case, payload_type: int | None) -> None:
    report, _ = hostile_tcp(case, Fault(FaultKind.WRONG_PAYLOAD_TYPE, "PreChargeRes", payload_type=payload_type))
    assert report.ended.kind is EndKind.PROTOCOL_ERROR
    sent = payload_type or 0x8002
    assert report.ended.reason.startswith(f"transport: V2GTP payload type: {sent:#06x} not accepted here")


@pytest.mark.parametrize("case", list(CASES.values()), ids=lambda c: c.name)
@pytest.mark.parametrize("spec", ["garbage-exi:ChargeParameterDiscoveryRes", "code:PowerDeliveryRes=FAILED",
                                  "session-id:ServiceDiscoveryRes", "unexpected:ChargeParameterDiscoveryRes"])
def test_message_faults_over_tcp(case: Case, spec: str) -> None:
    report, _ = hostile_tcp(case, parse_fault(spec))
    expected = {"garbage-exi": "undecodable", "code": "PowerDeliveryRes: FAILED",
                "session-id": "ServiceDiscoveryRes carries SessionID", "unexpected": "unexpected SessionSetupRes"}
    assert expected[spec.split(":")[0]] in report.ended.reason, report.ended
    assert report.ended.kind is (EndKind.FAILED_RESPONSE if spec.startswith("code") else EndKind.PROTOCOL_ERROR)


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
def test_silence_in_the_charge_loop_over_tcp(case: Case) -> None:
    report, _ = hostile_tcp(case, parse_fault("silence:CurrentDemandRes#2"))
    assert report.ended.kind is EndKind.TIMEOUT
    assert report.ended.reason == "V2G_EVCC_Msg_Timeout (0.25 s) expired waiting for CurrentDemandRes"


@pytest.mark.parametrize("spec", ["garbage-exi:supportedAppProtocolRes", "oversized:supportedAppProtocolRes",
                                  "delay:supportedAppProtocolRes=0.4"])
def test_faults_at_supported_app_protocol(spec: str) -> None:
    case = CASES["din"]
    sap_timeout = {**case.timers.V2G_EVCC_Msg_Timeout, "SupportedAppProtocolReq": 0.2}  # keep the test quick
    report, _ = hostile_tcp(case, parse_fault(spec), dataclasses.replace(case.timers, V2G_EVCC_Msg_Timeout=sap_timeout))
    assert report.protocol is None and report.ended.state in ("SupportedAppProtocol", "transport")
    expected = {"garbage-exi": "SupportedAppProtocol: undecodable response", "oversized": "V2GTP payload length",
                "delay": "SupportedAppProtocol: no response within V2G_EVCC_Msg_Timeout (0.2 s)"}
    assert expected[spec.split(":")[0]] in report.ended.reason, report.ended
    if spec.startswith("delay"):
        assert report.ended.kind is EndKind.TIMEOUT


def _with_server(context: ssl.SSLContext, body: Callable[[int], Awaitable[T]]) -> T:
    async def main() -> T:
        server, _ = await serve_secc("::1", 0, BOTH, DinSecc, ssl_context=context, responders={"iso2": Iso2Secc})
        async with server:
            return await body(server.sockets[0].getsockname()[1])

    return asyncio.run(main())


@pytest.mark.parametrize("case", DC, ids=lambda c: c.name)
@pytest.mark.parametrize(("spec", "reason"), [("cert:expired", "certificate has expired"),
                                              ("cert:untrusted", "unable to get local issuer certificate")])
def test_secc_certificate_is_refused_then_a_valid_chain_is_accepted(case: Case, spec: str, reason: str) -> None:
    with hostile_tls(parse_fault(spec)) as tls:

        async def refused(port: int) -> str:
            try:
                await ev_session(port, case, tls.client)
            except TlsError as exc:
                return str(exc)
            return "accepted"

        assert _with_server(tls.server, refused) == f"SECC certificate chain rejected: {reason}"
        report = _with_server(tls.honest, lambda port: ev_session(port, case, tls.client))
    assert report.ended.kind is EndKind.COMPLETED, report.ended
