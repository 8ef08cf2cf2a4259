"""Import a contract from files (bench/workshop use): a PEM chain (leaf first) and its PEM private key.

The key goes into the key store non-extractable (then the in-memory copy is wiped), the chain into the
contract store in one atomic write; same all-or-nothing rule as installation (:mod:`install_common`).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448

from evcc.contracts.chain import POLICY_ISO2, POLICY_ISO20
from evcc.contracts.errors import KeyMismatch, MalformedCertificate
from evcc.contracts.install_common import InstallContext, checked_contract_chain, import_and_store
from evcc.contracts.store import Contract
from evcc.hsm.hostcrypto import algorithm_of
from evcc.hsm.keystore import KeyAlgorithm

MAX_FILE_BYTES = 64 * 1024


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise MalformedCertificate(f"{path}: {len(data)} bytes, more than {MAX_FILE_BYTES}")
    return data


def import_contract_files(chain_pem: Path, key_pem: Path, ctx: InstallContext, priority: int = 0,
                          password: bytes | None = None) -> Contract:
    """Import ``chain_pem`` + ``key_pem`` as an installed contract; returns it."""
    try:
        certs = x509.load_pem_x509_certificates(_read(chain_pem))
    except ValueError as exc:
        raise MalformedCertificate(f"{chain_pem}: not a PEM certificate chain: {exc}") from exc
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    try:
        key = serialization.load_pem_private_key(_read(key_pem), password=password)
    except (ValueError, TypeError) as exc:
        raise KeyMismatch(f"{key_pem}: not a readable PEM private key: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed448.Ed448PrivateKey, x448.X448PrivateKey)):
        raise KeyMismatch(f"{key_pem}: unsupported key type {type(key).__name__}")
    algorithm = algorithm_of(key)
    policy = POLICY_ISO2 if algorithm is KeyAlgorithm.EC_P256 else POLICY_ISO20
    chain, emaid = checked_contract_chain(ders, None, ctx, policy)
    if key.public_key() != chain[0].public_key():
        raise KeyMismatch(f"{key_pem} does not belong to the contract certificate in {chain_pem}")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = bytearray(key.private_numbers().private_value.to_bytes(algorithm.private_length, "big"))
    else:
        raw = bytearray(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption()))
    return import_and_store(ctx, algorithm, raw, chain, emaid, priority)
