"""Test PKI generator: turns the profiles of :mod:`evcc.pki.profiles` into certificates and keys.

Test use only: the keys are generated at run time and written unencrypted (0600) so that peers such as an SECC
simulator can load them. Nothing generated here belongs in the repository.

Output layout of :func:`write_pki` (one folder per suite)::

    <dir>/manifest.json                    suites, names, PCID, eMAIDs, generation time
    <dir>/<suite>/certs/<name>.pem|.der    every certificate (roots, Sub-CAs, leaves, broken variants)
    <dir>/<suite>/chains/<leaf>.pem        leaf + Sub-CAs (what a message carries; no root)
    <dir>/<suite>/keys/<name>.key          PKCS#8 PEM private key, mode 0600 (folder 0700)
    <dir>/iso20-ed448/keys/oem_prov_leaf_x448.key   the X448 alternate key of the OEM provisioning leaf
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.x509.oid import NameOID, ObjectIdentifier

from evcc.pki.profiles import (
    CONTRACT_USAGE,
    LEAVES,
    ROOTS,
    TEST_EMAIDS,
    TEST_PCID,
    TEST_VEHICLE_CN,
    KeyUsage,
    YEAR,
    Profile,
    Suite,
    profile_table,
)

PrivateKey = ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey | x448.X448PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed448.Ed448PublicKey | x448.X448PublicKey
SigningKey = ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey

# ITU-T X.509 (10/2019) subjectAltPublicKeyInfo: carries the OEM provisioning leaf's X448 key (ISO 15118-20).
OID_SUBJECT_ALT_PUBLIC_KEY_INFO = ObjectIdentifier("2.5.29.72")
X448_ALT_KEY_NAME = "oem_prov_leaf_x448"
# Ed448 suite only: a contract leaf with an X448 key for the X448_EncryptedPrivateKey path (see contracts.install20).
CONTRACT_X448 = Profile("contract_x448", "mo_sub_ca_2", TEST_EMAIDS[1], "evcc test MO", "MO", False, None,
                        CONTRACT_USAGE, YEAR)


def new_key(suite: Suite) -> SigningKey:
    """A fresh signing key of the suite's algorithm."""
    if suite is Suite.ISO2:
        return ec.generate_private_key(ec.SECP256R1())
    if suite is Suite.ISO20_P521:
        return ec.generate_private_key(ec.SECP521R1())
    return ed448.Ed448PrivateKey.generate()


def signature_hash(suite: Suite) -> hashes.SHA256 | hashes.SHA512 | None:
    """The hash the suite signs with (None for Ed448, which hashes internally)."""
    if suite is Suite.ISO2:
        return hashes.SHA256()
    return hashes.SHA512() if suite is Suite.ISO20_P521 else None


def _name(p: Profile) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, p.cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, p.o),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, p.dc),
    ])


def _key_usage(p: Profile) -> x509.KeyUsage:
    u = p.usage
    return x509.KeyUsage(
        digital_signature=KeyUsage.DIGITAL_SIGNATURE in u, content_commitment=KeyUsage.NON_REPUDIATION in u,
        key_encipherment=KeyUsage.KEY_ENCIPHERMENT in u, data_encipherment=False,
        key_agreement=KeyUsage.KEY_AGREEMENT in u, key_cert_sign=KeyUsage.KEY_CERT_SIGN in u,
        crl_sign=KeyUsage.CRL_SIGN in u, encipher_only=False, decipher_only=False)


def issue_certificate(
    p: Profile,
    subject_key: PublicKey,
    issuer: tuple[x509.Certificate, SigningKey] | None,
    signer: SigningKey,
    suite: Suite,
    now: datetime,
    extra: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    """Issue one certificate for ``subject_key`` following profile ``p``; ``issuer`` is None for a root."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(p))
        .issuer_name(issuer[0].subject if issuer else _name(p))
        .public_key(subject_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + p.not_before)
        .not_valid_after(now + p.not_after)
        .add_extension(x509.BasicConstraints(ca=p.ca, path_length=p.path_len if p.ca else None), critical=True)
        .add_extension(_key_usage(p), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
    )
    if issuer is not None:
        ski = issuer[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    for ext in extra:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(signer, signature_hash(suite))


@dataclass
class TestPki:
    """One suite's tree in memory: certificates and private keys by profile name."""

    __test__ = False  # not a pytest test class

    suite: Suite
    now: datetime
    certs: dict[str, x509.Certificate] = field(default_factory=dict)
    keys: dict[str, PrivateKey] = field(default_factory=dict)

    def chain(self, leaf: str) -> list[x509.Certificate]:
        """``leaf`` and its Sub-CAs, leaf first, root excluded (the order a message carries)."""
        table = _profiles(self.suite)
        out: list[x509.Certificate] = []
        name: str | None = leaf
        while name is not None and table[name].issuer is not None:
            out.append(self.certs[name])
            name = table[name].issuer
        return out

    def root_of(self, leaf: str) -> x509.Certificate:
        """The self-signed root above ``leaf``."""
        table = _profiles(self.suite)
        name = leaf
        while (issuer := table[name].issuer) is not None:
            name = issuer
        return self.certs[name]

    def signing_key(self, name: str) -> SigningKey:
        """The private key of ``name`` as a signing key (TypeError for an X448 key)."""
        return _as_signing_key(self.keys[name])


def _profiles(suite: Suite) -> dict[str, Profile]:
    table = profile_table()
    if suite is Suite.ISO20_ED448:
        table[CONTRACT_X448.name] = CONTRACT_X448
    return table


def alt_key_extension(key: x448.X448PublicKey) -> x509.UnrecognizedExtension:
    """subjectAltPublicKeyInfo (2.5.29.72) carrying an X448 key for ECDH (ISO 15118-20 OEM certificate)."""
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return x509.UnrecognizedExtension(OID_SUBJECT_ALT_PUBLIC_KEY_INFO, spki)


def build_pki(suite: Suite, now: datetime) -> TestPki:
    """Build every profile (regular and broken) of one suite, validity relative to ``now`` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    pki = TestPki(suite, now)
    for p in _profiles(suite).values():  # issuers come before their subjects in the table
        extra: tuple[x509.ExtensionType, ...] = ()
        subject: PrivateKey
        if p.name == CONTRACT_X448.name:
            subject = x448.X448PrivateKey.generate()
        else:
            subject = new_key(suite)
        if p.name == "oem_prov_leaf" and suite is Suite.ISO20_ED448:
            alt = x448.X448PrivateKey.generate()
            pki.keys[X448_ALT_KEY_NAME] = alt
            extra = (alt_key_extension(alt.public_key()),)
        issuer = None if p.issuer is None else (pki.certs[p.issuer], pki.signing_key(p.issuer))
        signer = issuer[1] if issuer else _as_signing_key(subject)
        pki.certs[p.name] = issue_certificate(p, subject.public_key(), issuer, signer, suite, now, extra)
        pki.keys[p.name] = subject
    return pki


def _as_signing_key(key: PrivateKey) -> SigningKey:
    if isinstance(key, x448.X448PrivateKey):
        raise TypeError("a root needs a signing key")
    return key


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_pki(out: Path, suites: tuple[Suite, ...], now: datetime) -> dict[Suite, TestPki]:
    """Generate ``suites`` and write them under ``out`` in the layout of the module docstring."""
    result: dict[Suite, TestPki] = {}
    for suite in suites:
        pki = build_pki(suite, now)
        base = out / suite.value
        for sub in ("certs", "chains"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        keys = base / "keys"
        keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(keys, 0o700)
        for name, cert in pki.certs.items():
            (base / "certs" / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            (base / "certs" / f"{name}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
        for name, key in pki.keys.items():
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            _write_private(keys / f"{name}.key", pem)
        for leaf in LEAVES + ((CONTRACT_X448.name,) if suite is Suite.ISO20_ED448 else ()):
            pems = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pki.chain(leaf))
            (base / "chains" / f"{leaf}.pem").write_bytes(pems)
        result[suite] = pki
    manifest = {
        "generated_at": now.isoformat(), "suites": [s.value for s in suites], "pcid": TEST_PCID,
        "emaids": list(TEST_EMAIDS), "vehicle": TEST_VEHICLE_CN, "roots": list(ROOTS), "leaves": list(LEAVES),
        "note": "test PKI generated by `evcc pki init`; never use these keys in production",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return result


def vehicle_chain(pki: TestPki, public: PublicKey) -> tuple[x509.Certificate, ...]:
    """A vehicle certificate (profile ``vehicle_leaf``) for a key held elsewhere (a token or key store), issued by
    the tree's OEM Sub-CA 2 with the generation time's validity, then OEM Sub-CA 2 and 1: what the EV presents in
    TLS 1.3. The key must be of the suite's kind (X448 cannot sign CertificateVerify: refused)."""
    if isinstance(public, x448.X448PublicKey):
        raise ValueError("a vehicle certificate needs a signing key, not X448")
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    leaf = issue_certificate(profile_table()["vehicle_leaf"], public, issuer, issuer[1], pki.suite, pki.now)
    return (leaf, *pki.chain("oem_sub_ca_2"))


def load_private_key(path: Path) -> PrivateKey:
    """Load a PEM private key written by :func:`write_pki`."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed448.Ed448PrivateKey, x448.X448PrivateKey)):
        raise ValueError(f"{path}: not an EC, Ed448 or X448 key")
    return key
