"""`evcc keys delete` on a terminal asks before deleting: "n" keeps the key (exit 1), "y" deletes the key and its
certificate file (exit 0). The command runs as its own process with a pseudo-terminal as standard input."""

from __future__ import annotations

import os
import pty
import secrets
import subprocess
import sys
from pathlib import Path

from tests.keys.conftest import ROOT, evcc


def delete_on_a_terminal(label: str, options: list[str], answer: str) -> tuple[int, str]:
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode() + b"\n")  # buffered by the terminal until the prompt reads it
        done = subprocess.run([sys.executable, "-m", "evcc", "keys", "delete", label, *options], stdin=slave,
                              capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    finally:
        os.close(slave)
        os.close(master)
    return done.returncode, done.stdout


def test_delete_asks_on_a_terminal(tmp_path: Path, pki: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "kek").write_bytes(secrets.token_bytes(32))
    options = ["--soft-keys", str(tmp_path / "keys"), "--kek-file", str(tmp_path / "kek")]
    assert evcc("keys", "generate", "vehicle", "--curve", "p256", *options).status == 0
    assert evcc("keys", "csr", "vehicle", "--subject", "CN=WMIEVCCTESTVEHICLE", "--role", "vehicle", "--out",
                tmp_path / "v.csr", *options).status == 0
    assert evcc("pki", "sign-csr", tmp_path / "v.csr", "--pki", pki, "--role", "vehicle", "--out",
                tmp_path / "v.pem").status == 0
    assert evcc("keys", "import-cert", "vehicle", tmp_path / "v.pem", *options).status == 0
    files = sorted(p.name for p in (tmp_path / "keys").rglob("*.*"))

    status, out = delete_on_a_terminal("vehicle", options, "n")
    assert status == 1 and "delete key 'vehicle' and its certificates" in out and "not deleted" in out, out
    assert sorted(p.name for p in (tmp_path / "keys").rglob("*.*")) == files

    status, out = delete_on_a_terminal("vehicle", options, "y")
    assert status == 0 and "deleted from software key store" in out, out
    assert not list((tmp_path / "keys" / "keys").iterdir()) and not list((tmp_path / "keys" / "certs").iterdir())
