"""ISO 15118-20 CertificateInstallation on the EV side, at message level (ISO 15118-20 message
definitions and XML signatures §8.4.1; [V2G20-2491..2502]; PKI.md §1):

    CertificateInstallationReq   Header{SessionID, TimeStamp, Signature}
                                 OEMProvisioningCertificateChain (Id, signed: ECDSA-SHA512 with P-521 or
                                                                  EdDSA Ed448, by the OEM key in the key store)
                                 ListOfRootCertificateIDs, MaximumContractCertificateChains, PrioritizedEMAIDs?

    CertificateInstallationRes   ResponseCode OK*, EVSEProcessing Finished   else ResponseNotOk
                                 CPSCertificateChain -> validated to an installed V2G root
                                 Header.Signature by the CPS leaf over exactly SignedInstallationData
                                 SignedInstallationData -> install_contract_20 (ECDH, SHA-512 KDF, AES-256-GCM)

Exactly one encrypted key must be present and it must match ECDHCurve; TPM_EncryptedPrivateKey (with ECDHCurve
SECP521) goes to TPM2_Import in a TPM key store (evcc.contracts.install20_tpm); other key stores reject it with
DecryptionFailed, naming it. Time (TimeStamp) is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.errors import MalformedResponse, ResponseNotOk
from evcc.contracts.install20 import EcdhCurve, SignedInstallationData20, SkiEncoding, install_contract_20
from evcc.contracts.install_common import InstallContext, VerifySignature
from evcc.contracts.messages2 import root_certificate_ids
from evcc.contracts.signed import ALGORITHM_OF_KEY, algorithm_of_certificate, check_signature, keystore_signer
from evcc.contracts.store import Contract
from evcc.exi import ExiError, decode_named, schema_module
from evcc.exi.signature import sign_elements
from evcc.hsm.keystore import KeyAlgorithm, KeyStore

GRAMMAR = "iso20-common-fragment"
SIGNED_CHAIN_ID = "ID1"
MAX_PRIORITIZED_EMAIDS = 8


def _m() -> Any:
    return schema_module("iso20_common")


def certificate_installation_req(session_id: bytes, timestamp: int, oem_chain: Sequence[x509.Certificate],
                                 v2g_roots: Sequence[x509.Certificate], keystore: KeyStore, oem_key_label: str,
                                 oem_key_algorithm: KeyAlgorithm, maximum_chains: int = 1,
                                 prioritized_emaids: Sequence[str] = ()) -> Any:
    """CertificateInstallationReq with the OEM provisioning chain signed by the OEM key in the key store."""
    if oem_key_algorithm not in (KeyAlgorithm.EC_P521, KeyAlgorithm.ED448):
        raise ValueError(f"-20 signatures use P-521 or Ed448, not {oem_key_algorithm.value}")
    if len(prioritized_emaids) > MAX_PRIORITIZED_EMAIDS:
        raise ValueError(f"PrioritizedEMAIDs holds at most {MAX_PRIORITIZED_EMAIDS}")
    m = _m()
    ders = [c.public_bytes(Encoding.DER) for c in oem_chain]
    chain = m.SignedCertificateChainType(
        Id=SIGNED_CHAIN_ID, Certificate=ders[0],
        SubCertificates=m.SubCertificatesType(Certificate=ders[1:]) if len(ders) > 1 else None)
    signature = sign_elements(GRAMMAR, [("OEMProvisioningCertificateChain", chain)],
                              keystore_signer(keystore, oem_key_label), ALGORITHM_OF_KEY[oem_key_algorithm])
    return m.CertificateInstallationReqType(
        Header=m.MessageHeaderType(SessionID=session_id, TimeStamp=timestamp, Signature=signature),
        OEMProvisioningCertificateChain=chain,
        ListOfRootCertificateIDs=root_certificate_ids(v2g_roots, "iso20_common"),
        MaximumContractCertificateChains=maximum_chains,
        PrioritizedEMAIDs=m.EMAIDListType(EMAID=list(prioritized_emaids)) if prioritized_emaids else None)


def decode_response_20(data: bytes) -> Any:
    """Decode EXI bytes of a -20 CertificateInstallationRes (other roots: :class:`MalformedResponse`)."""
    try:
        named = decode_named("iso20-common", data)
    except ExiError as exc:
        raise MalformedResponse(f"response is not a valid ISO 15118-20 EXI message: {exc}") from exc
    if named.name != "CertificateInstallationRes":
        raise MalformedResponse(f"expected CertificateInstallationRes, got {named.name}")
    return named.value


def _ders(chain: Any) -> tuple[bytes, ...]:
    subs = chain.SubCertificates.Certificate if chain.SubCertificates is not None else []
    return (chain.Certificate, *subs)


def _encrypted_key(data: Any) -> tuple[EcdhCurve, bytes, bool]:
    present = {name: getattr(data, name) for name in
               ("SECP521_EncryptedPrivateKey", "X448_EncryptedPrivateKey", "TPM_EncryptedPrivateKey")
               if getattr(data, name) is not None}
    if len(present) != 1:
        raise MalformedResponse(f"SignedInstallationData must carry exactly one encrypted key, has "
                                f"{', '.join(present) or 'none'}")
    (name, blob), = present.items()
    curve = EcdhCurve(data.ECDHCurve)
    if name == "TPM_EncryptedPrivateKey":
        return curve, blob, True
    if not name.startswith(curve.value):
        raise MalformedResponse(f"ECDHCurve {curve.value} but the response carries {name}")
    return curve, blob, False


def response_values_20(res: Any) -> tuple[SignedInstallationData20, VerifySignature]:
    """The values of a -20 CertificateInstallationRes and the CPS signature check over SignedInstallationData."""
    if not str(res.ResponseCode).startswith("OK"):
        raise ResponseNotOk(f"CertificateInstallationRes with ResponseCode {res.ResponseCode}", str(res.ResponseCode))
    if res.EVSEProcessing != "Finished":
        raise ResponseNotOk(f"CertificateInstallationRes with EVSEProcessing {res.EVSEProcessing}: no data yet",
                            str(res.ResponseCode))
    data = res.SignedInstallationData
    curve, blob, tpm_wrapped = _encrypted_key(data)
    values = SignedInstallationData20(
        contract_chain=_ders(data.ContractCertificateChain), ecdh_curve=curve, dh_public_key=data.DHPublicKey,
        encrypted_private_key=blob, cps_chain=_ders(res.CPSCertificateChain), tpm_wrapped=tpm_wrapped)

    def verify(cps_leaf: x509.Certificate) -> bool:
        check_signature(GRAMMAR, res.Header.Signature, res, [("SignedInstallationData", data)], cps_leaf,
                        algorithm_of_certificate(cps_leaf))
        return True

    return values, verify


def install_from_message_20(res: Any, *, pcid: str, ecdh_key_label: str, ctx: InstallContext,
                            ski_encoding: SkiEncoding = SkiEncoding.HEX_TEXT, priority: int = 0,
                            tpm_storage_key_label: str | None = None, replaces: str | None = None) -> Contract:
    """Process a decoded -20 CertificateInstallationRes into the stores (all or nothing); ``replaces``: a pending
    record it takes the place of (see :func:`install_contract_20`)."""
    values, verify = response_values_20(res)
    return install_contract_20(values, verify, pcid=pcid, ecdh_key_label=ecdh_key_label, ctx=ctx,
                               ski_encoding=ski_encoding, priority=priority,
                               tpm_storage_key_label=tpm_storage_key_label, replaces=replaces)
