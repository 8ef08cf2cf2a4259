"""The Plug & Charge side of `evcc session` (ISO 15118-2 §8.4.3 PaymentDetails/Authorization/Certificate-
Installation): opens the key store (a PKCS#11 token, or the bench-only software store) and the contract store
named on the command line and builds the contract port (:class:`~evcc.session.iso2.pnc.KeyStoreContracts`).

Only this module (with cli.py) reads files for it: certificates (PEM or DER), the PIN file, the KEK file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509

from evcc.contracts.install_common import InstallContext
from evcc.contracts.store import ContractStore
from evcc.errors import ConfigError
from evcc.hsm.keystore import KeyStore
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.session.iso2.pnc import KeyStoreContracts

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    """Every certificate in a PEM file, or the one in a DER file; ConfigError naming the file otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from exc
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [
            x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigError(f"{what} {path}: not a PEM or DER certificate ({exc})") from exc
    return certs


def _read_secret(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class PncOptions:
    """``token``: PKCS#11 token label (with ``pin_file``); or ``soft_keys``: software key store folder (with
    ``kek_file``). ``oem_key``/``oem_cert``: the OEM provisioning key label and certificate (installation)."""

    contracts: Path
    v2g_roots: tuple[Path, ...]
    token: str | None = None
    pin_file: Path | None = None
    pkcs11_module: str = SOFTHSM_MODULE
    soft_keys: Path | None = None
    kek_file: Path | None = None
    oem_key: str | None = None
    oem_cert: Path | None = None
    mo_roots: tuple[Path, ...] = ()


def _open_keystore(opts: PncOptions) -> KeyStore:
    if (opts.token is None) == (opts.soft_keys is None):
        raise ConfigError("--auth pnc: give exactly one key store, --token LABEL or --soft-keys DIR")
    if opts.token is not None:
        if opts.pin_file is None:
            raise ConfigError("--token needs --pin-file (the user PIN, one line)")
        pin = _read_secret(opts.pin_file, "--pin-file").decode(errors="replace").strip()
        return Pkcs11KeyStore(Pkcs11Config(opts.pkcs11_module, opts.token, pin))
    assert opts.soft_keys is not None
    if opts.kek_file is None:
        raise ConfigError("--soft-keys needs --kek-file (32-byte key-encryption key)")
    _read_secret(opts.kek_file, "--kek-file")  # a clear error before the store reads it
    return SoftKeyStore(SoftKeyStoreConfig(opts.soft_keys, kek_file=opts.kek_file))


@contextlib.contextmanager
def contract_port(opts: PncOptions) -> Iterator[KeyStoreContracts]:
    """The contract port for one session; the key store is closed afterwards."""
    if (opts.oem_key is None) != (opts.oem_cert is None):
        raise ConfigError("--oem-key and --oem-cert go together (CertificateInstallation)")
    if not opts.v2g_roots:
        raise ConfigError("--auth pnc needs --v2g-root (the CPS chain of CertificateInstallationRes ends there)")
    roots = tuple(c for p in opts.v2g_roots for c in load_certificates(p, "--v2g-root"))
    mo_roots = tuple(c for p in opts.mo_roots for c in load_certificates(p, "--mo-root"))
    oem = _one(load_certificates(opts.oem_cert, "--oem-cert"), opts.oem_cert) if opts.oem_cert else None
    keystore = _open_keystore(opts)
    try:
        ctx = InstallContext(ContractStore(opts.contracts), keystore, roots, datetime.now(timezone.utc), mo_roots)
        yield KeyStoreContracts(ctx, oem_key_label=opts.oem_key, oem_cert=oem)
    finally:
        close = getattr(keystore, "close", None)
        if callable(close):
            close()


def _one(certs: Sequence[x509.Certificate], path: Path) -> x509.Certificate:
    if len(certs) != 1:
        raise ConfigError(f"--oem-cert {path}: expected one certificate, found {len(certs)}")
    return certs[0]
