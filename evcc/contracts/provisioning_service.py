"""TEST ONLY: the certificate provisioning service at message level, for the SECC simulator and the bench.

:class:`ProvisioningService` answers a decoded request message with a complete, CPS-signed response message
(ISO 15118-2 §8.4.3 CertificateInstallation/CertificateUpdate; ISO 15118-20 CertificateInstallation):

    iso2 V2G_Message{CertificateInstallationReq}  -> V2G_Message{CertificateInstallationRes}
    iso2 V2G_Message{CertificateUpdateReq}        -> V2G_Message{CertificateUpdateRes}
    iso20 CertificateInstallationReq              -> CertificateInstallationRes (provisioning_service20.py)

Like a real backend it first checks the request: the signature over the request body (OEM provisioning key for
installation, contract key for update) and the signer's chain to the test PKI's OEM or MO root. A request that
fails gets a FAILED_* ResponseCode with placeholder content. The values come from
:class:`~evcc.contracts.provisioning_sim.ProvisioningSimulator`; the four references
(ContractSignatureCertChain, ContractSignatureEncryptedPrivateKey, DHpublickey, eMAID) are signed with the CPS
leaf key through :func:`evcc.exi.signature.sign_elements`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from evcc.contracts.chain import POLICY_ISO2, ChainPolicy, parse_chain, validate_chain
from evcc.contracts.emaid import normalize_emaid
from evcc.contracts.errors import ChainError, SignatureRejected
from evcc.contracts.install2 import ContractResponse2
from evcc.contracts.install20 import SkiEncoding
from evcc.contracts.messages2 import certificate_chain, chain_ders, check_signed_request
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.errors import SecurityError
from evcc.exi import schema_module
from evcc.exi.signature import ECDSA_SHA256, Signer, sign_elements
from evcc.hsm.tpm_wrap import StorageParent

REQUEST_POLICY = ChainPolicy(max_certificate_bytes=POLICY_ISO2.max_certificate_bytes)
IDS = {"ContractSignatureCertChain": "id1", "ContractSignatureEncryptedPrivateKey": "id2", "DHpublickey": "id3",
       "eMAID": "id4"}


def response_body_2(values: ContractResponse2, element: str, response_code: str = "OK") -> Any:
    """CertificateInstallationRes or CertificateUpdateRes (``element``) carrying ``values``, not yet signed."""
    m = schema_module("iso2")
    cls = m.CertificateInstallationResType if element == "CertificateInstallationRes" else m.CertificateUpdateResType
    return cls(
        ResponseCode=response_code, SAProvisioningCertificateChain=certificate_chain(values.cps_chain),
        ContractSignatureCertChain=certificate_chain(values.contract_chain, IDS["ContractSignatureCertChain"]),
        ContractSignatureEncryptedPrivateKey=m.ContractSignatureEncryptedPrivateKeyType(
            Id=IDS["ContractSignatureEncryptedPrivateKey"], value=values.encrypted_private_key),
        DHpublickey=m.DiffieHellmanPublickeyType(Id=IDS["DHpublickey"], value=values.dh_public_key),
        eMAID=m.EMAIDType(Id=IDS["eMAID"], value=values.emaid))


def signed_response_2(values: ContractResponse2, element: str, session_id: bytes, sign: Signer) -> Any:
    """A complete V2G_Message with ``element`` and the CPS signature over its four references."""
    m = schema_module("iso2")
    body = response_body_2(values, element)
    signature = sign_elements("iso2-fragment", [(name, getattr(body, name)) for name in IDS], sign, ECDSA_SHA256)
    return m.V2G_Message(Header=m.MessageHeaderType(SessionID=session_id, Signature=signature),
                         Body=m.BodyType(**{element: body}))


def failed_response_2(element: str, session_id: bytes, response_code: str) -> Any:
    """A FAILED_* response: the schema's mandatory elements with empty placeholders, no signature."""
    m = schema_module("iso2")
    empty = ContractResponse2(contract_chain=(b"",), encrypted_private_key=b"", dh_public_key=b"", emaid="",
                              cps_chain=(b"",))
    return m.V2G_Message(Header=m.MessageHeaderType(SessionID=session_id),
                         Body=m.BodyType(**{element: response_body_2(empty, element, response_code)}))


class RequestRefused(SecurityError):
    """Internal: the request fails a check; ``response_code`` is what the service answers."""

    def __init__(self, response_code: str, reason: str) -> None:
        super().__init__(reason)
        self.response_code = response_code


@dataclass
class ProvisioningService:
    """Answers request messages from one test PKI. ``emaid``: the contract to issue on installation."""

    sim: ProvisioningSimulator
    emaid: str = "DE8AA0012345670"
    ski_encoding: SkiEncoding = SkiEncoding.HEX_TEXT  # -20 AAD, see install20
    last_refusal: str = ""
    tpm_storage: StorageParent | None = None  # -20: answer with TPM_EncryptedPrivateKey for this TPM storage key

    def answer(self, request: Any, now: datetime) -> Any:
        """The response message to an ISO 15118-2 V2G_Message or an ISO 15118-20 CertificateInstallationReq."""
        if type(request).__name__ == "CertificateInstallationReqType":
            from evcc.contracts.provisioning_service20 import answer_20
            return answer_20(self, request, now)
        body = request.Body
        if body.CertificateInstallationReq is not None:
            element, handler = "CertificateInstallationRes", self._installation_2
        elif body.CertificateUpdateReq is not None:
            element, handler = "CertificateUpdateRes", self._update_2
        else:
            raise ValueError("the provisioning service answers CertificateInstallationReq/CertificateUpdateReq only")
        try:
            values = handler(request, now)
        except RequestRefused as exc:
            self.last_refusal = str(exc)
            return failed_response_2(element, request.Header.SessionID, exc.response_code)
        return signed_response_2(values, element, request.Header.SessionID, self.sim.sign)

    def check_roots(self, listed: list[Any]) -> None:
        """The EV must hold the V2G root our CPS chain hangs from (ListOfRootCertificateIDs)."""
        root = self.sim.pki.certs["v2g_root"]
        if not any(r.X509IssuerName == root.issuer.rfc4514_string() and r.X509SerialNumber == root.serial_number
                   for r in listed):
            raise RequestRefused("FAILED_NoCertificateAvailable",
                                 "no CPS chain for the EV's root certificates: " +
                                 "; ".join(f"{r.X509IssuerName} #{r.X509SerialNumber}" for r in listed))

    def signer_chain(self, ders: tuple[bytes, ...], sub_ca: str, root: str, now: datetime,
                     policy: ChainPolicy = REQUEST_POLICY) -> x509.Certificate:
        """Validate the requester's certificate (+ our Sub-CAs if it came alone) to our ``root``."""
        pki = self.sim.pki
        try:
            chain = parse_chain(ders, policy)
            if len(chain) == 1:
                chain += pki.chain(sub_ca)
            validate_chain(chain, (pki.certs[root],), now, policy)
        except ChainError as exc:
            raise RequestRefused("FAILED_CertChainError", f"requester chain: {exc}") from exc
        return chain[0]

    def _installation_2(self, request: Any, now: datetime) -> ContractResponse2:
        req = request.Body.CertificateInstallationReq
        self.check_roots(req.ListOfRootCertificateIDs.RootCertificateID)
        oem = self.signer_chain((req.OEMProvisioningCert,), "oem_sub_ca_2", "oem_root", now)
        _check_request_signature(request, "CertificateInstallationReq", oem)
        return self.sim.certificate_installation_2(oem, self.emaid, now)

    def _update_2(self, request: Any, now: datetime) -> ContractResponse2:
        req = request.Body.CertificateUpdateReq
        self.check_roots(req.ListOfRootCertificateIDs.RootCertificateID)
        contract = self.signer_chain(chain_ders(req.ContractSignatureCertChain), "mo_sub_ca_2", "mo_root", now)
        _check_request_signature(request, "CertificateUpdateReq", contract)
        emaid = normalize_emaid(req.eMAID)
        return self.sim.certificate_update_2(contract, emaid, now)


def _check_request_signature(request: Any, element: str, signer: x509.Certificate) -> None:
    try:
        check_signed_request(request, element, signer)
    except SignatureRejected as exc:
        raise RequestRefused("FAILED_SignatureError", f"{element}: {exc}") from exc
