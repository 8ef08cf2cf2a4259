"""ISO 15118-20 TLS 1.3 mutual authentication, many sessions in one process with the vehicle key in SoftHSM2
through OpenSSL's pkcs11-provider: complete -20 DC sessions (the bench SECC server with ``server_context13`` and
the -20 responder) with a new client context per connection, one reused PreparedTls, connections the SECC aborts
(disconnect, wrong V2GTP version), and our own key-store sessions opened and closed in between.

Regressions of evcc.session.tls_openssl (the provider's configuration and its own library context) and
evcc.hsm.p11_session:
- pkcs11-provider's default key cache copied the token key into a session object with the same label and CKA_ID;
  the next context's load matched the copy, and freeing the first context destroyed it under the second:
  every other session failed ("EVP lib", "General Error", the SECC closing);
- closing our key store logged the whole process out (python-pkcs11 calls C_Logout): SoftHSM invalidated the
  private key handles the provider held, and the provider asked for the PIN on the terminal;
- with the provider in OpenSSL's default library context, OpenSSL 3.0's method cache handed pkcs11-provider's
  ECDSA to every later operation of the process after the first token signature: the in-process SECC's own key
  and the certificates' public keys went into the token as session objects. Now the default context's ECDSA
  stays OpenSSL's own, and no session object is left in the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ssl
import uuid
from pathlib import Path

import pkcs11
import pytest

from evcc.bench.secc.faults import Fault, parse_fault
from evcc.bench.secc.server import SeccLog
from evcc.bench.secc.tls import server_context13
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.session import tls_openssl
from evcc.session.connection import PreparedTls, TlsConfig, TlsVersion, prepare
from evcc.session.events import EndKind
from evcc.session.runner import SessionReport
from evcc.session.tls13 import ClientCertificate, TokenKey

from tests.session.iso20_secc_thread import ev_session20, secc_thread
from tests.session.tls_pki import make_iso20_pki

pytestmark = pytest.mark.skipif(not tls_openssl.pkcs11_provider_installed(),
                                reason="OpenSSL pkcs11-provider not installed (scripts/setup.d/35-tls.sh)")

# (context, fault on this connection): "new" = the TlsConfig itself (open_connection prepares a context for this
# connection; it is freed whenever the garbage collector gets to it); "overlap" = a context prepared for this
# connection, the previous one released only after this one has loaded the key (what a collector does in a long
# run, made deterministic); "reused" = the one PreparedTls of the run; "store" = close the run's key store, then
# open another, sign with another token key and close it (no logout).
PLAN: list[tuple[str, str | None]] = [
    ("new", None), ("new", None), ("overlap", None), ("overlap", None), ("reused", None), ("store", None),
    ("overlap", None), ("reused", "disconnect:SessionSetupRes"), ("reused", None), ("new", None),
    ("overlap", "wrong-version:ServiceDiscoveryRes"), ("overlap", None), ("store", None), ("reused", None),
    ("new", "disconnect:PowerDeliveryRes"), ("overlap", None), ("new", None), ("reused", None),
]
ABORTED = {"disconnect": "the SECC closed the connection", "wrong-version": "V2GTP protocol version: 0x02"}


def secc_server(context: ssl.SSLContext, fault: Fault | None) -> contextlib.AbstractContextManager[tuple[SeccLog, int]]:
    """The -20 DC SECC over TLS 1.3 on its own loop and thread; ``fault`` on its first connection only."""
    return secc_thread(context, fault, services=("DC",))


async def _session(port: int, tls: TlsConfig | PreparedTls) -> SessionReport:
    return await ev_session20(port, "DC", tls)


def _touch_store(token: Pkcs11Config, label: str) -> None:
    """Our own PKCS#11 session comes and goes while the provider holds the vehicle key."""
    store = Pkcs11KeyStore(token)
    try:
        assert len(store.sign(label, b"evcc")) == 132  # P-521 r||s
    finally:
        store.close()


def test_many_tls13_sessions_with_the_token_key_in_one_process(softhsm_config: Pkcs11Config, tmp_path: Path) -> None:
    pki = make_iso20_pki(tmp_path)
    store = Pkcs11KeyStore(softhsm_config)
    vehicle, other = f"repeat-{uuid.uuid4().hex[:8]}", f"repeat-other-{uuid.uuid4().hex[:8]}"
    info = store.generate(vehicle, KeyAlgorithm.EC_P521)
    store.generate(other, KeyAlgorithm.EC_P521)  # the store stays open (and, run alone, logged in) until "store"
    cert = ClientCertificate(pki.vehicle_chain(info.public, KeyAlgorithm.EC_P521), TokenKey(softhsm_config, vehicle))
    config = TlsConfig(v2g_roots=(pki.v2g_root,), version=TlsVersion.TLS13, client_certificate=cert)
    server = server_context13(pki.secc_chain_pem, pki.secc_key_pem, [pki.oem_root])
    reused = prepare(config)
    previous: PreparedTls | None = None
    outcomes: list[str] = []
    for step, (kind, spec) in enumerate(PLAN):
        if kind == "store":
            store.close()  # never a logout under the provider (run alone, this store made the login)
            _touch_store(softhsm_config, other)
            continue
        tls: TlsConfig | PreparedTls = reused if kind == "reused" else config
        if kind == "overlap":
            tls = prepare(config)
            previous = None  # released after the new context holds the key
            gc.collect()
            previous = tls
        with secc_server(server, parse_fault(spec) if spec else None) as (record, port):
            report = asyncio.run(_session(port, tls))
        where = f"step {step} ({kind}, {spec or 'no fault'})"
        assert not record.errors, (where, record.errors)
        if spec is None:
            assert report.ended.kind is EndKind.COMPLETED, (where, report.ended)
            assert record.negotiated == ["iso20-dc"], where
            outcomes.append("completed")
        else:
            assert record.injected and record.injected[0].startswith(spec.split(":")[0]), (where, record.injected)
            assert report.ended.kind is not EndKind.COMPLETED, where
            assert ABORTED[spec.split(":")[0]] in report.ended.reason, (where, report.ended)
            outcomes.append("aborted")
    assert outcomes.count("completed") >= 10 and outcomes.count("aborted") == 3
    _touch_store(softhsm_config, vehicle)  # the key is intact and usable by our store afterwards
    assert _session_objects(softhsm_config) == []
    assert _default_context_signature("ECDSA") == "default"


def _default_context_signature(name: str) -> str:
    """The provider of what a plain fetch of signature ``name`` gets in OpenSSL's default library context (the one
    Python's ssl and the in-process SECC use): never pkcs11-provider."""
    import ctypes

    lib = tls_openssl._library()
    lib.EVP_SIGNATURE_fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.EVP_SIGNATURE_fetch.restype = ctypes.c_void_p
    lib.EVP_SIGNATURE_get0_provider.argtypes = [ctypes.c_void_p]
    lib.EVP_SIGNATURE_get0_provider.restype = ctypes.c_void_p
    lib.OSSL_PROVIDER_get0_name.argtypes = [ctypes.c_void_p]
    lib.OSSL_PROVIDER_get0_name.restype = ctypes.c_char_p
    lib.EVP_SIGNATURE_free.argtypes = [ctypes.c_void_p]
    method = lib.EVP_SIGNATURE_fetch(None, name.encode(), None)
    assert method, f"no {name} signature in the default library context"
    try:
        return str(lib.OSSL_PROVIDER_get0_name(lib.EVP_SIGNATURE_get0_provider(method)).decode())
    finally:
        lib.EVP_SIGNATURE_free(method)


def _session_objects(token: Pkcs11Config) -> list[str]:
    """Objects that live only in this process's sessions: copies of token keys (the provider's key cache) or
    software keys of the in-process SECC pushed into the token (pkcs11-provider outside its own library context)."""
    store = Pkcs11KeyStore(token)
    try:
        found = store._session.get_objects({pkcs11.Attribute.TOKEN: False})
        return [f"{obj[pkcs11.Attribute.CLASS]} {obj[pkcs11.Attribute.LABEL]!r}" for obj in found]
    finally:
        store.close()
