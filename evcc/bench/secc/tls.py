"""The SECC's TLS 1.2 server side for the bench (ISO 15118-2 §7.7): the SECC leaf plus its Sub-CAs, the V2G
cipher ``ECDHE-ECDSA-AES128-SHA256``, no client certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

from evcc.session.connection import V2G_TLS12_CIPHER


def server_context(chain_pem: Path, key_pem: Path, cipher: str = V2G_TLS12_CIPHER) -> ssl.SSLContext:
    """``chain_pem``: the SECC leaf first, then its Sub-CAs (no root)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    ctx.load_cert_chain(str(chain_pem), str(key_pem))
    return ctx
