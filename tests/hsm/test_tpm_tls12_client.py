"""TLS 1.2 (ISO 15118-2 cipher ECDHE-ECDSA-AES128-SHA256) with the EV's client key in a TPM 2.0, for a charger
that requires a client certificate (issue 11 point 2): the bench SECC's TLS 1.2 server context with
``client_roots`` sends a CertificateRequest; the EV's connection (evcc.session.connection, TlsConfig with a
client certificate) answers with a P-256 certificate whose key is in the swtpm, used through tpm2-openssl
(CertificateVerify signed in the TPM). Without the client certificate, or with one under a root the charger does
not trust, the handshake fails with a one-line TlsError. Without ``client_roots`` the server asks for nothing and
the configured certificate is not sent (ISO 15118-2's own profile)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evcc.bench.pnc import new_public_key
from evcc.bench.secc.tls import server_context
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
from evcc.pki.generator import TestPki, build_pki, vehicle_chain
from evcc.pki.profiles import Suite
from evcc.session import tls_tpm
from evcc.session.connection import V2G_TLS12_CIPHER, PreparedTls, TlsConfig, open_connection
from evcc.session.errors import ConnectionFailed, TlsError
from evcc.session.tls13 import ClientCertificate, TpmKey, TpmKeys, choose_vehicle_key

LABEL = "ev-tls12"
# asyncio's TLS server aborts a failed handshake, often before its alert is flushed: the EV then sees a reset
# (ConnectionFailed) rather than the alert (TlsError); both end the attempt with one line
REFUSED = (TlsError, ConnectionFailed)


@pytest.fixture(scope="module")
def pki2() -> TestPki:
    return build_pki(Suite.ISO2, datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture()
def tpm_client(swtpm_tcti: str, tmp_path: Path, pki2: TestPki) -> Iterator[ClientCertificate]:
    if not tls_tpm.tpm2_provider_installed():
        pytest.fail("tpm2-openssl missing: scripts/setup.d/32-tpm.sh")
    store = TpmKeyStore(TpmConfig(swtpm_tcti, tmp_path / "tpm"))
    try:
        chain = vehicle_chain(pki2, new_public_key(store, LABEL, KeyAlgorithm.EC_P256))
        key = choose_vehicle_key(LABEL, None, None, TpmKeys(swtpm_tcti, store))
        assert isinstance(key, TpmKey)
        yield ClientCertificate(chain, key)
    finally:
        store.close()


def _secc(tmp_path: Path, pki: TestPki, client_roots: tuple[x509.Certificate, ...]) -> ssl.SSLContext:
    pem = serialization.Encoding.PEM
    chain, key = tmp_path / "secc_chain.pem", tmp_path / "secc.key"
    chain.write_bytes(b"".join(c.public_bytes(pem) for c in pki.chain("secc_leaf")))
    key.write_bytes(pki.keys["secc_leaf"].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return server_context(chain, key, client_roots=client_roots)


async def _handshake(server_ctx: ssl.SSLContext, config: TlsConfig | PreparedTls) -> tuple[str | None, bytes | None, str | None]:
    """Cipher and client key source the EV saw, and the client certificate (DER) the SECC got."""
    seen: list[bytes | None] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        seen.append(ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None)
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await open_connection("127.0.0.1", port, tls=config, timeout=30)
        try:
            for _ in range(500):
                if seen:
                    break
                await asyncio.sleep(0.01)
        finally:
            conn.close()
        cipher = conn.cipher[0] if conn.cipher else None
        return cipher, seen[0] if seen else None, conn.client_key_source
    finally:
        server.close()
        await server.wait_closed()


def test_tls12_mutual_handshake_with_the_client_key_in_the_tpm(tmp_path: Path, pki2: TestPki,
                                                                tpm_client: ClientCertificate) -> None:
    server = _secc(tmp_path, pki2, (pki2.root_of("oem_prov_leaf"),))
    config = TlsConfig(v2g_roots=(pki2.root_of("secc_leaf"),), client_certificate=tpm_client)
    cipher, presented, source = asyncio.run(_handshake(server, config))
    assert cipher == V2G_TLS12_CIPHER
    leaf = tpm_client.chain[0]
    assert isinstance(leaf, x509.Certificate)
    assert presented == leaf.public_bytes(serialization.Encoding.DER)
    assert source is not None and "TPM 2.0" in source and LABEL in source, source


def test_tls12_charger_requiring_a_certificate_refuses_an_ev_without_one(tmp_path: Path, pki2: TestPki) -> None:
    server = _secc(tmp_path, pki2, (pki2.root_of("oem_prov_leaf"),))
    config = TlsConfig(v2g_roots=(pki2.root_of("secc_leaf"),))
    with pytest.raises(REFUSED) as err:
        asyncio.run(_handshake(server, config))
    assert "\n" not in str(err.value), err.value


def test_tls12_charger_refuses_a_certificate_under_another_root(tmp_path: Path, pki2: TestPki,
                                                                tpm_client: ClientCertificate) -> None:
    server = _secc(tmp_path, pki2, (pki2.certs["mo_root"],))
    config = TlsConfig(v2g_roots=(pki2.root_of("secc_leaf"),), client_certificate=tpm_client)
    with pytest.raises(REFUSED) as err:
        asyncio.run(_handshake(server, config))
    assert "\n" not in str(err.value), err.value


def test_tls12_without_a_certificate_request_nothing_is_sent(tmp_path: Path, pki2: TestPki,
                                                             tpm_client: ClientCertificate) -> None:
    """ISO 15118-2's own profile: the SECC asks for no client certificate; the configured one stays unsent."""
    server = _secc(tmp_path, pki2, ())
    config = TlsConfig(v2g_roots=(pki2.root_of("secc_leaf"),), client_certificate=tpm_client)
    cipher, presented, _ = asyncio.run(_handshake(server, config))
    assert cipher == V2G_TLS12_CIPHER and presented is None


def test_daemon_tls12_context_carries_the_tpm_client_certificate(swtpm_tcti: str, tmp_path: Path,
                                                                 pki2: TestPki) -> None:
    """`evcc run` with ISO 15118-2 over TLS and [session] vehicle_chain/vehicle_key_label: the TLS 1.2 context
    carries the certificate with its key in the TPM ([hsm] kind = "tpm"), and a charger that requires it accepts
    the EV."""
    from evcc.app.compose import open_keystore, tls_config
    from evcc.app.config import parse_config

    pem = serialization.Encoding.PEM
    keys = tmp_path / "keys"
    keys.mkdir()
    root = tmp_path / "v2g_root.pem"
    root.write_bytes(pki2.root_of("secc_leaf").public_bytes(pem))
    doc = {"plc": {"interface": "eth1"}, "hsm": {"kind": "tpm", "tcti": swtpm_tcti, "directory": str(keys)},
           "session": {"protocols": ["iso2"], "tls": True, "v2g_roots": [str(root)],
                       "vehicle_chain": str(tmp_path / "chain.pem"), "vehicle_key_label": LABEL}}
    cfg = parse_config(doc, tmp_path / "evcc.toml")
    store = open_keystore(cfg.hsm)
    try:
        chain = vehicle_chain(pki2, new_public_key(store, LABEL, KeyAlgorithm.EC_P256))
        (tmp_path / "chain.pem").write_bytes(b"".join(c.public_bytes(pem) for c in chain))
        prepared = tls_config(cfg, (pki2.root_of("secc_leaf"),), store)
        assert prepared is not None and prepared.client_key_source is not None
        assert "TPM 2.0" in prepared.client_key_source
        server = _secc(tmp_path, pki2, (pki2.root_of("oem_prov_leaf"),))
        cipher, presented, _ = asyncio.run(_handshake(server, prepared))
        assert cipher == V2G_TLS12_CIPHER and presented == chain[0].public_bytes(serialization.Encoding.DER)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
