"""The key-store port: where the EV's private keys live (OEM provisioning key, contract keys).

ISO 15118-2 §7.9.2.x / [V2G2-820..823] and ISO 15118-20 §7.9.2.5 need from a key store: key generation and
import (the decrypted contract key), signatures (GenChallenge, SignedInfo of the request), and ECDH with the
static key followed by the NIST SP 800-56A concatenation KDF (one round, OtherInfo ``01 55 56``).

Stable interface (called by evcc.contracts and the session layer)::

    generate(label, algorithm) -> KeyInfo
    import_private(label, algorithm, private: bytearray) -> KeyInfo   # caller wipes ``private`` afterwards
    public_key(label) -> bytes          # EC: X9.62 uncompressed 04||X||Y; Ed448/X448: raw RFC 8032/7748 bytes
    sign(label, message) -> bytes       # ECDSA: raw r||s over SHA-256 (P-256) / SHA-512 (P-521); Ed448: pure EdDSA
    ecdh_kdf(label, peer_public, kdf) -> bytearray   # K = Hash(00000001 || Z || OtherInfo)[:length]
    delete(label) -> None
    list(prefix="") -> list[KeyInfo]

Why ``ecdh_kdf`` and not a raw ECDH: a token can then keep the shared secret Z inside (derived as a sensitive,
non-extractable session object and hashed with C_DigestKey) so that only the derived AES key K reaches the host.
Labels are unique: generate/import refuse an existing label.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Protocol

from evcc.errors import PlatformError, SecurityError


class KeyAlgorithm(enum.Enum):
    """Key types of ISO 15118-2 (P-256) and ISO 15118-20 (P-521, Ed448, X448)."""

    EC_P256 = "ec-p256"
    EC_P521 = "ec-p521"
    ED448 = "ed448"
    X448 = "x448"

    @property
    def private_length(self) -> int:
        """Length in bytes of the raw private key (big-endian scalar for EC)."""
        return {"ec-p256": 32, "ec-p521": 66, "ed448": 57, "x448": 56}[self.value]


@dataclass(frozen=True)
class ConcatKdf:
    """NIST SP 800-56A concatenation KDF, single round: ``Hash(00000001 || Z || other_info)[:length]``.

    ISO 15118-2 [V2G2-818]: SHA-256, 16 bytes (AES-128). ISO 15118-20 [V2G20-2535]: SHA-512, 32 bytes (AES-256).
    OtherInfo = AlgorithmID 01 || PartyUInfo "U" || PartyVInfo "V".
    """

    hash_name: str
    length: int
    other_info: bytes = b"\x01\x55\x56"

    def __post_init__(self) -> None:
        if self.hash_name not in ("sha256", "sha512"):
            raise ValueError(f"unsupported KDF hash {self.hash_name!r}")
        if not 0 < self.length <= hashlib.new(self.hash_name).digest_size:
            raise ValueError("a single-round KDF yields at most one hash length")

    def derive(self, z: bytearray) -> bytearray:
        """The key from the shared secret ``z`` (host side); ``z`` and the full digest are wiped."""
        h = hashlib.new(self.hash_name)
        h.update(COUNTER_1)
        h.update(z)
        h.update(self.other_info)
        wipe(z)
        digest = bytearray(h.digest())
        out = digest[:self.length]
        wipe(digest)
        return out


KDF_ISO2 = ConcatKdf("sha256", 16)
KDF_ISO20 = ConcatKdf("sha512", 32)
COUNTER_1 = b"\x00\x00\x00\x01"


@dataclass(frozen=True)
class KeyInfo:
    """A key in a store: its label, algorithm and public key (encoded as :meth:`KeyStore.public_key`)."""

    label: str
    algorithm: KeyAlgorithm
    public: bytes


class KeyStoreError(PlatformError):
    """The key store refused an operation (token missing, login failed, object error)."""


class UnsupportedAlgorithm(KeyStoreError):
    """This key store (or this token) cannot do the requested algorithm or mechanism."""


class KeyNotFound(KeyStoreError):
    """No key with that label."""


class KeyExists(KeyStoreError):
    """A key with that label already exists."""


class InvalidPeerKey(SecurityError):
    """The peer's public key for ECDH is malformed or not on the curve."""


class KeyStore(Protocol):
    """A store of private keys that never hands them out. Blocking; see :mod:`evcc.hsm.aio` for asyncio."""

    @property
    def description(self) -> str: ...

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo: ...

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo: ...

    def public_key(self, label: str) -> bytes: ...

    def sign(self, label: str, message: bytes) -> bytes: ...

    def ecdh_kdf(self, label: str, peer_public: bytes, kdf: ConcatKdf) -> bytearray: ...

    def delete(self, label: str) -> None: ...

    def list(self, prefix: str = "") -> list[KeyInfo]: ...


def wipe(buf: bytearray | memoryview) -> None:
    """Overwrite a buffer with zeros in place (Python ``bytes`` and ``int`` cannot be wiped: avoid them)."""
    buf[:] = bytes(len(buf))


def check_label(label: str) -> str:
    """Labels are 1..64 printable ASCII characters (they end up in token attributes and file names)."""
    if not (0 < len(label) <= 64 and label.isascii() and label.isprintable()):
        raise ValueError(f"key label must be 1..64 printable ASCII characters: {label!r}")
    return label
