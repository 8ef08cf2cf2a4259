"""The one error tree of evcc.

Every error the package raises on purpose derives from :class:`EvccError`. Each branch says which side was
wrong: the peer (charger, modem, CAN bus: untrusted input), the local configuration, or the local platform.
"""

from __future__ import annotations


class EvccError(Exception):
    """Root of every error raised by evcc."""


class PeerError(EvccError):
    """The remote side (charger, modem, BMS) sent something wrong or did not answer in time."""


class ProtocolError(PeerError):
    """A message broke the protocol: wrong sequence, wrong field, malformed frame."""


class PeerTimeout(PeerError):
    """A standard timer expired while waiting for the peer."""


class ConfigError(EvccError):
    """The local configuration is invalid; the message names the key."""


class PlatformError(EvccError):
    """The local platform refused: missing interface, missing capability, token not present."""


class SecurityError(EvccError):
    """A certificate, signature or key check failed."""


class StoreError(EvccError):
    """Persistent state could not be read or written safely."""
