"""ISO 15118-20 TLS 1.3 with mutual authentication, EVCC side: the -20 profile and the vehicle's certificate.

Profile (ISO 15118-20 TLS requirements; PKI.md §5; the EVCC offers every -20 suite, [V2G20-2459]):

=====================  ===================================================  ================================
item                   -20 values                                           set through
=====================  ===================================================  ================================
version                TLS 1.3 only                                         ``SSLContext.minimum/maximum_version``
cipher suites          TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256  ``SSL_CTX_set_ciphersuites``
groups (key shares)    secp521r1, x448                                      ``SSL_CTX_set1_groups_list``
signature algorithms   ecdsa_secp521r1_sha512, ed448                        ``SSL_CTX_set1_sigalgs_list``
server authentication  SECC chain validated against the V2G roots; no host name check
client authentication  vehicle certificate chain (OEM PKI) and its private key
=====================  ===================================================  ================================

Python 3.11's ``ssl`` sets none of the three lists: :mod:`evcc.session.tls_openssl` sets them on the context.

The vehicle's private key is either in a PKCS#11 token, used by OpenSSL 3 through ``pkcs11-provider`` (the key
never leaves the token; :mod:`evcc.session.tls_token`), or in a TPM 2.0, used through ``tpm2-openssl`` (the key
file is a TPM-wrapped blob; :mod:`evcc.session.tls_tpm`), or, on benches without the provider, in the software key
store (:class:`evcc.hsm.soft_store.SoftKeyStore`), handed to OpenSSL through an anonymous memory file (never
written to disk). Which one was used is reported as the connection's ``client_key_source``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.errors import ConfigError
from evcc.hsm.pkcs11_store import Pkcs11Config
from evcc.hsm.soft_store import SoftKeyStore
from evcc.session import tls_openssl, tls_tpm, tls_token

CertSource = Path | str | bytes | x509.Certificate

ISO20_TLS13_SUITES = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
ISO20_GROUPS = ("secp521r1", "x448")
ISO20_SIGNATURE_ALGORITHMS = ("ecdsa_secp521r1_sha512", "ed448")


@dataclass(frozen=True, slots=True)
class Tls13Profile:
    """What a TLS 1.3 endpoint offers and accepts (OpenSSL names, in preference order)."""

    suites: tuple[str, ...] = ISO20_TLS13_SUITES
    groups: tuple[str, ...] = ISO20_GROUPS
    signature_algorithms: tuple[str, ...] = ISO20_SIGNATURE_ALGORITHMS


ISO20_TLS13 = Tls13Profile()


@dataclass(frozen=True, slots=True)
class TokenKey:
    """The vehicle key ``label`` in a PKCS#11 token (a pair made by :class:`evcc.hsm.pkcs11_store.Pkcs11KeyStore`:
    pkcs11-provider finds its public half by the shared CKA_ID)."""

    pkcs11: Pkcs11Config
    label: str

    def describe(self) -> str:
        return f"PKCS#11 token {self.pkcs11.token_label!r} through OpenSSL pkcs11-provider (key {self.label!r})"


@dataclass(frozen=True, slots=True)
class SoftStoreKey:
    """The vehicle key ``label`` in the software key store (bench only)."""

    store: SoftKeyStore
    label: str

    def describe(self) -> str:
        return f"{self.store.description} (key {self.label!r})"


@dataclass(frozen=True, slots=True)
class TpmKey:
    """The vehicle key ``label`` in a TPM 2.0: its TSS2 PRIVATE KEY file (TPM-wrapped, as
    :class:`evcc.hsm.tpm_store.TpmKeyStore` keeps it), used through tpm2-openssl on the TPM at ``tcti``."""

    tcti: str
    key_file: Path
    label: str

    def describe(self) -> str:
        return f"TPM 2.0 ({self.tcti}) through OpenSSL tpm2-openssl (key {self.label!r})"


class TpmKeyFiles(Protocol):
    """What the TLS layer needs of a TPM key store (:class:`evcc.hsm.tpm_store.TpmKeyStore`): a key's file."""

    def key_file(self, label: str) -> Path: ...


@dataclass(frozen=True, slots=True)
class TpmKeys:
    """A TPM key store as :func:`choose_vehicle_key` sees it: the TPM's TCTI and the store of key files."""

    tcti: str
    store: TpmKeyFiles


VehicleKey = TokenKey | SoftStoreKey | TpmKey


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """The EV's TLS 1.3 identity: the vehicle certificate first, then its Sub-CAs (no root), and its key."""

    chain: tuple[CertSource, ...]
    key: VehicleKey


def choose_vehicle_key(label: str, token: Pkcs11Config | None, soft: SoftKeyStore | None,
                       tpm: TpmKeys | None = None) -> VehicleKey:
    """The TPM through tpm2-openssl when the key store is a TPM, the token through pkcs11-provider where both are
    available, else the software key store."""
    if tpm is not None:
        if not tls_tpm.tpm2_provider_installed():
            raise ConfigError("the vehicle key is in the TPM but OpenSSL's tpm2 provider is not installed "
                              "(Debian package tpm2-openssl)")
        tls_tpm.provider_context(tpm.tcti)  # loaded now: a TPM that cannot be reached is a start error
        return TpmKey(tpm.tcti, tpm.store.key_file(label), label)
    if token is not None and tls_openssl.pkcs11_provider_installed():
        return TokenKey(token, label)
    if soft is not None:
        return SoftStoreKey(soft, label)
    if token is not None:
        raise ConfigError("the vehicle key is in a PKCS#11 token but OpenSSL's pkcs11-provider is not installed "
                          "(Debian package pkcs11-provider); configure the software key store instead")
    raise ConfigError("TLS 1.3 client authentication needs a PKCS#11 token or a software key store")


def certificates_pem(source: CertSource, what: str) -> str:
    """PEM text of the certificate(s) in ``source`` (PEM/DER path or bytes, or a certificate object)."""
    if isinstance(source, x509.Certificate):
        return source.public_bytes(Encoding.PEM).decode()
    if isinstance(source, bytes):
        data, name = source, f"({len(source)} bytes)"
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{what} {name}: {exc.strerror}") from exc
    try:
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except ValueError as exc:
        raise ConfigError(f"{what} {name}: not a PEM or DER certificate ({exc})") from exc
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certs)


def apply_profile(ctx: ssl.SSLContext, profile: Tls13Profile) -> None:
    """TLS 1.3 only, with the profile's suites, groups and signature algorithms."""
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    tls_openssl.restrict_tls13(ctx, profile.suites, profile.groups, profile.signature_algorithms)


@contextlib.contextmanager
def _memory_files(*contents: bytes) -> Iterator[list[str]]:
    """Anonymous memory files (memfd) as paths OpenSSL can open; closed on exit, never on disk."""
    fds: list[int] = []
    try:
        for data in contents:
            fd = os.memfd_create("evcc-tls")
            fds.append(fd)
            os.write(fd, data)
        yield [f"/proc/self/fd/{fd}" for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)


def load_client_certificate(ctx: ssl.SSLContext, cert: ClientCertificate) -> str:
    """Put the vehicle chain and key into ``ctx``; returns where the key is (for the connection report)."""
    if not cert.chain:
        raise ConfigError("the vehicle certificate chain is empty")
    chain = "".join(certificates_pem(c, "vehicle certificate") for c in cert.chain).encode()
    try:
        if isinstance(cert.key, TokenKey):
            key_pem = tls_token.uri_pem(tls_token.key_uri(cert.key.pkcs11, cert.key.label))
            tls_openssl.use_token_key(ctx, chain, key_pem, cert.key.pkcs11)
        elif isinstance(cert.key, TpmKey):
            tls_tpm.use_tpm_key(ctx, chain, tls_tpm.read_key_pem(cert.key.key_file), cert.key.tcti)
        else:
            _load_soft_key(ctx, chain, cert.key)
    except (ssl.SSLError, tls_openssl.ProviderKeyError) as exc:
        hint = ""
        if isinstance(cert.key, TokenKey) and exc.reason == "KEY_VALUES_MISMATCH":
            hint = (" (the token key's public object must carry the private key's CKA_ID: keys of tokens written "
                    "before key pairing need Pkcs11KeyStore.pair once)")
        raise ConfigError(f"vehicle certificate and {cert.key.describe()} cannot be used for TLS: "
                          f"{exc.reason or exc}{hint}") from exc
    return cert.key.describe()


def _load_soft_key(ctx: ssl.SSLContext, chain: bytes, key: SoftStoreKey) -> None:
    pem = key.store.private_key_pem(key.label)  # to a memfd only, wiped here
    try:
        with _memory_files(chain, bytes(pem)) as (chain_path, key_path):
            ctx.load_cert_chain(chain_path, key_path)
    finally:
        pem[:] = bytes(len(pem))
