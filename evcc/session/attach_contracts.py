"""The key store and Plug & Charge side of `evcc session`: opens the key store (a PKCS#11 token, a TPM, or the
bench-only software store: evcc.hsm.open_store, as `evcc keys` does) and the contract store named on the command
line and builds

- the ISO 15118-2 contract port (§8.4.3 PaymentDetails/Authorization/CertificateInstallation,
  :class:`~evcc.session.iso2.pnc.KeyStoreContracts`),
- the ISO 15118-20 contract port (§8.3.4.2/§8.3.4.8, :class:`~evcc.session.iso20.pnc.KeyStoreContracts20`: the
  OEM provisioning chain and key, the PCID from the OEM leaf's CN),
- the ISO 15118-20 TLS 1.3 client certificate (the vehicle certificate chain and its key in the same store:
  the token through OpenSSL's pkcs11-provider where installed, else the software store; evcc.session.tls13).

Only this module (with cli.py) reads files for it: certificates (PEM or DER), the PIN file, the KEK file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from cryptography import x509

from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.x509.oid import NameOID

from evcc.contracts.install_common import InstallContext
from evcc.contracts.store import ContractStore
from evcc.errors import ConfigError
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.open_store import SOFTHSM_MODULE, OpenedStore, StoreOptions, open_store
from evcc.hsm.soft_store import SoftKeyStore
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.iso20.pnc import KeyStoreContracts20
from evcc.session.tls13 import ClientCertificate, TpmKeyFiles, TpmKeys, choose_vehicle_key

__all__ = ["SOFTHSM_MODULE", "OpenedKeyStore", "PncOptions", "client_certificate", "contract_port",
           "contract_port20", "open_keystore"]


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


@dataclass(frozen=True)
class PncOptions:
    """``store``: which key store (evcc.hsm.open_store: a PKCS#11 token, a TPM or the software store).
    ``oem_key``/``oem_cert``: the OEM provisioning key label and certificate (installation)."""

    contracts: Path | None
    v2g_roots: tuple[Path, ...]
    store: StoreOptions = StoreOptions()
    oem_key: str | None = None
    oem_cert: Path | None = None
    mo_roots: tuple[Path, ...] = ()
    vehicle_key: str | None = None  # -20 TLS 1.3: key label of the vehicle certificate
    vehicle_cert: Path | None = None  # -20 TLS 1.3: vehicle certificate, then its Sub-CAs (PEM); None: the store's


OpenedKeyStore = OpenedStore  # the key store of one session; ``pkcs11`` is set for a token (pkcs11-provider)


@contextlib.contextmanager
def open_keystore(opts: PncOptions) -> Iterator[OpenedKeyStore]:
    """The key store named on the command line (evcc.hsm.open_store, as `evcc keys` takes it), closed afterwards."""
    opened = open_store(opts.store)
    try:
        yield opened
    finally:
        # Closing never logs the process out (evcc.hsm.p11_session): a TLS 1.3 context using the token key through
        # pkcs11-provider keeps working, and the provider has the PIN from its configuration (never a prompt).
        opened.close()


def _context(opts: PncOptions, keystore: KeyStore) -> InstallContext:
    if opts.contracts is None:
        raise ConfigError("--auth pnc needs --contracts DIR")
    if not opts.v2g_roots:
        raise ConfigError("--auth pnc needs --v2g-root (the CPS chain of CertificateInstallationRes ends there)")
    roots = tuple(c for p in opts.v2g_roots for c in load_certificates(p, "--v2g-root"))
    mo_roots = tuple(c for p in opts.mo_roots for c in load_certificates(p, "--mo-root"))
    return InstallContext(ContractStore(opts.contracts), keystore, roots, datetime.now(timezone.utc), mo_roots)


def contract_port(opts: PncOptions, keystore: KeyStore) -> KeyStoreContracts:
    """The ISO 15118-2 contract port for one session."""
    if (opts.oem_key is None) != (opts.oem_cert is None):
        raise ConfigError("--oem-key and --oem-cert go together (CertificateInstallation)")
    oem = _one(load_certificates(opts.oem_cert, "--oem-cert"), opts.oem_cert) if opts.oem_cert else None
    return KeyStoreContracts(_context(opts, keystore), oem_key_label=opts.oem_key, oem_cert=oem)


def _algorithm(cert: x509.Certificate, what: str) -> KeyAlgorithm:
    key = cert.public_key()
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyAlgorithm.ED448
    size = getattr(getattr(key, "curve", None), "key_size", None)
    if size == 521:
        return KeyAlgorithm.EC_P521
    if size == 256:
        return KeyAlgorithm.EC_P256
    raise ConfigError(f"{what}: key type {type(key).__name__} is not an ISO 15118-20 key (P-521, Ed448)")


def contract_port20(opts: PncOptions, keystore: KeyStore) -> KeyStoreContracts20:
    """The ISO 15118-20 contract port: ``--oem-cert`` holds the OEM provisioning chain (leaf first); the PCID is
    the leaf's CN (VDE-AR-E 2802-100-1, 18 characters, the AAD of the -20 key decryption)."""
    if (opts.oem_key is None) != (opts.oem_cert is None):
        raise ConfigError("--oem-key and --oem-cert go together (CertificateInstallation)")
    ctx = _context(opts, keystore)
    if opts.oem_cert is None:
        return KeyStoreContracts20(ctx)
    chain = tuple(load_certificates(opts.oem_cert, "--oem-cert"))
    names = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    pcid = str(names[0].value) if names else ""
    if len(pcid) != 18:
        raise ConfigError(f"--oem-cert {opts.oem_cert}: the leaf's CN {pcid!r} is not an 18-character PCID")
    return KeyStoreContracts20(ctx, pcid=pcid, oem_chain=chain, oem_key_label=opts.oem_key,
                               oem_key_algorithm=_algorithm(chain[0], "--oem-cert"))


def client_certificate(opts: PncOptions, opened: OpenedKeyStore) -> ClientCertificate:
    """The TLS 1.3 vehicle certificate (ISO 15118-20 mutual authentication) with its key in the key store: the
    chain of ``--vehicle-cert``, else the one stored with the key (`evcc keys import-cert`)."""
    if opts.vehicle_key is None:
        raise ConfigError("ISO 15118-20 --tls needs --vehicle-cert FILE and --vehicle-key LABEL")
    if opts.vehicle_cert is not None:
        chain = tuple(load_certificates(opts.vehicle_cert, "--vehicle-cert"))
    else:
        from evcc.keys.certs import cert_store

        certs = cert_store(opened)
        try:
            chain = certs.load(opts.vehicle_key)
        finally:
            certs.close()
        if not chain:
            raise ConfigError(f"--vehicle-key {opts.vehicle_key}: no certificate stored with this key in "
                              f"{opened.store.description}: give --vehicle-cert FILE or run evcc keys import-cert")
    soft = opened.store if isinstance(opened.store, SoftKeyStore) else None
    if opened.tcti is not None:  # a TPM store: its key files through tpm2-openssl
        tpm = TpmKeys(opened.tcti, cast(TpmKeyFiles, opened.store))
        return ClientCertificate(chain, choose_vehicle_key(opts.vehicle_key, None, None, tpm=tpm))
    return ClientCertificate(chain, choose_vehicle_key(opts.vehicle_key, opened.pkcs11, soft))


def _one(certs: Sequence[x509.Certificate], path: Path) -> x509.Certificate:
    if len(certs) != 1:
        raise ConfigError(f"--oem-cert {path}: expected one certificate, found {len(certs)}")
    return certs[0]
