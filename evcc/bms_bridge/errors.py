"""Errors of the BMS bridge, in the project's one error tree (evcc.errors)."""

from __future__ import annotations

from evcc.errors import ConfigError, PlatformError, ProtocolError


class BmsFrameError(ProtocolError):
    """A CAN frame from the BMS is malformed: wrong length, a value outside the DBC range, a frozen alive
    counter, another protocol version. The frame is dropped (and so does not refresh its deadline)."""


class BridgeConfigError(ConfigError):
    """The bridge configuration is invalid; the message names the key."""


class CanBusUnavailable(PlatformError):
    """The CAN interface could not be opened (missing interface, missing driver, no permission)."""
