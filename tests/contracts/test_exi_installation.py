"""Acceptance (issue 3): ISO 15118-2 CertificateInstallation and CertificateUpdate end to end through EXI bytes,
with the OEM and contract keys in a real SoftHSM2 token and the test provisioning service as the other side.

    EV: CertificateInstallationReq (signed in the token) --EXI--> service: checks, issues, signs 4 references
    EV: <--EXI-- CertificateInstallationRes: signature, chains, ECDH in the token, decrypt, [V2G2-823], import
    EV: AuthorizationReq(GenChallenge) signed with the new contract key --> verifies with the new certificate
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc import exi
from evcc.contracts import errors as E
from evcc.contracts.install2 import ContractResponse2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.messages2 import authorization_req, certificate_installation_req, certificate_update_req, \
    check_signed_request
from evcc.contracts.provisioning_service import ProvisioningService, signed_response_2
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.response2 import decode_response, install_from_message, response_values, update_from_message
from evcc.contracts.store import Contract
from evcc.exi.signature import sign_elements
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki

from contracts_helpers import NOW, SESSION_ID, make_context, oem_key_in_store
from test_install2 import plaintext_forms, softhsm_token_dir

EMAID = "DE8AA0012345670"


@dataclasses.dataclass
class Ev:
    ctx: InstallContext
    oem_label: str
    oem_cert: x509.Certificate
    service: ProvisioningService

    def request(self) -> bytes:
        return exi.encode(certificate_installation_req(SESSION_ID, self.oem_cert, self.ctx.v2g_roots,
                                                       self.ctx.keystore, self.oem_label))

    def install(self, response: bytes, priority: int = 0) -> Contract:
        return install_from_message(decode_response(response), oem_key_label=self.oem_label, ctx=self.ctx,
                                    priority=priority)

    def snapshot(self) -> tuple[bytes, list[Any]]:
        path = self.ctx.store.directory / "contracts.json"
        return (path.read_bytes() if path.exists() else b""), self.ctx.keystore.list("contract/")


def serve(service: ProvisioningService, request: bytes) -> bytes:
    """The charger side: decode the EV's bytes, answer, encode."""
    return exi.encode(service.answer(exi.decode("iso2", request), NOW))


@pytest.fixture()
def ev(tmp_path: Path, token: Pkcs11KeyStore, pki2: TestPki) -> Ev:
    label, cert = oem_key_in_store(pki2, token, KeyAlgorithm.EC_P256)
    return Ev(make_context(tmp_path, token, pki2), label, cert, ProvisioningService(ProvisioningSimulator(pki2), EMAID))


def test_installed_contract_signs_gen_challenge_no_plaintext_key(ev: Ev) -> None:
    contract = ev.install(serve(ev.service, ev.request()), priority=4)
    assert contract.emaid == EMAID and ev.ctx.store.list() == [contract] and contract.priority == 4
    leaf = x509.load_der_x509_certificate(contract.chain[0])
    challenge = os.urandom(16)
    auth = exi.encode(authorization_req(SESSION_ID, challenge, ev.ctx.keystore, contract.key_label or ""))
    received = exi.decode("iso2", auth)  # the charger's view
    assert received.Body.AuthorizationReq.GenChallenge == challenge
    check_signed_request(received, "AuthorizationReq", leaf)
    with pytest.raises(E.SignatureValueInvalid):  # and not with any other certificate
        check_signed_request(received, "AuthorizationReq", ev.service.sim.pki.certs["contract_1"])
    secret = ev.service.sim.issued_keys[-1]
    files = [p for d in (ev.ctx.store.directory, softhsm_token_dir()) for p in d.rglob("*") if p.is_file()]
    assert any(p.name == "contracts.json" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not any(form in data for form in plaintext_forms(secret)), f"contract key in plaintext in {path}"


def _resign(sim: ProvisioningSimulator, msg: Any, names: list[str]) -> Any:
    body = msg.Body.CertificateInstallationRes
    msg.Header.Signature = sign_elements("iso2-fragment", [(n, getattr(body, n)) for n in names], sim.sign)
    return msg


def _signed(sim: ProvisioningSimulator, values: ContractResponse2) -> Any:
    return signed_response_2(values, "CertificateInstallationRes", SESSION_ID, sim.sign)


def _case(name: str, ev: Ev) -> bytes:
    """A response for ``name``: built by a CPS that signs what it sends unless the case is about tampering."""
    sim = ev.service.sim
    values = sim.certificate_installation_2(ev.oem_cert, EMAID, NOW)
    r = dataclasses.replace
    msg: Any
    if name == "tampered_signature":
        msg = _signed(sim, values)
        sig = bytearray(msg.Header.Signature.SignatureValue.value)
        sig[40] ^= 0x04
        msg.Header.Signature.SignatureValue.value = bytes(sig)
    elif name == "digest_mismatch":  # ciphertext changed in transit
        msg = _signed(sim, values)
        blob = bytearray(msg.Body.CertificateInstallationRes.ContractSignatureEncryptedPrivateKey.value)
        blob[30] ^= 0x01
        msg.Body.CertificateInstallationRes.ContractSignatureEncryptedPrivateKey.value = bytes(blob)
    elif name == "missing_reference":  # DHpublickey left unsigned
        msg = _resign(sim, _signed(sim, values), ["ContractSignatureCertChain",
                                                  "ContractSignatureEncryptedPrivateKey", "eMAID"])
    elif name == "unexpected_reference":
        msg = _signed(sim, values)
        msg.Body.CertificateInstallationRes.SAProvisioningCertificateChain.Id = "id5"
        msg = _resign(sim, msg, ["ContractSignatureCertChain", "ContractSignatureEncryptedPrivateKey",
                                 "DHpublickey", "eMAID", "SAProvisioningCertificateChain"])
    elif name == "cps_unknown_root":
        rogue = ProvisioningSimulator(sim.pki, cps_leaf="broken_rogue_cps_leaf")
        msg = _signed(rogue, r(values, cps_chain=rogue.cps_chain()))
    elif name == "cps_leaf_expired":
        old = ProvisioningSimulator(sim.pki, cps_leaf="broken_cps_leaf_expired")
        msg = _signed(old, r(values, cps_chain=old.cps_chain()))
    elif name == "dh_not_on_curve":
        msg = _signed(sim, r(values, dh_public_key=b"\x04" + bytes(64)))
    elif name == "dh_wrong_length":
        msg = _signed(sim, r(values, dh_public_key=values.dh_public_key + b"\x00"))
    elif name == "key_mismatch":  # the CPS signed the chain of another contract key
        other = sim.certificate_installation_2(ev.oem_cert, EMAID, NOW)
        msg = _signed(sim, r(values, contract_chain=other.contract_chain))
    elif name == "chain_10kB":
        msg = _signed(sim, r(values, contract_chain=values.contract_chain[:1] + (os.urandom(10 * 1024),)))
    elif name == "emaid_non_ascii":
        msg = _signed(sim, r(values, emaid="DE8AA00123456\u00c70"))
    elif name == "emaid_malformed":
        msg = _signed(sim, r(values, emaid="DE-8AA-00123"))
    elif name == "response_failed":
        msg = _signed(sim, values)
        msg.Body.CertificateInstallationRes.ResponseCode = "FAILED_NoCertificateAvailable"
    elif name == "wrong_body":
        msg = _signed(sim, values)
        msg.Body.CertificateUpdateRes = None
        msg.Body.CertificateInstallationRes, msg.Body.AuthorizationReq = None, exi.iso2.AuthorizationReqType()
    else:
        assert name == "not_exi"
        return b"\x80\x98" + os.urandom(60)
    return exi.encode(msg)


REJECTIONS = {
    "tampered_signature": E.SignatureValueInvalid, "digest_mismatch": E.DigestMismatch,
    "missing_reference": E.MissingReference, "unexpected_reference": E.UnexpectedReference,
    "cps_unknown_root": E.UnknownRoot, "cps_leaf_expired": E.CertificateExpired,
    "dh_not_on_curve": E.DhPublicKeyInvalid, "dh_wrong_length": E.DhPublicKeyInvalid,
    "key_mismatch": E.KeyMismatch, "chain_10kB": E.ChainTooLarge,
    "emaid_non_ascii": E.InvalidIdentifier, "emaid_malformed": E.InvalidIdentifier,
    "response_failed": E.ResponseNotOk, "wrong_body": E.MalformedResponse, "not_exi": E.MalformedResponse,
}


@pytest.mark.parametrize("name", sorted(REJECTIONS))
def test_each_rejection_has_its_own_error_and_leaves_the_store_unchanged(ev: Ev, name: str) -> None:
    first = ev.install(serve(ev.service, ev.request()))
    before = ev.snapshot()
    with pytest.raises(REJECTIONS[name]) as info:
        ev.install(_case(name, ev))
    assert str(info.value)
    assert ev.snapshot() == before and ev.ctx.store.list() == [first]


def test_request_refused_by_the_service_is_a_failed_response(ev: Ev) -> None:
    req = exi.decode("iso2", ev.request())
    req.Body.CertificateInstallationReq.OEMProvisioningCert = ev.service.sim.pki.certs["oem_prov_leaf"].public_bytes(
        Encoding.DER)  # not the certificate of the key that signed
    res = exi.encode(ev.service.answer(req, NOW))
    assert "CertificateInstallationReq" in ev.service.last_refusal
    with pytest.raises(E.ResponseNotOk) as info:
        ev.install(res)
    assert info.value.response_code == "FAILED_SignatureError" and ev.ctx.store.list() == []
    rogue_roots = dataclasses.replace(ev.ctx, v2g_roots=(ev.service.sim.pki.certs["oem_root"],))
    req2 = certificate_installation_req(SESSION_ID, ev.oem_cert, rogue_roots.v2g_roots, ev.ctx.keystore, ev.oem_label)
    assert ev.service.answer(req2, NOW).Body.CertificateInstallationRes.ResponseCode == "FAILED_NoCertificateAvailable"


def test_update_keeps_the_old_contract_usable_until_the_new_one_is_stored(ev: Ev) -> None:
    old = ev.install(serve(ev.service, ev.request()), priority=7)
    old_leaf = x509.load_der_x509_certificate(old.chain[0])

    def update_request() -> bytes:
        return exi.encode(certificate_update_req(SESSION_ID, old, ev.ctx.v2g_roots, ev.ctx.keystore))

    def old_signs() -> None:
        auth = authorization_req(SESSION_ID, os.urandom(16), ev.ctx.keystore, old.key_label or "")
        check_signed_request(exi.decode("iso2", exi.encode(auth)), "AuthorizationReq", old_leaf)

    response = serve(ev.service, update_request())
    assert "CertificateUpdateRes" in str(exi.decode("iso2", response).Body)
    # 1. a damaged update is rejected; the old contract is untouched and still signs
    damaged = exi.decode("iso2", response)
    damaged.Body.CertificateUpdateRes.DHpublickey.value = bytes(65)
    before = ev.snapshot()
    with pytest.raises(E.DigestMismatch):
        update_from_message(damaged, old_contract_id=old.contract_id, ctx=ev.ctx)
    assert ev.snapshot() == before
    old_signs()
    # 2. the values are decrypted with the old contract key and stored in one swap
    values, _ = response_values(decode_response(response), "CertificateUpdateRes")
    assert values.emaid == EMAID
    new = update_from_message(decode_response(response), old_contract_id=old.contract_id, ctx=ev.ctx)
    assert ev.ctx.store.list() == [new] and new.priority == 7 and new.key_label != old.key_label
    new_leaf = x509.load_der_x509_certificate(new.chain[0])
    auth = exi.encode(authorization_req(SESSION_ID, os.urandom(16), ev.ctx.keystore, new.key_label or ""))
    check_signed_request(exi.decode("iso2", auth), "AuthorizationReq", new_leaf)
    assert old.key_label not in {k.label for k in ev.ctx.keystore.list("contract/")}


def test_update_request_signed_with_the_contract_key_is_checked_by_the_service(ev: Ev) -> None:
    old = ev.install(serve(ev.service, ev.request()))
    req = certificate_update_req(SESSION_ID, old, ev.ctx.v2g_roots, ev.ctx.keystore)
    req.Body.CertificateUpdateReq.eMAID = "FRXYZ1234567892"  # changed after signing
    res = ev.service.answer(exi.decode("iso2", exi.encode(req)), NOW)
    assert res.Body.CertificateUpdateRes.ResponseCode == "FAILED_SignatureError"
    assert "digest" in ev.service.last_refusal
