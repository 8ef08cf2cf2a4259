"""ResponseCode handling of the DIN SPEC 70121 and ISO 15118-2 EVCC, table-driven per response message class:
every FAILED* code of the schema's responseCodeType ends the session at once ([V2G2-539]; DIN §9.8) with the code
and the message named in the reason and nothing sent after it; OK_CertificateExpiresSoon is noted (ResponseNote)
and the session goes on. Neither schema has WARNING codes (ISO 15118-20 introduced them).

The codes come from the generated stubs of the codec (the XSD enumeration), so a schema change shows here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

import evcc.exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm, softhsm_available
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind, ResponseNote
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.pnc import KeyStoreContracts
from tests.contracts.contracts_helpers import make_context, oem_key_in_store

MAC = bytes.fromhex("0242ac110002")
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def response_codes(schema: str) -> list[str]:
    """responseCodeType of ``schema`` as the codec's stubs spell it."""
    stub = (Path(evcc.exi.__file__).parent / "_generated" / f"{schema}.pyi").read_text()
    match = re.search(r"def ResponseCode\(self\) -> Literal\[([^\]]*)\]", stub)
    assert match is not None
    return re.findall(r"'([^']+)'", match.group(1))


ISO2_CODES = response_codes("iso2")
DIN_CODES = response_codes("din")
ISO2_FAILED = [c for c in ISO2_CODES if c.startswith("FAILED")]
DIN_FAILED = [c for c in DIN_CODES if c.startswith("FAILED")]

ISO2_EIM = [  # (response, energy transfer mode)
    ("SessionSetupRes", "DC_extended"), ("ServiceDiscoveryRes", "DC_extended"), ("ServiceDetailRes", "DC_extended"),
    ("PaymentServiceSelectionRes", "DC_extended"), ("AuthorizationRes", "DC_extended"),
    ("ChargeParameterDiscoveryRes", "DC_extended"), ("CableCheckRes", "DC_extended"), ("PreChargeRes", "DC_extended"),
    ("PowerDeliveryRes", "DC_extended"), ("CurrentDemandRes", "DC_extended"), ("WeldingDetectionRes", "DC_extended"),
    ("SessionStopRes", "DC_extended"), ("ChargingStatusRes", "AC_three_phase_core"),
    ("PowerDeliveryRes", "AC_three_phase_core"),
]
ISO2_PNC = ["CertificateInstallationRes", "CertificateUpdateRes", "PaymentDetailsRes", "MeteringReceiptRes"]
DIN_RESPONSES = [
    "SessionSetupRes", "ServiceDiscoveryRes", "ServicePaymentSelectionRes", "ContractAuthenticationRes",
    "ChargeParameterDiscoveryRes", "CableCheckRes", "PreChargeRes", "PowerDeliveryRes", "CurrentDemandRes",
    "WeldingDetectionRes", "SessionStopRes",
]


def test_the_schemas_have_no_warning_codes_and_many_failed_ones() -> None:
    assert not [c for c in ISO2_CODES + DIN_CODES if c.startswith("WARNING")]
    assert len(ISO2_FAILED) == 22 and "FAILED_CertificateRevoked" in ISO2_FAILED
    assert "FAILED_SequenceError" in DIN_FAILED and "OK_CertificateExpiresSoon" in DIN_CODES


def assert_failed_end(result: PairResult, received: list[str], response: str, code: str) -> None:
    assert result.ended.kind is EndKind.FAILED_RESPONSE, (response, code, result.ended)
    assert result.ended.response_code == code and result.ended.reason == f"{response}: {code}"
    assert received[-1] == response.replace("Res", "Req"), (response, code)  # nothing sent after it


def code(response: str, response_code: str) -> Fault:
    """The SECC answers ``response`` with ``response_code`` (the shared fault layer, evcc.bench.secc.hostile)."""
    return Fault(FaultKind.CODE, response, response_code=response_code)


def iso2_eim(fault: Fault, mode: str) -> tuple[PairResult, Iso2Secc]:
    car = (AcBatteryModel if mode.startswith("AC") else BatteryModel)(capacity_wh=40.0, soc=76.0, target_soc=80.0)
    secc = Iso2Secc(config=Iso2SeccConfig(value_added_services=(3,)))
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode, service_detail_ids=(3,)), car)  # type: ignore[arg-type]
    return run_in_memory(ev, FaultySecc(secc, fault)), secc


@pytest.mark.parametrize(("response", "mode"), ISO2_EIM)
def test_iso2_every_failed_code_of_every_response_ends_the_session(response: str, mode: str) -> None:
    for failed in ISO2_FAILED:
        result, secc = iso2_eim(code(response, failed), mode)
        assert_failed_end(result, secc.received, response, failed)


@pytest.mark.parametrize(("response", "mode"), [("AuthorizationRes", "DC_extended"),
                                                ("ChargingStatusRes", "AC_single_phase_core")])
def test_iso2_ok_certificate_expires_soon_is_noted_and_the_session_goes_on(response: str, mode: str) -> None:
    result, _ = iso2_eim(code(response, "OK_CertificateExpiresSoon"), mode)
    assert result.ended.kind is EndKind.COMPLETED
    notes = [e for e in result.events if isinstance(e, ResponseNote)]
    assert notes and {n.response for n in notes} == {response}
    assert {n.response_code for n in notes} == {"OK_CertificateExpiresSoon"}


@pytest.mark.parametrize("response", DIN_RESPONSES)
def test_din_every_failed_code_of_every_response_ends_the_session(response: str) -> None:
    for failed in DIN_FAILED:
        secc = DinSecc()
        ev = DinEvcc(DinConfig(evcc_id=MAC), BatteryModel(capacity_wh=40.0, soc=76.0, target_soc=80.0))
        assert_failed_end(run_in_memory(ev, FaultySecc(secc, code(response, failed))), secc.received, response, failed)


# ------------------------------------------------------------ Plug & Charge responses (keys in SoftHSM2)
@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_pki(Suite.ISO2, NOW)


@pytest.fixture()
def contracts(tmp_path: Path, pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyStoreContracts]:
    if not softhsm_available():
        pytest.fail("SoftHSM2 missing: scripts/setup installs the Debian package softhsm2")
    token = Pkcs11KeyStore(init_softhsm(tmp_path_factory.mktemp("softhsm")))
    label, cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    yield KeyStoreContracts(make_context(tmp_path, token, pki, NOW), oem_key_label=label, oem_cert=cert)
    token.close()


def pnc_run(contracts: KeyStoreContracts, pki: TestPki, fault: Fault | None,
            validity_days: int = 365) -> tuple[PairResult, Iso2Secc]:
    from datetime import timedelta

    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki, contract_validity=timedelta(days=validity_days))),
                     NOW, receipt_at=frozenset({1}))
    secc = Iso2Secc(config=Iso2SeccConfig(certificate_service=("Installation", "Update")), pnc=sim)
    car = BatteryModel(capacity_wh=40.0, soc=76.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, payment="Contract", contracts=contracts), car)
    return run_in_memory(ev, secc if fault is None else FaultySecc(secc, fault)), secc


@pytest.mark.parametrize("response", ISO2_PNC)
def test_iso2_plug_and_charge_failed_codes(response: str, contracts: KeyStoreContracts, pki: TestPki) -> None:
    if response != "CertificateInstallationRes":  # a contract first; due for an update for CertificateUpdateRes
        days = 10 if response == "CertificateUpdateRes" else 365
        assert pnc_run(contracts, pki, None, validity_days=days)[0].ended.kind is EndKind.COMPLETED
    stored = contracts.ctx.store.list()
    for failed in ISO2_FAILED:
        result, secc = pnc_run(contracts, pki, code(response, failed))
        assert_failed_end(result, secc.received, response, failed)
        assert contracts.ctx.store.list() == stored  # a FAILED answer never changes the contracts


def test_iso2_payment_details_ok_certificate_expires_soon(contracts: KeyStoreContracts, pki: TestPki) -> None:
    result, _ = pnc_run(contracts, pki, code("PaymentDetailsRes", "OK_CertificateExpiresSoon"))
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert [e for e in result.events if isinstance(e, ResponseNote)] == [
        ResponseNote("PaymentDetailsRes", "OK_CertificateExpiresSoon")]
