"""Checks of a certificate chain before it is stored with its key (``evcc keys import-cert``) and at start
(``evcc run --check``): the leaf carries the key's public key; each certificate is signed by the next one, a CA
(basicConstraints cA); the last one is a configured root or is signed by one (RFC 5280 §6.1, reduced to what the
OEM PKI of PKI.md §2 needs: signatures, CA flags, validity at ``now``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.errors import ConfigError, SecurityError
from evcc.hsm.hostcrypto import encode_public


def load_chain(data: bytes, what: str) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM file, or the one of a DER file (ConfigError naming ``what`` otherwise)."""
    try:
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except ValueError as exc:
        raise ConfigError(f"{what} is not a PEM or DER certificate ({exc})") from None
    return tuple(certs)


def name_of(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def leaf_matches(leaf: x509.Certificate, public: bytes) -> bool:
    """Whether the leaf's public key is the key store's ``public`` (the store's encoding)."""
    try:
        return encode_public(leaf.public_key()) == public  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        return False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def verify_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime) -> None:
    """SecurityError naming the certificate and the cause when ``chain`` (leaf first) does not hold together or,
    with ``roots``, does not end at one of them; ``roots`` empty: only the links inside the chain are checked."""
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SecurityError(f"certificate {name_of(cert)!r} is not valid now (valid "
                                f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})")
    for cert, issuer in zip(chain, chain[1:]):
        if not _is_ca(issuer):
            raise SecurityError(f"certificate {name_of(issuer)!r} issues {name_of(cert)!r} but is not a CA")
        if not _signed_by(cert, issuer):
            raise SecurityError(f"certificate {name_of(cert)!r} is not signed by the next one in the chain, "
                                f"{name_of(issuer)!r}")
    if not roots:
        return
    last = chain[-1]
    root_ders = {r.public_bytes(Encoding.DER) for r in roots}
    if last.public_bytes(Encoding.DER) in root_ders:
        return
    for root in roots:
        if _signed_by(last, root):
            if not root.not_valid_before_utc <= now <= root.not_valid_after_utc:
                raise SecurityError(f"root {name_of(root)!r} is not valid now")
            return
    raise SecurityError(f"the chain does not verify to the configured roots: {name_of(last)!r} (issuer "
                        f"{last.issuer.rfc4514_string()!r}) is signed by none of them")
