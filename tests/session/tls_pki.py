"""Test PKIs made at run time. ISO 15118-2: V2G root -> Sub-CA -> SECC leaf, all P-256 (ECDSA with SHA-256).
ISO 15118-20: evcc.pki's P-521 or Ed448 tree plus a vehicle certificate for a key in a key store."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

from evcc.hsm.keystore import KeyAlgorithm
from evcc.pki.generator import PublicKey, TestPki, build_pki, vehicle_chain
from evcc.pki.profiles import Suite


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "CPO")])


def _cert(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True
        )
    return b.sign(issuer_key, hashes.SHA256())


@dataclass
class SeccPki:
    root: x509.Certificate
    chain_pem: Path  # SECC leaf + Sub-CA
    key_pem: Path
    root_pem: Path


def make_pki(folder: Path, tag: str = "V2GRootCA") -> SeccPki:
    folder.mkdir(parents=True, exist_ok=True)
    root_key, sub_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert(tag, root_key, _name(tag), root_key, ca=True)
    sub = _cert("CPOSubCA1", sub_key, root.subject, root_key, ca=True)
    leaf = _cert("SECCCert", leaf_key, sub.subject, sub_key, ca=False)
    pem = serialization.Encoding.PEM
    chain = folder / "secc_chain.pem"
    chain.write_bytes(leaf.public_bytes(pem) + sub.public_bytes(pem))
    key = folder / "secc.key"
    key.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    root_path = folder / "root.pem"
    root_path.write_bytes(root.public_bytes(pem))
    return SeccPki(root, chain, key, root_path)


# ---- ISO 15118-20 (TLS 1.3 mutual): evcc.pki's -20 suites with their vehicle certificate profile -----------------
@dataclass
class Iso20Pki:
    """One -20 suite's tree: the SECC's chain and key as files, the V2G and OEM roots, and vehicle leaves on demand."""

    pki: TestPki
    secc_chain_pem: Path
    secc_key_pem: Path

    @property
    def v2g_root(self) -> x509.Certificate:
        return self.pki.root_of("secc_leaf")

    @property
    def oem_root(self) -> x509.Certificate:
        return self.pki.root_of("oem_prov_leaf")

    def vehicle_chain(self, public: bytes, algorithm: KeyAlgorithm) -> tuple[x509.Certificate, ...]:
        """A vehicle certificate (evcc.pki profile ``vehicle_leaf``) for the key-store public key ``public``, then
        OEM Sub-CA 2 and 1."""
        key: PublicKey
        if algorithm is KeyAlgorithm.ED448:
            key = ed448.Ed448PublicKey.from_public_bytes(public)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP521R1() if algorithm is KeyAlgorithm.EC_P521 else ec.SECP256R1(), public)
        return vehicle_chain(self.pki, key)


def make_iso20_pki(folder: Path, suite: Suite = Suite.ISO20_P521) -> Iso20Pki:
    folder.mkdir(parents=True, exist_ok=True)
    pki = build_pki(suite, datetime.datetime.now(datetime.timezone.utc))
    pem = serialization.Encoding.PEM
    chain = folder / "secc_chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(pem) for c in pki.chain("secc_leaf")))
    key = folder / "secc.key"
    key.write_bytes(pki.keys["secc_leaf"].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return Iso20Pki(pki, chain, key)
