"""The vehicle's TLS key in a PKCS#11 token, used by OpenSSL through its pkcs11-provider (ISO 15118-20 TLS 1.3
mutual authentication: the EVCC signs CertificateVerify with the key behind its vehicle certificate).

Python's ``ssl`` reads a key only from a PEM file. pkcs11-provider decodes a PEM that wraps a PKCS#11 URI
(RFC 7512) instead of a key, so the key never leaves the token::

    -----BEGIN PKCS#11 PROVIDER URI-----
    base64( SEQUENCE { desc VisibleString "PKCS#11 Provider URI v1.0", uri UTF8String "pkcs11:..." } )
    -----END PKCS#11 PROVIDER URI-----

The provider finds a private key's public half (needed to match the certificate) through a public-key object with
the same CKA_ID: :class:`evcc.hsm.pkcs11_store.Pkcs11KeyStore` makes every key that way (generated or imported);
keys of tokens written by earlier versions need :meth:`Pkcs11KeyStore.pair` once. The PEM is decoded in the
provider's own library context (:func:`evcc.session.tls_openssl.use_token_key`).
"""

from __future__ import annotations

import base64
from urllib.parse import quote

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
