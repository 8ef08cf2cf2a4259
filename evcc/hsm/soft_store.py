"""Software key store for benches without a token (bench only: keys are in host memory while used).

Each key is one file ``keys/<sha256(label)[:16] hex>.json`` (mode 0600, written atomically) holding the label,
algorithm, public key and the private key encrypted at rest with AES-256-GCM under a key-encryption key (KEK).
The AAD binds label and algorithm, so a file renamed to another label does not decrypt. The KEK comes from a
32-byte key file or from a passphrase through scrypt (salt and a check value in ``kek.json``); a wrong
passphrase is detected at open. Every open logs "software key store (bench only)".

Same interface as :class:`evcc.hsm.pkcs11_store.Pkcs11KeyStore`, plus X448 (for the ISO 15118-20 X448 path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from evcc.errors import ConfigError
from evcc.hsm.files import atomic_delete, atomic_write, remove_stale_temps
from evcc.hsm.hostcrypto import (
    CURVES,
    HASHES,
    AnyPrivateKey,
    ecdsa_raw,
    encode_public,
    peer_public,
    private_from_raw,
)
from evcc.hsm.keystore import (
    ConcatKdf,
    KeyAlgorithm,
    KeyExists,
    KeyInfo,
    KeyNotFound,
    KeyStoreError,
    UnsupportedAlgorithm,
    check_label,
    wipe,
)

log = logging.getLogger(__name__)
_CHECK = b"evcc software key store KEK check"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class SoftKeyStoreConfig:
    """Folder of the store and the source of its KEK: exactly one of ``passphrase`` or ``kek_file``."""

    directory: Path
    passphrase: bytes | None = None
    kek_file: Path | None = None


def _raw_private(key: AnyPrivateKey) -> bytearray:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        width = (key.curve.key_size + 7) // 8
        return bytearray(key.private_numbers().private_value.to_bytes(width, "big"))
    return bytearray(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption()))


class SoftKeyStore:
    """A :class:`evcc.hsm.keystore.KeyStore` in files, encrypted at rest. For benches only."""

    def __init__(self, config: SoftKeyStoreConfig) -> None:
        if (config.passphrase is None) == (config.kek_file is None):
            raise ConfigError("software key store: give exactly one of passphrase or kek_file")
        self._dir = config.directory
        self._keys = self._dir / "keys"
        self._keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)
        remove_stale_temps(self._keys)
        self._aead = AESGCM(bytes(self._load_kek(config)))
        log.warning("software key store (bench only): %s; private keys are protected by a KEK, not by hardware",
                    self._dir)

    @property
    def description(self) -> str:
        return f"software key store (bench only) at {self._dir}"

    def _load_kek(self, config: SoftKeyStoreConfig) -> bytearray:
        if config.kek_file is not None:
            kek = bytearray(config.kek_file.read_bytes())
            if len(kek) != 32:
                raise ConfigError(f"software key store: {config.kek_file} must hold exactly 32 bytes")
            return kek
        assert config.passphrase is not None
        meta_path = self._dir / "kek.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            salt = bytes.fromhex(meta["salt"])
        else:
            salt, meta = os.urandom(16), {}
        kek = bytearray(Scrypt(salt=salt, length=32, **_SCRYPT).derive(config.passphrase))
        aead = AESGCM(bytes(kek))
        if meta:
            try:
                aead.decrypt(bytes.fromhex(meta["nonce"]), bytes.fromhex(meta["check"]), None)
            except InvalidTag as exc:
                raise KeyStoreError(f"software key store {self._dir}: wrong passphrase") from exc
        else:
            nonce = os.urandom(12)
            meta = {"salt": salt.hex(), "nonce": nonce.hex(), "check": aead.encrypt(nonce, _CHECK, None).hex(),
                    "kdf": "scrypt", **_SCRYPT}
            atomic_write(meta_path, json.dumps(meta).encode())
        return kek

    def _path(self, label: str) -> Path:
        return self._keys / f"{hashlib.sha256(label.encode()).hexdigest()[:32]}.json"

    def _store(self, label: str, key: AnyPrivateKey, algorithm: KeyAlgorithm) -> KeyInfo:
        path = self._path(label)
        if path.exists():
            raise KeyExists(f"a key labelled {label!r} exists")
        raw = _raw_private(key)
        nonce = os.urandom(12)
        try:
            ct = self._aead.encrypt(nonce, bytes(raw), f"{label}\0{algorithm.value}".encode())
        finally:
            wipe(raw)
        info = KeyInfo(label, algorithm, encode_public(key.public_key()))
        doc = {"label": label, "algorithm": algorithm.value, "public": info.public.hex(), "nonce": nonce.hex(),
               "ciphertext": ct.hex()}
        atomic_write(path, json.dumps(doc).encode())
        return info

    def _read(self, label: str) -> dict[str, str]:
        try:
            doc: dict[str, str] = json.loads(self._path(label).read_text())
        except FileNotFoundError as exc:
            raise KeyNotFound(f"no key labelled {label!r} in {self.description}") from exc
        except ValueError as exc:
            raise KeyStoreError(f"key file for {label!r} is corrupt") from exc
        return doc

    def _load(self, label: str) -> tuple[AnyPrivateKey, KeyAlgorithm]:
        doc = self._read(label)
        algorithm = KeyAlgorithm(doc["algorithm"])
        try:
            raw = bytearray(self._aead.decrypt(bytes.fromhex(doc["nonce"]), bytes.fromhex(doc["ciphertext"]),
                                               f"{label}\0{algorithm.value}".encode()))
        except InvalidTag as exc:
            raise KeyStoreError(f"key {label!r} does not decrypt (tampered file or other KEK)") from exc
        try:
            return private_from_raw(algorithm, raw), algorithm
        finally:
            wipe(raw)

    def private_key_pem(self, label: str) -> bytearray:
        """The private key ``label`` as unencrypted PKCS#8 PEM, for a TLS library that reads keys only from PEM
        (the vehicle's TLS 1.3 key on a bench, evcc.session.tls13). Bench only, like this store: the caller
        hands it on without writing it to disk and wipes the buffer. X448 keys cannot sign: refused."""
        key, _ = self._load(label)
        if isinstance(key, x448.X448PrivateKey):
            raise UnsupportedAlgorithm(f"key {label!r} is X448: a TLS key must be able to sign")
        return bytearray(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        check_label(label)
        key: AnyPrivateKey
        if algorithm in CURVES:
            key = ec.generate_private_key(CURVES[algorithm])
        elif algorithm is KeyAlgorithm.ED448:
            key = ed448.Ed448PrivateKey.generate()
        else:
            key = x448.X448PrivateKey.generate()
        return self._store(label, key, algorithm)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        check_label(label)
        return self._store(label, private_from_raw(algorithm, private), algorithm)

    def public_key(self, label: str) -> bytes:
        return bytes.fromhex(self._read(label)["public"])

    def sign(self, label: str, message: bytes) -> bytes:
        key, algorithm = self._load(label)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return ecdsa_raw(key.sign(message, ec.ECDSA(HASHES[algorithm])), algorithm)
        if isinstance(key, ed448.Ed448PrivateKey):
            return key.sign(message)
        raise UnsupportedAlgorithm("X448 keys cannot sign")

    def ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        key, algorithm = self._load(label)
        if isinstance(key, ed448.Ed448PrivateKey):
            raise UnsupportedAlgorithm("Ed448 keys cannot do ECDH; use the X448 alternate key")
        other = peer_public(algorithm, peer)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(other, ec.EllipticCurvePublicKey):
            z = bytearray(key.exchange(ec.ECDH(), other))
        elif isinstance(key, x448.X448PrivateKey) and isinstance(other, x448.X448PublicKey):
            z = bytearray(key.exchange(other))
        else:
            raise UnsupportedAlgorithm(f"no key agreement for {algorithm.value}")
        return kdf.derive(z)

    def delete(self, label: str) -> None:
        path = self._path(label)
        if not path.exists():
            raise KeyNotFound(f"no key labelled {label!r} in {self.description}")
        atomic_delete(path)

    def list(self, prefix: str = "") -> list[KeyInfo]:
        out = []
        for path in self._keys.glob("*.json"):
            try:
                doc = json.loads(path.read_text())
            except ValueError:
                continue  # a corrupt file is reported when its label is used
            if doc["label"].startswith(prefix):
                out.append(KeyInfo(doc["label"], KeyAlgorithm(doc["algorithm"]), bytes.fromhex(doc["public"])))
        return sorted(out, key=lambda k: k.label)
