"""XML signatures of the installation messages, checked strictly (ISO 15118-2 [V2G2-771], §7.9.2.4.3 and
Annex J.4; ISO 15118-20 §8.4.1, [V2G20-2491..]; EXI.md §3).

The EXI layer (:mod:`evcc.exi.signature`) knows how to digest fragments and verify a SignedInfo. This module
adds what the installation needs on top, each failure with its own error:

    Signature present                          else MissingReference
    SignatureMethod = the expected algorithm   else SignatureValueInvalid
    every element that must be signed is referenced, by an Id unique in the message
                                               else MissingReference / UnexpectedReference
    nothing else is referenced, nothing twice  else UnexpectedReference
    each DigestValue = digest(fragment)        else DigestMismatch
    SignatureValue verifies with the signer's certificate key (raw r||s -> DER for ECDSA; Ed448 raw)
                                               else SignatureValueInvalid

It also turns a key-store key into the ``sign`` callable of :func:`evcc.exi.signature.sign_elements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from evcc.contracts.errors import DigestMismatch, MissingReference, SignatureValueInvalid, UnexpectedReference
from evcc.exi import Message
from evcc.exi.signature import (
    ECDSA_SHA256,
    ECDSA_SHA512,
    EDDSA_ED448,
    Algorithm,
    Signer,
    SignatureError,
    digest,
    find_by_id,
    verify_signature,
)
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyStore

ALGORITHM_OF_KEY = {KeyAlgorithm.EC_P256: ECDSA_SHA256, KeyAlgorithm.EC_P521: ECDSA_SHA512,
                    KeyAlgorithm.ED448: EDDSA_ED448}


def keystore_signer(keystore: KeyStore, label: str) -> Signer:
    """``sign(data) -> signature`` with the key ``label`` (raw r||s over SHA-256/SHA-512, or Ed448)."""
    return lambda data: keystore.sign(label, data)


def algorithm_of_certificate(cert: x509.Certificate) -> Algorithm:
    """The SignatureMethod a signer with this certificate uses: P-256 -> ECDSA-SHA256, P-521 -> ECDSA-SHA512,
    Ed448 -> EdDSA-Ed448."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return ECDSA_SHA256
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp521r1":
        return ECDSA_SHA512
    if isinstance(key, ed448.Ed448PublicKey):
        return EDDSA_ED448
    raise SignatureValueInvalid(f"signer certificate has a key that cannot sign V2G messages: {type(key).__name__}")


def _references(signature: Any) -> dict[str, Any]:
    refs: dict[str, Any] = {}
    for ref in signature.SignedInfo.Reference:
        uri = ref.URI or ""
        if not uri.startswith("#") or len(uri) == 1:
            raise UnexpectedReference(f"Reference URI {uri!r} does not name an element of the message")
        if uri[1:] in refs:
            raise UnexpectedReference(f"Reference {uri} appears twice")
        refs[uri[1:]] = ref
    return refs


def check_signature(grammar: str, signature: Any, message: Message,
                    signed: Sequence[tuple[str, Any]], signer: x509.Certificate,
                    algorithm: Algorithm) -> None:
    """Check that ``signature`` covers exactly the elements ``signed`` ((name, element) taken from ``message``)
    with ``algorithm`` and verifies with ``signer``'s public key. Raises a SignatureRejected subclass."""
    if signature is None:
        raise MissingReference("the message carries no Signature in its Header")
    method = signature.SignedInfo.SignatureMethod.Algorithm
    if method != algorithm.signature_method:
        raise SignatureValueInvalid(f"SignatureMethod {method!r}; expected {algorithm.signature_method!r}")
    refs = _references(signature)
    for name, element in signed:
        ident = element.Id
        if not ident or ident not in refs:
            raise MissingReference(f"{name} (Id {ident!r}) is not referenced by the signature")
        found = find_by_id(message, ident)
        if found is None or found[1] is not element:
            raise UnexpectedReference(f"Id {ident!r} of {name} is not unique in the message")
    extra = sorted(set(refs) - {e.Id for _, e in signed})
    if extra:
        raise UnexpectedReference(f"the signature also references {', '.join('#' + x for x in extra)}; "
                                  f"only {', '.join(n for n, _ in signed)} may be signed")
    for name, element in signed:
        if digest(grammar, name, element, algorithm) != refs[element.Id].DigestValue:
            raise DigestMismatch(f"digest of {name} (#{element.Id}) does not match its reference: "
                                 "changed after signing")
    public = signer.public_key()

    def verify(data: bytes, sig: bytes) -> bool:
        return verify_raw(public, data, sig)  # type: ignore[arg-type]  # other key types fail in verify_raw

    try:
        verify_signature(grammar, signature, message, verify, allowed=[n for n, _ in signed])
    except SignatureError as exc:
        raise SignatureValueInvalid(f"signature by {signer.subject.rfc4514_string()} does not verify: {exc}") \
            from exc
