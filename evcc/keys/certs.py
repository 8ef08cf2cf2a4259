"""Where a key's certificate chain lives, per key store (written by ``evcc keys import-cert``).

==========  ==============================================================================================
store       certificates
==========  ==============================================================================================
PKCS#11     certificate objects (CKO_CERTIFICATE, CKC_X_509) in the same token, CKA_LABEL = the key's label:
            the leaf with the key's CKA_ID (PKCS#11 consumers pair certificate and key by it), each Sub-CA
            with CKA_ID = SHA-1 of its public key. Replacing: the new objects are created first, the old ones
            destroyed after; a failure while creating destroys what was created (the old chain stays).
software,   one PEM file per key, leaf first, ``<key folder>/certs/<sha256(label)[:32]>.pem`` (mode 0644),
TPM         written atomically (evcc.hsm.files: temp file, fsync, rename, fsync of the folder)
==========  ==============================================================================================

A chain read back is ordered leaf first, each certificate followed by its issuer (when present).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import Attribute, CertificateType, ObjectClass

from evcc.hsm.files import atomic_delete, atomic_write
from evcc.hsm.keystore import KeyStoreError
from evcc.hsm.open_store import OpenedStore
from evcc.hsm.p11_session import close_session
from evcc.hsm.pkcs11_store import Pkcs11Config

Chain = tuple[x509.Certificate, ...]


class CertStore(Protocol):
    """The certificates of the keys in one key store."""

    def load(self, label: str) -> Chain: ...

    def save(self, label: str, chain: Sequence[x509.Certificate]) -> None: ...

    def remove(self, label: str) -> None: ...

    def close(self) -> None: ...


def order_chain(leaf: x509.Certificate, others: Sequence[x509.Certificate]) -> Chain:
    """``leaf`` then, in turn, the certificate among ``others`` whose subject is the previous one's issuer."""
    out = [leaf]
    rest = list(others)
    while rest:
        nxt = next((c for c in rest if c.subject == out[-1].issuer and c != out[-1]), None)
        if nxt is None:
            break
        out.append(nxt)
        rest.remove(nxt)
    return tuple(out)


class FileCertStore:
    """Certificates as PEM files beside the keys (software and TPM stores)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory / "certs"

    def path(self, label: str) -> Path:
        return self._dir / f"{hashlib.sha256(label.encode()).hexdigest()[:32]}.pem"

    def load(self, label: str) -> Chain:
        try:
            data = self.path(label).read_bytes()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise KeyStoreError(f"certificate file of {label!r}: {exc.strerror or exc}") from None
        try:
            return tuple(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise KeyStoreError(f"certificate file of {label!r} is corrupt: {exc}") from None

    def save(self, label: str, chain: Sequence[x509.Certificate]) -> None:
        self._dir.mkdir(mode=0o700, exist_ok=True)
        atomic_write(self.path(label), b"".join(c.public_bytes(Encoding.PEM) for c in chain), mode=0o644)

    def remove(self, label: str) -> None:
        atomic_delete(self.path(label))

    def close(self) -> None:
        pass


def _public_id(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).digest()


class Pkcs11CertStore:
    """Certificate objects in the token (module docstring); its own session beside the key store's."""

    def __init__(self, config: Pkcs11Config) -> None:
        self._config = config
        try:
            token = pkcs11.lib(config.module).get_token(token_label=config.token_label)
            try:
                self._session = token.open(rw=True, user_pin=config.user_pin)
            except pkcs11.UserAlreadyLoggedIn:  # the key store's session of this process logged in
                self._session = token.open(rw=True)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyStoreError(f"PKCS#11 token {config.token_label!r}: {type(exc).__name__}") from exc

    def _objects(self, label: str) -> list[Any]:
        return list(self._session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}))

    def _key_id(self, label: str) -> bytes:
        keys = list(self._session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}))
        if not keys:
            raise KeyStoreError(f"no private key labelled {label!r} in token {self._config.token_label!r}")
        return bytes(keys[0][Attribute.ID] or b"")

    def load(self, label: str) -> Chain:
        key_id = self._key_id(label)
        leaves: list[x509.Certificate] = []
        others: list[x509.Certificate] = []
        for obj in self._objects(label):
            try:
                cert = x509.load_der_x509_certificate(bytes(obj[Attribute.VALUE]))
            except ValueError:
                continue
            (leaves if bytes(obj[Attribute.ID] or b"") == key_id else others).append(cert)
        if not leaves:
            return ()
        newest = max(leaves, key=lambda c: c.not_valid_before_utc)  # an interrupted replacement left two
        return order_chain(newest, others)

    def save(self, label: str, chain: Sequence[x509.Certificate]) -> None:
        key_id = self._key_id(label)
        old = self._objects(label)
        made: list[Any] = []
        try:
            for i, cert in enumerate(chain):
                made.append(self._session.create_object({
                    Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.LABEL: label,
                    Attribute.ID: key_id if i == 0 else _public_id(cert),
                    Attribute.SUBJECT: cert.subject.public_bytes(), Attribute.ISSUER: cert.issuer.public_bytes(),
                    Attribute.VALUE: cert.public_bytes(Encoding.DER)}))
        except pkcs11.PKCS11Error as exc:
            for obj in made:
                obj.destroy()
            raise KeyStoreError(f"storing the certificates of {label!r} in token {self._config.token_label!r} "
                                f"failed: {type(exc).__name__}") from exc
        for obj in old:
            obj.destroy()

    def remove(self, label: str) -> None:
        for obj in self._objects(label):
            obj.destroy()

    def close(self) -> None:
        close_session(self._config.module, self._session)


def cert_store(opened: OpenedStore) -> CertStore:
    """The certificate storage of an open key store."""
    if opened.pkcs11 is not None:
        return Pkcs11CertStore(opened.pkcs11)
    if opened.directory is None:
        raise KeyStoreError(f"{opened.store.description}: no place for certificates")
    return FileCertStore(opened.directory)
