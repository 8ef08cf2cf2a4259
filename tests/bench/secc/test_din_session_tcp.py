"""DIN SPEC 70121 DC EIM end to end over real sockets: asyncio adapter + V2GTP + EXI + SupportedAppProtocol +
the DIN machine against the simulated SECC server, on TCP and on TLS 1.2 (loopback), and with SDP over a veth
pair between network namespaces."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.bench.secc.tls import server_context
from evcc.session import sap as evsap
from evcc.session.battery_model import BatteryModel
from evcc.session.connection import TlsConfig, open_connection
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind, Exchange
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import DIN_OFFER, ISO2_OFFER, Negotiated
from evcc.session.sdp import SdpClient, SdpResponse, Security, Transport
from evcc.session.sdp_aio import discover, interface_index, sdp_socket
from evcc.session.timeouts import DIN_70121
from tests.session.tls_pki import make_pki

MAC = bytes.fromhex("0242ac110002")
SUPPORTED = [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0)]


async def _session(
    host: str, port: int, car: BatteryModel, tls: TlsConfig | None = None, scope_id: int | None = None
) -> SessionReport:
    conn = await open_connection(host, port, tls=tls, scope_id=scope_id)

    def din_machine(negotiated: Negotiated) -> DinEvcc:
        return DinEvcc(DinConfig(evcc_id=MAC), car)

    return await run_session(conn, [DIN_OFFER, ISO2_OFFER], {"din": din_machine, "iso2": din_machine}, DIN_70121)


def _check_complete(report: SessionReport, car: BatteryModel, record: SeccLog) -> None:
    assert report.ended.kind is EndKind.COMPLETED, report.ended
    assert report.protocol == "din" and record.negotiated == ["din"]
    assert car.soc >= car.target_soc
    requests = [e.request for e in report.events if isinstance(e, Exchange)]
    assert requests[0] == "SessionSetupReq" and requests[-1] == "SessionStopReq"
    assert record.sessions[0].received == requests
    assert not record.errors


def test_din_session_over_tcp_loopback() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)

    async def main() -> tuple[SessionReport, SeccLog]:
        server, record = await serve_secc("::1", 0, SUPPORTED, DinSecc)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await _session("::1", port, car), record

    report, record = asyncio.run(main())
    _check_complete(report, car, record)


def test_din_session_over_tls12(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)

    async def main() -> tuple[SessionReport, SeccLog]:
        ctx = server_context(pki.chain_pem, pki.key_pem)
        server, record = await serve_secc("::1", 0, SUPPORTED, DinSecc, ssl_context=ctx)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await _session("::1", port, car, tls=TlsConfig(v2g_roots=(pki.root,))), record

    report, record = asyncio.run(main())
    _check_complete(report, car, record)


def test_silent_secc_over_tcp_ends_with_the_msg_timeout() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)

    async def main() -> SessionReport:
        silence = Fault(FaultKind.SILENCE, "ServiceDiscoveryRes")
        server, _ = await serve_secc("::1", 0, SUPPORTED, DinSecc, fault=silence)
        async with server:
            return await _session("::1", server.sockets[0].getsockname()[1], car)

    report = asyncio.run(main())
    assert report.ended.kind is EndKind.TIMEOUT and report.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert 1.9 < report.finished - report.started < 3.0


def test_no_common_protocol_is_reported() -> None:
    async def main() -> SessionReport:
        server, _ = await serve_secc("::1", 0, [SupportedProtocol("x", "urn:other", 1, 0)], DinSecc)
        async with server:
            return await _session("::1", server.sockets[0].getsockname()[1], BatteryModel())

    report = asyncio.run(main())
    assert report.ended.kind is EndKind.PROTOCOL_ERROR and "Failed_NoNegotiation" in report.ended.reason


def test_sdp_then_din_session_over_veth(veth: VethLink) -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root")
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    secc_addr = veth.link_local(veth.secc_netns, veth.secc_ifname)

    async def main() -> tuple[SessionReport, SeccLog]:
        with in_netns(veth.secc_netns):
            server, record = await serve_secc(f"{secc_addr}%{veth.secc_ifname}", 0, SUPPORTED, DinSecc)
            port = server.sockets[0].getsockname()[1]
            sdp_server = await serve_sdp(SdpResponder(SdpResponse(secc_addr, port, Security.NO_TLS, Transport.TCP)),
                                         veth.secc_ifname)
        try:
            with in_netns(veth.ev_netns):
                sock = sdp_socket(veth.ev_ifname)
                index = interface_index(veth.ev_ifname)
            found = await discover(SdpClient(Security.NO_TLS), sock)
            with in_netns(veth.ev_netns):  # the TCP socket is made in the EV namespace
                conn = await open_connection(str(found.address), found.port, scope_id=index)

            def din_machine(negotiated: Negotiated) -> DinEvcc:
                return DinEvcc(DinConfig(evcc_id=MAC), car)

            report = await run_session(conn, [DIN_OFFER], {"din": din_machine}, DIN_70121)
            return report, record
        finally:
            sdp_server.close()
            server.close()

    report, record = asyncio.run(main())
    _check_complete(report, car, record)
