"""evcc demo with the ISO 15118-2 charger (issue 18 item 1: installation of a new contract, a paused and resumed
session), direct link: Manager.RequestInstallation shows a Contract in State 6 at once; the next session sends
CertificateInstallationReq (the daemon's OEM provisioning key), the charger's provisioning backend answers and the
installed contract_4 (State 1 on D-Bus after the session, the pending object gone) is the one the charger sees at
PaymentDetails; BMS_PauseRequest ends that session with SessionStop Pause, clearing it resumes it with the same
SessionID (the charger answers OK_OldSessionJoined). The ISO 15118-20 path is in test_tour.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, namespace_prefix, netns_left

SCENARIO = Path(__file__).resolve().parent / "install_pause_iso2.toml"


def test_request_installation_takes_effect_and_the_session_pauses_and_resumes_iso2() -> None:
    if os.geteuid() != 0:
        pytest.fail("evcc demo needs root (network namespaces)")
    run = subprocess.run([sys.executable, "-m", "evcc", "demo", "--scenario", str(SCENARIO), "--cycles", "1",
                          "--speed", "4"], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = run.stdout
    print(out)
    assert run.returncode == 0, out + run.stderr
    assert "1 cycle(s) done (0 step(s) did not come true)" in out
    assert "contract_4 prio 5 state 6" in out  # pending at once
    charger = re.findall(r"the charger's last session: contract (\w+)(.*)", out)
    assert [c[0] for c in charger] == ["contract_4", "contract_4"], charger
    assert "(paused)" in charger[0][1] and "(resumed session)" in charger[1][1]
    assert re.search(r"contract_4 prio 5 state 1.*\n.*RemoveContract\(contract_4\)", out)  # installed, Active
    assert "state 6" not in out[out.index("(paused)"):]  # the pending record was replaced
    assert "Traceback" not in out + run.stderr
    assert not netns_left(namespace_prefix(out))
