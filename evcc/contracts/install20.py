"""ISO 15118-20 CertificateInstallationRes (SignedInstallationData) processing on the EV side
([V2G20-2491..2502], [V2G20-2535]; PKI.md §1).

    K   = SHA-512(00000001 || Z || 01 55 56)[:32]       sender = party U, EVCC = party V
    AAD = PCID (18 ASCII) || SKI of the contract certificate    (upper-case hex text [V2G20-2492], or raw bytes)

    SECP521_EncryptedPrivateKey = IV12 || CT66 || TAG16 (94)   plaintext = 7 zero bits || d (521 bits)
    X448_EncryptedPrivateKey    = IV12 || CT56 || TAG16 (84)   plaintext = 56-byte X448 private key

ECDH key: the OEM provisioning key for SECP521; for X448 the key behind the OEM certificate's alternate
(X448) public key. DHPublicKey: 133 bytes (04||X||Y) for SECP521, 56 bytes for X448.

Open interop questions, kept as settings or stated here:
- SKI encoding in the AAD: :class:`SkiEncoding` (hex text per the text, raw bytes as seen elsewhere).
- The schema fixes dhPublicKeyType at 133 bytes although an X448 key has 56; we accept 56 for X448.
- X448_EncryptedPrivateKey carries 56 bytes ("the 448 bit private key corresponding to the contract
  certificate"); an Ed448 private key has 57 bytes. We accept the X448 path only for a contract certificate
  with an X448 key and reject an Ed448 one with :class:`KeyMismatch` naming this question.

TPM_EncryptedPrivateKey (PKI.md §1; module :mod:`evcc.contracts.install20_tpm`): a TPM 2.0 duplication blob
(outer wrapper only) for the EV's TPM storage key, imported with TPM2_Import; only a key store that offers
``import_wrapped`` (the TPM store) and a configured storage key can take it, others reject it with
:class:`DecryptionFailed`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.contracts.chain import POLICY_ISO20
from evcc.contracts.emaid import validate_pcid
from evcc.contracts.errors import DecryptionFailed, DhPublicKeyInvalid, KeyMismatch
from evcc.contracts.install_common import (
    InstallContext,
    VerifySignature,
    checked_contract_chain,
    import_and_store,
    verified_cps_leaf,
)
from evcc.contracts.store import Contract
from evcc.hsm.hostcrypto import ORDERS, peer_public
from evcc.hsm.keystore import KDF_ISO20, InvalidPeerKey, KeyAlgorithm, wipe


class EcdhCurve(enum.Enum):
    """ecdhCurveType."""

    SECP521 = "SECP521"
    X448 = "X448"


class SkiEncoding(enum.Enum):
    """How the contract certificate's SKI enters the GCM AAD."""

    HEX_TEXT = "hex-text"  # [V2G20-2492]: upper-case hexadecimal string
    RAW = "raw"


_LAYOUT = {  # curve: (DHPublicKey length, plaintext length, key algorithm of the EV's ECDH key)
    EcdhCurve.SECP521: (133, 66, KeyAlgorithm.EC_P521),
    EcdhCurve.X448: (56, 56, KeyAlgorithm.X448),
}
IV_LENGTH = 12
TAG_LENGTH = 16


@dataclass(frozen=True)
class SignedInstallationData20:
    """Decoded values of a -20 CertificateInstallationRes."""

    contract_chain: tuple[bytes, ...]  # SignedInstallationData/ContractCertificateChain (DER, leaf first)
    ecdh_curve: EcdhCurve  # ECDHCurve
    dh_public_key: bytes  # DHPublicKey
    encrypted_private_key: bytes  # SECP521_/X448_/TPM_EncryptedPrivateKey
    cps_chain: tuple[bytes, ...]  # CPSCertificateChain (DER, leaf first)
    tpm_wrapped: bool = False  # encrypted_private_key is a TPM_EncryptedPrivateKey


def aad(pcid: str, contract_leaf: x509.Certificate, encoding: SkiEncoding) -> bytes:
    """PCID || SKI [V2G20-2492]."""
    ski = contract_leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    tail = ski.hex().upper().encode("ascii") if encoding is SkiEncoding.HEX_TEXT else ski
    return validate_pcid(pcid).encode("ascii") + tail


def _gcm_decrypt(k: bytearray, blob: bytes, associated: bytes) -> bytearray:
    """AES-256-GCM into a wipeable buffer; any tag failure is :class:`DecryptionFailed`. Wipes ``k``."""
    iv, ct, tag = blob[:IV_LENGTH], blob[IV_LENGTH:-TAG_LENGTH], blob[-TAG_LENGTH:]
    out = bytearray(len(ct) + 15)
    try:
        dec = Cipher(algorithms.AES(bytes(k)), modes.GCM(iv, tag)).decryptor()
        dec.authenticate_additional_data(associated)
        n = dec.update_into(ct, out)
        dec.finalize()
    except InvalidTag as exc:
        wipe(out)
        raise DecryptionFailed("AES-GCM authentication of the encrypted private key failed") from exc
    finally:
        wipe(k)
    d = out[:n]
    wipe(out)
    return d


def _check_secp521(d: bytearray, public: object) -> None:
    if d[0] & 0xFE:
        raise KeyMismatch("SECP521 plaintext: the 7 leading padding bits are not zero")
    scalar = int.from_bytes(d, "big")
    if not 0 < scalar < ORDERS[KeyAlgorithm.EC_P521]:
        raise KeyMismatch("decrypted secp521r1 key is not in 0 < d < n")
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp521r1":
        raise KeyMismatch("contract certificate key is not secp521r1")
    if ec.derive_private_key(scalar, ec.SECP521R1()).public_key() != public:
        raise KeyMismatch("decrypted private key does not match the contract certificate")


def _check_x448(d: bytearray, public: object) -> None:
    if isinstance(public, ed448.Ed448PublicKey):
        raise KeyMismatch("X448_EncryptedPrivateKey holds 56 bytes but the contract certificate has an Ed448 key "
                          "(57 bytes): open interop question, not accepted")
    if not isinstance(public, x448.X448PublicKey):
        raise KeyMismatch("contract certificate key is not X448")
    derived = x448.X448PrivateKey.from_private_bytes(bytes(d)).public_key()
    if derived.public_bytes(Encoding.Raw, PublicFormat.Raw) != public.public_bytes(Encoding.Raw, PublicFormat.Raw):
        raise KeyMismatch("decrypted private key does not match the contract certificate")


def install_contract_20(data: SignedInstallationData20, verify: VerifySignature, *, pcid: str,
                        ecdh_key_label: str, ctx: InstallContext, ski_encoding: SkiEncoding = SkiEncoding.HEX_TEXT,
                        priority: int = 0, tpm_storage_key_label: str | None = None,
                        replaces: str | None = None) -> Contract:
    """Process a -20 CertificateInstallationRes. ``ecdh_key_label``: OEM key (SECP521) or its X448 alternate;
    ``tpm_storage_key_label``: the TPM storage key a TPM_EncryptedPrivateKey is wrapped for; ``replaces``: a
    PENDING_INSTALLATION record the contract takes the place (and current priority) of in one atomic write."""
    if data.tpm_wrapped:
        from evcc.contracts.install20_tpm import install_tpm_wrapped
        return install_tpm_wrapped(data, verify, ctx=ctx, storage_key_label=tpm_storage_key_label,
                                   priority=priority, replaces=replaces)
    dh_len, pt_len, algorithm = _LAYOUT[data.ecdh_curve]
    validate_pcid(pcid)
    if len(data.dh_public_key) != dh_len:
        raise DhPublicKeyInvalid(f"DHPublicKey for {data.ecdh_curve.value} must be {dh_len} bytes, "
                                 f"got {len(data.dh_public_key)}")
    if len(data.encrypted_private_key) != IV_LENGTH + pt_len + TAG_LENGTH:
        raise DecryptionFailed(f"{data.ecdh_curve.value}_EncryptedPrivateKey must be "
                               f"{IV_LENGTH + pt_len + TAG_LENGTH} bytes, got {len(data.encrypted_private_key)}")
    verified_cps_leaf(data.cps_chain, verify, ctx, POLICY_ISO20)
    chain, emaid = checked_contract_chain(data.contract_chain, None, ctx, POLICY_ISO20)
    try:
        peer_public(algorithm, data.dh_public_key)
    except InvalidPeerKey as exc:
        raise DhPublicKeyInvalid(f"DHPublicKey: {exc}") from exc
    associated = aad(pcid, chain[0], ski_encoding)
    k = ctx.keystore.ecdh_kdf(ecdh_key_label, data.dh_public_key, KDF_ISO20)
    d = _gcm_decrypt(k, data.encrypted_private_key, associated)
    try:
        if data.ecdh_curve is EcdhCurve.SECP521:
            _check_secp521(d, chain[0].public_key())
        else:
            _check_x448(d, chain[0].public_key())
    except BaseException:
        wipe(d)
        raise
    return import_and_store(ctx, algorithm, d, chain, emaid, priority, replaces)
