"""TCP and TLS 1.2 client to the SECC, ISO 15118-2 §7.7 (TLS profile) and §7.8 (V2GTP over TCP).

TLS (-2 and DIN with TLS): version 1.2 only, cipher ``ECDHE-ECDSA-AES128-SHA256``;
the SECC's chain is validated against the installed V2G root certificates; no hostname check (the SECC is
reached by a link-local address, its certificate names the charger, not a host). No client certificate in -2.
TLS 1.3 arrives with ISO 15118-20.

:class:`V2gConnection` is the asyncio adapter: every read goes through the V2GTP
:class:`~evcc.session.v2gtp.Reassembler`, so a message split over reads, or several messages in one read,
arrive whole and in order.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.errors import ConfigError
from evcc.session import v2gtp
from evcc.session.errors import ConnectionFailed, TlsError, V2gtpError

V2G_TLS12_CIPHER = "ECDHE-ECDSA-AES128-SHA256"

RootSource = Path | str | bytes | x509.Certificate


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """``v2g_roots``: V2G root certificates (PEM/DER file paths, PEM/DER bytes or cryptography objects).

    ``keylog_file``: BENCH TRACES ONLY. Writes the TLS session secrets (NSS key log format) so that Wireshark
    can decrypt a capture. Never set it in a vehicle: anyone with the file reads the session.
    """

    v2g_roots: tuple[RootSource, ...]
    cipher: str = V2G_TLS12_CIPHER
    keylog_file: Path | None = None


def _root_pem(source: RootSource) -> str:
    if isinstance(source, x509.Certificate):
        return source.public_bytes(Encoding.PEM).decode()
    data = source if isinstance(source, bytes) else _read(Path(source))
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigError(f"V2G root certificate {_describe(source)}: not a PEM or DER certificate ({exc})") from exc
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certs)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"V2G root certificate {path}: {exc.strerror}") from exc


def _describe(source: RootSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return f"({len(source)} bytes)" if isinstance(source, bytes) else "(certificate object)"


def client_context(config: TlsConfig) -> ssl.SSLContext:
    """The EVCC's TLS 1.2 context: V2G roots only, the V2G cipher only, no hostname check."""
    if not config.v2g_roots:
        raise ConfigError("TLS needs at least one V2G root certificate (session.tls.v2g_roots)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(config.cipher)
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS cipher {config.cipher!r} is not available: {exc}") from exc
    ctx.check_hostname = False  # the SECC has no host name; its chain is what is checked
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata="".join(_root_pem(r) for r in config.v2g_roots))
    if config.keylog_file is not None:
        ctx.keylog_filename = str(config.keylog_file)  # bench traces only, see TlsConfig
    return ctx


class V2gConnection(asyncio.Protocol):
    """One TCP/TLS connection carrying V2GTP messages. ``receive`` returns whole messages; a framing error or
    the peer closing is raised from ``receive`` as :class:`V2gtpError` / :class:`ConnectionFailed`."""

    def __init__(self, accepted: Iterable[int], max_payload: int) -> None:
        self.reassembler = v2gtp.Reassembler(accepted, max_payload)
        self._queue: asyncio.Queue[v2gtp.V2gtpMessage | Exception] = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self.cipher: tuple[str, str, int] | None = None
        self.peer_certificate: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sslobj = transport.get_extra_info("ssl_object")
        if isinstance(sslobj, ssl.SSLObject):
            self.cipher = sslobj.cipher()
            self.peer_certificate = sslobj.getpeercert(binary_form=True)

    def data_received(self, data: bytes) -> None:
        try:
            for msg in self.reassembler.feed(data):
                self._queue.put_nowait(msg)
        except V2gtpError as exc:
            for msg in exc.complete:
                self._queue.put_nowait(msg)
            self._queue.put_nowait(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc is not None else ""
        self._queue.put_nowait(ConnectionFailed(f"the SECC closed the connection{reason}"))

    def send(self, payload_type: int, payload: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionFailed("the connection to the SECC is closed")
        self._transport.write(v2gtp.encode(payload_type, payload))

    async def receive(self, timeout: float | None) -> v2gtp.V2gtpMessage | None:
        """The next whole message, or None when ``timeout`` seconds passed without one."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            self._queue.put_nowait(item)  # stays failed for every later call
            raise item
        return item

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


async def open_connection(
    host: str,
    port: int,
    *,
    tls: TlsConfig | None = None,
    scope_id: int | None = None,
    accepted: Iterable[int] = v2gtp.SESSION_PAYLOAD_TYPES,
    max_payload: int = v2gtp.DEFAULT_MAX_PAYLOAD,
    timeout: float = 20.0,
) -> V2gConnection:
    """Connect to the SECC (``scope_id``: the interface index for a link-local address). TLS failures raise
    :class:`TlsError` naming the reason (untrusted chain, no shared cipher); TCP failures :class:`ConnectionFailed`.
    """
    loop = asyncio.get_running_loop()
    target = f"{host}%{scope_id}" if scope_id is not None and "%" not in host else host
    ctx = client_context(tls) if tls is not None else None
    try:
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: V2gConnection(accepted, max_payload),
                target,
                port,
                ssl=ctx,
                server_hostname="" if ctx is not None else None,
            ),
            timeout,
        )
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(f"SECC certificate chain rejected: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise TlsError(f"TLS handshake with the SECC failed: {exc.reason or exc}") from exc
    except TimeoutError as exc:
        raise ConnectionFailed(f"no connection to [{target}]:{port} within {timeout} s") from exc
    except OSError as exc:
        raise ConnectionFailed(f"TCP connection to [{target}]:{port} failed: {exc.strerror or exc}") from exc
    return proto
