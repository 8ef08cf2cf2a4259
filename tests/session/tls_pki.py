"""A tiny test PKI made at run time: V2G root -> Sub-CA -> SECC leaf, all P-256 (ECDSA with SHA-256)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
