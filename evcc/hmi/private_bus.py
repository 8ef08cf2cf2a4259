"""A private dbus-daemon with system-bus rules (default deny) that includes evcc's real policy file, for tests
and benches without touching the machine's buses (SERVICE.md: "a policy can be tested without root or
systemd"). Its socket lives in a fresh world-traversable folder, so an unprivileged uid can connect.
Test/bench only: the car uses the system bus.

dbus-daemon logs to stderr (denied calls, exceeded limits: one line each, as many as a hostile client provokes); a
thread reads it all the time and keeps the last ``STDERR_LINES`` lines (:attr:`PrivateBus.log`), so that the pipe
never fills (at ~64 KB the daemon would block in its write and stop serving the bus).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from evcc.errors import PlatformError

POLICY = Path(__file__).resolve().parents[2] / "systemd" / "org.evcc.Evcc1.conf"
STDERR_LINES = 200

# The default-deny part of Debian's /usr/share/dbus-1/system.conf, in short: every uid may connect; nobody owns
# names or calls methods unless a policy allows it; replies, signals and the bus driver are allowed.
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""


@dataclass
class PrivateBus:
    """``with PrivateBus() as bus:`` the daemon on ``bus.address``; stopped and its folder removed on exit.
    ``config`` is the bus configuration (``{socket}`` and ``{policy}`` filled in), ``new_session`` starts the
    daemon in a session of its own (a Ctrl-C in the terminal then reaches the caller only)."""

    policy: Path = POLICY
    config: str = field(default=CONFIG, repr=False)
    new_session: bool = False
    address: str = ""
    folder: Path | None = None
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_LINES), repr=False)
    stderr_lines: int = 0  # all lines read so far
    stderr_chars: int = 0
    _reader: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> PrivateBus:
        if shutil.which("dbus-daemon") is None:
            raise PlatformError("dbus-daemon is not installed (Debian package dbus-daemon)")
        self.folder = Path(tempfile.mkdtemp(prefix="evcc-dbus-"))
        self.folder.chmod(0o755)
        socket = self.folder / "bus"
        config = self.folder / "bus.conf"
        config.write_text(self.config.format(socket=socket, policy=str(self.policy)), encoding="utf-8")
        self._proc = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile",
                                       "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, start_new_session=self.new_session)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._reader = threading.Thread(target=self._drain, args=(self._proc.stderr,), name="dbus-daemon-stderr",
                                        daemon=True)
        self._reader.start()
        self.address = self._proc.stdout.readline().strip()
        if not self.address:
            self._proc.wait(timeout=5)
            self._reader.join(5)
            err = "\n".join(self.log)
            self.stop()
            raise PlatformError(f"dbus-daemon did not start: {err.strip()}")
        return self

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:  # ends at EOF: the daemon stopped
            self.log.append(line.rstrip("\n"))
            self.stderr_lines += 1
            self.stderr_chars += len(line)

    @property
    def socket(self) -> Path:
        assert self.folder is not None
        return self.folder / "bus"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._reader is not None:
                self._reader.join(5)
                self._reader = None
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()
            self._proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PrivateBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["PrivateBus", "POLICY"]
