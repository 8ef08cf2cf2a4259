"""Acceptance (issue 6): a malformed config, an unknown interface, a missing token or PIN -> one clear line on
stderr naming what was wrong, a non-zero exit status, no traceback. The real daemon entry point in a
subprocess (``python -m evcc.app run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evcc.hsm.softhsm import SOFTHSM_MODULE, softhsm_available

ROOT = Path(__file__).resolve().parents[2]


def _run(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evcc.app", "run", "--config", str(config)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("<3>evcc run: ")
    return lines[0]


def _config(tmp: Path, plc: str = 'interface = "lo"', hsm: str | None = None) -> Path:
    pin = tmp / "pin"
    pin.write_text("1234\n")
    hsm = hsm or f'kind = "pkcs11"\nmodule = "{SOFTHSM_MODULE}"\ntoken = "no-such-token"\npin_file = "{pin}"'
    path = tmp / "evcc.toml"
    path.write_text(f'[plc]\n{plc}\n[contracts]\ndirectory = "{tmp / "contracts"}"\n[hsm]\n{hsm}\n'
                    '[bms]\ninterface = "virtual"\nchannel = "e2e"\n[dbus]\nbus = "address"\n'
                    'address = "unix:path=/nonexistent/bus"\n')
    return path


def test_malformed_toml_names_the_file_and_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "evcc.toml"
    bad.write_text('[plc]\ninterface = "eth1\n')
    done = _run(bad)
    assert done.returncode == 2
    line = _one_line(done)
    assert str(bad) in line and "not valid TOML" in line and "line 2" in line


def test_wrong_type_and_unknown_key_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "evcc.toml"
    bad.write_text('[plc]\ninterface = "lo"\n[hsm]\npin_file = "p"\n[bms]\nfreshness_s = "1s"\n')
    assert "[bms] freshness_s: expected a number, got '1s'" in _one_line(_run(bad))
    bad.write_text('[plc]\ninterface = "lo"\n[hsm]\npin_file = "p"\n[session]\nprotocol = ["iso2"]\n')
    done = _run(bad)
    assert done.returncode == 2 and "[session]: unknown key 'protocol'" in _one_line(done)


def test_unknown_interface(tmp_path: Path) -> None:
    done = _run(_config(tmp_path, plc='interface = "nosuch0"'))
    assert done.returncode == 3
    assert "[plc] interface: no network interface 'nosuch0' here" in _one_line(done)


def test_missing_pin_file(tmp_path: Path) -> None:
    hsm = f'kind = "pkcs11"\nmodule = "{SOFTHSM_MODULE}"\ntoken = "evcc"\npin_file = "{tmp_path / "absent.pin"}"'
    done = _run(_config(tmp_path, hsm=hsm))
    assert done.returncode == 2
    assert f"[hsm] pin_file: cannot read {tmp_path / 'absent.pin'}" in _one_line(done)


def test_missing_token(tmp_path: Path) -> None:
    if not softhsm_available():
        pytest.fail("SoftHSM2 missing: scripts/setup installs the Debian package softhsm2")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    done = _run(_config(tmp_path), env={"SOFTHSM2_CONF": str(conf)})
    assert done.returncode == 3
    assert "PKCS#11 token 'no-such-token': NoSuchToken" in _one_line(done)
