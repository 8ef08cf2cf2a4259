"""Errors of the session layers, each under the project's one error tree (evcc.errors)."""

from __future__ import annotations

from typing import Any

from evcc.errors import PeerError, PeerTimeout, ProtocolError, SecurityError


class V2gtpError(ProtocolError):
    """A V2GTP header or payload broke ISO 15118-2 §7.8.3 (``field`` names which part was wrong)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"V2GTP {field}: {message}")
        self.field = field
        self.complete: list[Any] = []  # Reassembler: whole messages received before the error


class SdpError(ProtocolError):
    """An SDP datagram could not be parsed (ISO 15118-2 §7.10.1)."""


class SdpTimeout(PeerTimeout):
    """No SECC answered SDP after the last allowed request."""


class TlsError(SecurityError):
    """The TLS handshake with the SECC failed: untrusted chain, wrong cipher, or no handshake at all."""


class SapError(ProtocolError):
    """SupportedAppProtocol failed: no common protocol, or the SECC's answer names nothing we offered."""


class ConnectionFailed(PeerError):
    """The TCP connection to the SECC could not be opened, or it closed while a message was expected."""


class SapTimeout(PeerTimeout):
    """No supportedAppProtocolRes within V2G_EVCC_Msg_Timeout."""
