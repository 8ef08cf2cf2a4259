"""Errors of the daemon, in the project's tree (evcc.errors)."""

from __future__ import annotations

from evcc.errors import ConfigError, PlatformError


class AppConfigError(ConfigError):
    """The daemon's TOML is invalid; the message names the file, the key and what was wrong."""


class InterfaceMissing(PlatformError):
    """The configured network interface does not exist in this network namespace."""
