"""ISO 15118-2 Plug & Charge against the SECC simulator in memory, with real keys: the OEM provisioning key and
the installed contract key live in a SoftHSM2 token (private SOFTHSM2_CONF), the test PKI is generated at run
time, the provisioning service issues the contract.

DC: CertificateInstallation (no contract yet) -> PaymentDetails -> Authorization over the signed GenChallenge
-> SalesTariff signature checked -> CurrentDemand with a signed MeteringReceipt -> SessionStop. AC: the
installed contract is used at once, MeteringReceipt in the ChargingStatus loop. A SalesTariff changed after
the MO signed it stops the session before any power flows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm, softhsm_available
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite
from evcc.session.battery_model import BatteryModel
from evcc.session.events import EndKind
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
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pkcs11KeyStore]:
    if not softhsm_available():
        pytest.fail("SoftHSM2 missing: scripts/setup installs the Debian package softhsm2")
    store = Pkcs11KeyStore(init_softhsm(tmp_path_factory.mktemp("softhsm")))
    yield store
    store.close()


@pytest.fixture()
def contracts(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> KeyStoreContracts:
    label, cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    ctx: InstallContext = make_context(tmp_path, token, pki, NOW)
    return KeyStoreContracts(ctx, oem_key_label=label, oem_cert=cert)


def pnc_secc(pki: TestPki, **faults: object) -> tuple[Iso2Secc, SeccPncSim]:
    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki), EMAID), NOW, **faults)  # type: ignore[arg-type]
    return Iso2Secc(config=Iso2SeccConfig(sa_schedules=(50_000.0, 100_000.0)), pnc=sim), sim


def run(contracts: KeyStoreContracts, secc: Iso2Secc, mode: EnergyTransferMode = "DC_extended",
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
