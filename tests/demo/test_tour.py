"""The built-in HMI tour end to end (issue 18 item 1): one cycle of evcc/demo/scenarios/tour.toml (ISO 15118-20 DC
Plug & Charge over TLS 1.3 mutual) with SLAC over the simulated powerline, at --speed 4 (only the scenario's pauses
are shortened; the sessions run at their own pace). Every situation comes true: the charger refuses contract_1
(AuthorizationRes WARNING_eMSPUnknown) and the EV authorises with contract_2 in the same session; contract_2 selected
over D-Bus is the one the charger sees at the next plug-in, charging with live values up to the target; contract_3
imported over D-Bus shows State 2 (Expiring) and is used after SetPriorities; the VCU's pause (BMS_PauseRequest) ends
the session with SessionStop Pause and clearing it resumes the same session (the charger answers OK_OldSessionJoined
to the paused SessionID); Session.Errors of the first session's EV-side stop do not stay into the next sessions; the
EV-side stop ends in Stopped; RequestInstallation shows a Contract in State 6 (PendingInstallation) and the next
session installs it by CertificateInstallation from the charger's provisioning backend and authorises with it; the
charger fault ends the session in Error; the removal. The demo then stops by itself (exit 0). (The ISO 15118-2
tour, tour-iso2.toml, runs the same steps; it is not part of this test to keep the folder's run time down.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT, namespace_prefix, netns_left


def test_one_cycle_of_the_tour_shows_every_situation() -> None:
    if os.geteuid() != 0:
        pytest.fail("evcc demo needs root (network namespaces)")
    run = subprocess.run([sys.executable, "-m", "evcc", "demo", "--cycles", "1", "--speed", "4"],
                         capture_output=True, text=True, timeout=400, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = run.stdout
    print(out)
    assert run.returncode == 0, out + run.stderr
    assert "powerline with SLAC, ISO 15118-20 DC SECC over TLS 1.3 mutual" in out and "Session.State -> Slac" in out
    assert "1 cycle(s) done (0 step(s) did not come true)" in out
    charger = re.findall(r"the charger's last session: contract (\w+)(.*)", out)
    assert charger[0][0] == "contract_2" and "WARNING_eMSPUnknown" in charger[0][1]  # tried contract_1 first
    assert charger[1][0] == "contract_2" and "refused" not in charger[1][1]
    assert charger[-3][0] == "contract_3" and "(resumed session)" in charger[-3][1]  # the EV-side stop
    paused = [c for c in charger if "(paused)" in c[1]]
    assert len(paused) == 1 and paused[0][0] == "contract_3" and charger.index(paused[0]) == len(charger) - 4
    assert "(resumed session)" not in "".join(c[1] for c in charger[:-3] + charger[-2:])
    pause = out.index("BMS_PauseRequest on CAN")
    assert re.search(r"Session.State -> Stopped", out[pause:out.index("BMS_PauseRequest cleared")])
    assert "Session.State -> Charging" in out[out.index("BMS_PauseRequest cleared"):]
    shown = re.findall(r"charging: .*Errors (.*)", out)
    assert shown and all(e == "none" for e in shown), shown  # the first session's stop request stays in it
    assert charger[-2][0] == "contract_3" and "(faulty charger)" in charger[-2][1]
    # RequestInstallation: State 6 at once; the next session installs contract_4 and authorises with it
    assert "contract_4 prio 5 state 6" in out
    assert charger[-1][0] == "contract_4" and "refused" not in charger[-1][1]
    assert re.search(r"contract_4 prio 5 state 1.*\n.*RemoveContract\(contract_4\)", out)  # installed, Active
    assert re.search(r"charging: SoC 5\d\.\d %, Power [1-9]\d*\.\d kW, Energy [1-9]", out)
    assert "contract_3 prio 3 state 2" in out  # Expiring
    assert "Session.State -> Stopped" in out and "Session.State -> Error" in out
    assert "Traceback" not in out + run.stderr
    assert not netns_left(namespace_prefix(out))
