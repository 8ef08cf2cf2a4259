"""SoftHSM2 set-up for tests and benches: a private SOFTHSM2_CONF and token folder, then an initialised token.

SoftHSM reads SOFTHSM2_CONF and scans its token folder once, when the module is first loaded (C_Initialize):
a token initialised later is not seen by that process. So :func:`init_softhsm` sets the process environment,
and when SOFTHSM2_CONF already points at a configuration it made (marker ``evcc-token.json`` beside it) it
returns that token instead of making another: one token per process, tests isolate by key label.
Test/bench use only.
Debian: package ``softhsm2``, module ``/usr/lib/softhsm/libsofthsm2.so``, tool ``softhsm2-util``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from evcc.errors import PlatformError
from evcc.hsm.pkcs11_store import Pkcs11Config

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_available() -> bool:
    return shutil.which("softhsm2-util") is not None and Path(SOFTHSM_MODULE).exists()


def init_softhsm(base: Path, label: str = "evcc-test", pin: str = "1234", so_pin: str = "5678") -> Pkcs11Config:
    """Create ``base/softhsm2.conf`` and ``base/tokens``, point SOFTHSM2_CONF at it, initialise a token.

    If this process already has a token made here, return that one (see the module docstring).
    """
    if not softhsm_available():
        raise PlatformError("SoftHSM2 is not installed (Debian package softhsm2)")
    existing = os.environ.get("SOFTHSM2_CONF")
    if existing:
        marker = Path(existing).with_name("evcc-token.json")
        if not marker.exists():
            raise PlatformError(f"SOFTHSM2_CONF={existing} was not made by evcc; unset it for tests")
        data = json.loads(marker.read_text())
        return Pkcs11Config(SOFTHSM_MODULE, data["label"], data["pin"])
    tokens = base / "tokens"
    tokens.mkdir(parents=True, mode=0o700, exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n")
    result = subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin],
        capture_output=True, text=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)}, check=False)
    if result.returncode != 0:
        raise PlatformError(f"softhsm2-util --init-token failed: {result.stderr.strip() or result.stdout.strip()}")
    (base / "evcc-token.json").write_text(json.dumps({"label": label, "pin": pin}))
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return Pkcs11Config(SOFTHSM_MODULE, label, pin)
