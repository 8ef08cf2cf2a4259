"""The private software TPM for tests and benches (evcc.hsm.swtpm): started, reachable by its TCTI string, power
cycled with its state kept, stopped with its temporary state removed."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from evcc.hsm.swtpm import HOST, Swtpm


def _tpm2(tcti: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tpm2_" + args[0], *args[1:]], capture_output=True, text=True, check=False,
                          env={**os.environ, "TPM2TOOLS_TCTI": tcti}, timeout=60)


def test_swtpm_answers_on_its_tcti(swtpm_tcti: str) -> None:
    assert swtpm_tcti.startswith(f"swtpm:host={HOST},port=")
    result = _tpm2(swtpm_tcti, "getcap", "ecc-curves")
    assert result.returncode == 0, result.stderr
    assert "TPM2_ECC_NIST_P256" in result.stdout


def test_power_cycle_keeps_persistent_objects_and_close_removes_state(tmp_path: Path) -> None:
    tpm = Swtpm()
    state = tpm.state_dir
    try:
        tcti = tpm.start()
        ctx = tmp_path / "primary.ctx"
        assert _tpm2(tcti, "createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256", "-c", str(ctx)).returncode == 0
        made = _tpm2(tcti, "evictcontrol", "-C", "o", "-c", str(ctx), "0x81000123")
        assert made.returncode == 0, made.stderr
        tpm.stop()
        tcti = tpm.start()
        listed = _tpm2(tcti, "getcap", "handles-persistent")
        assert "0x81000123" in listed.stdout, listed.stdout + listed.stderr
        port = tpm.port
    finally:
        tpm.close()
    assert not state.exists()
    with socket.socket() as s:
        assert s.connect_ex((HOST, port)) != 0


def test_given_state_folder_is_kept(tmp_path: Path) -> None:
    with Swtpm(tmp_path / "tpm") as tpm:
        assert _tpm2(tpm.tcti, "getrandom", "8", "--hex").returncode == 0
    assert any((tmp_path / "tpm").iterdir())
