"""PKCS#10 certification requests (RFC 2986) signed by a key that never leaves its store.

cryptography's :class:`~cryptography.x509.CertificateSigningRequestBuilder` signs only with a private key object it
holds, so the request is assembled here in DER and only the signature comes from the store's ``sign()``::

    CertificationRequest ::= SEQUENCE {
        certificationRequestInfo  SEQUENCE {
            version        INTEGER 0,
            subject        Name,                         -- x509.Name.public_bytes()
            subjectPKInfo  SubjectPublicKeyInfo,         -- from the store's public key
            attributes [0] IMPLICIT SET OF Attribute }   -- empty, or one extensionRequest (RFC 2985 §5.4.2)
        signatureAlgorithm        AlgorithmIdentifier,   -- ecdsa-with-SHA256/-SHA512 (no parameters) | id-Ed448
        signature                 BIT STRING }           -- DER Ecdsa-Sig-Value | raw 114-byte Ed448 signature

The only extension a request carries is subjectAltPublicKeyInfo naming the EV's -20 TPM storage key
(``evcc keys csr --storage-key``, evcc.keys.storage); everything else comes from the CA's profile.
The store signs P-256 over SHA-256 and P-521 over SHA-512 (evcc.hsm.keystore), so the algorithm follows the curve.
The result is parsed back with cryptography and its signature checked before it is handed out.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.errors import SecurityError
from evcc.hsm.hostcrypto import CURVES, AnyPublicKey, ecdsa_der
from evcc.hsm.keystore import KeyAlgorithm, KeyStore, UnsupportedAlgorithm

# Signature AlgorithmIdentifier DER (RFC 5758 §3.2 ecdsa-with-SHA256/SHA512, RFC 8410 §3 id-Ed448): no parameters.
SIGNATURE_ALGORITHMS = {
    KeyAlgorithm.EC_P256: bytes.fromhex("300a06082a8648ce3d040302"),  # 1.2.840.10045.4.3.2
    KeyAlgorithm.EC_P521: bytes.fromhex("300a06082a8648ce3d040304"),  # 1.2.840.10045.4.3.4
    KeyAlgorithm.ED448: bytes.fromhex("300506032b6571"),  # 1.3.101.113
}


def der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def public_key_object(algorithm: KeyAlgorithm, public: bytes) -> AnyPublicKey:
    """The store's public-key encoding (evcc.hsm.hostcrypto) as a cryptography key."""
    if algorithm in CURVES:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], public)
    if algorithm is KeyAlgorithm.ED448:
        return ed448.Ed448PublicKey.from_public_bytes(public)
    return x448.X448PublicKey.from_public_bytes(public)


def spki_der(algorithm: KeyAlgorithm, public: bytes) -> bytes:
    return public_key_object(algorithm, public).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


# extensionRequest attribute type (PKCS #9, RFC 2985: 1.2.840.113549.1.9.14)
EXTENSION_REQUEST_OID = bytes.fromhex("06092a864886f70d01090e")


def extension_der(ext: x509.UnrecognizedExtension) -> bytes:
    """One non-critical Extension (RFC 5280 §4.1): extnID, extnValue (the extension's DER value)."""
    oid = ext.oid.dotted_string.split(".")
    body = bytes([40 * int(oid[0]) + int(oid[1])])
    for arc in map(int, oid[2:]):
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.insert(0, 0x80 | (arc & 0x7F))
        body += bytes(chunk)
    return der(0x30, der(0x06, body) + der(0x04, ext.value))


def attributes_der(extensions: tuple[x509.UnrecognizedExtension, ...]) -> bytes:
    """``attributes [0]``: empty, or one extensionRequest holding ``extensions``."""
    if not extensions:
        return der(0xA0, b"")
    request = der(0x30, EXTENSION_REQUEST_OID + der(0x31, der(0x30, b"".join(map(extension_der, extensions)))))
    return der(0xA0, request)


def build_csr(store: KeyStore, label: str, algorithm: KeyAlgorithm, subject: x509.Name,
              extensions: tuple[x509.UnrecognizedExtension, ...] = ()) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for the key ``label`` with ``subject`` (and ``extensions`` requested), signed in the
    store (module docstring)."""
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise UnsupportedAlgorithm(f"key {label!r} is {algorithm.value}: it cannot sign a certificate request")
    info = der(0x30, der(0x02, b"\x00") + subject.public_bytes() + spki_der(algorithm, store.public_key(label))
               + attributes_der(extensions))
    raw = store.sign(label, info)
    signature = raw if algorithm is KeyAlgorithm.ED448 else ecdsa_der(raw)
    request = der(0x30, info + SIGNATURE_ALGORITHMS[algorithm] + der(0x03, b"\x00" + signature))
    csr = x509.load_der_x509_csr(request)
    if not csr.is_signature_valid:
        raise SecurityError(f"key {label!r}: the store's signature over the request does not verify")
    return csr
