"""``evcc run --check`` checks what the service will open (issue 15): every configured file exists, is a regular
file, is readable by the service user and parses; no TOML, however deep or odd, gives a traceback: exit 2 and one
line naming the key (or the file, when the TOML itself cannot be read)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def _config(tmp: Path, **sections: str) -> Path:
    (tmp / "pin").write_text("1234\n")
    base = {
        "plc": 'interface = "eth1"',
        "session": 'payment = "external"',
        "hsm": f'module = "{MODULE}"\npin_file = "{tmp / "pin"}"',
        "contracts": f'directory = "{tmp / "contracts"}"',
    }
    base.update(sections)
    path = tmp / "evcc.toml"
    path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in base.items()))
    return path


def _check(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evcc.app", "run", "--config", str(config), "--check", *extra],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def _refused(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_complete_configuration_is_valid(tmp_path: Path) -> None:
    out = _check(_config(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("valid")


@pytest.mark.parametrize(("pin", "needle"), [
    ("missing", "No such file or directory"),
    ("folder", "is a folder"),
    ("empty", "holds no PIN"),
    ("fifo", "not a regular file"),
])
def test_the_pin_file_must_be_a_readable_file_with_a_pin(tmp_path: Path, pin: str, needle: str) -> None:
    target = tmp_path / "the-pin"
    if pin == "folder":
        target.mkdir()
    elif pin == "empty":
        target.write_text("\n")
    elif pin == "fifo":
        os.mkfifo(target)
    out = _check(_config(tmp_path, hsm=f'module = "{MODULE}"\npin_file = "{target}"'))
    _refused(out, "[hsm] pin_file", needle)


def test_the_pin_file_must_be_readable_by_the_service_user(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "pin").chmod(0o600)  # root's
    tmp_path.chmod(0o755)
    for parent in tmp_path.parents:  # pytest's folders are root-only: the test is about the file's own mode
        if parent.stat().st_mode & 0o005 != 0o005 and str(parent).startswith("/tmp/"):
            parent.chmod(parent.stat().st_mode | 0o005)
    _refused(_check(config, "--user", "nobody"), "[hsm] pin_file", "not readable by nobody")
    assert _check(config).returncode == 0  # root may read it


def test_a_nul_character_in_a_path_names_the_key(tmp_path: Path) -> None:
    _refused(_check(_config(tmp_path, hsm=f'module = "{MODULE}"\npin_file = "/etc/evcc/pin\\u0000x"')),
             "[hsm] pin_file", "NUL")
    _refused(_check(_config(tmp_path, session='payment = "external"\nv2g_roots = ["a\\u0000b"]')),
             "[session] v2g_roots", "NUL")


@pytest.mark.parametrize(("content", "needle"), [(None, "No such file"), ("garbage", "not a PEM or DER certificate")])
def test_v2g_roots_must_be_certificates(tmp_path: Path, content: str | None, needle: str) -> None:
    root = tmp_path / "root.pem"
    if content is not None:
        root.write_text(content)
    out = _check(_config(tmp_path, session=f'payment = "external"\nv2g_roots = ["{root}"]'))
    _refused(out, "[session] v2g_roots", needle)


@pytest.mark.parametrize(("content", "needle"), [(None, "No such file"), ("VERSION \"\"\nBO_ x", "cannot load")])
def test_the_dbc_must_be_a_can_database(tmp_path: Path, content: str | None, needle: str) -> None:
    dbc = tmp_path / "bms.dbc"
    if content is not None:
        dbc.write_text(content)
    _refused(_check(_config(tmp_path, bms=f'dbc = "{dbc}"')), "[bms] dbc", needle)


@pytest.mark.parametrize("nesting", ["array", "inline table", "array in a known key"])
def test_toml_nested_1000_deep_is_one_line_and_exit_2(tmp_path: Path, nesting: str) -> None:
    deep = {"array": "x = " + "[" * 1000 + "]" * 1000,
            "inline table": "x = " + "{a = " * 1000 + "1" + "}" * 1000,
            "array in a known key": "protocols = " + "[" * 1000 + "]" * 1000}[nesting]
    out = _check(_config(tmp_path, session=f'payment = "external"\n{deep}'))
    _refused(out, "nested too deeply")


def test_toml_nested_within_the_parser_limit_names_the_key(tmp_path: Path) -> None:
    out = _check(_config(tmp_path, session='payment = "external"\nprotocols = ' + "[" * 100 + "]" * 100))
    _refused(out, "[session] protocols: expected a list of strings")
