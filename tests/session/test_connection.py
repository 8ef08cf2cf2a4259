"""TCP and TLS 1.2 to a real server on loopback: reassembly across reads, the V2G cipher, chain validation
against the V2G roots, untrusted chains refused with a clear error, key log for bench traces."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.bench.secc.tls import server_context
from evcc.errors import ConfigError
from evcc.session import v2gtp
from evcc.session.connection import RootSource, TlsConfig, open_connection
from evcc.session.errors import ConnectionFailed, TlsError, V2gtpError

from tests.session.tls_pki import SeccPki, make_pki

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "::1", 0, ssl=ssl_ctx)
    return server, server.sockets[0].getsockname()[1]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    header = await reader.readexactly(8)
    payload = await reader.readexactly(int.from_bytes(header[4:], "big"))
    writer.write(header + payload)
    await writer.drain()
    await reader.read()
    writer.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SeccPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tcp_messages_split_and_merged_across_reads() -> None:
    first = v2gtp.encode(v2gtp.EXI_ENCODED, b"\x80" + bytes(5000))
    second = v2gtp.encode(v2gtp.EXI_ENCODED, b"\x80\x01")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (first[:3], first[3:2000], first[2000:] + second[:5], second[5:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)  # separate TCP segments
        await reader.read()
        writer.close()

    async def main() -> list[bytes]:
        server, port = await _serve(handler)
        async with server:
            conn = await open_connection("::1", port)
            got = [await conn.receive(2.0) for _ in range(2)]
            conn.close()
        return [m.payload for m in got if m is not None]

    assert asyncio.run(main()) == [b"\x80" + bytes(5000), b"\x80\x01"]


def test_tls12_with_the_v2g_cipher_and_trusted_chain(pki: SeccPki, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"

    async def main() -> tuple[object, bytes | None]:
        server, port = await _serve(_echo, server_context(pki.chain_pem, pki.key_pem))
        async with server:
            tls = TlsConfig(v2g_roots=(pki.root_pem,), keylog_file=keylog)
            conn = await open_connection("::1", port, tls=tls)
            conn.send(v2gtp.EXI_ENCODED, b"\x80\x98")
            msg = await conn.receive(2.0)
            conn.close()
        return conn.cipher, msg.payload if msg else None

    cipher, echoed = asyncio.run(main())
    assert cipher == ("ECDHE-ECDSA-AES128-SHA256", "TLSv1.2", 128)
    assert echoed == b"\x80\x98"
    assert "CLIENT_RANDOM" in keylog.read_text()


@pytest.mark.parametrize("form", ["der-path", "pem-bytes", "object"])
def test_root_forms(pki: SeccPki, tmp_path: Path, form: str) -> None:
    der = tmp_path / "root.der"
    der.write_bytes(pki.root.public_bytes(Encoding.DER))
    roots: dict[str, RootSource] = {"der-path": der, "pem-bytes": pki.root_pem.read_bytes(), "object": pki.root}
    root = roots[form]

    async def main() -> None:
        server, port = await _serve(_echo, server_context(pki.chain_pem, pki.key_pem))
        async with server:
            conn = await open_connection("::1", port, tls=TlsConfig(v2g_roots=(root,)))
            conn.close()

    asyncio.run(main())


def test_untrusted_secc_chain_is_rejected(pki: SeccPki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", tag="OtherRootCA")

    async def main() -> None:
        server, port = await _serve(_echo, server_context(pki.chain_pem, pki.key_pem))
        async with server:
            await open_connection("::1", port, tls=TlsConfig(v2g_roots=(other.root_pem,)))

    with pytest.raises(TlsError, match="SECC certificate chain rejected: unable to get local issuer"):
        asyncio.run(main())


def test_bad_root_file_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")

    async def main() -> None:
        await open_connection("::1", 1, tls=TlsConfig(v2g_roots=(junk,)))

    with pytest.raises(ConfigError, match="junk.pem: not a PEM or DER certificate"):
        asyncio.run(main())


def test_oversized_length_and_peer_close_are_clear_errors() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(bytes.fromhex("01fe8001 7fffffff"))
        await writer.drain()
        await reader.read()
        writer.close()

    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        server, port = await _serve(huge)
        async with server:
            conn = await open_connection("::1", port)
            with pytest.raises(V2gtpError, match="exceeds the limit of 65536"):
                await conn.receive(2.0)
        server, port = await _serve(closes)
        async with server:
            conn = await open_connection("::1", port)
            with pytest.raises(ConnectionFailed, match="closed the connection"):
                await conn.receive(2.0)

    asyncio.run(main())


def test_refused_connection() -> None:
    async def main() -> None:
        server, port = await _serve(_echo)
        server.close()
        await server.wait_closed()
        await open_connection("::1", port)

    with pytest.raises(ConnectionFailed, match=r"TCP connection to \[::1\]:\d+ failed: Connection refused "
                                                r"\(ECONNREFUSED\)$"):
        asyncio.run(main())


def test_unreachable_network_is_named() -> None:
    """A link-local address on an interface without it (loopback): the kernel's cause, by errno."""
    async def main() -> None:
        await open_connection("fe80::1", 15118, scope_id=1, timeout=5.0)

    with pytest.raises(ConnectionFailed, match=r"\[fe80::1%1\]:15118 failed: .+ \(E[A-Z]+\)$") as err:
        asyncio.run(main())
    assert "Connect call failed" not in str(err.value)


def test_os_cause_without_errno_keeps_the_text() -> None:
    from evcc.session.connection import os_cause
    assert os_cause(OSError("Multiple exceptions: [A], [B]")) == "Multiple exceptions: [A], [B]"
    assert os_cause(ConnectionRefusedError(111, "Connect call failed ('::1', 1)")) == \
        "Connection refused (ECONNREFUSED)"
