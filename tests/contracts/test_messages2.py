"""ISO 15118-2 requests signed in a real SoftHSM2 token (CertificateInstallationReq, CertificateUpdateReq,
AuthorizationReq) and the strict signature check (evcc.contracts.signed), each through EXI bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509

from evcc import exi
from evcc.contracts import errors as E
from evcc.contracts.messages2 import (
    authorization_req,
    certificate_installation_req,
    check_signed_request,
    root_certificate_ids,
)
from evcc.contracts.signed import check_signature
from evcc.exi import iso2
from evcc.exi.signature import ECDSA_SHA256, ECDSA_SHA512, sign_elements
from evcc.hsm.hostcrypto import ecdsa_der
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki

from contracts_helpers import SESSION_ID, oem_key_in_store


@pytest.fixture()
def oem(token: Pkcs11KeyStore, pki2: TestPki) -> tuple[str, x509.Certificate]:
    return oem_key_in_store(pki2, token, KeyAlgorithm.EC_P256)


def wire(msg: iso2.V2G_Message) -> iso2.V2G_Message:
    return exi.decode("iso2", exi.encode(msg))


def test_installation_req_signed_by_the_oem_key_in_the_token(token: Pkcs11KeyStore, pki2: TestPki, oem) -> None:  # type: ignore[no-untyped-def]
    label, cert = oem
    roots = [pki2.certs["v2g_root"], pki2.root_of("cps_leaf")]
    msg = wire(certificate_installation_req(SESSION_ID, cert, roots, token, label))
    req = msg.Body.CertificateInstallationReq
    assert msg.Header.SessionID == SESSION_ID and req.Id == "ID1"
    assert x509.load_der_x509_certificate(req.OEMProvisioningCert) == cert
    ids = req.ListOfRootCertificateIDs.RootCertificateID
    root = pki2.certs["v2g_root"]
    assert ids[0].X509IssuerName == root.issuer.rfc4514_string() and ids[0].X509IssuerName.startswith("DC=V2G,")
    assert "CN=V2GRootCA" in ids[0].X509IssuerName and "<Name" not in ids[0].X509IssuerName
    assert ids[0].X509SerialNumber == root.serial_number and isinstance(ids[0].X509SerialNumber, int)
    refs = msg.Header.Signature.SignedInfo.Reference
    assert [r.URI for r in refs] == ["#ID1"] and len(msg.Header.Signature.SignatureValue.value) == 64
    check_signed_request(msg, "CertificateInstallationReq", cert)  # raises on any mismatch
    # the signature value is raw r||s; as DER it verifies with `cryptography` directly
    assert ecdsa_der(msg.Header.Signature.SignatureValue.value).startswith(b"\x30")


def test_installation_req_changed_after_signing_is_detected(token: Pkcs11KeyStore, pki2: TestPki, oem) -> None:  # type: ignore[no-untyped-def]
    label, cert = oem
    msg = certificate_installation_req(SESSION_ID, cert, [pki2.certs["v2g_root"]], token, label)
    msg.Body.CertificateInstallationReq.ListOfRootCertificateIDs.RootCertificateID[0].X509SerialNumber += 1
    with pytest.raises(E.DigestMismatch, match="CertificateInstallationReq"):
        check_signed_request(wire(msg), "CertificateInstallationReq", cert)
    other = pki2.certs["oem_prov_leaf"]  # same profile, another key
    fresh = wire(certificate_installation_req(SESSION_ID, cert, [pki2.certs["v2g_root"]], token, label))
    with pytest.raises(E.SignatureValueInvalid):
        check_signed_request(fresh, "CertificateInstallationReq", other)


def test_authorization_req_gen_challenge_signature(token: Pkcs11KeyStore, pki2: TestPki, oem) -> None:  # type: ignore[no-untyped-def]
    label, cert = oem  # any P-256 key in the token signs the same way as a contract key
    challenge = os.urandom(16)
    msg = wire(authorization_req(SESSION_ID, challenge, token, label))
    assert msg.Body.AuthorizationReq.GenChallenge == challenge
    check_signed_request(msg, "AuthorizationReq", cert)
    msg.Body.AuthorizationReq.GenChallenge = os.urandom(16)  # a replay against another challenge
    with pytest.raises(E.DigestMismatch):
        check_signed_request(msg, "AuthorizationReq", cert)
    with pytest.raises(ValueError, match="16 bytes"):
        authorization_req(SESSION_ID, b"short", token, label)


def test_root_certificate_ids_bounds(pki2: TestPki) -> None:
    with pytest.raises(ValueError, match="1 to 20"):
        root_certificate_ids([])
    with pytest.raises(ValueError, match="1 to 20"):
        root_certificate_ids([pki2.certs["v2g_root"]] * 21)
    assert len(root_certificate_ids([pki2.certs["v2g_root"]] * 20).RootCertificateID) == 20


class _Signed:
    """A CertificateInstallationRes-like message signed by a test key over chosen elements."""

    def __init__(self, pki: TestPki) -> None:
        self.key = pki.signing_key("cps_leaf")
        self.cert = pki.certs["cps_leaf"]
        self.body = iso2.AuthorizationReqType(Id="a1", GenChallenge=bytes(16))

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        from evcc.hsm.hostcrypto import ecdsa_raw
        return ecdsa_raw(self.key.sign(data, ec.ECDSA(hashes.SHA256())), KeyAlgorithm.EC_P256)  # type: ignore[call-arg]

    def message(self, elements: list[tuple[str, object]], algorithm=ECDSA_SHA256):  # type: ignore[no-untyped-def]
        sig = sign_elements("iso2-fragment", elements, self.sign, algorithm)  # type: ignore[arg-type]
        return iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=SESSION_ID, Signature=sig),
                                Body=iso2.BodyType(AuthorizationReq=self.body))


def test_signature_check_rules(pki2: TestPki, tmp_path: Path) -> None:
    s = _Signed(pki2)
    good = wire(s.message([("AuthorizationReq", s.body)]))
    check_signature("iso2-fragment", good.Header.Signature, good, [("AuthorizationReq", good.Body.AuthorizationReq)],
                    s.cert, ECDSA_SHA256)
    cases = []
    # no signature at all
    bare = wire(iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=SESSION_ID),
                                 Body=iso2.BodyType(AuthorizationReq=s.body)))
    cases.append((bare, E.MissingReference, "no Signature"))
    # a signature that references nothing of what must be signed
    other = iso2.EMAIDType(Id="x9", value="DE8AA0012345670")
    cases.append((wire(s.message([("eMAID", other)])), E.MissingReference, "AuthorizationReq"))
    # the required element plus another one
    extra = s.message([("AuthorizationReq", s.body), ("eMAID", other)])
    cases.append((wire(extra), E.UnexpectedReference, "#x9"))
    # the same reference twice
    twice = s.message([("AuthorizationReq", s.body), ("AuthorizationReq", s.body)])
    cases.append((wire(twice), E.UnexpectedReference, "twice"))
    # a SignatureMethod other than the one the profile requires
    cases.append((wire(s.message([("AuthorizationReq", s.body)], ECDSA_SHA512)), E.SignatureValueInvalid,
                  "SignatureMethod"))
    # the Id of the signed element also on another element (the signature must cover what we use)
    dup = wire(s.message([("AuthorizationReq", s.body)]))
    dup.Header.Signature.Id = "a1"
    cases.append((dup, E.UnexpectedReference, "not unique"))
    for msg, error, text in cases:
        with pytest.raises(error, match=text):
            check_signature("iso2-fragment", msg.Header.Signature, msg,
                            [("AuthorizationReq", msg.Body.AuthorizationReq)], s.cert, ECDSA_SHA256)
