"""The vehicle's TLS key in a PKCS#11 token, used by OpenSSL through its pkcs11-provider (ISO 15118-20 TLS 1.3
mutual authentication: the EVCC signs CertificateVerify with the key behind its vehicle certificate).

Python's ``ssl`` reads a key only from a PEM file. pkcs11-provider decodes a PEM that wraps a PKCS#11 URI
(RFC 7512) instead of a key, so the key never leaves the token::

    -----BEGIN PKCS#11 PROVIDER URI-----
    base64( SEQUENCE { desc VisibleString "PKCS#11 Provider URI v1.0", uri UTF8String "pkcs11:..." } )
    -----END PKCS#11 PROVIDER URI-----

The provider finds a private key's public half (needed to match the certificate) through a public-key object with
the same CKA_ID. Keys made by :class:`evcc.hsm.pkcs11_store.Pkcs11KeyStore` have no CKA_ID (generated) or no
public object (imported, the point is in CKA_ID): :func:`link_for_provider` adds what is missing, once, when the
vehicle key is provisioned.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

import pkcs11
from pkcs11 import Attribute, ObjectClass

from evcc.hsm.keystore import KeyNotFound, KeyStoreError
from evcc.hsm.pkcs11_store import Pkcs11Config

URI_DESCRIPTION = b"PKCS#11 Provider URI v1.0"
PEM_LABEL = "PKCS#11 PROVIDER URI"
_URI_SAFE = "-._~!$&'()*+,=:@"  # RFC 7512 pchar without ';', '?', '%', '/'


def _der(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + value


def key_uri(config: Pkcs11Config, label: str) -> str:
    """RFC 7512 URI of the private key ``label`` in the configured token, with the PIN as ``pin-value``."""
    return (f"pkcs11:token={quote(config.token_label, safe=_URI_SAFE)};object={quote(label, safe=_URI_SAFE)};"
            f"type=private?pin-value={quote(config.user_pin, safe=_URI_SAFE)}")


def uri_pem(uri: str) -> bytes:
    """The PEM wrapper pkcs11-provider decodes as a key reference (module docstring)."""
    der = _der(0x30, _der(0x1A, URI_DESCRIPTION) + _der(0x0C, uri.encode()))
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {PEM_LABEL}-----\n{body}-----END {PEM_LABEL}-----\n".encode()


def _octet_string(point: bytes) -> bytes:
    return _der(0x04, point)


def _find(session: Any, cls: ObjectClass, label: str) -> Any | None:
    objs = list(session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
    return objs[0] if objs else None


def _open(config: Pkcs11Config) -> Any:
    try:
        token = pkcs11.lib(config.module).get_token(token_label=config.token_label)
        try:
            return token.open(rw=True, user_pin=config.user_pin)
        except pkcs11.UserAlreadyLoggedIn:  # the process's key store is logged in already
            return token.open(rw=True)
    except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
        raise KeyStoreError(f"PKCS#11 token {config.token_label!r}: {type(exc).__name__} {exc}") from exc


def link_for_provider(config: Pkcs11Config, label: str) -> bytes:
    """Make the private key ``label`` findable with its public half by pkcs11-provider; returns the CKA_ID.

    Generated pair without CKA_ID: both objects get SHA-1(EC point). Imported key (point in CKA_ID, no public
    object): a public-key token object with that point and CKA_ID is created. Already linked: nothing written.
    """
    session = _open(config)
    try:
        private = _find(session, ObjectClass.PRIVATE_KEY, label)
        if private is None:
            raise KeyNotFound(f"no private key labelled {label!r} in token {config.token_label!r}")
        public = _find(session, ObjectClass.PUBLIC_KEY, label)
        private_id = bytes(private[Attribute.ID] or b"")
        if public is None:
            if not private_id:
                raise KeyStoreError(f"key {label!r} has neither a public object nor its point in CKA_ID")
            session.create_object({
                Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: private[Attribute.KEY_TYPE],
                Attribute.LABEL: label, Attribute.ID: private_id, Attribute.TOKEN: True, Attribute.VERIFY: True,
                Attribute.EC_PARAMS: bytes(private[Attribute.EC_PARAMS]),
                Attribute.EC_POINT: _octet_string(private_id)})
            return private_id
        public_id = bytes(public[Attribute.ID] or b"")
        if private_id and private_id == public_id:
            return private_id
        key_id = hashlib.sha1(bytes(public[Attribute.EC_POINT])).digest()
        public[Attribute.ID] = key_id
        private[Attribute.ID] = key_id
        return key_id
    except pkcs11.PKCS11Error as exc:
        raise KeyStoreError(f"linking key {label!r} for pkcs11-provider failed: {type(exc).__name__}") from exc
    finally:
        session.close()

