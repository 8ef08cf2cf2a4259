"""ISO 15118-2 messages the EV signs with keys from its key store (ISO 15118-2 §8.4.3 message
definitions; XML signatures §7.9.2.4 and Annex J.4):

    CertificateInstallationReq  Id, OEMProvisioningCert, ListOfRootCertificateIDs   signed with the OEM
                                                                                    provisioning key
    CertificateUpdateReq        Id, ContractSignatureCertChain, eMAID, ListOfRootCertificateIDs
                                                                                    signed with the current
                                                                                    contract key
    AuthorizationReq            Id, GenChallenge                                    signed with the contract key

Each is returned as a complete ``iso2.V2G_Message`` whose Header.Signature references the body element (one
Reference, ECDSA-SHA256, raw r||s from the key store). ListOfRootCertificateIDs names the installed V2G roots
by X509IssuerName (RFC 4514 text) and X509SerialNumber (integer); at most 20 fit the schema.

Pure functions: session id, keys and certificates are passed in; nothing is read from disk or the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.signed import check_signature, keystore_signer
from evcc.contracts.store import Contract
from evcc.exi import schema_module
from evcc.exi.signature import ECDSA_SHA256, sign_elements
from evcc.hsm.keystore import KeyStore

if TYPE_CHECKING:
    from evcc.exi import iso2

MAX_ROOT_CERTIFICATE_IDS = 20  # ListOfRootCertificateIDsType: RootCertificateID maxOccurs 20
SESSION_ID_LENGTH = 8
SIGNED_BODY_ID = "ID1"


def _iso2() -> Any:
    return schema_module("iso2")


def root_certificate_ids(roots: Sequence[x509.Certificate], schema: str = "iso2") -> Any:
    """ListOfRootCertificateIDs of the installed V2G roots: (issuer as RFC 4514 text, serial as integer), in
    the classes of ``schema`` ("iso2" or "iso20_common": the type is the same)."""
    m = schema_module(schema)
    if not 0 < len(roots) <= MAX_ROOT_CERTIFICATE_IDS:
        raise ValueError(f"{len(roots)} root certificates; ListOfRootCertificateIDs holds 1 to "
                         f"{MAX_ROOT_CERTIFICATE_IDS}")
    return m.ListOfRootCertificateIDsType(RootCertificateID=[
        m.X509IssuerSerialType(X509IssuerName=r.issuer.rfc4514_string(), X509SerialNumber=r.serial_number)
        for r in roots])


def certificate_chain(ders: Sequence[bytes], ident: str | None = None) -> iso2.CertificateChainType:
    """CertificateChainType: the leaf, then SubCertificates (absent when there are none)."""
    m = _iso2()
    subs = m.SubCertificatesType(Certificate=list(ders[1:])) if len(ders) > 1 else None
    chain: iso2.CertificateChainType = m.CertificateChainType(Id=ident, Certificate=ders[0], SubCertificates=subs)
    return chain


def chain_ders(chain: iso2.CertificateChainType) -> tuple[bytes, ...]:
    """The DER certificates of a CertificateChainType, leaf first."""
    subs = chain.SubCertificates.Certificate if chain.SubCertificates is not None else []
    return (chain.Certificate, *subs)


def _check_session_id(session_id: bytes) -> None:
    if len(session_id) != SESSION_ID_LENGTH:
        raise ValueError(f"SessionID must be {SESSION_ID_LENGTH} bytes, got {len(session_id)}")


def _signed_message(session_id: bytes, element: str, body_value: Any, keystore: KeyStore,
                    key_label: str) -> iso2.V2G_Message:
    _check_session_id(session_id)
    m = _iso2()
    signature = sign_elements("iso2-fragment", [(element, body_value)], keystore_signer(keystore, key_label),
                              ECDSA_SHA256)
    message: iso2.V2G_Message = m.V2G_Message(
        Header=m.MessageHeaderType(SessionID=session_id, Signature=signature), Body=m.BodyType(**{element: body_value}))
    return message


def certificate_installation_req(session_id: bytes, oem_provisioning_cert: x509.Certificate,
                                 v2g_roots: Sequence[x509.Certificate], keystore: KeyStore,
                                 oem_key_label: str) -> iso2.V2G_Message:
    """CertificateInstallationReq signed with the OEM provisioning key in the key store."""
    req = _iso2().CertificateInstallationReqType(
        Id=SIGNED_BODY_ID, OEMProvisioningCert=oem_provisioning_cert.public_bytes(Encoding.DER),
        ListOfRootCertificateIDs=root_certificate_ids(v2g_roots))
    return _signed_message(session_id, "CertificateInstallationReq", req, keystore, oem_key_label)


def certificate_update_req(session_id: bytes, contract: Contract, v2g_roots: Sequence[x509.Certificate],
                           keystore: KeyStore) -> iso2.V2G_Message:
    """CertificateUpdateReq for ``contract``, signed with its own key."""
    if contract.key_label is None or not contract.chain:
        raise ValueError(f"contract {contract.contract_id} has no installed chain and key")
    req = _iso2().CertificateUpdateReqType(
        Id=SIGNED_BODY_ID, ContractSignatureCertChain=certificate_chain(contract.chain),
        eMAID=contract.emaid, ListOfRootCertificateIDs=root_certificate_ids(v2g_roots))
    return _signed_message(session_id, "CertificateUpdateReq", req, keystore, contract.key_label)


def authorization_req(session_id: bytes, gen_challenge: bytes, keystore: KeyStore,
                      contract_key_label: str) -> iso2.V2G_Message:
    """AuthorizationReq with the charger's GenChallenge, signed with the contract key."""
    if len(gen_challenge) != 16:
        raise ValueError(f"GenChallenge must be 16 bytes, got {len(gen_challenge)}")
    req = _iso2().AuthorizationReqType(Id=SIGNED_BODY_ID, GenChallenge=gen_challenge)
    return _signed_message(session_id, "AuthorizationReq", req, keystore, contract_key_label)


def check_signed_request(message: iso2.V2G_Message, element: str, signer: x509.Certificate) -> None:
    """Charger side: the body ``element`` is signed (and only it) by ``signer``'s key. Raises SignatureRejected."""
    value = getattr(message.Body, element)
    if value is None:
        raise ValueError(f"message body is not a {element}")
    check_signature("iso2-fragment", message.Header.Signature, message, [(element, value)], signer, ECDSA_SHA256)
