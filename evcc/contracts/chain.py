"""Certificate chain validation for V2G chains (ISO 15118-2 §7.9.2.x, [V2G2-007..], ISO 15118-20 §7.9.2; PKI.md §2).

A V2G chain is short: leaf, at most two Sub-CAs (-20: plus one cross certificate), then an installed root::

    chain[0] leaf  <- chain[1] Sub-CA 2 (pathLen 0) <- chain[2] Sub-CA 1 (pathLen 1) <- root (installed)

Checks, in order, each with its own error: sizes before parsing (:class:`ChainTooLarge`), DER
(:class:`MalformedCertificate`), number of Sub-CAs (:class:`PathTooLong`), validity at ``now``
(:class:`CertificateExpired`/:class:`CertificateNotYetValid`), leaf key usage and CA flags
(:class:`WrongKeyUsage`), issuer name + signature of every link (:class:`BadSignature`), pathLenConstraint
(:class:`PathTooLong`), and an installed root that verifies the top certificate (:class:`UnknownRoot`).
Time is passed in; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from evcc.contracts.errors import (
    BadSignature,
    CertificateExpired,
    CertificateNotYetValid,
    ChainTooLarge,
    MalformedCertificate,
    PathTooLong,
    UnknownRoot,
    WrongKeyUsage,
)

HARD_MAX_CERTIFICATES = 8


@dataclass(frozen=True)
class ChainPolicy:
    """Limits and leaf requirements. ``max_certificate_bytes``: -2 certificateType is at most 800 bytes,
    -20 at most 1600. ``leaf_usage`` names x509.KeyUsage attributes the leaf must have."""

    max_certificate_bytes: int = 800
    max_sub_cas: int = 2
    leaf_usage: frozenset[str] = frozenset({"digital_signature"})


POLICY_ISO2 = ChainPolicy()
POLICY_ISO20 = ChainPolicy(max_certificate_bytes=1600, max_sub_cas=3)


@dataclass(frozen=True)
class ValidatedChain:
    """A chain that passed :func:`validate_chain`: leaf first, Sub-CAs, and the installed root it ends in."""

    certificates: tuple[x509.Certificate, ...]
    root: x509.Certificate

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]


def common_name(cert: x509.Certificate) -> str:
    """The subject CN as text ('' if absent)."""
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("ascii", "replace")


def parse_chain(ders: Sequence[bytes], policy: ChainPolicy) -> list[x509.Certificate]:
    """Bound then parse DER certificates (leaf first)."""
    if not ders:
        raise MalformedCertificate("empty certificate chain")
    if len(ders) > HARD_MAX_CERTIFICATES:
        raise ChainTooLarge(f"chain of {len(ders)} certificates (at most {HARD_MAX_CERTIFICATES} are read)")
    total = sum(len(d) for d in ders)
    for i, der in enumerate(ders):
        if len(der) > policy.max_certificate_bytes:
            raise ChainTooLarge(f"certificate {i} of the chain has {len(der)} bytes "
                                f"(limit {policy.max_certificate_bytes}); chain total {total} bytes")
    out = []
    for i, der in enumerate(ders):
        try:
            out.append(x509.load_der_x509_certificate(bytes(der)))
        except ValueError as exc:
            raise MalformedCertificate(f"certificate {i} of the chain is not DER X.509: {exc}") from exc
    return out


def _check_time(cert: x509.Certificate, now: datetime) -> None:
    if now > cert.not_valid_after_utc:
        raise CertificateExpired(f"certificate {common_name(cert)!r} expired at {cert.not_valid_after_utc}")
    if now < cert.not_valid_before_utc:
        raise CertificateNotYetValid(
            f"certificate {common_name(cert)!r} is not valid before {cert.not_valid_before_utc}")


def _constraints(cert: x509.Certificate) -> tuple[bool, int | None]:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False, None
    return bc.ca, bc.path_length


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _check_issuer(cert: x509.Certificate, issuer: x509.Certificate, below: int) -> None:
    """``issuer`` signed ``cert``; ``below`` = number of non-leaf CAs under ``issuer`` in the path."""
    ca, path_len = _constraints(issuer)
    ku = _key_usage(issuer)
    if not ca or ku is None or not ku.key_cert_sign:
        raise WrongKeyUsage(f"issuer {common_name(issuer)!r} is not a CA with keyCertSign")
    if path_len is not None and below > path_len:
        raise PathTooLong(f"{common_name(issuer)!r} allows pathLen {path_len}, {below} CA(s) below it")
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise BadSignature(f"{common_name(cert)!r} is not signed by {common_name(issuer)!r}: "
                           f"{type(exc).__name__}") from exc


def _check_leaf(leaf: x509.Certificate, policy: ChainPolicy) -> None:
    ca, _ = _constraints(leaf)
    ku = _key_usage(leaf)
    if ca:
        raise WrongKeyUsage(f"leaf {common_name(leaf)!r} is a CA certificate")
    missing = [u for u in sorted(policy.leaf_usage) if ku is None or not getattr(ku, u)]
    if missing:
        raise WrongKeyUsage(f"leaf {common_name(leaf)!r} lacks key usage {', '.join(missing)}")


def validate_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime,
                   policy: ChainPolicy = POLICY_ISO2) -> ValidatedChain:
    """Validate ``chain`` (leaf first, root optional at the end) against installed ``roots`` at ``now``."""
    certs = list(chain)
    if len(certs) > 1 and any(certs[-1] == r for r in roots):
        certs.pop()  # a chain that carries its root: use the installed copy
    if len(certs) - 1 > policy.max_sub_cas:
        raise PathTooLong(f"chain has {len(certs) - 1} Sub-CAs, at most {policy.max_sub_cas} allowed")
    for cert in certs:
        _check_time(cert, now)
    _check_leaf(certs[0], policy)
    for i in range(len(certs) - 1):
        _check_issuer(certs[i], certs[i + 1], below=i)
    top = certs[-1]
    candidates = [r for r in roots if r.subject == top.issuer]
    for root in candidates:
        try:
            _check_issuer(top, root, below=len(certs) - 1)
        except BadSignature:
            continue
        _check_time(root, now)
        return ValidatedChain(tuple(certs), root)
    what = "no installed root has that name" if not candidates else "no installed root of that name verifies it"
    raise UnknownRoot(f"chain of {common_name(certs[0])!r} ends at issuer {top.issuer.rfc4514_string()}: {what}")


def validate_links(chain: Sequence[x509.Certificate], now: datetime, policy: ChainPolicy) -> None:
    """Validate a chain whose root is not installed here: times, leaf usage and every link inside it."""
    certs = list(chain)
    if len(certs) - 1 > policy.max_sub_cas:
        raise PathTooLong(f"chain has {len(certs) - 1} Sub-CAs, at most {policy.max_sub_cas} allowed")
    for cert in certs:
        _check_time(cert, now)
    _check_leaf(certs[0], policy)
    for i in range(len(certs) - 1):
        _check_issuer(certs[i], certs[i + 1], below=i)


def anchor_key_id(chain: Sequence[x509.Certificate]) -> str:
    """Hex key id of the root the chain hangs from (authorityKeyIdentifier of the top certificate), or ''."""
    try:
        aki = chain[-1].extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    return aki.key_identifier.hex() if aki.key_identifier else ""
