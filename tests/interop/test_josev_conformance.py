"""`evcc conformance` against an independent charger (issue 16 point 3): Josev's SECC (PyPI iso15118 0.31.2,
DIN SPEC 70121 and ISO 15118-2, EIM over TCP) on a veth pair, the suite as its own process in the EV namespace;
and ISO 15118-20 DC over TLS 1.3 (its P-256 profile, a vehicle key in a soft key store) through the runner.
The suite runs to the end and gives the verdicts we expect of that charger, so a change on either side is seen;
the findings (what Josev gets wrong, by requirement) are in the README. The charge-loop cases are conclusive since
our EV keeps a limit below the EVSE's minimum instead of stopping (issue 19). A subset keeps this under two minutes
(Josev pauses SDP about 5 s after each session); the whole catalogue against it is a manual run:

    evcc conformance --iface ev0 --pack-voltage 30:36 --precharge-tolerance 40 --min-msg-timeout 1.5

The lab options are the ones the interop session tests use for this peer (40 V EVSE, 1 V present voltage, a JVM
codec at 0.2-0.6 s per message); they change the EV's way to each precondition, never a verdict."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.bench.secc.link import VethLink, in_netns
from evcc.conformance.catalogue import all_cases, select
from evcc.conformance.link import NetworkCharger
from evcc.conformance.runner import RunOptions, run_suite
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.session.attach import PROTOCOLS
from evcc.session.connection import TlsConfig, TlsVersion
from evcc.session.tls13 import ClientCertificate, SoftStoreKey
from tests.interop.josev import JosevSecc
from tests.interop.test_josev_iso20 import JOSEV_TLS13, _vehicle_leaf

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {  # case -> verdict against Josev 0.31.2 (README "Testing a charger": findings), in catalogue order
    "SDP-answer": "pass",
    "SDP-bad-version": "pass",
    "SDP-length-mismatch": "fail",  # answers a request whose length field does not match the datagram
    "SAP-din": "pass",
    "SAP-unknown-namespace": "fail",  # Failed_NoNegotiation with SchemaID 0 ([V2G-DC-226]: no SchemaID)
    "SAP-minor-version": "pass",
    "DIN-SID-ChargeParameterDiscovery": "fail",  # its FAILED_UnknownSession response is not valid DIN EXI
    "DIN-SID-CableCheck": "pass",
    "DIN-SEQ-CableCheck-ServiceDiscovery": "pass",
    # the charge loop is reached (a limit below the EVSE minimum is kept, issue 19); asked for 3000 A there, it
    # reports EVSECurrentLimitAchieved false
    "DIN-VAL-CurrentDemand-over-current": "fail",
    "DIN-V2GTP-length": "fail",  # a header announcing 0x7FFFFFFF bytes is answered as if it were right
}
# a second SessionSetupReq gets no answer (Josev's encoder fails on its own odd-length EVSEID) and leaves its EXI
# codec unable to decode any later supportedAppProtocolReq: run last, then SAP-din is inconclusive
WEDGE = {"DIN-SEQ-ServiceDiscovery-SessionSetup": "fail"}
AFTER_WEDGE = {"SAP-din": "inconclusive"}


@pytest.fixture()  # one Josev per test: both listen on the link's UDP port 15118
def josev(link: VethLink, josev_pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JosevSecc]:
    with JosevSecc(link, tmp_path_factory.mktemp("josev-conformance"), josev_pki,
                   {"SECC_ENFORCE_TLS": "False", "AUTH_MODES": "EIM"}) as secc:
        secc.warm_up([PROTOCOLS["iso2"].offer, PROTOCOLS["din"].offer])
        yield secc


def _conformance(link: VethLink, out: Path, expected: dict[str, str]) -> dict[str, dict[str, str]]:
    out.mkdir()
    cases = [arg for case in expected for arg in ("--cases", case)]
    done = subprocess.run(
        ["ip", "netns", "exec", link.ev_netns, sys.executable, "-m", "evcc", "conformance", "--iface", link.ev_ifname,
         "--out", str(out), "--pack-voltage", "30:36", "--precharge-tolerance", "40", "--min-msg-timeout", "1.5",
         "--charge-seconds", "1", *cases], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == (1 if "fail" in expected.values() else 0), done.stdout + done.stderr[-2000:]
    record = json.loads((out / "conformance.json").read_text())
    assert record["run"] == record["selected"] == len(expected) and not record["interrupted"]
    return {r["id"]: r for r in record["results"]}


def test_conformance_suite_against_josev(josev: JosevSecc, link: VethLink, tmp_path: Path) -> None:
    mark = josev.mark()
    for expected, folder in ((EXPECTED, "main"), (WEDGE, "wedge"), (AFTER_WEDGE, "after")):
        results = _conformance(link, tmp_path / folder, expected)
        got = {case: r["verdict"] for case, r in results.items()}
        assert got == expected, {case: r["reason"] for case, r in results.items() if got[case] != expected[case]}
    log = josev.log_since(mark)
    assert "supportedAppProtocolReq received" in log  # the sessions reached Josev, not only our side
    assert "hexBinary needs to be even-length" in log  # why the repeated SessionSetupReq got no answer
    assert "EXIDecodingError" in log  # and why the next supportedAppProtocolReq got none


EXPECTED20 = {  # ISO 15118-20 DC over TLS 1.3 (mutual; Josev's P-256 profile), in catalogue order
    "TLS-13-profile": "pass",
    "TLS-13-no-vehicle-cert": "pass",
    "ISO20-DC-SID-ServiceDetail": "fail",  # its FAILED ServiceDetailRes is not valid -20 EXI
    "ISO20-DC-VAL-PowerDelivery-discharge": "fail",  # Discharge accepted in a DC (not BPT) service
    "ISO20-DC-STOP-DC_ChargeLoop2": "pass",  # charge loop, then the EV's stop path to SessionStopRes OK
}


@pytest.fixture()
def josev20(link: VethLink, josev_pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JosevSecc]:
    env = {"SECC_ENFORCE_TLS": "True", "ENABLE_TLS_1_3": "True", "AUTH_MODES": "EIM", "PROTOCOLS": "ISO_15118_20_DC"}
    with JosevSecc(link, tmp_path_factory.mktemp("josev-conformance20"), josev_pki, env) as secc:
        yield secc


def test_conformance_suite_against_josev_iso20_over_tls13(josev20: JosevSecc, link: VethLink, josev_pki: Path,
                                                          tmp_path: Path) -> None:
    soft = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "soft", passphrase=b"interop"))
    public = soft.generate("vehicle", KeyAlgorithm.EC_P256).public
    chain = _vehicle_leaf(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public), josev_pki)
    tls13 = TlsConfig(v2g_roots=(josev_pki / "iso15118_2" / "certs" / "v2gRootCACert.pem",),
                      version=TlsVersion.TLS13, tls13=JOSEV_TLS13,
                      client_certificate=ClientCertificate(chain, SoftStoreKey(soft, "vehicle")))
    # a lenient 5 s message timeout: the first -20 messages through its JVM codec take seconds (no warm-up here)
    opts = RunOptions(tls13=tls13, session_tls=True, min_msg_timeout=5.0, precharge_tolerance=1000.0)
    mark = josev20.mark()
    with in_netns(link.ev_netns):
        charger = NetworkCharger(iface=link.ev_ifname)
        results = asyncio.run(run_suite(select(all_cases(), list(EXPECTED20)), lambda: charger, opts))
    got = {r.case.id: r.verdict.value for r in results}
    assert got == EXPECTED20, {r.case.id: r.reason for r in results if got[r.case.id] != EXPECTED20[r.case.id]}
    assert "ServiceDetailReq received" in josev20.log_since(mark)
