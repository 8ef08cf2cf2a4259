"""swtpm on a UNIX socket, for the TPM tests whose EV runs in another network namespace (a UNIX socket is reachable
from every namespace, a TCP port on loopback is not)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def swtpm_on(folder: Path) -> Iterator[str]:
    """swtpm on a UNIX socket (reachable from every network namespace) keeping its state in ``folder``/state."""
    if shutil.which("swtpm") is None:
        pytest.fail("swtpm missing: scripts/setup.d/32-tpm.sh")
    (folder / "state").mkdir(parents=True, exist_ok=True)
    sock = folder / "tpm.sock"
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={folder / 'state'}",
                             "--server", f"type=unixio,path={sock}", "--ctrl", f"type=unixio,path={sock}.ctrl",
                             "--flags", "not-need-init,startup-clear"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert sock.exists(), "swtpm did not open its socket"
        yield f"swtpm:path={sock}"
    finally:
        proc.terminate()
        proc.wait(10)
