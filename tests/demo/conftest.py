"""Fixtures of the demo tests: ``evcc demo`` as a subprocess (the real daemon against the simulators, on a private
bus whose address it prints), driven by tests/demo/loop.toml."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOOP = Path(__file__).resolve().parent / "loop.toml"
ADDRESS_LINE = "evcc demo: D-Bus address "


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    address: str = ""

    @classmethod
    def start(cls, *args: str, timeout: float = 90.0, bus: str = "private") -> Demo:
        proc = subprocess.Popen([sys.executable, "-m", "evcc", "demo", "--bus", bus, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
        demo = cls(proc)
        threading.Thread(target=demo._read, daemon=True).start()
        end = time.monotonic() + timeout
        while not demo.address:
            for line in list(demo.lines):
                if line.startswith(ADDRESS_LINE):
                    demo.address = line[len(ADDRESS_LINE):].strip()
            if proc.poll() is not None or time.monotonic() > end:
                demo.stop(signal.SIGKILL)
                pytest.fail(f"evcc demo did not come up:\n{demo.output()}")
            time.sleep(0.05)
        return demo

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def prefix(self) -> str:
        """This demo's network namespace prefix (from its first line)."""
        return namespace_prefix(self.output())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        time.sleep(0.1)  # the reader takes the last lines
        return self.proc.returncode


def namespace_prefix(output: str) -> str:
    match = re.search(r"network namespaces (evd-[0-9a-f]+)-\*", output)
    assert match, output
    return match.group(1) + "-"


def netns_left(prefix: str) -> list[str]:
    """Namespaces of one demo still present (other demos may run on the machine at the same time)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    if os.geteuid() != 0:
        pytest.fail("evcc demo needs root (network namespaces)")
    d = Demo.start("--no-slac", "--scenario", str(LOOP))
    yield d
    d.stop()
    print(f"--- evcc demo output ---\n{d.output()[-4000:]}")
