"""`evcc pki sign-csr`: the test PKI's OEM Sub-CA 2 issues an OEM provisioning or vehicle certificate from a PKCS#10
request (RFC 2986), as the OEM's CA does on the factory line (PKI.md §2 profiles ``oem_prov_leaf``,
``vehicle_leaf``). Test use only, like the rest of :mod:`evcc.pki`.

The request's self-signature is checked, its subject follows the role's rule (evcc.keys.names: CN = PCID for the
OEM provisioning certificate, the vehicle name for the vehicle certificate); the certificate takes the request's
CN and public key and everything else from the profile (O, C, DC, key usage, validity from ``now``). The one
requested extension carried over: subjectAltPublicKeyInfo (2.5.29.72) naming the EV's ISO 15118-20 TPM storage key
(a P-521 key; ``evcc keys csr --storage-key``, model in evcc.contracts.install20_tpm), accepted only in an OEM
provisioning request of the P-521 suite; any other requested extension is ignored (the profile decides). The result
is the chain a key store imports: the leaf, then OEM Sub-CA 2 and Sub-CA 1 (no root).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from evcc.errors import ConfigError, SecurityError
from evcc.keys.names import OEM_PROVISIONING, VEHICLE, check_subject, common_name
from evcc.pki.generator import OID_SUBJECT_ALT_PUBLIC_KEY_INFO, issue_certificate, load_private_key
from evcc.pki.profiles import Suite, profile_table

PROFILES = {OEM_PROVISIONING: "oem_prov_leaf", VEHICLE: "vehicle_leaf"}
ISSUER = "oem_sub_ca_2"
ISSUER_CHAIN = ("oem_sub_ca_2", "oem_sub_ca_1")


def suite_of(csr: x509.CertificateSigningRequest) -> Suite:
    """The suite whose keys match the request's key (P-256: iso2, P-521: iso20-p521, Ed448: iso20-ed448)."""
    key = csr.public_key()
    if isinstance(key, ed448.Ed448PublicKey):
        return Suite.ISO20_ED448
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp521r1"):
        return Suite.ISO2 if key.curve.name == "secp256r1" else Suite.ISO20_P521
    raise ConfigError(f"the request's key ({type(key).__name__}) is not P-256, P-521 or Ed448")


def load_csr(data: bytes, what: str) -> x509.CertificateSigningRequest:
    try:
        csr = (x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data))
    except ValueError as exc:
        raise ConfigError(f"{what} is not a PKCS#10 request ({exc})") from None
    if not csr.is_signature_valid:
        raise SecurityError(f"{what}: the request's signature does not verify")
    return csr


def storage_key_request(csr: x509.CertificateSigningRequest, role: str,
                        suite: Suite) -> tuple[x509.ExtensionType, ...]:
    """The requested subjectAltPublicKeyInfo naming a -20 TPM storage key, checked (module docstring)."""
    try:
        ext = csr.extensions.get_extension_for_oid(OID_SUBJECT_ALT_PUBLIC_KEY_INFO)
    except x509.ExtensionNotFound:
        return ()
    except ValueError as exc:
        raise ConfigError(f"the request's extensions do not parse ({exc})") from None
    if role != OEM_PROVISIONING or suite is not Suite.ISO20_P521:
        raise ConfigError(f"the request names a TPM storage key (subjectAltPublicKeyInfo): only an OEM provisioning "
                          f"certificate of suite iso20-p521 carries one, not {role} / {suite.value}")
    value = getattr(ext.value, "value", b"")
    try:
        key = load_der_public_key(value)
    except ValueError:
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp521r1":
        raise ConfigError("the request's subjectAltPublicKeyInfo is not a P-521 public key (the -20 TPM storage key)")
    return (x509.UnrecognizedExtension(OID_SUBJECT_ALT_PUBLIC_KEY_INFO,
                                       key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)),)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None


def sign_csr(pki_dir: Path, csr: x509.CertificateSigningRequest, role: str, now: datetime,
             suite: Suite | None = None) -> tuple[x509.Certificate, ...]:
    """The certificate for ``csr`` with ``role``'s profile, issued by the test PKI in ``pki_dir`` (written by
    ``evcc pki init``), followed by the issuer's chain."""
    if role not in PROFILES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(PROFILES)}")
    check_subject(role, csr.subject)
    suite = suite or suite_of(csr)
    storage_key_request(csr, role, suite)  # refused before the PKI is read
    base = pki_dir / suite.value
    if not (base / "keys" / f"{ISSUER}.key").is_file():
        raise ConfigError(f"{pki_dir}: no {suite.value} test PKI there (evcc pki init {pki_dir} --suite {suite.value})")
    issuer_key = load_private_key(base / "keys" / f"{ISSUER}.key")
    if not isinstance(issuer_key, (ec.EllipticCurvePrivateKey, ed448.Ed448PrivateKey)):
        raise ConfigError(f"{base}: the OEM Sub-CA 2 key cannot sign")
    chain = tuple(x509.load_pem_x509_certificate(_read(base / "certs" / f"{n}.pem")) for n in ISSUER_CHAIN)
    profile = dataclasses.replace(profile_table()[PROFILES[role]], cn=common_name(csr.subject) or "")
    subject_key = csr.public_key()
    if not isinstance(subject_key, (ec.EllipticCurvePublicKey, ed448.Ed448PublicKey)):
        raise ConfigError("the request's key cannot sign: an OEM or vehicle certificate needs a signing key")
    extra = storage_key_request(csr, role, suite)
    leaf = issue_certificate(profile, subject_key, (chain[0], issuer_key), issuer_key, suite, now, extra)
    return (leaf, *chain)
