"""ISO 15118-20 Plug & Charge in the EVCC machine with the keys in SoftHSM2 (P-521, ECDSA-SHA512): two contracts
where the charger refuses the first (the next by priority authorizes), every contract refused (orderly stop, or
EIM when allowed), CertificateInstallation in the session (SECP521 decryption into the token) then
Authorization with the new contract, the signed PnC_AReqAuthorizationMode and MeteringConfirmation checked with
the contract certificate the way a charger does."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.contracts import messages20
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.signed import check_signature
from evcc.contracts.store import ContractStore
from evcc.exi.signature import ECDSA_SHA512
from evcc.hsm.hostcrypto import CURVES
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki, build_pki, issue_certificate
from evcc.pki.profiles import TEST_PCID, Suite, profile_table
from evcc.session.events import EndKind
from evcc.session.iso20.pnc import KeyStoreContracts20
from tests.session.iso20.helpers import machine, pair
from tests.session.iso20.peer import MiniSecc

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FIRST, SECOND = "DE8AA0012345670", "NN123ABCDEFGHIT"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_pki(Suite.ISO20_P521, NOW)


def _port(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> tuple[KeyStoreContracts20, ProvisioningService]:
    label = f"oem/{uuid.uuid4().hex[:10]}"
    info = token.generate(label, KeyAlgorithm.EC_P521)
    public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[KeyAlgorithm.EC_P521], info.public)
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    oem = issue_certificate(profile_table()["oem_prov_leaf"], public, issuer, issuer[1], pki.suite, pki.now)
    ctx = InstallContext(store=ContractStore(tmp_path / "contracts"), keystore=token,
                         v2g_roots=(pki.certs["v2g_root"],), now=NOW, mo_roots=(pki.certs["mo_root"],))
    port = KeyStoreContracts20(ctx, pcid=TEST_PCID, oem_chain=(oem, *pki.chain("oem_sub_ca_2")), oem_key_label=label)
    return port, ProvisioningService(ProvisioningSimulator(pki))


def _install(port: KeyStoreContracts20, service: ProvisioningService, emaid: str, priority: int) -> None:
    """A contract installed before the session (as a previous session would have)."""
    assert port.oem_key_label is not None
    req = messages20.certificate_installation_req(bytes(8), int(NOW.timestamp()), port.oem_chain, port.ctx.v2g_roots,
                                                  port.ctx.keystore, port.oem_key_label, KeyAlgorithm.EC_P521,
                                                  prioritized_emaids=(emaid,))
    port.installed_priority = priority
    port.install(service.answer(req, NOW))


def _verify(element: str, req: Any, leaf_der: bytes) -> None:
    """What the charger does: the signature over exactly ``element`` with the contract certificate's key."""
    value = getattr(req, element)
    check_signature("iso20-common-fragment", req.Header.Signature, req, [(element, value)],
                    x509.load_der_x509_certificate(leaf_der), ECDSA_SHA512)


def test_second_contract_after_the_first_is_refused(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> None:
    port, service = _port(tmp_path, token, pki)
    _install(port, service, FIRST, priority=10)
    _install(port, service, SECOND, priority=5)
    assert [c.emaid for c in port.contracts()] == [FIRST, SECOND]
    ev = machine(service="DC", authorization="PnC", contracts=port)
    result, secc = pair(ev, MiniSecc(refuse_emaids=frozenset({FIRST}), ongoing=0))
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.authorized_emaids == [SECOND]
    assert ev.refused_contracts == [f"{FIRST} (WARNING_eMSPUnknown)"] and ev.contract is not None
    tried = [r for r in secc.requests if type(r).__name__ == "AuthorizationReqType"]
    assert [r.SelectedAuthorizationService for r in tried] == ["PnC", "PnC"]
    for req in tried:
        mode = req.PnC_AReqAuthorizationMode
        assert mode.GenChallenge == tried[0].PnC_AReqAuthorizationMode.GenChallenge and len(mode.GenChallenge) == 16
        _verify("PnC_AReqAuthorizationMode", req, mode.ContractCertificateChain.Certificate)


def test_every_contract_refused_stops_or_falls_back_to_eim(tmp_path: Path, token: Pkcs11KeyStore,
                                                           pki: TestPki) -> None:
    port, service = _port(tmp_path, token, pki)
    _install(port, service, FIRST, priority=1)
    refuse = frozenset({FIRST})
    result, secc = pair(machine(service="DC", authorization="PnC", contracts=port), MiniSecc(refuse_emaids=refuse))
    assert result.ended.kind is EndKind.STOPPED and "refused every contract" in result.ended.reason
    assert FIRST in result.ended.reason and secc.received[-1] == "SessionStopReq"
    ev = machine(service="AC", authorization="PnC", contracts=port, eim_fallback=True)
    result, secc = pair(ev, MiniSecc(kind="AC", refuse_emaids=refuse))
    assert result.ended.ok and ev.authorization == "EIM"
    assert [r.SelectedAuthorizationService for r in secc.requests
            if type(r).__name__ == "AuthorizationReqType"][-1] == "EIM"


def test_installation_in_session_then_authorization_and_metering(tmp_path: Path, token: Pkcs11KeyStore,
                                                                  pki: TestPki) -> None:
    port, service = _port(tmp_path, token, pki)
    assert port.contracts() == []
    ev = machine(service="DC_BPT", control_mode="Scheduled", authorization="PnC", contracts=port)
    secc = MiniSecc(provisioning=service, install_now=NOW, metering_at=frozenset({3}), ongoing=0)
    result, _ = pair(ev, secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.received[:3] == ["SessionSetupReq", "AuthorizationSetupReq", "CertificateInstallationReq"]
    installed = port.contracts()
    assert [c.emaid for c in installed] == [service.emaid] and ev.installed == 1
    assert secc.authorized_emaids == [service.emaid]
    confirmations = [r for r in secc.requests if type(r).__name__ == "MeteringConfirmationReqType"]
    assert len(confirmations) == 1 and ev.confirmations == 1
    data = confirmations[0].SignedMeteringData
    assert data.SessionID == secc.session_id and data.MeterInfo.ChargedEnergyReadingWh == 1003
    assert data.Scheduled_SMDTControlMode.SelectedScheduleTupleID == 1
    _verify("SignedMeteringData", confirmations[0], installed[0].chain[0])


def test_no_contract_and_no_installation_service_stops(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> None:
    port, _ = _port(tmp_path, token, pki)
    result, secc = pair(machine(authorization="PnC", contracts=port), MiniSecc())
    assert result.ended.kind is EndKind.STOPPED and "CertificateInstallation" in result.ended.reason
    assert "CertificateInstallationReq" not in secc.received


def test_pnc_not_offered_stops_without_fallback(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> None:
    port, _ = _port(tmp_path, token, pki)
    result, _ = pair(machine(authorization="PnC", contracts=port), MiniSecc(authorization_services=("EIM",)))
    assert result.ended.kind is EndKind.STOPPED and "not PnC" in result.ended.reason
