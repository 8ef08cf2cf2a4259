"""The TLS cases and the certificate faults over loopback (ISO 15118-2 §7.7 TLS 1.2 [V2G2-064]; ISO 15118-20
TLS 1.3 with mutual authentication): against the simulator with a valid chain every TLS case passes and session
cases run over TLS too (--tls); with each certificate fault of the fault layer (expired, untrusted, vehicle
certificate refused) the TLS profile case fails naming the certificate."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evcc.bench.secc.faults import parse_fault
from evcc.bench.secc.hostile_tls import hostile_tls
from evcc.bench.secc.hostile_tls13 import HostileTls13, hostile_tls13
from evcc.conformance.catalogue import all_cases, select
from evcc.conformance.link import NetworkCharger
from evcc.conformance.model import CaseResult, Verdict
from evcc.conformance.runner import RunOptions, run_suite
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.session.connection import TlsConfig
from evcc.session.tls13 import SoftStoreKey
from tests.conformance.simulator import served_simulator


def _run(context: ssl.SSLContext, patterns: list[str], opts: RunOptions) -> dict[str, CaseResult]:
    with served_simulator(context, security=None) as sim:
        charger = NetworkCharger(sdp_address=("::1", sim.sdp_port))
        results = asyncio.run(run_suite(select(all_cases(), patterns), lambda: charger, opts))
    return {r.case.id: r for r in results}


TLS12_SESSION = ["TLS-12-*", "SDP-answer-tls", "ISO2-DC-RES-SessionSetup", "DIN-SEQ-CableCheck-ServiceDiscovery",
                 "SAP-iso2"]


def test_tls12_cases_pass_against_a_valid_chain_and_sessions_run_over_tls() -> None:
    with hostile_tls(parse_fault("cert:expired")) as tls:
        results = _run(tls.honest, TLS12_SESSION, RunOptions(tls12=tls.client, session_tls=True,
                                                             charge_seconds=0.2))
    assert {k: (r.verdict, r.reason) for k, r in results.items() if r.verdict is not Verdict.PASS} == {}
    assert "TLSv1.2 ECDHE-ECDSA-AES128-SHA256" in results["TLS-12-profile"].reason
    connected = [row for row in results["ISO2-DC-RES-SessionSetup"].exchange if row["name"] == "connected"]
    assert connected and "TLSv1.2" in connected[0]["detail"]


@pytest.mark.parametrize("fault", ["cert:expired", "cert:untrusted"])
def test_tls12_certificate_fault_fails_the_profile_case(fault: str) -> None:
    with hostile_tls(parse_fault(fault)) as tls:
        results = _run(tls.server, ["TLS-12-profile"], RunOptions(tls12=tls.client))
    r = results["TLS-12-profile"]
    assert r.verdict is Verdict.FAIL and "certificate" in r.reason, r.reason


@pytest.fixture(scope="module")
def vehicle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SoftKeyStore, str, bytes]]:
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path_factory.mktemp("softstore"), passphrase=b"bench"))
    label = f"vehicle-{uuid.uuid4().hex[:8]}"
    info = store.generate(label, KeyAlgorithm.EC_P521)
    yield store, label, info.public


def _client13(tls: HostileTls13, vehicle: tuple[SoftKeyStore, str, bytes]) -> TlsConfig:
    store, label, public = vehicle
    return tls.client(public, SoftStoreKey(store, label))


def test_tls13_cases_pass_against_a_valid_chain(vehicle: tuple[SoftKeyStore, str, bytes]) -> None:
    with hostile_tls13(parse_fault("cert:vehicle-refused")) as tls:
        results = _run(tls.honest, ["TLS-13-*"], RunOptions(tls13=_client13(tls, vehicle)))
    assert {k: (r.verdict, r.reason) for k, r in results.items() if r.verdict is not Verdict.PASS} == {}
    assert "TLSv1.3" in results["TLS-13-profile"].reason


@pytest.mark.parametrize("fault", ["cert:vehicle-refused", "cert:expired"])
def test_tls13_certificate_fault_fails_the_profile_case(fault: str, vehicle: tuple[SoftKeyStore, str, bytes]) -> None:
    with hostile_tls13(parse_fault(fault)) as tls:
        results = _run(tls.server, ["TLS-13-profile"], RunOptions(tls13=_client13(tls, vehicle)))
    r = results["TLS-13-profile"]
    assert r.verdict is Verdict.FAIL and r.reason.startswith("TLS refused"), r.reason


def test_tls_cases_without_settings_are_not_applicable(tmp_path: Path) -> None:
    with hostile_tls(parse_fault("cert:expired")) as tls:
        results = _run(tls.honest, ["TLS-*"], RunOptions())
    assert {r.verdict for r in results.values()} == {Verdict.NOT_APPLICABLE}
