"""Fixtures of the interop tests: Josev's PKI made once per test run (tests/interop/josev.py), and a helper
that runs `evcc session` as its own process in the EV namespace of a veth pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evcc.bench.secc.link import VethLink
from tests.interop.josev import make_josev_pki

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def josev_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Josev's ISO 15118-2 PKI (create_certs.sh -v iso-2), the contract eMAID check character corrected."""
    return make_josev_pki(tmp_path_factory.mktemp("josev") / "pki", "iso-2", fix_emaid=True)


@pytest.fixture(scope="module")
def link() -> Any:
    if os.geteuid() != 0:
        pytest.fail("the interop tests need root (network namespaces)")
    with VethLink() as made:
        yield made


@dataclass
class EvccRun:
    status: int
    stdout: str
    stderr: str
    report: dict[str, Any] = field(default_factory=dict)

    def types(self, direction: str | None = None) -> list[str]:
        return [m["type"] for m in self.report.get("messages", []) if direction in (None, m["direction"])]


def evcc_session(link: VethLink, report: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 90.0) -> EvccRun:
    """`python -m evcc.session.cli --iface <EV end> ... --json report` in the EV namespace."""
    done = subprocess.run(
        ["ip", "netns", "exec", link.ev_netns, sys.executable, "-m", "evcc.session.cli", "--iface", link.ev_ifname,
         *args, "--json", str(report)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})}, check=False)
    data = json.loads(report.read_text()) if report.exists() else {}
    return EvccRun(done.returncode, done.stdout, done.stderr, data)
