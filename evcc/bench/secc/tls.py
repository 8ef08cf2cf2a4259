"""The SECC's TLS server side for the bench.

* ISO 15118-2 §7.7 (:func:`server_context`): TLS 1.2, the SECC leaf plus its Sub-CAs, the V2G cipher
  ``ECDHE-ECDSA-AES128-SHA256``, no client certificate (option: require one under given roots).
* ISO 15118-20 (:func:`server_context13`): TLS 1.3 with the -20 suites, groups and signature algorithms
  (:mod:`evcc.session.tls13`), and a client certificate required: the vehicle chain must lead to one of
  ``vehicle_roots`` (the OEM roots the SECC trusts), else the handshake ends with an alert.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from evcc.session.connection import V2G_TLS12_CIPHER
from evcc.session.tls13 import ISO20_TLS13, CertSource, Tls13Profile, apply_profile, certificates_pem


def server_context(chain_pem: Path, key_pem: Path, cipher: str = V2G_TLS12_CIPHER,
                   client_roots: Sequence[CertSource] = ()) -> ssl.SSLContext:
    """``chain_pem``: the SECC leaf first, then its Sub-CAs (no root). ``client_roots``: a charger that requires a
    client certificate leading to one of them (not ISO 15118-2's profile, which authenticates the SECC only;
    for EVs that must serve such chargers, evcc.session.connection); empty: no CertificateRequest."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    ctx.load_cert_chain(str(chain_pem), str(key_pem))
    if client_roots:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata="".join(certificates_pem(r, "client root certificate")
                                                 for r in client_roots))
    return ctx


def server_context13(
    chain_pem: Path,
    key_pem: Path,
    vehicle_roots: Sequence[CertSource],
    profile: Tls13Profile = ISO20_TLS13,
    keylog_file: Path | None = None,
) -> ssl.SSLContext:
    """TLS 1.3 server with mutual authentication; ``chain_pem`` as in :func:`server_context`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    apply_profile(ctx, profile)
    ctx.load_cert_chain(str(chain_pem), str(key_pem))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata="".join(certificates_pem(r, "vehicle root certificate") for r in vehicle_roots))
    if keylog_file is not None:
        ctx.keylog_filename = str(keylog_file)  # bench traces only
    return ctx
