"""XML signatures over EXI as ISO 15118 profiles them (ISO 15118-2 §7.9.2.4 and Annex J.4; ISO 15118-20 §8.4.1;
EXI.md §3): fragment digests, SignedInfo construction and encoding, and verification of a received Signature.

The caller supplies the signing and verifying functions (the keys live in the key store, not here):

- ``sign(data) -> signature``: ECDSA over the SignedInfo bytes with the algorithm's hash, returning raw ``r‖s``
  (64 bytes for P-256, 132 for P-521), or Ed448's 114 bytes;
- ``verify(data, signature) -> bool``.

    >>> sig = sign_elements("iso2-fragment", [("AuthorizationReq", req)], signer)   # doctest: +SKIP
    >>> msg.Header.Signature = sig                                                  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evcc.exi._api import GRAMMARS, decode_fragment, encode_fragment, schema_module
from evcc.exi._base import Message
from evcc.exi._errors import ExiError

CANONICAL_EXI = "http://www.w3.org/TR/canonical-exi/"


@dataclass(frozen=True)
class Algorithm:
    """A signature profile: the SignatureMethod and DigestMethod URIs and the digest function."""

    signature_method: str
    digest_method: str
    hash_name: str

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()


ECDSA_SHA256 = Algorithm("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                         "http://www.w3.org/2001/04/xmlenc#sha256", "sha256")
ECDSA_SHA512 = Algorithm("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
                         "http://www.w3.org/2001/04/xmlenc#sha512", "sha512")
EDDSA_ED448 = Algorithm("http://www.w3.org/2021/04/xmldsig-more#eddsa-ed448",
                        "http://www.w3.org/2001/04/xmlenc#sha512", "sha512")
ALGORITHMS = {a.signature_method: a for a in (ECDSA_SHA256, ECDSA_SHA512, EDDSA_ED448)}

Signer = Callable[[bytes], bytes]
Verifier = Callable[[bytes, bytes], bool]


def fragment_bytes(grammar: str, element: str, value: Any) -> bytes:
    """The element alone as an EXI fragment of the message schema set (step 1 of EXI.md §3).

    A value of another schema set's class with the same fields (for instance an ``EMAIDType`` for the relaxed
    ``eMAID`` fragment grammar) is carried over field by field.
    """
    module = GRAMMARS[grammar][0]
    table = dict(schema_module(module).FRAGMENT)
    if element not in table:
        raise ExiError(f"{element} is not an element of the {grammar} grammar")
    expected = table[element]
    if expected is not None and isinstance(value, Message) and type(value) is not expected:
        value = rebind(value, module, expected)
    return encode_fragment(value, element=element, grammar=grammar)


def digest(grammar: str, element: str, value: Any, algorithm: Algorithm = ECDSA_SHA256) -> bytes:
    """DigestValue of one referenced element (step 2)."""
    return algorithm.digest(fragment_bytes(grammar, element, value))


def signed_info(references: Sequence[tuple[str, bytes]], algorithm: Algorithm = ECDSA_SHA256) -> Any:
    """SignedInfo (xmldsig-only classes) with one Reference per ``(Id, DigestValue)`` (step 3)."""
    ds = schema_module("xmldsig")
    refs = [ds.ReferenceType(
        URI=f"#{ident}",
        Transforms=ds.TransformsType(Transform=[ds.TransformType(Algorithm=CANONICAL_EXI)]),
        DigestMethod=ds.DigestMethodType(Algorithm=algorithm.digest_method),
        DigestValue=value,
    ) for ident, value in references]
    if not refs:
        raise ExiError("a signature needs at least one reference")
    return ds.SignedInfoType(
        CanonicalizationMethod=ds.CanonicalizationMethodType(Algorithm=CANONICAL_EXI),
        SignatureMethod=ds.SignatureMethodType(Algorithm=algorithm.signature_method),
        Reference=refs,
    )


def signed_info_bytes(info: Message) -> bytes:
    """SignedInfo as a fragment of the grammar of xmldsig-core-schema.xsd alone (step 4, ISO 15118-2 J.4)."""
    return fragment_bytes("xmldsig-fragment", "SignedInfo", info)


def sign_elements(grammar: str, elements: Sequence[tuple[str, Message]], sign: Signer,
                  algorithm: Algorithm = ECDSA_SHA256) -> Any:
    """A complete Signature (in the classes of `grammar`'s schema set) over elements that carry an ``Id``."""
    refs = []
    for name, value in elements:
        ident = getattr(value, "Id", None)
        if not ident:
            raise ExiError(f"{name} has no Id attribute to reference")
        refs.append((ident, digest(grammar, name, value, algorithm)))
    info = signed_info(refs, algorithm)
    signature_value = sign(signed_info_bytes(info))
    module = GRAMMARS[grammar][0]
    m = schema_module(module)
    return m.SignatureType(SignedInfo=rebind(info, module, m.SignedInfoType),
                           SignatureValue=m.SignatureValueType(value=signature_value))


def find_by_id(message: Message, ident: str) -> tuple[str, Message] | None:
    """The element (name, value) inside `message` whose ``Id`` attribute is `ident`."""
    for name, value in _walk(message, ""):
        if isinstance(value, Message) and "Id" in value._fields and getattr(value, "Id") == ident:
            return name, value
    return None


def verify_signature(grammar: str, signature: Any, message: Message, verify: Verifier,
                     allowed: Sequence[str] | None = None) -> list[str]:
    """Check a received Signature: every Reference's digest over the re-encoded element, then the signature value
    over SignedInfo. Returns the names of the signed elements; raises SignatureError on any mismatch.

    `allowed` lists the element names that may be referenced (for example the four of a
    CertificateInstallationRes); a reference to anything else is refused.
    """
    info = signature.SignedInfo
    algorithm = ALGORITHMS.get(info.SignatureMethod.Algorithm)
    if algorithm is None:
        raise SignatureError(f"unsupported SignatureMethod {info.SignatureMethod.Algorithm!r}")
    if info.CanonicalizationMethod.Algorithm != CANONICAL_EXI:
        raise SignatureError(f"CanonicalizationMethod must be {CANONICAL_EXI}")
    names = []
    for ref in info.Reference:
        uri = ref.URI or ""
        if not uri.startswith("#"):
            raise SignatureError(f"Reference URI {uri!r} does not point into the message")
        found = find_by_id(message, uri[1:])
        if found is None:
            raise SignatureError(f"Reference {uri} names no element of the message")
        name, value = found
        if allowed is not None and name not in allowed:
            raise SignatureError(f"Reference {uri} points at {name}, which may not be signed here")
        if ref.DigestMethod.Algorithm != algorithm.digest_method:
            raise SignatureError(f"Reference {uri}: DigestMethod {ref.DigestMethod.Algorithm!r} does not match")
        if algorithm.digest(fragment_bytes(grammar, name, value)) != ref.DigestValue:
            raise SignatureError(f"digest mismatch for {name} ({uri})")
        names.append(name)
    value = signature.SignatureValue.value
    xmldsig_info = rebind(info, "xmldsig", schema_module("xmldsig").SignedInfoType)
    if verify(signed_info_bytes(xmldsig_info), value):
        return names
    # ISO 15118-20 is ambiguous about the SignedInfo grammar (cbexigen #116): also accept the message set's form.
    if grammar == "iso20-common-fragment" and verify(fragment_bytes(grammar, "SignedInfo", info), value):
        return names
    raise SignatureError("signature value does not verify over SignedInfo")


class SignatureError(ExiError):
    """A received signature does not verify; the message says which check failed."""


def rebind(value: Message, module: str, target: type[Message] | None = None) -> Message:
    """The same value in another schema set's classes (matched by class name, or `target`, and field names)."""
    m = schema_module(module)
    cls: type[Message] | None = target or getattr(m, type(value).__name__, None)
    if cls is None:
        raise ExiError(f"schema set {module} has no class {type(value).__name__}")
    out: Message = list.__new__(cls)
    source = dict(zip(value._fields, value))
    for f in cls._fields:
        v = source.get(f)
        list.append(out, _rebind_any(v, module))
    return out


def _rebind_any(v: Any, module: str) -> Any:
    if isinstance(v, Message):
        return rebind(v, module)
    if isinstance(v, list):
        return [_rebind_any(x, module) for x in v]
    return v


def _walk(value: Message, name: str) -> Iterator[tuple[str, Any]]:
    yield name, value
    for f, v in zip(value._fields, value):
        if isinstance(v, Message):
            yield from _walk(v, f)
        elif isinstance(v, list):
            for item in v:
                if isinstance(item, Message):
                    yield from _walk(item, f)


__all__ = [
    "ALGORITHMS", "Algorithm", "CANONICAL_EXI", "ECDSA_SHA256", "ECDSA_SHA512", "EDDSA_ED448", "SignatureError",
    "decode_fragment", "digest", "find_by_id", "fragment_bytes", "rebind", "sign_elements", "signed_info",
    "signed_info_bytes", "verify_signature",
]
