"""Plug & Charge in the ISO 15118-20 SECC responder with the run-time test PKI (P-521 and Ed448 suites):
AuthorizationSetup's GenChallenge, the signed PnC_AReqAuthorizationMode verified against the MO root (each
refusal with its -20 ResponseCode), the option that rejects the first contract so the EV tries its next one,
CertificateInstallation through the -20 provisioning service (the OEM key in SoftHSM2, the response installed
by the EV side's contracts code) and signed MeteringConfirmation."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig, dc_secc
from evcc.bench.secc.iso20_values import number
from evcc.contracts.messages20 import certificate_installation_req, install_from_message_20
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.exi.signature import ECDSA_SHA512, EDDSA_ED448, sign_elements
from evcc.hsm.hostcrypto import HASHES, ecdsa_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, Suite
from tests.bench.secc import test_iso20_requests as q
from tests.bench.secc.test_iso20_responder import DC, DYNAMIC, SCHEDULED, Peer
from tests.contracts.contracts_helpers import make_context, oem_key_in_store

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module", params=[Suite.ISO20_P521, Suite.ISO20_ED448], ids=["p521", "ed448"])
def pki(request: pytest.FixtureRequest) -> TestPki:
    suite: Suite = request.param
    return build_pki(suite, NOW)


@pytest.fixture(scope="module")
def p521() -> TestPki:
    return build_pki(Suite.ISO20_P521, NOW)


def signer(pki: TestPki, name: str) -> tuple[Any, Any]:
    key = pki.signing_key(name)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return (lambda d: ecdsa_raw(key.sign(d, ec.ECDSA(HASHES[KeyAlgorithm.EC_P521])), KeyAlgorithm.EC_P521),
                ECDSA_SHA512)
    return key.sign, EDDSA_ED448


def ders(pki: TestPki, leaf: str) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in pki.chain(leaf)]


def pnc_peer(pki: TestPki, config: Iso20SeccConfig | None = None, **options: Any) -> tuple[Peer, Iso20PncSim]:
    sim = Iso20PncSim(ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0]), NOW, **options)
    p = Peer(dc_secc(config, pnc=sim))
    p.sid = p.ok(q.session_setup()).Header.SessionID
    setup = p.ok(q.authorization_setup(p.sid))
    assert setup.AuthorizationServices == ["EIM", "PnC"] and setup.CertificateInstallationService
    assert len(setup.PnC_ASResAuthorizationMode.GenChallenge) == 16
    return p, sim


def signed_authorization(p: Peer, pki: TestPki, contract: str, key: str | None = None,
                         challenge: bytes | None = None) -> Any:
    secc: Iso20Secc = p.secc
    req = q.authorization_pnc(p.sid, challenge or secc.challenge or b"", ders(pki, contract))
    sign, algorithm = signer(pki, key or contract)
    req.Header.Signature = sign_elements("iso20-common-fragment",
                                         [("PnC_AReqAuthorizationMode", req.PnC_AReqAuthorizationMode)], sign, algorithm)
    return req


def test_pnc_authorization_verifies_the_contract_and_records_the_emaid(pki: TestPki) -> None:
    p, sim = pnc_peer(pki)
    res = p.ok(signed_authorization(p, pki, "contract_2"))
    assert res.EVSEProcessing == "Ongoing"  # one Ongoing round, then Finished
    assert p.ok(signed_authorization(p, pki, "contract_2")).EVSEProcessing == "Finished"
    assert p.secc.record.emaids_authorized == [TEST_EMAIDS[1]]
    assert p.secc.record.authorization_service == "PnC" and sim.refusals == []
    p.ok(q.service_discovery(p.sid))


@pytest.mark.parametrize("case, code", [
    ("challenge", "WARNING_ChallengeInvalid"),
    ("signature", "FAILED_SignatureError"),
    ("expired", "WARNING_CertificateExpired"),
    ("other_root", "WARNING_CertificateValidationError"),
    ("unsigned", "FAILED_SignatureError"),
])
def test_pnc_authorization_refusals(p521: TestPki, case: str, code: str) -> None:
    p, sim = pnc_peer(p521)
    if case == "challenge":
        req = signed_authorization(p, p521, "contract_1", challenge=b"\x01" * 16)
    elif case == "signature":
        req = signed_authorization(p, p521, "contract_1", key="contract_2")
    elif case == "expired":
        req = signed_authorization(p, p521, "broken_contract_expired")
    elif case == "other_root":
        req = signed_authorization(p, p521, "oem_prov_leaf")
    else:
        req = signed_authorization(p, p521, "contract_1")
        req.Header.Signature = None
    res = p.send(req)
    assert (res.ResponseCode, res.EVSEProcessing) == (code, "Finished"), sim.refusals
    assert p.secc.record.emaids_authorized == [] and not p.secc.authorized and sim.refusals
    assert p.send(q.service_discovery(p.sid)).ResponseCode == "FAILED_SequenceError"


def test_tampered_after_signing_is_a_signature_error(p521: TestPki) -> None:
    p, sim = pnc_peer(p521)
    req = signed_authorization(p, p521, "contract_1")
    req.PnC_AReqAuthorizationMode.ContractCertificateChain = signed_authorization(
        p, p521, "contract_2").PnC_AReqAuthorizationMode.ContractCertificateChain
    assert p.send(req).ResponseCode == "FAILED_SignatureError"
    assert "digest" in sim.refusals[-1] or "verify" in sim.refusals[-1]


def test_the_first_contract_is_rejected_and_the_next_one_accepted(p521: TestPki) -> None:
    p, sim = pnc_peer(p521, Iso20SeccConfig(ongoing_rounds=0), reject_contracts=1)
    assert p.send(signed_authorization(p, p521, "contract_1")).ResponseCode == "WARNING_eMSPUnknown"
    assert p.send(signed_authorization(p, p521, "contract_1")).ResponseCode == "WARNING_eMSPUnknown"  # still no
    assert p.ok(signed_authorization(p, p521, "contract_2")).EVSEProcessing == "Finished"
    rec = p.secc.record
    assert rec.emaids_rejected == [TEST_EMAIDS[0]] and rec.emaids_authorized == [TEST_EMAIDS[1]]


def test_signed_metering_confirmation(p521: TestPki) -> None:
    sim = Iso20PncSim(ProvisioningService(ProvisioningSimulator(p521)), NOW)
    p = Peer(dc_secc(Iso20SeccConfig(metering_confirmation_at=frozenset({1})), pnc=sim))
    p.sid = p.ok(q.session_setup()).Header.SessionID
    p.ok(q.authorization_setup(p.sid))
    while p.ok(signed_authorization(p, p521, "contract_1")).EVSEProcessing != "Finished":
        pass
    p.ok(q.service_discovery(p.sid))
    p.ok(q.service_selection(p.sid, DC, SCHEDULED))
    p.ok(q.dc_cpd(p.sid, False))
    while p.ok(q.schedule_exchange(p.sid, False)).EVSEProcessing != "Finished":
        pass
    for _ in range(3):
        p.ok(q.dc_cable_check(p.sid))
    p.ok(q.dc_pre_charge(p.sid, 0, 100))
    p.ok(q.power_delivery(p.sid, "Start", 1, power=10_000))
    assert p.ok(q.dc_loop(p.sid, "Scheduled")).EVSEStatus.EVSENotification == "MeteringConfirmation"
    for key, code in (("contract_2", "FAILED_MeteringSignatureNotValid"), ("contract_1", "OK")):
        req = q.metering_confirmation(p.sid)
        sign, algorithm = signer(p521, key)
        req.Header.Signature = sign_elements("iso20-common-fragment", [("SignedMeteringData", req.SignedMeteringData)],
                                             sign, algorithm)
        assert p.send(req).ResponseCode == code
    assert p.secc.record.metering_confirmations == 1


def test_certificate_installation_through_the_provisioning_service(
        p521: TestPki, token: Pkcs11KeyStore, tmp_path: Path) -> None:
    label, oem = oem_key_in_store(p521, token, KeyAlgorithm.EC_P521)
    p, sim = pnc_peer(p521)
    oem_chain = [oem, *p521.chain("oem_sub_ca_2")]
    req = certificate_installation_req(p.sid, 1_700_000_000, oem_chain, [p521.certs["v2g_root"]], token, label,
                                       KeyAlgorithm.EC_P521, prioritized_emaids=[TEST_EMAIDS[2]])
    res = p.ok(req)
    assert sim.installations == 1 and res.Header.SessionID == p.sid
    contract = install_from_message_20(res, pcid=TEST_PCID, ecdh_key_label=label,
                                       ctx=make_context(tmp_path, token, p521, NOW))
    assert contract.emaid.replace("-", "").upper() == TEST_EMAIDS[2]
    # the installed contract authorises (signed in the token)
    auth = q.authorization_pnc(p.sid, p.secc.challenge or b"", list(contract.chain))
    auth.Header.Signature = sign_elements(
        "iso20-common-fragment", [("PnC_AReqAuthorizationMode", auth.PnC_AReqAuthorizationMode)],
        lambda d: token.sign(contract.key_label or "", d), ECDSA_SHA512)
    p.ok(auth)
    assert p.secc.record.emaids_authorized == [TEST_EMAIDS[2]]


def test_certificate_installation_refusals(p521: TestPki) -> None:
    p, sim = pnc_peer(p521)
    oem = p521.certs["oem_prov_leaf"]
    req = certificate_installation_req(p.sid, 1_700_000_000, [oem], [p521.certs["v2g_root"]], cast(KeyStore, _P521Store(p521)),
                                       "oem", KeyAlgorithm.EC_P521)
    req.Header.Signature.SignatureValue.value = bytes(132)
    res = p.send(req)
    assert res.ResponseCode == "FAILED_SignatureError" and sim.refusals
    without = Peer(dc_secc())
    without.sid = without.ok(q.session_setup()).Header.SessionID
    assert without.ok(q.authorization_setup(without.sid)).CertificateInstallationService is False
    assert without.send(req).ResponseCode == "FAILED_UnknownSession"
    req.Header.SessionID = without.sid
    refused = without.send(req)  # no provisioning service behind this charger
    assert refused.ResponseCode == "FAILED" and refused.Header.Signature is None


class _P521Store:
    """Just enough of a key store to sign with the PKI's OEM provisioning key (for a request then broken)."""

    def __init__(self, pki: TestPki) -> None:
        self.key = pki.signing_key("oem_prov_leaf")

    def sign(self, label: str, data: bytes) -> bytes:
        assert isinstance(self.key, ec.EllipticCurvePrivateKey)
        return ecdsa_raw(self.key.sign(data, ec.ECDSA(HASHES[KeyAlgorithm.EC_P521])), KeyAlgorithm.EC_P521)


def test_dynamic_pnc_session_reaches_the_loop(p521: TestPki) -> None:
    p, _ = pnc_peer(p521, Iso20SeccConfig(ongoing_rounds=0))
    p.ok(signed_authorization(p, p521, "contract_3"))
    p.ok(q.service_discovery(p.sid))
    p.ok(q.service_selection(p.sid, DC, DYNAMIC))
    assert p.secc.record.control_mode == "Dynamic" and p.secc.record.emaids_authorized == [TEST_EMAIDS[2]]
    p.ok(q.dc_cpd(p.sid, False))
    p.ok(q.schedule_exchange(p.sid, True))
    for _ in range(3):
        p.ok(q.dc_cable_check(p.sid))
    p.ok(q.dc_pre_charge(p.sid, 0, 100))
    p.ok(q.power_delivery(p.sid, "Start"))
    assert (number(p.ok(q.dc_loop(p.sid, "Dynamic", voltage=400, max_power=20_000)).EVSEPresentCurrent) or 0) == \
        pytest.approx(50.0)
