"""ISO 15118-2 Plug & Charge against the SECC simulator in memory, with real keys: the OEM provisioning key and
the installed contract key live in a SoftHSM2 token (private SOFTHSM2_CONF), the test PKI is generated at run
time, the provisioning service issues the contract.

DC: CertificateInstallation (no contract yet) -> PaymentDetails -> Authorization over the signed GenChallenge
-> SalesTariff signature checked -> CurrentDemand with a signed MeteringReceipt -> SessionStop. AC: the
installed contract is used at once, MeteringReceipt in the ChargingStatus loop. A SalesTariff changed after
the MO signed it stops the session before any power flows. CertificateUpdate: a contract that expires within the
window is renewed in the session when the SECC offers the Certificate service with Update; a FAILED
CertificateUpdateRes ends the session and leaves the store as it was. Renegotiation checks the new SalesTariffs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import PairResult, SeccResponder, run_in_memory
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.exi import iso2
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite
from evcc.session.battery_model import BatteryModel
from evcc.contracts.store import CONTRACT_KEY_PREFIX, Contract, ContractState
from evcc.session.events import ContractUpdated, ContractUpdateRejected, EndKind, Renegotiated
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.config import EnergyTransferMode
from evcc.session.iso2.pnc import KeyStoreContracts
from tests.bench.secc.test_iso2_session_memory import MAC, collapse
from tests.contracts.contracts_helpers import make_context, oem_key_in_store

NOW = datetime.now(timezone.utc).replace(microsecond=0)
EMAID = "DE8AA0012345670"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_pki(Suite.ISO2, NOW)


@pytest.fixture()
def contracts(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> KeyStoreContracts:
    label, cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    ctx: InstallContext = make_context(tmp_path, token, pki, NOW)
    return KeyStoreContracts(ctx, oem_key_label=label, oem_cert=cert)


def pnc_secc(pki: TestPki, **faults: object) -> tuple[Iso2Secc, SeccPncSim]:
    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki), EMAID), NOW, **faults)  # type: ignore[arg-type]
    return Iso2Secc(config=Iso2SeccConfig(sa_schedules=(50_000.0, 100_000.0)), pnc=sim), sim


def run(contracts: KeyStoreContracts, secc: SeccResponder, mode: EnergyTransferMode = "DC_extended",
        car: BatteryModel | None = None) -> PairResult:
    car = car or (AcBatteryModel if mode.startswith("AC") else BatteryModel)(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    config = Iso2Config(evcc_id=MAC, energy_transfer_mode=mode, payment="Contract", contracts=contracts)
    return run_in_memory(Iso2Evcc(config, car), secc)


def test_dc_pnc_installs_a_contract_then_authorizes_and_signs_a_receipt(
        contracts: KeyStoreContracts, pki: TestPki) -> None:
    assert contracts.contract() is None
    secc, sim = pnc_secc(pki)
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.COMPLETED, (result.ended, sim.refusals, secc.errors)
    assert collapse(secc.received)[:6] == ["SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq",
                                           "CertificateInstallationReq", "PaymentDetailsReq", "AuthorizationReq"]
    assert "MeteringReceiptReq" in secc.received and sim.receipts_verified == 1
    assert secc.selected_payment == "Contract" and secc.sa_schedule_tuple_id == 2 and not sim.refusals
    installed = contracts.contract()
    assert installed is not None and installed.emaid == EMAID and contracts.ctx.store.list() == [installed]
    assert sim.contract_leaf is not None and sim.contract_leaf.serial_number > 0


def test_ac_pnc_uses_the_installed_contract_with_metering_receipts(
        contracts: KeyStoreContracts, pki: TestPki) -> None:
    run(contracts, pnc_secc(pki)[0])  # installs
    secc, sim = pnc_secc(pki, receipt_at=frozenset({2, 5}))
    result = run(contracts, secc, mode="AC_three_phase_core")
    assert result.ended.kind is EndKind.COMPLETED, (result.ended, sim.refusals)
    assert "CertificateInstallationReq" not in secc.received
    assert collapse(secc.received)[2:5] == ["PaymentServiceSelectionReq", "PaymentDetailsReq", "AuthorizationReq"]
    assert secc.received.count("MeteringReceiptReq") == 2 and sim.receipts_verified == 2


def test_sales_tariff_changed_after_signing_stops_before_power(contracts: KeyStoreContracts, pki: TestPki) -> None:
    secc, _ = pnc_secc(pki, tamper_sales_tariff=True)
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason.startswith("SalesTariff signature rejected: digest of SalesTariff (#ST1)")
    assert collapse(secc.received)[-2:] == ["ChargeParameterDiscoveryReq", "SessionStopReq"]
    assert "PowerDeliveryReq" not in secc.received


def test_short_gen_challenge_is_a_protocol_error(contracts: KeyStoreContracts, pki: TestPki) -> None:
    secc, _ = pnc_secc(pki, gen_challenge=b"\x01" * 15)
    result = run(contracts, secc)
    assert result.ended.reason == "PaymentDetailsRes GenChallenge has 15 bytes, not 16"


def test_without_contract_and_without_oem_key_the_session_stops_in_order(
        contracts: KeyStoreContracts, pki: TestPki) -> None:
    bare = KeyStoreContracts(contracts.ctx)
    secc, _ = pnc_secc(pki)
    result = run(bare, secc)
    assert result.ended.kind is EndKind.STOPPED and "no OEM provisioning key" in result.ended.reason
    assert collapse(secc.received)[-2:] == ["PaymentServiceSelectionReq", "SessionStopReq"]


def pnc_secc_with(pki: TestPki, validity: timedelta = timedelta(days=365),
                  certificate_service: tuple[str, ...] = ("Installation", "Update"),
                  **config: object) -> tuple[Iso2Secc, SeccPncSim]:
    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki, contract_validity=validity), EMAID), NOW)
    secc_config = Iso2SeccConfig(sa_schedules=(50_000.0, 100_000.0), certificate_service=certificate_service,
                                 **config)  # type: ignore[arg-type]
    return Iso2Secc(config=secc_config, pnc=sim), sim


def install_expiring(contracts: KeyStoreContracts, pki: TestPki) -> Contract:
    """A first session installs a contract that is valid for 10 days only: inside the 30-day window."""
    secc, _ = pnc_secc_with(pki, validity=timedelta(days=10))
    assert run(contracts, secc).ended.kind is EndKind.COMPLETED
    old = contracts.contract()
    assert old is not None and old.state(NOW, contracts.expiry_window) is ContractState.EXPIRING
    assert contracts.update_due() == old
    return old


def _contract_keys(contracts: KeyStoreContracts) -> set[str]:
    return {k.label for k in contracts.ctx.keystore.list(CONTRACT_KEY_PREFIX)}


def test_dc_pnc_renews_an_expiring_contract_with_certificate_update(
        contracts: KeyStoreContracts, pki: TestPki) -> None:
    old = install_expiring(contracts, pki)
    secc, sim = pnc_secc_with(pki)
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.COMPLETED, (result.ended, sim.refusals, secc.errors)
    assert collapse(secc.received)[:8] == [
        "SessionSetupReq", "ServiceDiscoveryReq", "ServiceDetailReq", "PaymentServiceSelectionReq",
        "CertificateUpdateReq", "PaymentDetailsReq", "AuthorizationReq", "ChargeParameterDiscoveryReq"]
    assert (2, 2) in secc.selected_services  # the Certificate service with its "Update" parameter set
    new = contracts.contract()
    assert new is not None and new.contract_id != old.contract_id and new.emaid == old.emaid == EMAID
    assert new.not_after is not None and old.not_after is not None
    assert new.not_after > old.not_after + timedelta(days=300)
    assert [e for e in result.events if isinstance(e, ContractUpdated)] == [
        ContractUpdated(old.contract_id, new.contract_id, EMAID)]
    # the store on disk holds the renewed contract only; the old key is gone from the token
    from evcc.contracts.store import ContractStore
    assert ContractStore(contracts.ctx.store.directory).list() == [new]
    keys = _contract_keys(contracts)
    assert new.key_label in keys and old.key_label not in keys
    # the SECC authorized the renewed contract: PaymentDetails carried it
    assert sim.contract_leaf is not None and sim.contract_leaf.serial_number != 0
    assert contracts.update_due() is None


def test_no_update_when_the_secc_offers_installation_only(contracts: KeyStoreContracts, pki: TestPki) -> None:
    old = install_expiring(contracts, pki)
    secc, _ = pnc_secc_with(pki, certificate_service=("Installation",))
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.COMPLETED
    assert "CertificateUpdateReq" not in secc.received and secc.received.count("ServiceDetailReq") == 1
    assert contracts.contract() == old  # still valid: used as it is


def test_failed_certificate_update_res_ends_the_session_and_keeps_the_old_contract(
        contracts: KeyStoreContracts, pki: TestPki) -> None:
    old = install_expiring(contracts, pki)
    secc, _ = pnc_secc_with(pki)
    canceled = Fault(FaultKind.CODE, "CertificateUpdateRes", response_code="FAILED_ContractCanceled")
    result = run(contracts, FaultySecc(secc, canceled))
    assert result.ended.kind is EndKind.FAILED_RESPONSE
    assert result.ended.response_code == "FAILED_ContractCanceled"
    assert result.ended.reason == "CertificateUpdateRes: FAILED_ContractCanceled"
    assert secc.received[-1] == "CertificateUpdateReq"  # [V2G2-539]: nothing sent after a FAILED code
    assert contracts.ctx.store.list() == [old] and old.key_label in _contract_keys(contracts)


def test_update_refused_by_the_service_is_a_failed_code(contracts: KeyStoreContracts, pki: TestPki) -> None:
    old = install_expiring(contracts, pki)
    secc, sim = pnc_secc_with(pki)
    sim.service.sim.pki = build_pki(Suite.ISO2, NOW)  # another PKI: no CPS chain for the EV's V2G root
    result = run(contracts, secc)
    assert result.ended.response_code == "FAILED_NoCertificateAvailable"
    assert sim.refusals and sim.refusals[0].startswith("no CPS chain for the EV's root certificates")
    assert contracts.ctx.store.list() == [old]


def test_update_response_the_ev_rejects_goes_on_with_the_old_contract(
        contracts: KeyStoreContracts, pki: TestPki) -> None:
    old = install_expiring(contracts, pki)
    secc, sim = pnc_secc_with(pki)
    original = sim.service.answer

    def tampered(request: object, now: datetime) -> object:
        res = original(request, now)
        body = res.Body.CertificateUpdateRes
        if body is not None:
            body.DHpublickey.value = bytes([4]) + bytes(64)  # changed after the CPS signed it
        return res

    sim.service.answer = tampered  # type: ignore[method-assign]
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    rejected = [e for e in result.events if isinstance(e, ContractUpdateRejected)]
    assert len(rejected) == 1 and rejected[0].contract_id == old.contract_id
    assert "CertificateUpdateRes rejected" in rejected[0].reason
    assert contracts.ctx.store.list() == [old] and old.key_label in _contract_keys(contracts)


def test_pnc_renegotiation_checks_the_new_sales_tariffs(contracts: KeyStoreContracts, pki: TestPki) -> None:
    secc, sim = pnc_secc_with(pki, renegotiate_after=2, renegotiated_schedules=(30_000.0, 45_000.0))
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.COMPLETED, (result.ended, sim.refusals)
    assert [e for e in result.events if isinstance(e, Renegotiated)] == [Renegotiated("EVSE", 2)]
    assert secc.received.count("ChargeParameterDiscoveryReq") == 4 and secc.renegotiations == 1


def test_pnc_renegotiation_with_a_tampered_tariff_stops_in_order(contracts: KeyStoreContracts, pki: TestPki) -> None:
    secc, sim = pnc_secc_with(pki, renegotiate_after=2)
    original = sim.sign_sales_tariff

    def tamper_second(secc_: Iso2Secc, tuples: list[iso2.SAScheduleTupleType]) -> None:
        original(secc_, tuples)
        sim.tamper_sales_tariff = secc_.renegotiations == 0  # arm: the next (renegotiated) offer is tampered

    sim.sign_sales_tariff = tamper_second  # type: ignore[method-assign,assignment]
    result = run(contracts, secc)
    assert result.ended.kind is EndKind.PROTOCOL_ERROR and "SalesTariff signature rejected" in result.ended.reason
    assert collapse(secc.received)[-4:] == ["ChargeParameterDiscoveryReq", "PowerDeliveryReq", "WeldingDetectionReq",
                                            "SessionStopReq"]
