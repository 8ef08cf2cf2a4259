"""ISO 15118-20 ``TPM_EncryptedPrivateKey`` on the EV side (SignedInstallationData, PKI.md §1): the contract key
arrives as a TPM 2.0 duplication blob with an outer wrapper only, made by the CPS for the EV's TPM storage key
(TPM 2.0 Library Part 1 §23.3), and goes into the TPM with TPM2_Import: it never exists in plaintext on the EV.

    DHPublicKey              133 bytes 04||X||Y: the CPS's ephemeral P-521 point = TPM2_Import inSymSeed
                             (seed = KDFe(SHA-512, ECDH(storage key, point), "DUPLICATE", ...))
    TPM_EncryptedPrivateKey  206 bytes: TPM2_Import duplicate (outer HMAC || AES-256-CFB(TPM2B_SENSITIVE))
    contract key public area built on both sides from the contract certificate (evcc.hsm.tpm_objects.
                             contract_public_20); its name binds the blob, so a blob for another key fails the
                             TPM's integrity check

The storage key (P-521, SHA-512, AES-256-CFB, restricted decrypt) is created in the TPM beforehand
(``TpmKeyStore.create_storage_key``). How the CPS learns it ("the TPM storage key named in the OEM certificate",
PKI.md §1) is our model, not the standard's text: -20's CertificateInstallationReq carries no field for it (only
OEMProvisioningCertificateChain, ListOfRootCertificateIDs, MaximumContractCertificateChains, PrioritizedEMAIDs),
and the storage key cannot be the certificate's subject key (a restricted decryption key cannot sign the request).
So the OEM provisioning certificate carries the storage key's P-521 public key in subjectAltPublicKeyInfo
(2.5.29.72), the extension the Ed448 profile already uses for its X448 ECDH key (:func:`storage_key_extension`,
issued at the production line with the certificate). The rest of the parent's public area is fixed: the schema's
206-byte TPM_EncryptedPrivateKey is exactly the size for a SHA-512 nameAlg and AES-256 (evcc.hsm.tpm_wrap), so
the point is all a CPS needs (:func:`named_storage_parent`). The EV finds the key by the same point
(:func:`storage_key_label`). Limits: a real CPS may learn the storage key another way (OEM backend data), and
nothing guarantees that it accepts this extension in a P-521 certificate; interop is untested. After the import the key signs a random challenge that must verify
with the certificate's key (the key check of the other paths: the TPM does not compare d*G with the public
area); otherwise the key is deleted and :class:`KeyMismatch` raised. All or nothing, like the other paths.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from evcc.contracts.chain import POLICY_ISO20
from evcc.contracts.errors import DecryptionFailed, DhPublicKeyInvalid, KeyMismatch, MalformedResponse
from evcc.contracts.install20 import EcdhCurve, SignedInstallationData20
from evcc.contracts.install_common import (
    InstallContext,
    VerifySignature,
    checked_contract_chain,
    new_key_label,
    store_contract,
    verified_cps_leaf,
)
from evcc.contracts.store import Contract
from evcc.hsm.hostcrypto import peer_public, verify_raw
from evcc.hsm.keystore import InvalidPeerKey, KeyAlgorithm, KeyInfo, KeyStore, KeyStoreError
from evcc.hsm.tpm_wrap import TPM20_MAX_DUPLICATE, TPM_ALG_SHA512, StorageParent, WrappedKeyRejected
from evcc.pki.generator import OID_SUBJECT_ALT_PUBLIC_KEY_INFO

DH_LENGTH = 133
STORAGE_AES_BITS = 256  # evcc.hsm.tpm_objects.storage20_template


def storage_key_extension(point: bytes) -> x509.UnrecognizedExtension:
    """subjectAltPublicKeyInfo (2.5.29.72) naming the EV's -20 TPM storage key (P-521, X9.62 ``point``) in its
    OEM provisioning certificate (module docstring)."""
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP521R1(), point)
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return x509.UnrecognizedExtension(OID_SUBJECT_ALT_PUBLIC_KEY_INFO, spki)


def _named_point(oem_cert: x509.Certificate) -> bytes | None:
    try:
        ext = oem_cert.extensions.get_extension_for_oid(OID_SUBJECT_ALT_PUBLIC_KEY_INFO).value
        key = load_der_public_key(ext.value)  # type: ignore[attr-defined]
    except (x509.ExtensionNotFound, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp521r1":
        return None  # e.g. the Ed448 profile's X448 ECDH key
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def named_storage_parent(oem_cert: x509.Certificate) -> StorageParent | None:
    """The TPM storage key an OEM provisioning certificate names (a P-521 key in subjectAltPublicKeyInfo), as
    a CPS wraps for it; None when the certificate names none."""
    point = _named_point(oem_cert)
    if point is None:
        return None
    return StorageParent(ec.SECP521R1(), point[1:67], point[67:], TPM_ALG_SHA512, STORAGE_AES_BITS)


def storage_key_label(keystore: KeyStore, oem_cert: x509.Certificate) -> str | None:
    """The label of the storage key in ``keystore`` that ``oem_cert`` names, None when it names none or the key
    store cannot import TPM blobs. A certificate naming a key the store lacks: :class:`DecryptionFailed` at the
    install, which says so."""
    point = _named_point(oem_cert)
    if point is None or not isinstance(keystore, WrappedImport):
        return None
    for info in keystore.list():
        if info.algorithm is KeyAlgorithm.EC_P521 and info.public == point:
            return info.label
    return None


@runtime_checkable
class WrappedImport(Protocol):
    """A key store that can TPM2_Import a duplication blob (evcc.hsm.tpm_store.TpmKeyStore)."""

    def import_wrapped(self, label: str, parent_label: str, algorithm: KeyAlgorithm, public: bytes,
                       duplicate: bytes, seed_point: bytes) -> KeyInfo: ...


def install_tpm_wrapped(data: SignedInstallationData20, verify: VerifySignature, *, ctx: InstallContext,
                        storage_key_label: str | None, priority: int = 0, replaces: str | None = None) -> Contract:
    """Process SignedInstallationData carrying TPM_EncryptedPrivateKey into the TPM and the contract store."""
    importer = ctx.keystore
    if not isinstance(importer, WrappedImport) or storage_key_label is None:
        raise DecryptionFailed("TPM_EncryptedPrivateKey needs TPM2_Import, which this key store does not offer"
                               if not isinstance(importer, WrappedImport) else
                               "TPM_EncryptedPrivateKey received but no TPM storage key is configured (the OEM "
                               "certificate names none that is in the key store)")
    if data.ecdh_curve is not EcdhCurve.SECP521:
        raise MalformedResponse(f"TPM_EncryptedPrivateKey with ECDHCurve {data.ecdh_curve.value}: needs SECP521")
    if len(data.dh_public_key) != DH_LENGTH:
        raise DhPublicKeyInvalid(f"DHPublicKey must be {DH_LENGTH} bytes, got {len(data.dh_public_key)}")
    if len(data.encrypted_private_key) != TPM20_MAX_DUPLICATE:  # the schema's fixed length
        raise DecryptionFailed(f"TPM_EncryptedPrivateKey must be {TPM20_MAX_DUPLICATE} bytes, "
                               f"got {len(data.encrypted_private_key)}")
    verified_cps_leaf(data.cps_chain, verify, ctx, POLICY_ISO20)
    chain, emaid = checked_contract_chain(data.contract_chain, None, ctx, POLICY_ISO20)
    try:
        peer_public(KeyAlgorithm.EC_P521, data.dh_public_key)
    except InvalidPeerKey as exc:
        raise DhPublicKeyInvalid(f"DHPublicKey: {exc}") from exc
    leaf_key = chain[0].public_key()
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or leaf_key.curve.name != "secp521r1":
        raise KeyMismatch("TPM_EncryptedPrivateKey needs a secp521r1 contract certificate key")
    label = new_key_label(emaid)
    try:
        importer.import_wrapped(label, storage_key_label, KeyAlgorithm.EC_P521,
                                leaf_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
                                data.encrypted_private_key, data.dh_public_key)
    except WrappedKeyRejected as exc:
        raise DecryptionFailed(f"TPM_EncryptedPrivateKey: {exc}") from exc
    try:
        challenge = os.urandom(32)
        if not verify_raw(leaf_key, challenge, ctx.keystore.sign(label, challenge)):
            raise KeyMismatch("imported TPM_EncryptedPrivateKey does not match the contract certificate")
    except (KeyMismatch, KeyStoreError):
        ctx.keystore.delete(label)
        raise
    return store_contract(ctx, label, chain, emaid, priority, replaces)
