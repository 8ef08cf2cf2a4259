"""ISO 15118-2 CertificateInstallationRes / CertificateUpdateRes processing on the EV side
([V2G2-818..823], §7.9.2.4.3; PKI.md §1).

Input: the decoded values of the response (the EXI layer fills :class:`ContractResponse2`) and the signature
check it supplies. Steps, each failure with its own error and the store unchanged:

    sizes/eMAID form -> CPS chain to an installed V2G root -> verify_signature(CPS leaf)
    -> contract chain (CN = eMAID) -> DHpublickey on secp256r1
    -> K = SHA-256(00000001 || Z || 01 55 56)[:16], Z = ECDH(static key, DHpublickey) inside the key store
    -> d = AES-128-CBC-decrypt(K, IV, CT), no padding          ContractSignatureEncryptedPrivateKey = IV16 || CT32
    -> [V2G2-823] 0 < d < n and d*G == contract certificate key
    -> import d (non-extractable), wipe d and K -> one atomic store write

Installation uses the OEM provisioning key [V2G2-820]; Update the current contract key [V2G2-821] and keeps the
old contract usable until the new one is stored (one atomic replace), then deletes the old key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from evcc.contracts.chain import POLICY_ISO2
from evcc.contracts.emaid import parse_emaid
from evcc.contracts.errors import DecryptionFailed, DhPublicKeyInvalid, KeyMismatch
from evcc.contracts.install_common import (
    InstallContext,
    VerifySignature,
    checked_contract_chain,
    import_and_store,
    retire_key,
    verified_cps_leaf,
)
from evcc.contracts.store import Contract, Lifecycle
from evcc.hsm.hostcrypto import ORDERS, peer_public
from evcc.hsm.keystore import KDF_ISO2, InvalidPeerKey, KeyAlgorithm, wipe

DH_PUBLIC_KEY_LENGTH = 65
ENCRYPTED_KEY_LENGTH = 48


@dataclass(frozen=True)
class ContractResponse2:
    """Decoded values of a -2 CertificateInstallationRes or CertificateUpdateRes (element names in comments)."""

    contract_chain: tuple[bytes, ...]  # ContractSignatureCertChain: Certificate, SubCertificates (DER)
    encrypted_private_key: bytes  # ContractSignatureEncryptedPrivateKey: IV(16) || CT(32)
    dh_public_key: bytes  # DHpublickey: 04 || X || Y (65)
    emaid: str  # eMAID
    cps_chain: tuple[bytes, ...]  # SAProvisioningCertificateChain: Certificate, SubCertificates (DER)


def _decrypt_checked(res: ContractResponse2, k: bytearray, public: ec.EllipticCurvePublicKey) -> bytearray:
    """AES-128-CBC without padding into a wipeable buffer, then the [V2G2-823] check. Wipes ``k``."""
    iv, ct = res.encrypted_private_key[:16], res.encrypted_private_key[16:]
    out = bytearray(len(ct) + 15)
    try:
        dec = Cipher(algorithms.AES(bytes(k)), modes.CBC(iv)).decryptor()
        n = dec.update_into(ct, out)
        n += len(dec.finalize())
    finally:
        wipe(k)
    d = out[:n]
    wipe(out)
    scalar = int.from_bytes(d, "big")  # Python ints cannot be wiped; it lives only in this frame
    if not 0 < scalar < ORDERS[KeyAlgorithm.EC_P256] or len(d) != 32:
        wipe(d)
        raise KeyMismatch("[V2G2-823] decrypted private key is not in 0 < d < n")
    if ec.derive_private_key(scalar, ec.SECP256R1()).public_key() != public:
        wipe(d)
        raise KeyMismatch("[V2G2-823] decrypted private key does not match the contract certificate")
    return d


def _process(res: ContractResponse2, verify: VerifySignature, ecdh_label: str, ctx: InstallContext
             ) -> tuple[bytearray, list[x509.Certificate], str]:
    if len(res.dh_public_key) != DH_PUBLIC_KEY_LENGTH:
        raise DhPublicKeyInvalid(f"DHpublickey must be {DH_PUBLIC_KEY_LENGTH} bytes, got {len(res.dh_public_key)}")
    if len(res.encrypted_private_key) != ENCRYPTED_KEY_LENGTH:
        raise DecryptionFailed(f"ContractSignatureEncryptedPrivateKey must be {ENCRYPTED_KEY_LENGTH} bytes, "
                               f"got {len(res.encrypted_private_key)}")
    parse_emaid(res.emaid)
    verified_cps_leaf(res.cps_chain, verify, ctx, POLICY_ISO2)
    chain, emaid = checked_contract_chain(res.contract_chain, res.emaid, ctx, POLICY_ISO2)
    public = chain[0].public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise KeyMismatch("contract certificate key is not secp256r1")
    try:
        peer_public(KeyAlgorithm.EC_P256, res.dh_public_key)
    except InvalidPeerKey as exc:
        raise DhPublicKeyInvalid(f"DHpublickey: {exc}") from exc
    k = ctx.keystore.ecdh_kdf(ecdh_label, res.dh_public_key, KDF_ISO2)
    return _decrypt_checked(res, k, public), chain, emaid


def install_contract_2(res: ContractResponse2, verify: VerifySignature, *, oem_key_label: str,
                       ctx: InstallContext, priority: int = 0, pending_id: str | None = None) -> Contract:
    """Process a CertificateInstallationRes with the OEM provisioning key; returns the stored contract.

    ``pending_id``: a PENDING_INSTALLATION record this installation completes (replaced atomically; the contract
    takes that record's priority as of the write and ``priority`` is not used).
    """
    if pending_id is not None and ctx.store.get(pending_id).lifecycle is not Lifecycle.PENDING_INSTALLATION:
        raise ValueError(f"contract {pending_id} is not pending installation")
    d, chain, emaid = _process(res, verify, oem_key_label, ctx)
    return import_and_store(ctx, KeyAlgorithm.EC_P256, d, chain, emaid, priority, replaces=pending_id)


def update_contract_2(res: ContractResponse2, verify: VerifySignature, *, old_contract_id: str,
                      ctx: InstallContext) -> Contract:
    """Process a CertificateUpdateRes with the current contract key; the old contract stays until the swap."""
    old = ctx.store.get(old_contract_id)
    if old.key_label is None or old.lifecycle is not Lifecycle.INSTALLED:
        raise ValueError(f"contract {old_contract_id} has no installed key to update with")
    d, chain, emaid = _process(res, verify, old.key_label, ctx)
    new = import_and_store(ctx, KeyAlgorithm.EC_P256, d, chain, emaid, replaces=old_contract_id)
    retire_key(ctx.keystore, old.key_label)
    return new
