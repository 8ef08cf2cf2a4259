"""A private software TPM 2.0 (swtpm, Debian package ``swtpm``) for tests and benches.

:class:`Swtpm` starts ``swtpm socket --tpm2`` with its state in a folder of its own (kept across restarts when the
caller gives one), a TCP command port and the control port right after it (the TSS ``swtpm`` TCTI talks to
``port`` and ``port + 1``), flags ``not-need-init,startup-clear`` so that the TPM is powered on and started, and
returns the TCTI string ``swtpm:host=127.0.0.1,port=N`` for :class:`evcc.hsm.tpm_store.TpmKeyStore`, tpm2-tools
(``TPM2TOOLS_TCTI``) and tpm2-openssl (``TPM2OPENSSL_TCTI``). There is no resource manager in between: a client
must flush its transient objects (the TPM has only a few object slots), as the TPM key store does.

Stop: TPM2_Shutdown(CLEAR) is not needed for our use (no saved sessions); the control channel's CMD_SHUTDOWN
(``swtpm_ioctl -s``) writes the state and ends the process; SIGTERM, then SIGKILL, if it does not end in time.
Test/bench use only: in the car the TCTI is ``device:/dev/tpmrm0``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from evcc.errors import PlatformError

HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_ATTEMPTS = 5


def swtpm_available() -> bool:
    """swtpm (Debian ``swtpm``) and swtpm_ioctl (``swtpm-tools``) are installed."""
    return shutil.which("swtpm") is not None and shutil.which("swtpm_ioctl") is not None


def _free_port_pair() -> int:
    """A port N with N and N+1 free on 127.0.0.1 just now (the caller retries if another process takes one)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((HOST, 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind((HOST, port + 1))
                except OSError:
                    continue
                return port
    raise PlatformError("swtpm: no two consecutive free TCP ports on 127.0.0.1")


class Swtpm:
    """One private swtpm process; a context manager. ``state_dir`` None: a temporary folder removed at stop."""

    def __init__(self, state_dir: Path | None = None) -> None:
        if not swtpm_available():
            raise PlatformError("swtpm is not installed (Debian packages swtpm, swtpm-tools)")
        self._own_dir = state_dir is None
        self.state_dir = Path(tempfile.mkdtemp(prefix="evcc-swtpm-")) if state_dir is None else state_dir
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def tcti(self) -> str:
        """The TCTI configuration string of the running TPM."""
        if self._proc is None:
            raise PlatformError("swtpm is not running")
        return f"swtpm:host={HOST},port={self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "swtpm.log"

    def start(self) -> str:
        """Start swtpm (retrying with other ports if one was taken meanwhile); returns the TCTI string."""
        if self._proc is not None:
            return self.tcti
        last = ""
        for _ in range(_ATTEMPTS):
            port = _free_port_pair()
            proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state_dir},mode=0600",
                 "--server", f"type=tcp,port={port},bindaddr={HOST}",
                 "--ctrl", f"type=tcp,port={port + 1},bindaddr={HOST}",
                 "--flags", "not-need-init,startup-clear", "--log", f"file={self.log_path},level=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready(proc, port):
                self._proc, self.port = proc, port
                return self.tcti
            proc.kill()
            _, err = proc.communicate()
            last = err.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        raise PlatformError(f"swtpm did not start ({_ATTEMPTS} attempts): {last}")

    @staticmethod
    def _wait_ready(proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:  # both channels listen (swtpm opens them one after the other)
                for channel in (port + 1, port):
                    with socket.create_connection((HOST, channel), timeout=0.5):
                        pass
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        """End swtpm (state written); :meth:`start` starts it again on the same state (a TPM power cycle)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            subprocess.run(["swtpm_ioctl", "--tcp", f"{HOST}:{self.port + 1}", "-s"],
                           capture_output=True, timeout=_STOP_TIMEOUT_S, check=False)
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()

    def close(self) -> None:
        """Stop, and remove the state folder if it was a temporary one."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Swtpm:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
