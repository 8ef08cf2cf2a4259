"""A throw-away V2G test PKI for one bench run (ISO 15118-2 §7.7 TLS 1.2: V2G root -> CPO Sub-CAs -> SECC leaf,
P-256), made with :mod:`evcc.pki.generator` into a private temporary folder that is removed afterwards.
The same tree serves Plug & Charge (pnc.py: CPS, MO and OEM branches). Test use only: the keys never leave
the run. ``keylog``: the EV's TLS secrets in NSS key-log format for a trace (TEST ONLY, see TlsConfig)."""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from evcc.bench.secc.tls import server_context
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite
from evcc.session.connection import TlsConfig


@dataclass(frozen=True, slots=True)
class BenchTls:
    server: ssl.SSLContext  # the SECC's
    client: TlsConfig  # the EV's: the run's V2G root only


def run_pki() -> TestPki:
    return build_pki(Suite.ISO2, datetime.now(timezone.utc).replace(microsecond=0))


@contextlib.contextmanager
def bench_tls(pki: TestPki | None = None, keylog: Path | None = None) -> Iterator[BenchTls]:
    pki = pki or run_pki()
    pem = serialization.Encoding.PEM
    key = pki.keys["secc_leaf"].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
    with tempfile.TemporaryDirectory(prefix="evcc-bench-pki-") as folder:
        chain, key_path = Path(folder) / "secc_chain.pem", Path(folder) / "secc.key"
        chain.write_bytes(b"".join(c.public_bytes(pem) for c in pki.chain("secc_leaf")))
        key_path.touch(mode=0o600)
        key_path.write_bytes(key)
        context = server_context(chain, key_path)
    yield BenchTls(context, TlsConfig(v2g_roots=(pki.root_of("secc_leaf"),), keylog_file=keylog))
