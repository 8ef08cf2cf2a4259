"""Fuzz target ``py-config``: the daemon's TOML configuration loader (SERVICE.md "Config: TOML";
evcc/app/config.py ``load_config``, evcc/app/toml_reader.py), bytes -> file -> loader as ``evcc run --config``.

The loader has no string entry point: each input is written to one file in a private temporary folder (made once
per process, removed at exit) and loaded from there. Only AppConfigError may escape (tomllib's errors, bad UTF-8
and too deep nesting are wrapped in it); a loaded configuration is a frozen tree whose source is that file.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from evcc.app.config import AppConfig, load_config
from evcc.app.errors import AppConfigError

EXPECTED: tuple[type[BaseException], ...] = (AppConfigError,)
MAX_LEN = 8192

_FOLDER = Path(tempfile.mkdtemp(prefix="evcc-fuzz-config-"))
atexit.register(shutil.rmtree, _FOLDER, True)
_PATH = _FOLDER / "evcc.toml"


def test_one(data: bytes) -> None:
    _PATH.write_bytes(data)
    config = load_config(_PATH)
    assert isinstance(config, AppConfig) and config.source == _PATH
    assert config.plc.interface, "a loaded configuration names the PLC interface"
