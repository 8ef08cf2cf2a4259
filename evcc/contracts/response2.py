"""A received ISO 15118-2 CertificateInstallationRes / CertificateUpdateRes, from the decoded V2G_Message to a
stored contract ([V2G2-818..823], §7.9.2.4.3; PKI.md §1).

    EXI bytes --exi.decode("iso2")--> V2G_Message            undecodable: MalformedResponse
      Body.CertificateInstallationRes | CertificateUpdateRes  else MalformedResponse
      ResponseCode OK*                                        else ResponseNotOk (nothing else is read)
      values -> ContractResponse2 -> install_contract_2 / update_contract_2 (sizes, eMAID, CPS chain, then:)
        Header.Signature by the validated CPS leaf over exactly
        ContractSignatureCertChain, ContractSignatureEncryptedPrivateKey, DHpublickey, eMAID
        (ECDSA-SHA256)                                        else a SignatureRejected subclass (signed.py)
        -> ECDH in the key store, KDF, AES-128-CBC, [V2G2-823], import, one atomic store write

All or nothing: any rejection leaves the contract store and the key store as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography import x509

from evcc.contracts.errors import MalformedResponse, ResponseNotOk
from evcc.contracts.install2 import ContractResponse2, install_contract_2, update_contract_2
from evcc.contracts.install_common import InstallContext, VerifySignature
from evcc.contracts.messages2 import chain_ders
from evcc.contracts.signed import check_signature
from evcc.contracts.store import Contract
from evcc.exi import ExiError, decode
from evcc.exi.signature import ECDSA_SHA256

if TYPE_CHECKING:
    from evcc.exi import iso2

SIGNED_ELEMENTS = ("ContractSignatureCertChain", "ContractSignatureEncryptedPrivateKey", "DHpublickey", "eMAID")
RESPONSES = ("CertificateInstallationRes", "CertificateUpdateRes")


def decode_response(data: bytes) -> iso2.V2G_Message:
    """Decode EXI bytes of a V2G_Message (ISO 15118-2); codec errors become :class:`MalformedResponse`."""
    try:
        message: iso2.V2G_Message = decode("iso2", data)
    except ExiError as exc:
        raise MalformedResponse(f"response is not a valid ISO 15118-2 EXI message: {exc}") from exc
    return message


def _body(message: iso2.V2G_Message, element: str) -> Any:
    body = getattr(message.Body, element, None)
    if body is None:
        present = [f for f, v in zip(message.Body._fields, message.Body) if v is not None]
        raise MalformedResponse(f"expected {element}, the message body holds {', '.join(present) or 'nothing'}")
    if not str(body.ResponseCode).startswith("OK"):
        raise ResponseNotOk(f"{element} with ResponseCode {body.ResponseCode}", str(body.ResponseCode))
    return body


def response_values(message: iso2.V2G_Message, element: str) -> tuple[ContractResponse2, VerifySignature]:
    """The values of ``element`` (one of :data:`RESPONSES`) and the CPS signature check over them.

    The check runs when the installation core calls it with the validated CPS leaf certificate.
    """
    if element not in RESPONSES:
        raise ValueError(f"not an installation response: {element}")
    body = _body(message, element)
    values = ContractResponse2(
        contract_chain=chain_ders(body.ContractSignatureCertChain),
        encrypted_private_key=body.ContractSignatureEncryptedPrivateKey.value,
        dh_public_key=body.DHpublickey.value, emaid=body.eMAID.value,
        cps_chain=chain_ders(body.SAProvisioningCertificateChain))
    signed = [(name, getattr(body, name)) for name in SIGNED_ELEMENTS]

    def verify(cps_leaf: x509.Certificate) -> bool:
        check_signature("iso2-fragment", message.Header.Signature, message, signed, cps_leaf, ECDSA_SHA256)
        return True

    return values, verify


def install_from_message(message: iso2.V2G_Message, *, oem_key_label: str, ctx: InstallContext,
                         priority: int = 0, pending_id: str | None = None) -> Contract:
    """Process a CertificateInstallationRes (ECDH with the OEM provisioning key [V2G2-820])."""
    values, verify = response_values(message, "CertificateInstallationRes")
    return install_contract_2(values, verify, oem_key_label=oem_key_label, ctx=ctx, priority=priority,
                              pending_id=pending_id)


def update_from_message(message: iso2.V2G_Message, *, old_contract_id: str, ctx: InstallContext) -> Contract:
    """Process a CertificateUpdateRes (ECDH with the current contract key [V2G2-821]); the old contract stays
    usable until the new one is stored."""
    values, verify = response_values(message, "CertificateUpdateRes")
    return update_contract_2(values, verify, old_contract_id=old_contract_id, ctx=ctx)
