"""Buses for the demo and the interface tools: a private dbus-daemon with session rules (everyone may own names and
call, as on a user's session bus; SERVICE.md "Tests: dbus-daemon --session") or, with ``policy=True``, with the
system bus's default-deny rules and evcc's shipped policy ``systemd/org.evcc.Evcc1.conf`` (the rules of
:mod:`evcc.hmi.private_bus`). The bus runs in its own session, so that a Ctrl-C in the terminal reaches the demo,
which then stops the daemon in order before the bus."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from evcc.errors import PlatformError

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SessionBus:
    """``with SessionBus() as bus:`` a dbus-daemon with session rules on a socket in a fresh folder
    (``bus.address``); stopped and removed on exit."""

    def __init__(self, policy: bool = False) -> None:
        self.policy = policy
        self.address = ""
        self._folder: Path | None = None
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> SessionBus:
        if shutil.which("dbus-daemon") is None:
            raise PlatformError("dbus-daemon is not installed (Debian package dbus-daemon)")
        self._folder = Path(tempfile.mkdtemp(prefix="evcc-demo-bus-"))
        self._folder.chmod(0o755)
        config = self._folder / "bus.conf"
        if self.policy:
            from evcc.hmi.private_bus import CONFIG as SYSTEM_CONFIG, POLICY

            text = SYSTEM_CONFIG.format(socket=self._folder / "bus", policy=str(POLICY))
        else:
            text = CONFIG.format(socket=self._folder / "bus")
        config.write_text(text, encoding="utf-8")
        self._proc = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile",
                                       "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, start_new_session=True)  # Ctrl-C reaches the demo, not its bus
        assert self._proc.stdout is not None
        self.address = self._proc.stdout.readline().strip()
        if not self.address:
            err = self._proc.stderr.read() if self._proc.stderr else ""
            self.stop()
            raise PlatformError(f"dbus-daemon did not start: {err.strip()}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()
            self._proc = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> SessionBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
