"""ISO 15118-2 end to end over real sockets: the existing asyncio runner (SupportedAppProtocol, then the
negotiated machine) + V2GTP + EXI against the simulated SECC server, on TCP and TLS 1.2 loopback; DC and AC;
pause then resume in a second connection to the same server; a renegotiation asked by the SECC."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.bench.secc.tls import server_context
from evcc.session import sap as evsap
from evcc.session.battery_model import BatteryModel
from evcc.session.connection import TlsConfig, open_connection
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind, Exchange, Renegotiated
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.machine import EvccMachine
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import Negotiated
from evcc.session.timeouts import ISO_15118_2
from tests.bench.secc.test_iso2_pause_resume import pause_after
from tests.session.tls_pki import SeccPki, make_pki

MAC = bytes.fromhex("0242ac110002")
BOTH = [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0), SupportedProtocol("iso2", evsap.ISO2_NAMESPACE, 2, 0)]


def _offers() -> list[evsap.ProtocolOffer]:
    """-2 preferred over DIN (priority 1), both offered."""
    return [evsap.ProtocolOffer("iso2", evsap.ISO2_NAMESPACE, 2, 0, schema_id=2, priority=1),
            evsap.ProtocolOffer("din", evsap.DIN_NAMESPACE, 2, 0, schema_id=1, priority=2)]


async def _session(port: int, make: Callable[[Negotiated], EvccMachine], tls: TlsConfig | None = None) -> SessionReport:
    conn = await open_connection("::1", port, tls=tls)

    def din(negotiated: Negotiated) -> EvccMachine:
        return DinEvcc(DinConfig(evcc_id=MAC), BatteryModel())

    return await run_session(conn, _offers(), {"iso2": make, "din": din}, ISO_15118_2)


def _loopback(make: Callable[[Negotiated], EvccMachine], iso2: Callable[[], Iso2Secc] = Iso2Secc,
              pki: SeccPki | None = None, fault: Fault | None = None) -> tuple[SessionReport, SeccLog]:
    """One session of ``make``'s machine against a server of ``iso2`` responders on ::1 (TLS 1.2 with ``pki``)."""
    async def main() -> tuple[SessionReport, SeccLog]:
        ctx = server_context(pki.chain_pem, pki.key_pem) if pki is not None else None
        server, record = await serve_secc("::1", 0, BOTH, DinSecc, ssl_context=ctx, responders={"iso2": iso2},
                                          fault=fault)
        async with server:
            tls = TlsConfig(v2g_roots=(pki.root,)) if pki is not None else None
            return await _session(server.sockets[0].getsockname()[1], make, tls), record

    return asyncio.run(main())


def _check(report: SessionReport, record: SeccLog) -> None:
    assert report.ended.kind is EndKind.COMPLETED, report.ended
    assert report.protocol == "iso2" and record.negotiated[-1] == "iso2"
    requests = [e.request for e in report.events if isinstance(e, Exchange)]
    assert requests[0] == "SessionSetupReq" and requests[-1] == "SessionStopReq"
    assert record.sessions[-1].received == requests and not record.errors


def test_iso2_dc_session_over_tcp_loopback() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    report, record = _loopback(lambda n: Iso2Evcc(Iso2Config(evcc_id=MAC), car))
    _check(report, record)
    assert car.soc >= car.target_soc


def test_iso2_ac_session_over_tls12(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    car = AcBatteryModel(capacity_wh=20.0, soc=78.0, target_soc=80.0)
    config = Iso2Config(evcc_id=MAC, energy_transfer_mode="AC_three_phase_core")
    report, record = _loopback(lambda n: Iso2Evcc(config, car), pki=pki)
    _check(report, record)
    assert "ChargingStatusReq" in record.sessions[0].received


def test_pause_then_resume_over_two_tcp_connections() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    memory: set[bytes] = set()
    first = Iso2Evcc(Iso2Config(evcc_id=MAC), car)
    pause_after(first, car, 3)

    async def main() -> tuple[SessionReport, SessionReport, SeccLog]:
        server, record = await serve_secc("::1", 0, BOTH, DinSecc,
                                          responders={"iso2": lambda: Iso2Secc(paused=memory)})
        async with server:
            port = server.sockets[0].getsockname()[1]
            r1 = await _session(port, lambda n: first)
            resume = Iso2Config(evcc_id=MAC, resume_session_id=first.session_id)
            r2 = await _session(port, lambda n: Iso2Evcc(resume, car))
            return r1, r2, record

    r1, r2, record = asyncio.run(main())
    assert r1.ended.kind is EndKind.STOPPED and first.paused and r1.ended.reason == "paused: driver paused"
    assert record.sessions[0].charging_session == "Pause"
    assert r2.ended.kind is EndKind.COMPLETED and record.sessions[1].joined_old_session
    assert record.sessions[1].session_id == record.sessions[0].session_id


def test_silent_iso2_secc_ends_with_the_msg_timeout() -> None:
    report, _ = _loopback(lambda n: Iso2Evcc(Iso2Config(evcc_id=MAC), BatteryModel()),
                          fault=Fault(FaultKind.SILENCE, "AuthorizationRes"))
    assert report.ended.kind is EndKind.TIMEOUT and report.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert 1.9 < report.finished - report.started < 3.0


def test_iso2_renegotiation_over_tcp_loopback() -> None:
    """The SECC asks for a renegotiation after 3 CurrentDemand messages; the session completes on the new tuple."""
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    seccs: list[Iso2Secc] = []

    def renegotiating() -> Iso2Secc:
        seccs.append(Iso2Secc(config=Iso2SeccConfig(renegotiate_after=3)))
        return seccs[-1]

    report, record = _loopback(lambda n: Iso2Evcc(Iso2Config(evcc_id=MAC), car), renegotiating)
    _check(report, record)
    assert seccs[0].renegotiations == 1 and seccs[0].sa_schedule_tuple_id == 2
    assert [e for e in report.events if isinstance(e, Renegotiated)] == [Renegotiated("EVSE", 2)]
    assert car.soc >= car.target_soc
