"""tpm2-abrmd (the TSS access broker and resource manager, Debian package ``tpm2-abrmd``) on a private D-Bus
session bus, in front of one TPM: for benches and tests where several processes share one swtpm, or where a process
in another network namespace must reach it (a unix-socket bus crosses namespaces, swtpm's TCP port does not).

Clients use the TCTI ``tabrmd:bus_type=session`` with ``DBUS_SESSION_BUS_ADDRESS`` set to :attr:`address`
(the tabrmd TCTI has no address option). Started: ``dbus-daemon --session --address=unix:path=…`` and
``tpm2-abrmd --session --allow-root --flush-all --tcti <TPM>``; ready once the bus name ``com.intel.tss2.Tabrmd``
has an owner. Test/bench use only: in the car the kernel's resource manager (``device:/dev/tpmrm0``) does this.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from evcc.errors import PlatformError

TCTI = "tabrmd:bus_type=session"
BUS_NAME = "com.intel.tss2.Tabrmd"
_START_TIMEOUT_S = 15.0


def abrmd_available() -> bool:
    return all(shutil.which(p) for p in ("tpm2-abrmd", "dbus-daemon", "dbus-send"))


class PrivateAbrmd:
    """A private session bus with tpm2-abrmd on it, serving the TPM at ``tpm_tcti``; a context manager."""

    def __init__(self, tpm_tcti: str, folder: Path) -> None:
        if not abrmd_available():
            raise PlatformError("tpm2-abrmd or dbus-daemon missing (Debian packages tpm2-abrmd, dbus-daemon)")
        self._tpm_tcti = tpm_tcti
        self._socket = folder / "tabrmd-bus.sock"
        self.address = f"unix:path={self._socket}"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs in its environment besides the TCTI string."""
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def start(self) -> str:
        """Start the bus and the broker; returns the TCTI string for clients."""
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", f"--address={self.address}"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._procs.append(bus)
        self._wait(lambda: self._socket.exists(), bus, "the private D-Bus")
        env = {**os.environ, **self.env}
        abrmd = subprocess.Popen(["tpm2-abrmd", "--session", "--allow-root", "--flush-all", "--tcti", self._tpm_tcti],
                                 env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self._procs.append(abrmd)
        self._wait(self._owned, abrmd, "tpm2-abrmd")
        return TCTI

    def _owned(self) -> bool:
        result = subprocess.run(
            ["dbus-send", f"--bus={self.address}", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{BUS_NAME}"],
            capture_output=True, text=True, timeout=5, check=False)
        return "boolean true" in result.stdout

    def _wait(self, ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.close()
                raise PlatformError(f"{what} ended at start (exit code {proc.returncode})")
            if ready():
                return
            time.sleep(0.05)
        self.close()
        raise PlatformError(f"{what} not ready after {_START_TIMEOUT_S:.0f} s")

    def close(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        self._socket.unlink(missing_ok=True)

    def __enter__(self) -> PrivateAbrmd:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
