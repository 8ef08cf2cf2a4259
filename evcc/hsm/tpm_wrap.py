"""TPM 2.0 duplication blobs with an outer wrapper only, built in the host (TPM 2.0 Library Part 1 §23.3
"Duplication", §11.4.10 KDFa/KDFe, Annex C.6.4 ECC secret sharing for the seed). Used for two things:

- :meth:`evcc.hsm.tpm_store.TpmKeyStore.import_private`: the decrypted ISO 15118-2 contract key goes into the TPM
  with TPM2_Import wrapped for the storage primary key, so that the scalar never crosses the TPM bus in clear;
- the test provisioning service's ISO 15118-20 ``TPM_EncryptedPrivateKey`` (PKI.md §1), which the EV imports.

Wire formats (all integers big-endian)::

    TPM2B_SENSITIVE   size16 || type16 (0x0023 ECC) || authValue TPM2B (empty) || seedValue TPM2B
                      || sensitive TPM2B_ECC_PARAMETER (d, curve width)
    seed              KDFe(parent nameAlg, Z = x(e * Q_parent), "DUPLICATE", x(E), x(Q_parent), digest bits)
    inSymSeed         TPMS_ECC_POINT of E = e * G:  size16 || x || size16 || y
    outer key         KDFa(parent nameAlg, seed, "STORAGE", name(object), "", parent symmetric key bits)
    dupSensitive      AES-CFB(outer key, IV = 0, TPM2B_SENSITIVE)
    HMAC key          KDFa(parent nameAlg, seed, "INTEGRITY", "", "", digest bits)
    duplicate         TPM2B_DIGEST(HMAC(HMAC key, dupSensitive || name(object))) || dupSensitive

The plaintext sensitive area is built in a ``bytearray`` and wiped after encryption. The seed and keys derived
from it are Python ``bytes`` (cryptography returns them so) and cannot be wiped; they protect only this blob.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from evcc.hsm.keystore import KeyStoreError, wipe

try:  # cryptography >= 47 keeps CFB among the "decrepit" modes (TPM 2.0 duplication mandates AES-CFB)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

TPM_ALG_ECC = 0x0023
TPM_ALG_SHA512 = 0x000D
# ISO 15118-20 TPM_EncryptedPrivateKey: P-521 contract key with nameAlg SHA-512 (64-byte seedValue) under a
# SHA-512 storage key: HMAC TPM2B (2 + 64) + TPM2B_SENSITIVE (2 + 2 + 2 + (2 + 64) + (2 + 66)) = 206 bytes, the
# length the -20 schema fixes (tpm_EncryptedPrivateKeyType).
TPM20_MAX_DUPLICATE = 206


class WrappedKeyRejected(KeyStoreError):
    """The TPM refused a duplication blob at TPM2_Import (wrong parent, damaged or forged blob)."""


def ecc_point_marshal(point: bytes) -> bytes:
    """X9.62 uncompressed 04||X||Y -> TPMS_ECC_POINT (size16 || X || size16 || Y), e.g. TPM2_Import's inSymSeed."""
    if not point or point[0] != 4 or len(point) % 2 != 1:
        raise ValueError("EC point must be uncompressed 04||X||Y")
    width = (len(point) - 1) // 2
    return struct.pack(">H", width) + point[1:1 + width] + struct.pack(">H", width) + point[1 + width:]
_HASH_BY_ALG = {0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}


def hash_name(name_alg: int) -> str:
    try:
        return _HASH_BY_ALG[name_alg]
    except KeyError:
        raise ValueError(f"unsupported TPM nameAlg 0x{name_alg:04x}") from None


def kdfa(name_alg: int, key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """KDFa (SP 800-108 counter mode with HMAC), Part 1 §11.4.10.2; ``label`` without its terminating zero."""
    h = hash_name(name_alg)
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hmac.new(key, struct.pack(">I", counter) + label + b"\0" + context_u + context_v
                        + struct.pack(">I", bits), h).digest()
    return out[:(bits + 7) // 8]


def kdfe(name_alg: int, z: bytes, label: bytes, party_u: bytes, party_v: bytes, bits: int) -> bytes:
    """KDFe (SP 800-56A concatenation KDF), Part 1 §11.4.10.3; ``label`` without its terminating zero."""
    h = hash_name(name_alg)
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hashlib.new(h, struct.pack(">I", counter) + z + label + b"\0" + party_u + party_v).digest()
    return out[:(bits + 7) // 8]


@dataclass(frozen=True)
class StorageParent:
    """What the host needs of the new parent (a restricted decrypt ECC key): curve, point, nameAlg, AES bits."""

    curve: ec.EllipticCurve
    x: bytes
    y: bytes
    name_alg: int
    aes_bits: int


@dataclass(frozen=True)
class Duplicate:
    """TPM2_Import's ``duplicate`` (TPM2B_PRIVATE buffer, without its size) and ``inSymSeed`` (secret buffer)."""

    duplicate: bytes
    in_sym_seed: bytes


def ecc_sensitive(d: bytearray, width: int, seed_value: bytes) -> bytearray:
    """Marshalled TPM2B_SENSITIVE of an ECC key (see the module docstring); the caller wipes the result."""
    if len(d) > width:
        raise ValueError("EC private scalar longer than the curve width")
    inner = bytearray(struct.pack(">HH", TPM_ALG_ECC, 0))
    inner += struct.pack(">H", len(seed_value)) + seed_value
    inner += struct.pack(">H", width)
    inner += bytes(width - len(d))
    inner += d
    out = bytearray(struct.pack(">H", len(inner)))
    out += inner
    wipe(inner)
    return out


def _point_width(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def outer_wrap(parent: StorageParent, object_name: bytes, sensitive: bytearray,
               ephemeral: ec.EllipticCurvePrivateKey | None = None) -> Duplicate:
    """Duplicate ``sensitive`` (a marshalled TPM2B_SENSITIVE) for ``parent``; ``ephemeral`` for tests only."""
    e = ephemeral or ec.generate_private_key(parent.curve)
    width = _point_width(parent.curve)
    q = ec.EllipticCurvePublicKey.from_encoded_point(parent.curve, b"\x04" + parent.x.rjust(width, b"\0")
                                                     + parent.y.rjust(width, b"\0"))
    z = e.exchange(ec.ECDH(), q)
    numbers = e.public_key().public_numbers()
    ex, ey = numbers.x.to_bytes(width, "big"), numbers.y.to_bytes(width, "big")
    digest_bits = hashlib.new(hash_name(parent.name_alg)).digest_size * 8
    seed = kdfe(parent.name_alg, z, b"DUPLICATE", ex, parent.x, digest_bits)
    sym = kdfa(parent.name_alg, seed, b"STORAGE", object_name, b"", parent.aes_bits)
    encrypted = bytearray(len(sensitive))
    enc = Cipher(algorithms.AES(sym), CFB(bytes(16))).encryptor()
    n = enc.update_into(sensitive, encrypted)
    enc.finalize()
    del encrypted[n:]
    hmac_key = kdfa(parent.name_alg, seed, b"INTEGRITY", b"", b"", digest_bits)
    tag = hmac.new(hmac_key, bytes(encrypted) + object_name, hash_name(parent.name_alg)).digest()
    seed_point = struct.pack(">H", width) + ex + struct.pack(">H", width) + ey
    return Duplicate(struct.pack(">H", len(tag)) + tag + bytes(encrypted), seed_point)
