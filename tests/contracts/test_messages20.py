"""ISO 15118-20 CertificateInstallation through EXI bytes ([V2G20-2491..2502]): the request's
OEMProvisioningCertificateChain signed with the OEM key (P-521 in SoftHSM2; Ed448 in the software store), the
response's SignedInstallationData signed by the CPS and decrypted (SECP521 in the token, X448 in software)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed448, x448
from cryptography.hazmat.primitives.serialization import Encoding

from evcc import exi
from evcc.contracts import errors as E
from evcc.contracts.install_common import InstallContext
from evcc.contracts.messages20 import certificate_installation_req, decode_response_20, install_from_message_20
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.exi.signature import ECDSA_SHA512, EDDSA_ED448
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.pki.generator import TestPki, alt_key_extension, issue_certificate
from evcc.pki.profiles import TEST_PCID, profile_table

from contracts_helpers import NOW, SESSION_ID, make_context, oem_key_in_store

EMAID = "NN123ABCDEFGHIT"


class Ev20:
    def __init__(self, ctx: InstallContext, sign_label: str, sign_alg: KeyAlgorithm, ecdh_label: str,
                 oem_cert: x509.Certificate, pki: TestPki) -> None:
        self.ctx, self.sign_label, self.sign_alg, self.ecdh_label = ctx, sign_label, sign_alg, ecdh_label
        self.oem_chain = [oem_cert] + pki.chain("oem_sub_ca_2")
        self.service = ProvisioningService(ProvisioningSimulator(pki))

    def request(self, emaids: tuple[str, ...] = (EMAID,)) -> Any:
        return certificate_installation_req(SESSION_ID, int(NOW.timestamp()), self.oem_chain, self.ctx.v2g_roots,
                                            self.ctx.keystore, self.sign_label, self.sign_alg,
                                            prioritized_emaids=emaids)

    def exchange(self, req: Any | None = None) -> bytes:
        wire = exi.encode(self.request() if req is None else req)
        return exi.encode(self.service.answer(exi.decode("iso20-common", wire), NOW))

    def install(self, data: bytes) -> Any:
        return install_from_message_20(decode_response_20(data), pcid=TEST_PCID, ecdh_key_label=self.ecdh_label,
                                       ctx=self.ctx)


@pytest.fixture()
def p521(tmp_path: Path, token: Pkcs11KeyStore, pki20: TestPki) -> Ev20:
    label, cert = oem_key_in_store(pki20, token, KeyAlgorithm.EC_P521)
    return Ev20(make_context(tmp_path, token, pki20), label, KeyAlgorithm.EC_P521, label, cert, pki20)


@pytest.fixture()
def ed448_x448(tmp_path: Path, pki448: TestPki) -> Ev20:
    keys: KeyStore = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "keys", passphrase=b"bench"))
    sign_label = f"oem/{uuid.uuid4().hex[:8]}"
    signing = keys.generate(sign_label, KeyAlgorithm.ED448)
    alt = keys.generate(sign_label + "/x448", KeyAlgorithm.X448)
    issuer = (pki448.certs["oem_sub_ca_2"], pki448.signing_key("oem_sub_ca_2"))
    cert = issue_certificate(profile_table()["oem_prov_leaf"], ed448.Ed448PublicKey.from_public_bytes(signing.public),
                             issuer, issuer[1], pki448.suite, NOW,
                             (alt_key_extension(x448.X448PublicKey.from_public_bytes(alt.public)),))
    return Ev20(make_context(tmp_path, keys, pki448), sign_label, KeyAlgorithm.ED448, alt.label, cert, pki448)


def test_p521_request_and_installation_into_the_token(p521: Ev20) -> None:
    req = exi.decode("iso20-common", exi.encode(p521.request()))
    sig = req.Header.Signature
    assert sig.SignedInfo.SignatureMethod.Algorithm == ECDSA_SHA512.signature_method
    assert [r.URI for r in sig.SignedInfo.Reference] == ["#ID1"] and len(sig.SignatureValue.value) == 132
    assert req.ListOfRootCertificateIDs.RootCertificateID[0].X509IssuerName.startswith("DC=V2G,")
    res = p521.exchange()
    assert decode_response_20(res).Header.Signature.SignedInfo.Reference[0].URI == "#ID2"
    contract = p521.install(res)
    assert contract.emaid == EMAID and p521.ctx.store.list() == [contract]
    leaf = x509.load_der_x509_certificate(contract.chain[0])
    challenge = b"0123456789abcdef"
    sig2 = p521.ctx.keystore.sign(contract.key_label or "", challenge)
    assert verify_raw(leaf.public_key(), challenge, sig2)  # type: ignore[arg-type]


def test_ed448_request_and_x448_installation(ed448_x448: Ev20) -> None:
    req = exi.decode("iso20-common", exi.encode(ed448_x448.request()))
    assert req.Header.Signature.SignedInfo.SignatureMethod.Algorithm == EDDSA_ED448.signature_method
    res = decode_response_20(ed448_x448.exchange())
    assert res.Header.Signature.SignedInfo.SignatureMethod.Algorithm == EDDSA_ED448.signature_method
    assert res.SignedInstallationData.ECDHCurve == "X448" and len(res.SignedInstallationData.DHPublicKey) == 56
    contract = ed448_x448.install(exi.encode(res))
    assert contract.emaid == EMAID


def test_service_refuses_a_request_changed_after_signing(p521: Ev20) -> None:
    req = p521.request()
    other_leaf = p521.service.sim.pki.certs["oem_prov_leaf"]  # valid chain, not the signer's certificate
    req.OEMProvisioningCertificateChain.Certificate = other_leaf.public_bytes(Encoding.DER)
    res = decode_response_20(p521.exchange(req))
    assert res.ResponseCode == "FAILED_SignatureError" and "digest" in p521.service.last_refusal
    with pytest.raises(E.ResponseNotOk):
        p521.install(exi.encode(res))


def _mutate(name: str, res: Any) -> None:
    data = res.SignedInstallationData
    if name == "tampered_signature":
        sig = bytearray(res.Header.Signature.SignatureValue.value)
        sig[7] ^= 0x10
        res.Header.Signature.SignatureValue.value = bytes(sig)
    elif name == "digest_mismatch":
        blob = bytearray(data.SECP521_EncryptedPrivateKey)
        blob[40] ^= 0x01
        data.SECP521_EncryptedPrivateKey = bytes(blob)
    elif name == "missing_reference":
        data.Id = "ID7"
    elif name == "two_keys":
        data.X448_EncryptedPrivateKey = bytes(84)
    elif name == "tpm_key":
        data.SECP521_EncryptedPrivateKey, data.TPM_EncryptedPrivateKey = None, bytes(100)
    elif name == "curve_mismatch":
        data.ECDHCurve = "X448"
    elif name == "ongoing":
        res.EVSEProcessing = "Ongoing"
    elif name == "cps_wrong_root":
        res.CPSCertificateChain.Certificate = res.SignedInstallationData.ContractCertificateChain.Certificate


REJECTIONS_20 = {
    "tampered_signature": E.SignatureValueInvalid, "digest_mismatch": E.DigestMismatch,
    "missing_reference": E.MissingReference, "two_keys": E.MalformedResponse, "tpm_key": E.DecryptionFailed,
    "curve_mismatch": E.MalformedResponse, "ongoing": E.ResponseNotOk, "cps_wrong_root": E.ChainError,
}


@pytest.mark.parametrize("name", sorted(REJECTIONS_20))
def test_rejections_leave_the_stores_unchanged(p521: Ev20, name: str) -> None:
    res = decode_response_20(p521.exchange())
    _mutate(name, res)
    before = p521.ctx.keystore.list("contract/")
    if name == "two_keys":  # a choice in the schema: no EXI stream carries both, only a built object can
        with pytest.raises(exi.ExiError, match="X448_EncryptedPrivateKey"):
            exi.encode(res)
        received = res
    else:
        received = decode_response_20(exi.encode(res))
    with pytest.raises(REJECTIONS_20[name]) as info:
        install_from_message_20(received, pcid=TEST_PCID, ecdh_key_label=p521.ecdh_label, ctx=p521.ctx)
    assert str(info.value)
    assert p521.ctx.store.list() == [] and p521.ctx.keystore.list("contract/") == before
    assert not (p521.ctx.store.directory / "contracts.json").exists()
