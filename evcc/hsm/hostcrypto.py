"""Host-side helpers shared by the key stores: key encodings, peer-key checks, ECDSA signature formats.

Encodings (ISO 15118-2 [V2G2-771] raw r||s; X9.62 uncompressed points for DHpublickey)::

    EC public key   04 || X || Y              (65 bytes P-256, 133 bytes P-521)
    ECDSA signature r || s, each fixed width  (64 bytes P-256, 132 bytes P-521)
    Ed448 / X448    raw RFC 8032 / RFC 7748   (57 / 56 bytes)
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.hsm.keystore import InvalidPeerKey, KeyAlgorithm

AnyPublicKey = ec.EllipticCurvePublicKey | ed448.Ed448PublicKey | x448.X448PublicKey
AnyPrivateKey = ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey | x448.X448PrivateKey

CURVES: dict[KeyAlgorithm, ec.EllipticCurve] = {KeyAlgorithm.EC_P256: ec.SECP256R1(),
                                                 KeyAlgorithm.EC_P521: ec.SECP521R1()}
HASHES: dict[KeyAlgorithm, hashes.HashAlgorithm] = {KeyAlgorithm.EC_P256: hashes.SHA256(),
                                                    KeyAlgorithm.EC_P521: hashes.SHA512()}
# Group orders (SEC 2) for the [V2G2-823] range check 0 < d < n.
ORDERS: dict[KeyAlgorithm, int] = {
    KeyAlgorithm.EC_P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    KeyAlgorithm.EC_P521: int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9"
        "B8899C47AEBB6FB71E91386409", 16),
}
POINT_LENGTHS = {KeyAlgorithm.EC_P256: 65, KeyAlgorithm.EC_P521: 133, KeyAlgorithm.X448: 56,
                 KeyAlgorithm.ED448: 57}


def encode_public(key: AnyPublicKey) -> bytes:
    """The store's public-key encoding (module docstring)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def algorithm_of(key: AnyPublicKey | AnyPrivateKey) -> KeyAlgorithm:
    """The :class:`KeyAlgorithm` of a cryptography key object (ValueError for others)."""
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        for alg, curve in CURVES.items():
            if key.curve.name == curve.name:
                return alg
        raise ValueError(f"unsupported curve {key.curve.name}")
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return KeyAlgorithm.ED448
    if isinstance(key, (x448.X448PublicKey, x448.X448PrivateKey)):
        return KeyAlgorithm.X448
    raise ValueError(f"unsupported key type {type(key).__name__}")


def private_from_raw(algorithm: KeyAlgorithm, private: bytearray) -> AnyPrivateKey:
    """A cryptography private key from raw bytes (EC: fixed-width big-endian scalar)."""
    if len(private) != algorithm.private_length:
        raise ValueError(f"{algorithm.value} private key must be {algorithm.private_length} bytes")
    if algorithm in CURVES:
        d = int.from_bytes(private, "big")
        if not 0 < d < ORDERS[algorithm]:
            raise ValueError("EC private scalar out of range")
        return ec.derive_private_key(d, CURVES[algorithm])
    if algorithm is KeyAlgorithm.ED448:
        return ed448.Ed448PrivateKey.from_private_bytes(bytes(private))
    return x448.X448PrivateKey.from_private_bytes(bytes(private))


def peer_public(algorithm: KeyAlgorithm, data: bytes) -> ec.EllipticCurvePublicKey | x448.X448PublicKey:
    """Parse and check a peer's ECDH public key: exact length, uncompressed form, point on the curve."""
    expected = POINT_LENGTHS[algorithm]
    if algorithm is KeyAlgorithm.ED448:
        raise InvalidPeerKey("Ed448 keys do not do key agreement")
    if len(data) != expected:
        raise InvalidPeerKey(f"{algorithm.value} public key must be {expected} bytes, got {len(data)}")
    if algorithm is KeyAlgorithm.X448:
        return x448.X448PublicKey.from_public_bytes(bytes(data))
    if data[0] != 0x04:
        raise InvalidPeerKey(f"{algorithm.value} public key must be uncompressed (04||X||Y), starts {data[0]:02x}")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], bytes(data))
    except ValueError as exc:
        raise InvalidPeerKey(f"{algorithm.value} public key is not a point on the curve") from exc


def ecdsa_raw(der: bytes, algorithm: KeyAlgorithm) -> bytes:
    """DER ECDSA signature to raw r||s of the curve's width."""
    width = (algorithm.private_length)
    r, s = decode_dss_signature(der)
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def ecdsa_der(raw: bytes) -> bytes:
    """Raw r||s to DER (for cryptography's verify)."""
    if len(raw) % 2:
        raise ValueError("raw ECDSA signature must have an even length")
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def verify_raw(public: AnyPublicKey, message: bytes, signature: bytes) -> bool:
    """Verify a raw r||s ECDSA (hash by curve) or Ed448 signature; False on any mismatch."""
    from cryptography.exceptions import InvalidSignature
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            alg = algorithm_of(public)
            if len(signature) != 2 * alg.private_length:
                return False
            public.verify(ecdsa_der(signature), message, ec.ECDSA(HASHES[alg]))
        elif isinstance(public, ed448.Ed448PublicKey):
            public.verify(signature, message)
        else:
            return False
    except InvalidSignature:
        return False
    return True
