"""Plug & Charge cases (ISO 15118-2 PaymentDetails, Authorization, MeteringReceipt;
ISO 15118-20 Authorization with PnC, MeteringConfirmation) against the SECC simulator in memory
with real keys: the EV's OEM provisioning key and contract key in a SoftHSM2 token (-20: P-521), the test PKI
generated at run time (the charger trusts its MO root), a second one as the unknown MO root.
Every PnC case passes against the simulator; a simulator that issues the same GenChallenge in every session fails
the replay case, and forced FAILED codes fail the cases that expect OK. Without contract material the PnC cases
are not applicable."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evcc.bench.protocols import SeccOptions
from evcc.bench.secc.faults import parse_fault
from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20SeccConfig
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.contracts import messages20
from evcc.conformance.catalogue import all_cases, select
from evcc.conformance.model import CaseResult, Verdict
from evcc.conformance.pnc import PncMaterial
from evcc.conformance.runner import RunOptions, run_suite
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, Suite
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.iso20.pnc import KeyStoreContracts20
from tests.conformance.simulator import memory_charger
from tests.contracts.contracts_helpers import make_context, oem_key_in_store

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PNC = "ISO2-*-PNC-*"


@pytest.fixture(scope="module")
def pkis() -> tuple[TestPki, TestPki]:
    return build_pki(Suite.ISO2, NOW), build_pki(Suite.ISO2, NOW)


@pytest.fixture()
def material(tmp_path: Path, token: Pkcs11KeyStore, pkis: tuple[TestPki, TestPki]) -> PncMaterial:
    pki, foreign = pkis
    label, cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    contracts = KeyStoreContracts(make_context(tmp_path, token, pki, NOW), oem_key_label=label, oem_cert=cert)
    service = ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0])
    contracts.install(service.answer(contracts.certificate_installation_req(bytes(8)), NOW))  # installed before

    def installer() -> KeyStoreContracts:  # no contract yet: the EV installs one in the session
        return KeyStoreContracts(make_context(tmp_path, token, pki, NOW), oem_key_label=label, oem_cert=cert)

    return PncMaterial(contracts, pki, foreign, installer=installer)


def _run(material: PncMaterial | None, pki: TestPki, pattern: str = PNC, fault: str | None = None,
         **sim: object) -> dict[str, CaseResult]:
    service = ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0])
    options = SeccOptions(pnc=lambda: SeccPncSim(service, NOW, **sim))  # type: ignore[arg-type]
    spec = parse_fault(fault) if fault else None
    results = asyncio.run(run_suite(select(all_cases(), [pattern]),
                                    lambda: memory_charger(spec, options=options), RunOptions(pnc=material)))
    return {r.case.id: r for r in results}


def test_every_pnc_case_passes_against_the_simulator(material: PncMaterial, pkis: tuple[TestPki, TestPki]) -> None:
    results = _run(material, pkis[0])
    assert len(results) >= 12
    bad = {case: (r.verdict.value, r.reason) for case, r in results.items() if r.verdict is not Verdict.PASS}
    assert bad == {}
    assert "FAILED_CertificateExpired" in results["ISO2-DC-PNC-expired-chain"].reason
    assert "FAILED_ChallengeInvalid" in results["ISO2-DC-PNC-old-challenge"].reason
    assert "FAILED_MeteringSignatureNotValid" in results["ISO2-AC-PNC-bad-receipt"].reason
    assert "went on to PaymentDetailsReq" in results["ISO2-DC-PNC-CertificateInstallation"].reason
    assert "FAILED_SignatureError" in results["ISO2-DC-PNC-CertificateInstallation-bad-signature"].reason


def test_a_charger_that_reissues_its_gen_challenge_fails_the_replay_case(
        material: PncMaterial, pkis: tuple[TestPki, TestPki]) -> None:
    results = _run(material, pkis[0], "ISO2-DC-PNC-*", gen_challenge=b"\x11" * 16)
    failed = {case: r.reason for case, r in results.items() if r.verdict is Verdict.FAIL}
    assert set(failed) == {"ISO2-DC-PNC-old-challenge"}, failed
    assert "AuthorizationRes ResponseCode OK" in failed["ISO2-DC-PNC-old-challenge"]


@pytest.mark.parametrize(("fault", "case"), [
    ("code:PaymentDetailsRes=FAILED", "ISO2-DC-PNC-RES-PaymentDetails"),
    ("code:AuthorizationRes=FAILED_SignatureError", "ISO2-DC-PNC-RES-Authorization"),
    ("code:MeteringReceiptRes=FAILED", "ISO2-DC-PNC-RES-MeteringReceipt"),
    ("code:CertificateInstallationRes=FAILED", "ISO2-DC-PNC-CertificateInstallation"),
    ("garbage-exi:CertificateInstallationRes", "ISO2-DC-PNC-CertificateInstallation"),
])
def test_fault_fails_the_pnc_case_that_names_it(material: PncMaterial, pkis: tuple[TestPki, TestPki], fault: str,
                                                case: str) -> None:
    results = _run(material, pkis[0], case, fault)
    assert results[case].verdict is Verdict.FAIL, results[case].reason


def test_pnc_cases_are_not_applicable_without_contract_material(pkis: tuple[TestPki, TestPki]) -> None:
    charger = memory_charger()
    results = asyncio.run(run_suite(select(all_cases(), ["*-PNC-*"]), lambda: charger, RunOptions()))
    assert len(results) >= 20 and {r.verdict for r in results} == {Verdict.NOT_APPLICABLE}
    assert charger.connections == 0  # decided before any session


@pytest.fixture(scope="module")
def pkis20() -> tuple[TestPki, TestPki]:
    return build_pki(Suite.ISO20_P521, NOW), build_pki(Suite.ISO20_P521, NOW)


@pytest.fixture()
def material20(tmp_path: Path, token: Pkcs11KeyStore, pkis20: tuple[TestPki, TestPki],
               pkis: tuple[TestPki, TestPki]) -> PncMaterial:
    pki, foreign = pkis20
    label, oem = oem_key_in_store(pki, token, KeyAlgorithm.EC_P521)
    port = KeyStoreContracts20(make_context(tmp_path, token, pki, NOW), pcid=TEST_PCID,
                               oem_chain=(oem, *pki.chain("oem_sub_ca_2")), oem_key_label=label)
    req = messages20.certificate_installation_req(bytes(8), int(NOW.timestamp()), port.oem_chain, port.ctx.v2g_roots,
                                                  token, label, KeyAlgorithm.EC_P521,
                                                  prioritized_emaids=(TEST_EMAIDS[0],))
    port.install(ProvisioningService(ProvisioningSimulator(pki)).answer(req, NOW))  # installed before the session
    return PncMaterial(None, pkis[0], pkis[1], port, pki, foreign)


def _run20(material: PncMaterial, pki: TestPki, pattern: str = "ISO20-*-PNC-*", **sim: object
           ) -> dict[str, CaseResult]:
    service = ProvisioningService(ProvisioningSimulator(pki))
    options = SeccOptions(pnc=lambda: Iso20PncSim(service, NOW, **sim),  # type: ignore[arg-type]
                          iso20=Iso20SeccConfig(metering_confirmation_at=frozenset({2})))
    results = asyncio.run(run_suite(select(all_cases(), [pattern]),
                                    lambda: memory_charger(options=options, protocols=("iso20-dc",)),
                                    RunOptions(pnc=material)))
    return {r.case.id: r for r in results}


def test_every_iso20_pnc_case_passes_against_the_simulator(material20: PncMaterial,
                                                           pkis20: tuple[TestPki, TestPki]) -> None:
    results = _run20(material20, pkis20[0])
    assert len(results) >= 6
    bad = {case: (r.verdict.value, r.reason) for case, r in results.items() if r.verdict is not Verdict.PASS}
    assert bad == {}
    assert "WARNING_CertificateExpired" in results["ISO20-DC-PNC-expired-chain"].reason
    assert "FAILED_MeteringSignatureNotValid" in results["ISO20-DC-PNC-bad-receipt"].reason


def test_an_iso20_charger_that_reissues_its_gen_challenge_fails_the_replay_case(
        material20: PncMaterial, pkis20: tuple[TestPki, TestPki]) -> None:
    results = _run20(material20, pkis20[0], "ISO20-DC-PNC-*", forced_challenge=b"\x22" * 16)
    failed = {case: r.reason for case, r in results.items() if r.verdict is Verdict.FAIL}
    assert set(failed) == {"ISO20-DC-PNC-old-challenge"}, failed


def test_conformance_cli_runs_the_pnc_cases_with_a_test_pki_folder(tmp_path: Path) -> None:
    """`evcc conformance --pnc-pki DIR --contracts DIR` (+ key store options) over loopback: the test PKI as
    `evcc pki init` writes it, a contract installed in a software key store beforehand; every -2 DC PnC case
    passes, CertificateInstallation included (--oem-key/--oem-cert)."""
    import io

    from cryptography.hazmat.primitives.serialization import Encoding

    from evcc.cli import build_parser
    from evcc.conformance.cli import run
    from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
    from evcc.pki.generator import write_pki
    from tests.conformance.simulator import served_simulator

    pki = write_pki(tmp_path / "pki", (Suite.ISO2,), NOW)[Suite.ISO2]
    kek = tmp_path / "kek.bin"
    kek.write_bytes(bytes(range(32)))
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "keys", kek_file=kek))
    label, cert = oem_key_in_store(pki, store, KeyAlgorithm.EC_P256)
    (tmp_path / "oem.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    ctx = make_context(tmp_path, store, pki, NOW)
    contracts = KeyStoreContracts(ctx, oem_key_label=label, oem_cert=cert)
    service = ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0])
    contracts.install(service.answer(contracts.certificate_installation_req(bytes(8)), NOW))
    options = SeccOptions(pnc=lambda: SeccPncSim(service, NOW))
    out, err = io.StringIO(), io.StringIO()
    with served_simulator(options=options) as sim:
        args = build_parser("conformance").parse_args([
            "conformance", "--sdp-address", f"::1:{sim.sdp_port}", "--out", str(tmp_path), "--cases", "ISO2-DC-PNC-*",
            "--pnc-pki", str(tmp_path / "pki"), "--contracts", str(ctx.store.directory), "--oem-key", label,
            "--oem-cert", str(tmp_path / "oem.pem"), "--soft-keys", str(tmp_path / "keys"), "--kek-file", str(kek)])
        status = run(args, out, err)
    progress = [line for line in out.getvalue().splitlines() if line.startswith("[")]
    assert status == 0, out.getvalue() + err.getvalue()
    assert len(progress) == 11 and all(" pass " in line for line in progress), progress
