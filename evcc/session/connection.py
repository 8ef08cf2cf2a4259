"""TCP and TLS client to the SECC, ISO 15118-2 §7.7 (TLS profile) and §7.8 (V2GTP over TCP), and ISO 15118-20's
TLS 1.3 with mutual authentication (the profile and the vehicle certificate: :mod:`evcc.session.tls13`).

=========  ========  ===================================================  ==============================
protocol   version   cipher suites                                        client certificate
=========  ========  ===================================================  ==============================
DIN, -2    TLS 1.2   ``ECDHE-ECDSA-AES128-SHA256``                        none; optional chain + key
-20        TLS 1.3   ``TLS_AES_256_GCM_SHA384``, ``TLS_CHACHA20_POLY1305``  vehicle certificate chain + key
=========  ========  ===================================================  ==============================

TLS 1.2 with a client certificate: ISO 15118-2's TLS profile authenticates the SECC only; the EV has no TLS
certificate of its own in that PKI. A charger (or test system) that sends a CertificateRequest anyway would get an
empty Certificate message and may end the handshake, so a certificate chain and key can be configured for TLS 1.2
too (``TlsConfig.client_certificate``: a P-256 key in a TPM through tpm2-openssl, in a PKCS#11 token, or in the
software store, the same :class:`~evcc.session.tls13.ClientCertificate` as for -20). It is sent only when the
SECC asks for it (TLS 1.2, RFC 5246 §7.4.6). Not configured: none, as before.

Both: the SECC's chain is validated against the installed V2G root certificates; no hostname check (the SECC is
reached by a link-local address, its certificate names the charger, not a host).

:class:`V2gConnection` is the asyncio adapter: every read goes through the V2GTP
:class:`~evcc.session.v2gtp.Reassembler`, so a message split over reads, or several messages in one read,
arrive whole and in order. V2G is request/response: at most :data:`MAX_UNREAD` whole messages wait to be
read; a charger that streams more than that (answers nobody asked for) ends the connection with a
:class:`V2gtpError` naming it, so memory stays bounded whatever the charger sends. In TLS 1.3 the SECC checks the vehicle certificate after the EV's side of the
handshake has finished: its refusal arrives as an alert on the first read and is raised there as
:class:`TlsError`.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from evcc.errors import ConfigError
from evcc.session import v2gtp
from evcc.session.errors import ConnectionFailed, TlsError, V2gtpError
from evcc.session.tls13 import ISO20_TLS13, CertSource, ClientCertificate, Tls13Profile, apply_profile
from evcc.session.tls13 import certificates_pem, load_client_certificate

V2G_TLS12_CIPHER = "ECDHE-ECDSA-AES128-SHA256"
MAX_UNREAD = 8  # whole messages received and not yet read (one is normal: the answer to the request)

RootSource = CertSource


class TlsVersion(enum.Enum):
    """TLS 1.2 for DIN 70121 and ISO 15118-2, TLS 1.3 for ISO 15118-20."""

    TLS12 = "TLSv1.2"
    TLS13 = "TLSv1.3"


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """``v2g_roots``: V2G root certificates (PEM/DER file paths, PEM/DER bytes or cryptography objects).

    ``cipher``: the TLS 1.2 cipher. ``version`` TLS13 (ISO 15118-20): ``tls13`` gives the suites, groups and
    signature algorithms, ``client_certificate`` the vehicle certificate chain and where its key is; with TLS12
    ``client_certificate`` is optional and sent only to a charger that asks (module docstring).

    ``keylog_file``: BENCH TRACES ONLY. Writes the TLS session secrets (NSS key log format) so that Wireshark
    can decrypt a capture. Never set it in a vehicle: anyone with the file reads the session.
    """

    v2g_roots: tuple[RootSource, ...]
    cipher: str = V2G_TLS12_CIPHER
    keylog_file: Path | None = None
    version: TlsVersion = TlsVersion.TLS12
    client_certificate: ClientCertificate | None = None
    tls13: Tls13Profile = ISO20_TLS13


@dataclass(frozen=True, slots=True)
class PreparedTls:
    """A client context built once from a :class:`TlsConfig`, reusable for many connections."""

    context: ssl.SSLContext
    client_key_source: str | None  # where the client key is (when a client certificate is configured), else None


def _root_pem(source: RootSource) -> str:
    return certificates_pem(source, "V2G root certificate")


def prepare(config: TlsConfig) -> PreparedTls:
    """The EVCC's context: V2G roots only, no hostname check; TLS 1.2 with the V2G cipher, or TLS 1.3 with the
    -20 profile and, when configured, the vehicle certificate."""
    if not config.v2g_roots:
        raise ConfigError("TLS needs at least one V2G root certificate (session.tls.v2g_roots)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    source = None
    if config.version is TlsVersion.TLS13:
        apply_profile(ctx, config.tls13)
        if config.client_certificate is not None:
            source = load_client_certificate(ctx, config.client_certificate)
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.set_ciphers(config.cipher)
        except ssl.SSLError as exc:
            raise ConfigError(f"TLS cipher {config.cipher!r} is not available: {exc}") from exc
        if config.client_certificate is not None:  # only for a charger that asks (module docstring)
            source = load_client_certificate(ctx, config.client_certificate)
    ctx.check_hostname = False  # the SECC has no host name; its chain is what is checked
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata="".join(_root_pem(r) for r in config.v2g_roots))
    if config.keylog_file is not None:
        ctx.keylog_filename = str(config.keylog_file)  # bench traces only, see TlsConfig
    return PreparedTls(ctx, source)


def client_context(config: TlsConfig) -> ssl.SSLContext:
    """The EVCC's context for ``config`` (see :func:`prepare`)."""
    return prepare(config).context


class V2gConnection(asyncio.Protocol):
    """One TCP/TLS connection carrying V2GTP messages. ``receive`` returns whole messages; a framing error or
    the peer closing is raised from ``receive`` as :class:`V2gtpError` / :class:`ConnectionFailed`."""

    def __init__(self, accepted: Iterable[int], max_payload: int) -> None:
        self.reassembler = v2gtp.Reassembler(accepted, max_payload)
        self._queue: asyncio.Queue[v2gtp.V2gtpMessage | Exception] = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self.cipher: tuple[str, str, int] | None = None
        self.peer_certificate: bytes | None = None
        self.tls_version: str | None = None
        self.client_key_source: str | None = None  # set by open_connection (when a client certificate is configured)
        self._lost: TlsError | ConnectionFailed | None = None
        self._received = False
        self._flood: V2gtpError | None = None  # set when the SECC sent more than MAX_UNREAD unread messages

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sslobj = transport.get_extra_info("ssl_object")
        if isinstance(sslobj, ssl.SSLObject):
            self.cipher = sslobj.cipher()
            self.peer_certificate = sslobj.getpeercert(binary_form=True)
            self.tls_version = sslobj.version()

    def data_received(self, data: bytes) -> None:
        if self._flood is not None:
            return
        try:
            for msg in self.reassembler.feed(data):
                self._received = True
                if self._queue.qsize() >= MAX_UNREAD:
                    raise V2gtpError("flow", f"the SECC sent more than {MAX_UNREAD} messages the EV had not read "
                                             f"(answers nobody asked for)")
                self._queue.put_nowait(msg)
        except V2gtpError as exc:
            self._flood = exc if exc.field == "flow" else None
            for msg in exc.complete:
                self._queue.put_nowait(msg)
            self._queue.put_nowait(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ssl.SSLError):  # e.g. TLS 1.3: the SECC refused the vehicle certificate
            self._lost = TlsError(f"the SECC ended the TLS session: {exc.reason or exc}")
        elif (exc is None or isinstance(exc, ConnectionResetError)) and self.tls_version == "TLSv1.3" \
                and not self._received:
            # a close or a reset (which one depends on timing) right after the handshake
            how = "" if exc is None else ", with a reset,"
            self._lost = ConnectionFailed(f"the SECC closed the TLS 1.3 connection before its first message{how} (an "
                                          "SECC that refuses the vehicle certificate without an alert closes like this)")
        else:
            self._lost = ConnectionFailed(f"the SECC closed the connection{f': {exc}' if exc else ''}")
        self._queue.put_nowait(self._lost)

    def send(self, payload_type: int, payload: bytes) -> None:
        if self._flood is not None:  # the cause, rather than "closed"
            raise V2gtpError(self._flood.field, str(self._flood).removeprefix("V2GTP flow: "))
        if self._lost is not None:
            raise type(self._lost)(str(self._lost))
        if self._transport is None or self._transport.is_closing():
            raise ConnectionFailed("the connection to the SECC is closed")
        self._transport.write(v2gtp.encode(payload_type, payload))

    async def receive(self, timeout: float | None) -> v2gtp.V2gtpMessage | None:
        """The next whole message, or None when ``timeout`` seconds passed without one."""
        try:
            async with asyncio.timeout(timeout):  # not wait_for: 3.11's wait_for can swallow a cancel
                item = await self._queue.get()
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            self._queue.put_nowait(item)  # stays failed for every later call
            raise item
        return item

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def os_cause(exc: OSError) -> str:
    """The cause of a socket error by its errno ("Connection refused (ECONNREFUSED)"): asyncio's own text
    ("Connect call failed (addr)") names no cause. Without an errno (several addresses failed): its text."""
    if exc.errno:
        return f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc) or type(exc).__name__


async def open_connection(
    host: str,
    port: int,
    *,
    tls: TlsConfig | PreparedTls | None = None,
    scope_id: int | None = None,
    accepted: Iterable[int] = v2gtp.SESSION_PAYLOAD_TYPES,
    max_payload: int = v2gtp.DEFAULT_MAX_PAYLOAD,
    timeout: float = 20.0,
) -> V2gConnection:
    """Connect to the SECC (``scope_id``: the interface index for a link-local address). TLS failures raise
    :class:`TlsError` naming the reason (untrusted chain, no shared cipher); TCP failures :class:`ConnectionFailed`.
    Pass a :class:`PreparedTls` to reuse one context (and one key load) for many connections.
    """
    loop = asyncio.get_running_loop()
    target = f"{host}%{scope_id}" if scope_id is not None and "%" not in host else host
    prepared = prepare(tls) if isinstance(tls, TlsConfig) else tls
    ctx = prepared.context if prepared is not None else None
    try:
        async with asyncio.timeout(timeout):  # not wait_for: 3.11's wait_for can swallow a cancel
            _, proto = await loop.create_connection(
                lambda: V2gConnection(accepted, max_payload),
                target,
                port,
                ssl=ctx,
                server_hostname="" if ctx is not None else None,
            )
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(f"SECC certificate chain rejected: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise TlsError(f"TLS handshake with the SECC failed: {exc.reason or exc}") from exc
    except TimeoutError as exc:
        raise ConnectionFailed(f"no connection to [{target}]:{port} within {timeout} s") from exc
    except OSError as exc:
        raise ConnectionFailed(f"TCP connection to [{target}]:{port} failed: {os_cause(exc)}") from exc
    proto.client_key_source = prepared.client_key_source if prepared is not None else None
    return proto
