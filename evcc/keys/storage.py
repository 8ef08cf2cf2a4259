"""The EV's ISO 15118-20 TPM storage key on the factory line (``evcc keys generate --storage-key``, ``evcc keys csr
--storage-key``): the parent a CPS wraps a contract key for (``TPM_EncryptedPrivateKey``, PKI.md §1). Its P-521
public key goes into the OEM provisioning certificate as subjectAltPublicKeyInfo (2.5.29.72), the model and its
limits described in :mod:`evcc.contracts.install20_tpm`: requested in the CSR, carried into the certificate by the
OEM's CA (``evcc pki sign-csr``), checked against the store by ``evcc keys import-cert`` and ``evcc run --check``.

Only a TPM 2.0 key store has storage keys: a key file whose key is the -20 storage primary
(evcc.hsm.tpm_objects.PRIMARY_STORAGE20).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509

from evcc.contracts.install20_tpm import named_storage_parent, storage_key_extension
from evcc.errors import ConfigError, SecurityError
from evcc.hsm.keystore import KeyAlgorithm, KeyExists, KeyInfo, check_label
from evcc.hsm.open_store import OpenedStore

STORAGE_ROLE = "tpm-storage (-20)"


def _tpm(opened: OpenedStore, what: str) -> Any:
    if opened.kind != "tpm" or not callable(getattr(opened.store, "create_storage_key", None)):
        raise ConfigError(f"{what}: an ISO 15118-20 TPM storage key needs a TPM 2.0 key store (--tcti/--tpm-keys), "
                          f"not {opened.store.description}")
    return opened.store


def is_storage_key(opened: OpenedStore, info: KeyInfo) -> bool:
    """Whether ``info`` is a -20 TPM storage key of the store (never on other stores)."""
    if opened.kind != "tpm" or info.algorithm is not KeyAlgorithm.EC_P521:
        return False
    from evcc.hsm.tpm_objects import PRIMARY_STORAGE20, KeyFile  # only with a TPM

    try:
        key = KeyFile.decode(opened.store.key_file(info.label).read_bytes())  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False
    return bool(key.primary == PRIMARY_STORAGE20)


def storage_labels(opened: OpenedStore) -> set[str]:
    return {info.label for info in opened.store.list() if is_storage_key(opened, info)}


def create(opened: OpenedStore, label: str) -> KeyInfo:
    """A new -20 storage key ``label`` (refused on a store other than a TPM's, and for a label that exists)."""
    store = _tpm(opened, "--storage-key")
    try:
        check_label(label)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if any(k.label == label for k in opened.store.list(label)):
        raise KeyExists(f"a key with this label exists in {opened.store.description}")
    info: KeyInfo = store.create_storage_key(label)
    return info


def request_extension(opened: OpenedStore, label: str) -> x509.UnrecognizedExtension:
    """subjectAltPublicKeyInfo naming the storage key ``label`` of the store (for the OEM provisioning CSR)."""
    _tpm(opened, f"--storage-key {label}")
    for info in opened.store.list(label):
        if info.label == label:
            if not is_storage_key(opened, info):
                raise ConfigError(f"--storage-key {label}: key {label!r} is not a -20 TPM storage key (evcc keys "
                                  "generate LABEL --storage-key makes one)")
            return storage_key_extension(info.public)
    raise ConfigError(f"--storage-key {label}: no such key in {opened.store.description} (evcc keys generate "
                      f"{label} --storage-key makes it)")


def named_point(cert: x509.Certificate) -> bytes | None:
    """The P-521 storage key (X9.62 point) that ``cert`` names, None when it names none."""
    parent = named_storage_parent(cert)
    return None if parent is None else b"\x04" + parent.x + parent.y


def named_label(opened: OpenedStore, cert: x509.Certificate) -> str | None:
    """The store's storage key that ``cert`` names (None: it names none); SecurityError when the store lacks it."""
    point = named_point(cert)
    if point is None:
        return None
    for info in opened.store.list():
        if info.public == point and is_storage_key(opened, info):
            return info.label
    raise SecurityError(f"certificate {cert.subject.rfc4514_string()!r} names a -20 TPM storage key "
                        f"(subjectAltPublicKeyInfo) that {opened.store.description} does not have")
