"""`evcc session --iface` end to end: the command runs as its own process in the EV network namespace (``ip netns
exec``), our SECC simulator (SDP responder + TCP/TLS server, evcc.bench.secc) answers in the SECC namespace across
a real veth pair. DIN 70121 DC EIM, ISO 15118-2 DC EIM over TCP and over TLS 1.2, the failures (no SECC, nothing
listening on the announced port: exit 1 with the reason) and configuration errors (exit 2, no traceback)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.bench.secc.tls import server_context
from evcc.session import sap as evsap
from evcc.session.sdp import SdpResponse, Security, Transport
from tests.session.tls_pki import make_pki

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0), SupportedProtocol("iso2", evsap.ISO2_NAMESPACE, 2, 0)]
QUICK_CAR = ["--start-soc", "75", "--target-soc", "80", "--capacity-kwh", "0.05"]


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    report: dict  # type: ignore[type-arg]


@contextlib.asynccontextmanager
async def secc(link: VethLink, tls_dir: Path | None = None, listen: bool = True) -> AsyncIterator[SeccLog]:
    """Our simulated SECC on the SECC end: SDP answers with its address and port; ``listen=False`` announces a
    port nobody listens on."""
    address = link.link_local(link.secc_netns, link.secc_ifname)
    ctx = None
    if tls_dir is not None:
        pki = make_pki(tls_dir)
        ctx = server_context(pki.chain_pem, pki.key_pem)
    with in_netns(link.secc_netns):
        server, record = await serve_secc(f"{address}%{link.secc_ifname}", 0, SUPPORTED, DinSecc, ssl_context=ctx,
                                          responders={"iso2": Iso2Secc})
        port = server.sockets[0].getsockname()[1]
        if not listen:
            server.close()
            await server.wait_closed()
        sdp = SdpResponder(SdpResponse(address, port, Security.TLS if ctx else Security.NO_TLS, Transport.TCP))
        transport = await serve_sdp(sdp, link.secc_ifname)
    try:
        yield record
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


async def evcc_session(link: VethLink, tmp: Path, *args: str, timeout: float = 60.0) -> Run:
    """`python -m evcc.session.cli` in the EV namespace; the JSON report is read back when written."""
    report = tmp / "report.json"
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", link.ev_netns, sys.executable, "-m", "evcc.session.cli", *args, "--json", str(report),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    data = json.loads(report.read_text()) if report.exists() else {}
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode(), data)


def types(run: Run, direction: str | None = None) -> list[str]:
    return [m["type"] for m in run.report["messages"] if direction in (None, m["direction"])]


def check_complete(run: Run) -> None:
    assert run.status == 0, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    assert run.report["ok"] is True and run.report["outcome"] == "completed", run.report["reason"]
    assert types(run)[:3] == ["supportedAppProtocolReq", "supportedAppProtocolRes", "SessionSetupReq"]
    assert types(run)[-2:] == ["SessionStopReq", "SessionStopRes"]
    responses = [m for m in run.report["messages"] if m["direction"] == "SECC->EV"]
    assert all(m["response_code"].startswith("OK") for m in responses), responses
    assert all(m["latency_ms"] >= 0 for m in responses)
    assert "session ended with SessionStop" in run.stdout


def test_din_dc_eim(veth: VethLink, tmp_path: Path) -> None:
    async def main() -> tuple[Run, SeccLog]:
        async with secc(veth) as record:
            return await evcc_session(veth, tmp_path, "--iface", "ev0", "--protocol", "din", *QUICK_CAR), record

    run, record = asyncio.run(main())
    check_complete(run)
    assert record.negotiated == ["din"] and run.report["negotiated"] == "din"
    assert "CurrentDemandReq" in types(run, "EV->SECC") and "ServicePaymentSelectionReq" in types(run)
    timing = {t["type"]: t for t in run.report["timings"]}
    assert timing["CurrentDemandRes"]["count"] == types(run).count("CurrentDemandRes") >= 1
    assert run.report["soc"]["end"] >= 80.0 and run.report["secc"]["security"] == "NO_TLS"
    assert 0 < run.report["times"]["sdp_s"] < run.report["times"]["power_delivery_start_s"]


def test_iso2_dc_eim_over_tcp(veth: VethLink, tmp_path: Path) -> None:
    async def main() -> tuple[Run, SeccLog]:
        async with secc(veth) as record:
            return await evcc_session(veth, tmp_path, "--iface", "ev0", "--protocol", "iso2", "--dc",
                                      *QUICK_CAR), record

    run, record = asyncio.run(main())
    check_complete(run)
    assert record.negotiated == ["iso2"] and run.report["tls"] is False
    for name in ("ServiceDiscoveryReq", "PaymentServiceSelectionReq", "AuthorizationReq", "CableCheckReq",
                 "PreChargeReq", "CurrentDemandReq", "WeldingDetectionReq"):
        assert name in types(run, "EV->SECC"), name


def test_iso2_dc_eim_over_tls12(veth: VethLink, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"

    async def main() -> Run:
        async with secc(veth, tls_dir=tmp_path / "pki"):
            return await evcc_session(veth, tmp_path, "--iface", "ev0", "--protocol", "iso2", "--tls",
                                      "--v2g-root", str(tmp_path / "pki" / "root.pem"), "--keylog", str(keylog),
                                      *QUICK_CAR)

    run = asyncio.run(main())
    check_complete(run)
    assert run.report["tls_cipher"] == "ECDHE-ECDSA-AES128-SHA256" and run.report["secc"]["security"] == "TLS"
    assert "CLIENT_RANDOM" in keylog.read_text()


def test_tls_with_an_untrusted_secc_fails_with_the_reason(veth: VethLink, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", tag="OtherRoot")

    async def main() -> Run:
        async with secc(veth, tls_dir=tmp_path / "pki"):
            return await evcc_session(veth, tmp_path, "--iface", "ev0", "--tls", "--v2g-root", str(other.root_pem))

    run = asyncio.run(main())
    assert run.status == 1 and "Traceback" not in run.stderr
    assert run.report["outcome"] == "connection failed" and "certificate chain rejected" in run.report["reason"]
    assert run.report["messages"] == [] and "session FAILED" in run.stdout


def test_nothing_listening_on_the_announced_port_is_exit_1(veth: VethLink, tmp_path: Path) -> None:
    async def main() -> Run:
        async with secc(veth, listen=False):
            return await evcc_session(veth, tmp_path, "--iface", "ev0")

    run = asyncio.run(main())
    assert run.status == 1 and "Traceback" not in run.stderr
    assert run.report["outcome"] == "connection failed"
    assert f":{run.report['secc']['port']} failed" in run.report["reason"] and "TCP connection" in run.stdout


def test_no_secc_is_exit_1_after_the_sdp_retries(veth: VethLink, tmp_path: Path) -> None:
    run = asyncio.run(evcc_session(veth, tmp_path, "--iface", "ev0", "--protocol", "din"))
    assert run.status == 1 and "Traceback" not in run.stderr
    assert run.report["outcome"] == "sdp failed"
    assert "no valid SDP response to 50 requests" in run.report["reason"] and run.report["reason"] in run.stdout


@pytest.mark.parametrize("args, message", [
    (["--iface", "nosuch0"], "network interface 'nosuch0' not found"),
    (["--iface", "ev0", "--tls"], "--tls needs at least one --v2g-root"),
    (["--iface", "ev0", "--tls", "--v2g-root", "/nonexistent/root.pem"], "/nonexistent/root.pem"),
    (["--iface", "ev0", "--protocol", "din", "--ac"], "--ac: DIN SPEC 70121 DC EIM supports dc"),
    (["--iface", "ev0", "--auth", "pnc"], "--auth pnc needs --contracts DIR"),
    (["--iface", "ev0", "--start-soc", "90", "--target-soc", "80"], "SoC: need 0 <= start"),
])
def test_configuration_and_platform_errors_are_exit_2_without_traceback(
        veth: VethLink, tmp_path: Path, args: list[str], message: str) -> None:
    run = asyncio.run(evcc_session(veth, tmp_path, *args))
    assert run.status == 2, (run.stdout, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr
    assert run.report == {}
