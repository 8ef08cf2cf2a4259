"""TEST ONLY: the ISO 15118-20 half of :class:`~evcc.contracts.provisioning_service.ProvisioningService`.

CertificateInstallationReq -> CertificateInstallationRes [V2G20-2491..2502]: the OEM provisioning chain is
validated to the test PKI's OEM root and its signature checked (ECDSA-SHA512 or EdDSA Ed448), then the
simulator issues a contract (SECP521 with the P-521 PKI, X448 with the Ed448 PKI), and SignedInstallationData
is signed with the CPS leaf key. PCID = the OEM provisioning certificate's CN; eMAID = the first of
PrioritizedEMAIDs, else the service's default. When the OEM provisioning certificate names a TPM storage key
(a P-521 key in subjectAltPublicKeyInfo, evcc.contracts.install20_tpm), or ``ProvisioningService.tpm_storage``
is set, the contract key travels as TPM_EncryptedPrivateKey for that key instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from evcc.contracts.chain import POLICY_ISO20, ChainPolicy, common_name
from evcc.contracts.errors import SignatureRejected
from evcc.contracts.install20 import EcdhCurve, SignedInstallationData20
from evcc.contracts.install20_tpm import named_storage_parent
from evcc.contracts.signed import algorithm_of_certificate, check_signature
from evcc.exi import schema_module
from evcc.exi.signature import sign_elements
from evcc.pki.profiles import Suite

if TYPE_CHECKING:
    from evcc.contracts.provisioning_service import ProvisioningService

GRAMMAR = "iso20-common-fragment"
SIGNED_DATA_ID = "ID2"
REQUEST_POLICY_20 = ChainPolicy(max_certificate_bytes=POLICY_ISO20.max_certificate_bytes,
                                max_sub_cas=POLICY_ISO20.max_sub_cas)
# -2 refusal codes of RequestRefused -> the -20 ResponseCode that says the same.
CODES_20 = {"FAILED_CertChainError": "WARNING_CertificateValidationError",
            "FAILED_NoCertificateAvailable": "WARNING_NoCertificateAvailable",
            "FAILED_SignatureError": "FAILED_SignatureError"}


def _chain(m: Any, cls: Any, ders: tuple[bytes, ...]) -> Any:
    subs = m.SubCertificatesType(Certificate=list(ders[1:])) if len(ders) > 1 else None
    return cls(Certificate=ders[0], SubCertificates=subs)


def response_20(values: SignedInstallationData20, session_id: bytes, now: datetime, response_code: str = "OK"
                ) -> Any:
    """CertificateInstallationRes carrying ``values`` (not yet signed)."""
    m = schema_module("iso20_common")
    key_field = "TPM_EncryptedPrivateKey" if values.tpm_wrapped else f"{values.ecdh_curve.value}_EncryptedPrivateKey"
    data = m.SignedInstallationDataType(
        Id=SIGNED_DATA_ID, ContractCertificateChain=_chain(m, m.ContractCertificateChainType, values.contract_chain),
        ECDHCurve=values.ecdh_curve.value, DHPublicKey=values.dh_public_key,
        **{key_field: values.encrypted_private_key})
    return m.CertificateInstallationResType(
        Header=m.MessageHeaderType(SessionID=session_id, TimeStamp=int(now.timestamp())),
        ResponseCode=response_code, EVSEProcessing="Finished",
        CPSCertificateChain=_chain(m, m.CertificateChainType, values.cps_chain),
        SignedInstallationData=data, RemainingContractCertificateChains=0)


def answer_20(service: ProvisioningService, request: Any, now: datetime) -> Any:
    """The complete, CPS-signed CertificateInstallationRes to ``request`` (or a refusal with placeholders)."""
    from evcc.contracts.provisioning_service import RequestRefused

    try:
        values = _values(service, request, now)
    except RequestRefused as exc:
        service.last_refusal = str(exc)
        empty = SignedInstallationData20((b"", b""), EcdhCurve.SECP521, b"", b"", (b"",))  # schema minimum
        return response_20(empty, request.Header.SessionID, now, CODES_20[exc.response_code])
    res = response_20(values, request.Header.SessionID, now)
    cps_leaf = service.sim.pki.certs[service.sim.cps_leaf]
    res.Header.Signature = sign_elements(GRAMMAR, [("SignedInstallationData", res.SignedInstallationData)],
                                         service.sim.sign, algorithm_of_certificate(cps_leaf))
    return res


def _values(service: ProvisioningService, request: Any, now: datetime) -> SignedInstallationData20:
    from evcc.contracts.provisioning_service import RequestRefused

    service.check_roots(request.ListOfRootCertificateIDs.RootCertificateID)
    signed = request.OEMProvisioningCertificateChain
    subs = signed.SubCertificates.Certificate if signed.SubCertificates is not None else []
    oem = service.signer_chain((signed.Certificate, *subs), "oem_sub_ca_2", "oem_root", now, REQUEST_POLICY_20)
    try:
        check_signature(GRAMMAR, request.Header.Signature, request, [("OEMProvisioningCertificateChain", signed)],
                        oem, algorithm_of_certificate(oem))
    except SignatureRejected as exc:
        raise RequestRefused("FAILED_SignatureError", f"CertificateInstallationReq: {exc}") from exc
    emaids = request.PrioritizedEMAIDs.EMAID if request.PrioritizedEMAIDs is not None else []
    storage = service.tpm_storage or named_storage_parent(oem)
    if storage is not None:  # the EV's TPM storage key: answer with TPM_EncryptedPrivateKey
        return service.sim.certificate_installation_20_tpm(emaids[0] if emaids else service.emaid, now, storage)
    curve = EcdhCurve.X448 if service.sim.pki.suite is Suite.ISO20_ED448 else EcdhCurve.SECP521
    return service.sim.certificate_installation_20(oem, common_name(oem), emaids[0] if emaids else service.emaid,
                                                   now, curve, service.ski_encoding)
