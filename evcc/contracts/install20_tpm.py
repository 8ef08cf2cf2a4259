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
(``TpmKeyStore.create_storage_key``); how the OEM certificate names it to the CPS is not modelled here (the test
provisioning service is given its public key). After the import the key signs a random challenge that must verify
with the certificate's key (the key check of the other paths: the TPM does not compare d*G with the public
area); otherwise the key is deleted and :class:`KeyMismatch` raised. All or nothing, like the other paths.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

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
from evcc.hsm.keystore import InvalidPeerKey, KeyAlgorithm, KeyInfo, KeyStoreError
from evcc.hsm.tpm_wrap import TPM20_MAX_DUPLICATE, WrappedKeyRejected

DH_LENGTH = 133


@runtime_checkable
class WrappedImport(Protocol):
    """A key store that can TPM2_Import a duplication blob (evcc.hsm.tpm_store.TpmKeyStore)."""

    def import_wrapped(self, label: str, parent_label: str, algorithm: KeyAlgorithm, public: bytes,
                       duplicate: bytes, seed_point: bytes) -> KeyInfo: ...


def install_tpm_wrapped(data: SignedInstallationData20, verify: VerifySignature, *, ctx: InstallContext,
                        storage_key_label: str | None, priority: int = 0) -> Contract:
    """Process SignedInstallationData carrying TPM_EncryptedPrivateKey into the TPM and the contract store."""
    importer = ctx.keystore
    if not isinstance(importer, WrappedImport) or storage_key_label is None:
        raise DecryptionFailed("TPM_EncryptedPrivateKey needs TPM2_Import, which this key store does not offer"
                               if not isinstance(importer, WrappedImport) else
                               "TPM_EncryptedPrivateKey received but no TPM storage key is configured")
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
    return store_contract(ctx, label, chain, emaid, priority)
