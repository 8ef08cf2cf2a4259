"""ISO 15118-20 TLS 1.3 with mutual authentication over real loopback TCP: the EVCC (evcc.session.connection) against
the bench SECC's server context (evcc.bench.secc.tls.server_context13), with the vehicle key in SoftHSM2 through
OpenSSL's pkcs11-provider or in the software key store; every refusal names its reason."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.bench.secc.tls import server_context, server_context13
from evcc.errors import ConfigError
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.pki.profiles import Suite
from evcc.session import tls_openssl, v2gtp
from evcc.session.connection import TlsConfig, TlsVersion, V2gConnection, open_connection, prepare
from evcc.session.errors import ConnectionFailed, TlsError
from evcc.session.tls13 import ClientCertificate, SoftStoreKey, Tls13Profile, TokenKey, choose_vehicle_key

from tests.session.tls_pki import Iso20Pki, make_iso20_pki, make_pki

needs_provider = pytest.mark.skipif(not tls_openssl.pkcs11_provider_installed(),
                                    reason="OpenSSL pkcs11-provider not installed (scripts/setup.d/35-tls.sh)")
ALGORITHMS = {Suite.ISO20_P521: KeyAlgorithm.EC_P521, Suite.ISO20_ED448: KeyAlgorithm.ED448}


@pytest.fixture(scope="module")
def p521(tmp_path_factory: pytest.TempPathFactory) -> Iso20Pki:
    return make_iso20_pki(tmp_path_factory.mktemp("pki20"))


@pytest.fixture(scope="module")
def soft_store(tmp_path_factory: pytest.TempPathFactory) -> SoftKeyStore:
    return SoftKeyStore(SoftKeyStoreConfig(tmp_path_factory.mktemp("softstore"), passphrase=b"bench"))


def _label(kind: str) -> str:
    return f"vehicle-{kind}-{uuid.uuid4().hex[:8]}"


def token_certificate(config: Pkcs11Config, pki: Iso20Pki, algorithm: KeyAlgorithm) -> ClientCertificate:
    """A vehicle key generated in the token (non-extractable; its pair shares one CKA_ID), with its certificate."""
    store = Pkcs11KeyStore(config)
    label = _label("token")
    info = store.generate(label, algorithm)
    store.close()
    return ClientCertificate(pki.vehicle_chain(info.public, algorithm), TokenKey(config, label))


def soft_certificate(store: SoftKeyStore, pki: Iso20Pki) -> ClientCertificate:
    label = _label("soft")
    info = store.generate(label, KeyAlgorithm.EC_P521)
    return ClientCertificate(pki.vehicle_chain(info.public, KeyAlgorithm.EC_P521), SoftStoreKey(store, label))


class Secc:
    """An echo SECC in a thread with blocking OpenSSL sockets (as an OpenSSL-based charger: a refused handshake
    sends its alert). Records the vehicle certificate of each accepted session."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.peer: list[bytes | None] = []
        self.errors: list[str] = []

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # listener closed: the test is over
            with raw:
                raw.settimeout(5.0)
                try:
                    with self.ctx.wrap_socket(raw, server_side=True) as tls:
                        self.peer.append(tls.getpeercert(binary_form=True))
                        header = _read_exactly(tls, 8)
                        tls.sendall(header + _read_exactly(tls, int.from_bytes(header[4:], "big")))
                        tls.recv(1)
                except (ssl.SSLError, OSError, EOFError) as exc:
                    self.errors.append(str(exc))

    async def run(self, body: Callable[[int], Awaitable[None]]) -> None:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
        thread = threading.Thread(target=self._serve, args=(listener,), daemon=True)
        thread.start()
        try:
            await body(listener.getsockname()[1])
        finally:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            await asyncio.to_thread(thread.join, 5.0)


def _read_exactly(tls: ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = tls.recv(n - len(data))
        if not chunk:
            raise EOFError("peer closed")
        data += chunk
    return data


async def _echo(conn: V2gConnection) -> bytes | None:
    conn.send(v2gtp.EXI_ENCODED, b"\x80\x20")
    msg = await conn.receive(5.0)
    conn.close()
    return msg.payload if msg else None


def _tls13(pki: Iso20Pki, cert: ClientCertificate | None, **kw: object) -> TlsConfig:
    return TlsConfig(v2g_roots=(pki.v2g_root,), version=TlsVersion.TLS13, client_certificate=cert, **kw)  # type: ignore[arg-type]


@needs_provider
@pytest.mark.parametrize("suite", [Suite.ISO20_P521, Suite.ISO20_ED448], ids=["p521", "ed448"])
def test_mutual_tls13_with_the_vehicle_key_in_softhsm(softhsm_config: Pkcs11Config, suite: Suite,
                                                      tmp_path: Path) -> None:
    pki = make_iso20_pki(tmp_path, suite)
    cert = token_certificate(softhsm_config, pki, ALGORITHMS[suite])
    secc = Secc(server_context13(pki.secc_chain_pem, pki.secc_key_pem, [pki.oem_root]))
    seen: dict[str, object] = {}

    async def body(port: int) -> None:
        conn = await open_connection("::1", port, tls=_tls13(pki, cert))
        seen.update(cipher=conn.cipher, version=conn.tls_version, source=conn.client_key_source,
                    echo=await _echo(conn))

    asyncio.run(secc.run(body))
    assert seen["version"] == "TLSv1.3"
    assert seen["cipher"] == ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)
    assert seen["echo"] == b"\x80\x20"
    assert "pkcs11-provider" in str(seen["source"]) and softhsm_config.token_label in str(seen["source"])
    assert secc.peer == [cert.chain[0].public_bytes(Encoding.DER)]  # type: ignore[union-attr]


@needs_provider
def test_imported_token_key_works_without_linking(softhsm_config: Pkcs11Config, p521: Iso20Pki) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    scalar = ec.generate_private_key(ec.SECP521R1()).private_numbers().private_value
    store = Pkcs11KeyStore(softhsm_config)
    label = _label("imported")
    info = store.import_private(label, KeyAlgorithm.EC_P521, bytearray(scalar.to_bytes(66, "big")))
    store.close()
    cert = ClientCertificate(p521.vehicle_chain(info.public, KeyAlgorithm.EC_P521), TokenKey(softhsm_config, label))
    secc = Secc(server_context13(p521.secc_chain_pem, p521.secc_key_pem, [p521.oem_root]))

    async def body(port: int) -> None:
        assert await _echo(await open_connection("::1", port, tls=prepare(_tls13(p521, cert)))) == b"\x80\x20"

    asyncio.run(secc.run(body))
    assert secc.peer == [cert.chain[0].public_bytes(Encoding.DER)]  # type: ignore[union-attr]


@needs_provider
def test_key_of_an_older_token_is_named_then_paired(softhsm_config: Pkcs11Config, p521: Iso20Pki) -> None:
    """A key imported by an earlier version (no public object, the point in CKA_ID): the provider cannot match it
    to the certificate and the error says what to do; after ``pair`` the handshake works and pairing again writes
    nothing."""
    import pkcs11
    from cryptography.hazmat.primitives.asymmetric import ec

    from evcc.hsm.pkcs11_store import EC_PARAMS
    key = ec.generate_private_key(ec.SECP521R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    label = _label("legacy")
    store = Pkcs11KeyStore(softhsm_config)
    store._session.create_object({  # what earlier versions wrote
        pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.EC,
        pkcs11.Attribute.LABEL: label, pkcs11.Attribute.ID: point,
        pkcs11.Attribute.EC_PARAMS: EC_PARAMS[KeyAlgorithm.EC_P521],
        pkcs11.Attribute.VALUE: key.private_numbers().private_value.to_bytes(66, "big"),
        pkcs11.Attribute.TOKEN: True, pkcs11.Attribute.PRIVATE: True, pkcs11.Attribute.SENSITIVE: True,
        pkcs11.Attribute.EXTRACTABLE: False, pkcs11.Attribute.SIGN: True})
    cert = ClientCertificate(p521.vehicle_chain(point, KeyAlgorithm.EC_P521), TokenKey(softhsm_config, label))
    with pytest.raises(ConfigError, match="KEY_VALUES_MISMATCH.*Pkcs11KeyStore.pair"):
        prepare(_tls13(p521, cert))
    assert store.pair(label) == point
    assert store.pair(label) == point  # paired: nothing rewritten
    store.close()
    secc = Secc(server_context13(p521.secc_chain_pem, p521.secc_key_pem, [p521.oem_root]))

    async def body(port: int) -> None:
        assert await _echo(await open_connection("::1", port, tls=prepare(_tls13(p521, cert)))) == b"\x80\x20"

    asyncio.run(secc.run(body))


def test_mutual_tls13_with_the_soft_key_store(soft_store: SoftKeyStore, p521: Iso20Pki, tmp_path: Path) -> None:
    cert = soft_certificate(soft_store, p521)
    keylog = tmp_path / "keys.log"
    secc = Secc(server_context13(p521.secc_chain_pem, p521.secc_key_pem, [p521.oem_root]))
    sources: list[str | None] = []

    async def body(port: int) -> None:
        prepared = prepare(_tls13(p521, cert, keylog_file=keylog))
        for _ in range(2):  # one prepared context, two sessions
            conn = await open_connection("::1", port, tls=prepared)
            sources.append(conn.client_key_source)
            assert await _echo(conn) == b"\x80\x20"

    asyncio.run(secc.run(body))
    assert sources == [f"{soft_store.description} (key {cert.key.label!r})"] * 2
    assert len(secc.peer) == 2 and secc.peer[0] == cert.chain[0].public_bytes(Encoding.DER)  # type: ignore[union-attr]
    log = keylog.read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in log and "CLIENT_TRAFFIC_SECRET_0" in log  # TLS 1.3 key log


def test_no_vehicle_certificate_is_refused_by_the_secc(p521: Iso20Pki) -> None:
    secc = Secc(server_context13(p521.secc_chain_pem, p521.secc_key_pem, [p521.oem_root]))

    async def body(port: int) -> None:
        conn = await open_connection("::1", port, tls=_tls13(p521, None))
        with pytest.raises(TlsError, match="SECC ended the TLS session: TLSV13_ALERT_CERTIFICATE_REQUIRED"):
            await conn.receive(5.0)  # TLS 1.3: the SECC's verdict on the client arrives after our handshake
        with pytest.raises(TlsError, match="CERTIFICATE_REQUIRED"):
            conn.send(v2gtp.EXI_ENCODED, b"\x80")

    asyncio.run(secc.run(body))
    assert secc.peer == [] and "PEER_DID_NOT_RETURN_A_CERTIFICATE" in secc.errors[0]


def test_no_vehicle_certificate_to_an_asyncio_secc_is_a_close_without_alert(p521: Iso20Pki) -> None:
    """asyncio's TLS server (Josev's SECC uses it) drops the connection without flushing its alert."""
    ctx = server_context13(p521.secc_chain_pem, p521.secc_key_pem, [p521.oem_root])

    async def ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(ignore, "::1", 0, ssl=ctx)
        async with server:
            conn = await open_connection("::1", server.sockets[0].getsockname()[1], tls=_tls13(p521, None))
            with pytest.raises(ConnectionFailed, match="closed the TLS 1.3 connection before its first message"):
                await conn.receive(5.0)

    asyncio.run(main())


def test_vehicle_chain_of_another_oem_is_refused(soft_store: SoftKeyStore, p521: Iso20Pki, tmp_path: Path) -> None:
    other = make_iso20_pki(tmp_path / "other")
    secc = Secc(server_context13(p521.secc_chain_pem, p521.secc_key_pem, [other.oem_root]))
    cert = soft_certificate(soft_store, p521)

    async def body(port: int) -> None:
        conn = await open_connection("::1", port, tls=_tls13(p521, cert))
        with pytest.raises(TlsError, match="SECC ended the TLS session: TLSV1_ALERT_UNKNOWN_CA"):
            await conn.receive(5.0)

    asyncio.run(secc.run(body))


def test_untrusted_secc_chain_is_refused(soft_store: SoftKeyStore, p521: Iso20Pki, tmp_path: Path) -> None:
    other = make_iso20_pki(tmp_path / "other")
    secc = Secc(server_context13(other.secc_chain_pem, other.secc_key_pem, [p521.oem_root]))
    cert = soft_certificate(soft_store, p521)

    async def body(port: int) -> None:
        await open_connection("::1", port, tls=_tls13(p521, cert))

    with pytest.raises(TlsError, match="SECC certificate chain rejected: unable to get local issuer certificate"):
        asyncio.run(secc.run(body))


def _refused(pki: Iso20Pki, server: ssl.SSLContext, cert: ClientCertificate, reason: str) -> None:
    async def body(port: int) -> None:
        await open_connection("::1", port, tls=_tls13(pki, cert))

    with pytest.raises(TlsError, match=f"TLS handshake with the SECC failed: {reason}"):
        asyncio.run(Secc(server).run(body))


def test_secc_without_tls13_is_refused(soft_store: SoftKeyStore, p521: Iso20Pki, tmp_path: Path) -> None:
    old = make_pki(tmp_path / "iso2")
    _refused(p521, server_context(old.chain_pem, old.key_pem), soft_certificate(soft_store, p521),
             "TLSV1_ALERT_PROTOCOL_VERSION")


@pytest.mark.parametrize("profile,reason", [
    (Tls13Profile(suites=("TLS_AES_128_GCM_SHA256",)), "SSLV3_ALERT_HANDSHAKE_FAILURE"),
    (Tls13Profile(groups=("prime256v1",)), "SSLV3_ALERT_HANDSHAKE_FAILURE"),
], ids=["aes128-suite-only", "p256-group-only"])
def test_secc_outside_the_iso20_profile_is_refused(soft_store: SoftKeyStore, p521: Iso20Pki, profile: Tls13Profile,
                                                   reason: str) -> None:
    server = server_context13(p521.secc_chain_pem, p521.secc_key_pem, [p521.oem_root], profile=profile)
    _refused(p521, server, soft_certificate(soft_store, p521), reason)


def test_secc_with_a_p256_certificate_is_refused(soft_store: SoftKeyStore, p521: Iso20Pki, tmp_path: Path) -> None:
    """A -2 style SECC certificate (ECDSA P-256/SHA-256) is outside the -20 signature algorithms."""
    old = make_pki(tmp_path / "iso2")
    wide = Tls13Profile(signature_algorithms=("ecdsa_secp521r1_sha512", "ed448", "ecdsa_secp256r1_sha256"))
    server = server_context13(old.chain_pem, old.key_pem, [p521.oem_root], profile=wide)
    cert = soft_certificate(soft_store, p521)

    async def body(port: int) -> None:
        await open_connection("::1", port, tls=TlsConfig(v2g_roots=(old.root,), version=TlsVersion.TLS13,
                                                          client_certificate=cert))

    with pytest.raises(TlsError, match="TLS handshake with the SECC failed"):
        asyncio.run(Secc(server).run(body))


def test_configuration_errors_name_what_is_wrong(soft_store: SoftKeyStore, p521: Iso20Pki) -> None:
    cert = soft_certificate(soft_store, p521)
    with pytest.raises(ConfigError, match="TLS 1.3 cipher suites 'TLS_BOGUS' refused"):
        prepare(_tls13(p521, cert, tls13=Tls13Profile(suites=("TLS_BOGUS",))))
    with pytest.raises(ConfigError, match="TLS groups 'nogroup' refused"):
        prepare(_tls13(p521, cert, tls13=Tls13Profile(groups=("nogroup",))))
    # TLS 1.2 takes a client certificate too, for a charger that asks (evcc.session.connection; issue 11)
    assert prepare(TlsConfig(v2g_roots=(p521.v2g_root,), client_certificate=cert)).client_key_source
    with pytest.raises(ConfigError, match="vehicle certificate chain is empty"):
        prepare(_tls13(p521, ClientCertificate((), cert.key)))
    wrong = ClientCertificate(soft_certificate(soft_store, p521).chain, cert.key)
    with pytest.raises(ConfigError, match="cannot be used for TLS: KEY_VALUES_MISMATCH"):
        prepare(_tls13(p521, wrong))
    with pytest.raises(ConfigError, match="vehicle certificate \\(3 bytes\\): not a PEM or DER"):
        prepare(_tls13(p521, ClientCertificate((b"abc",), cert.key)))


def test_vehicle_key_choice(softhsm_config: Pkcs11Config, soft_store: SoftKeyStore) -> None:
    chosen = choose_vehicle_key("v", softhsm_config, soft_store)
    expected = TokenKey if tls_openssl.pkcs11_provider_installed() else SoftStoreKey
    assert isinstance(chosen, expected)
    assert isinstance(choose_vehicle_key("v", None, soft_store), SoftStoreKey)
    with pytest.raises(ConfigError, match="needs a PKCS#11 token or a software key store"):
        choose_vehicle_key("v", None, None)
