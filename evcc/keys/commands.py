"""The operations of ``evcc keys`` on an open key store and its certificates (no argument parsing, no printing).

Every operation checks everything before it writes, so a refused operation leaves the store as it was: a label
that exists, a key that cannot sign, a subject that breaks its role's rule (evcc.keys.names), a certificate whose
public key is not the key's, a chain that does not verify to the given roots (evcc.keys.chain).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.contracts.store import CONTRACT_KEY_PREFIX
from evcc.errors import ConfigError, SecurityError
from evcc.hsm.keystore import KeyAlgorithm, KeyExists, KeyInfo, KeyNotFound, check_label
from evcc.hsm.open_store import OpenedStore
from evcc.keys.certs import CertStore, Chain
from evcc.keys.chain import leaf_matches, name_of, verify_chain
from evcc.keys import storage
from evcc.keys.csr import build_csr, public_key_object
from evcc.keys.names import CONTRACT, OEM_PROVISIONING, check_subject, parse_subject

CURVES = {"p256": KeyAlgorithm.EC_P256, "p521": KeyAlgorithm.EC_P521, "ed448": KeyAlgorithm.ED448,
          "x448": KeyAlgorithm.X448}
CURVE_NAMES = {v: k for k, v in CURVES.items()}


def key_info(opened: OpenedStore, label: str) -> KeyInfo:
    """The key ``label`` (KeyNotFound naming the store when there is none)."""
    for info in opened.store.list(label):
        if info.label == label:
            return info
    raise KeyNotFound(f"no key with this label in {opened.store.description}")


def generate(opened: OpenedStore, label: str, curve: str) -> KeyInfo:
    """A new key pair inside the store."""
    try:
        check_label(label)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if any(k.label == label for k in opened.store.list(label)):
        raise KeyExists(f"a key with this label exists in {opened.store.description}")
    return opened.store.generate(label, CURVES[curve])


def csr_pem(opened: OpenedStore, label: str, subject: str, role: str, storage_key: str | None = None) -> bytes:
    """A PKCS#10 request (PEM) for ``label``, signed in the store, after the subject passed ``role``'s rule;
    ``storage_key``: an OEM provisioning request that names this -20 TPM storage key (evcc.keys.storage)."""
    name = parse_subject(subject)
    check_subject(role, name)
    info = key_info(opened, label)
    extensions: tuple[x509.UnrecognizedExtension, ...] = ()
    if storage_key is not None:
        if role != OEM_PROVISIONING:
            raise ConfigError(f"--storage-key {storage_key}: only an OEM provisioning certificate names the TPM "
                              f"storage key, not a {role} certificate")
        if storage_key == label:
            raise ConfigError(f"--storage-key {storage_key}: the storage key cannot sign its own request")
        extensions = (storage.request_extension(opened, storage_key),)
    return build_csr(opened.store, label, info.algorithm, name, extensions).public_bytes(Encoding.PEM)


def import_cert(opened: OpenedStore, certs: CertStore, label: str, chain: Sequence[x509.Certificate],
                roots: Sequence[x509.Certificate], now: datetime, role: str | None = None) -> Chain:
    """Store ``chain`` (leaf first) with the key ``label`` once every check passed (module docstring)."""
    if not chain:
        raise SecurityError("the file holds no certificate")
    info = key_info(opened, label)
    leaf = chain[0]
    if not leaf_matches(leaf, info.public):
        raise SecurityError(f"certificate {name_of(leaf)!r} does not match the key: its public key is another one")
    if role is not None and role != CONTRACT:
        check_subject(role, leaf.subject)
    if role == OEM_PROVISIONING and not _key_agreement(leaf):
        raise SecurityError(f"certificate {name_of(leaf)!r} is no OEM provisioning certificate: its keyUsage lacks "
                            "keyAgreement (the ECDH of CertificateInstallation, [V2G2-820])")
    storage.named_label(opened, leaf)  # a certificate naming a -20 TPM storage key the store lacks is refused
    verify_chain(chain, roots, now)
    certs.save(label, chain)
    return tuple(chain)


def _key_agreement(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_agreement)
    except x509.ExtensionNotFound:
        return False


def delete(opened: OpenedStore, certs: CertStore, label: str) -> None:
    """The key and its certificates."""
    key_info(opened, label)
    opened.store.delete(label)
    certs.remove(label)


def public_pem(opened: OpenedStore, label: str) -> bytes:
    """The key's SubjectPublicKeyInfo as PEM."""
    info = key_info(opened, label)
    return public_key_object(info.algorithm, info.public).public_bytes(Encoding.PEM,
                                                                       PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeyRow:
    """One line of ``evcc keys list``."""

    label: str
    store: str
    curve: str
    subject: str
    issuer: str
    not_after: datetime | None
    role: str
    mark: str  # "", "EXPIRES SOON", "EXPIRED", "CERTIFICATE DOES NOT MATCH"


def expiry_mark(not_after: datetime | None, now: datetime, window: timedelta) -> str:
    if not_after is None:
        return ""
    if not_after < now:
        return "EXPIRED"
    return "EXPIRES SOON" if not_after - now <= window else ""


def role_of(label: str, roles: Mapping[str, str]) -> str:
    if label in roles:
        return roles[label]
    return CONTRACT if label.startswith(CONTRACT_KEY_PREFIX) else ""


def rows(opened: OpenedStore, certs: CertStore, roles: Mapping[str, str], now: datetime,
         window: timedelta) -> list[KeyRow]:
    """Every key of the store with its certificate (subject, issuer, notAfter), role and expiry mark."""
    out = []
    storage_keys = storage.storage_labels(opened)
    for info in opened.store.list():
        chain = certs.load(info.label)
        leaf = chain[0] if chain else None
        mark = expiry_mark(leaf.not_valid_after_utc if leaf else None, now, window)
        if leaf is not None and not leaf_matches(leaf, info.public):
            mark = "CERTIFICATE DOES NOT MATCH"
        out.append(KeyRow(info.label, opened.kind, CURVE_NAMES[info.algorithm],
                          name_of(leaf) if leaf else "", leaf.issuer.rfc4514_string() if leaf else "",
                          leaf.not_valid_after_utc if leaf else None,
                          storage.STORAGE_ROLE if info.label in storage_keys else role_of(info.label, roles), mark))
    return out
