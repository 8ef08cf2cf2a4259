"""Scenario files and the command line of `evcc demo` (issue 18): the built-in scenarios parse; every mistake in a
scenario file is one line naming the step and the key (exit 2, nothing started); without root the demo says why
(exit 3) instead of failing half-way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evcc.cli import main
from evcc.demo.scenario import ScenarioError, builtin_names, load_scenario, parse_scenario
from evcc.hmi.names import SessionState

ROOT = Path(__file__).resolve().parents[2]
GOOD_STEP = '[[steps]]\naction = "wait"\nseconds = 1\n'


def test_builtin_scenarios_parse_and_cover_the_hmi_situations() -> None:
    assert {"tour", "tour-iso2"} <= set(builtin_names())
    assert load_scenario("tour").protocol == "iso20" and load_scenario("tour-iso2").protocol == "iso2"
    for name in builtin_names():
        assert load_scenario(name).steps
    tour = load_scenario("tour")
    actions = {s.action for s in tour.steps}
    assert {"plug", "unplug", "select", "set_priorities", "import", "remove", "charger", "ev_stop",
            "wait_state"} <= actions
    assert tour.slac
    assert any(s.refuse for s in tour.steps) and any(s.fault for s in tour.steps)
    assert any(SessionState.CHARGING in s.states for s in tour.steps)


@pytest.mark.parametrize(("text", "message"), [
    ('[[steps]]\naction = "dance"\n', "step 1: action must be one of"),
    ('[[steps]]\naction = "plug"\nsoc = 120\n' + GOOD_STEP, "step 1: soc must be a number from 0 to 100"),
    ('[[steps]]\naction = "plug"\nvoltage = 400\n' + GOOD_STEP, "step 1: unknown key 'voltage' for action 'plug'"),
    (GOOD_STEP + '[[steps]]\naction = "wait_state"\nstates = ["Flying"]\n', "step 2: unknown state 'Flying'"),
    (GOOD_STEP + '[[steps]]\naction = "select"\ncontract = "contract_9"\n', "step 2: contract must be one of"),
    (GOOD_STEP + '[[steps]]\naction = "select"\n', "step 2: action 'select' needs contract"),
    (GOOD_STEP + '[[steps]]\naction = "charger"\nfault = "yes"\n', "step 2: fault must be true or false"),
    ('[[steps]]\naction = "unplug"\n', "needs a wait or wait_state step"),
    ('name = "x"\n', "needs at least one [[steps]] table"),
    ('speed = 3\n' + GOOD_STEP, "unknown key 'speed'"),
    ('protocol = "din"\n' + GOOD_STEP, "protocol must be one of iso2, iso20"),
    ('[[steps]\n', "not TOML"),
])
def test_scenario_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml")
    assert message in str(info.value) and str(info.value).startswith("s.toml")


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "evcc", "demo", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_bad_scenario_or_option_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[steps]]\naction = "plug"\nsoc = "full"\n')
    run = _demo("--scenario", str(bad))
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0, run.stderr
    assert "step 1: soc must be a number" in run.stderr and "Traceback" not in run.stderr
    run = _demo("--scenario", "nosuchscenario")
    assert run.returncode == 2 and "no scenario 'nosuchscenario' (built in: " in run.stderr
    run = _demo("--speed", "0")
    assert run.returncode == 2 and "--speed must be from" in run.stderr


def test_without_root_the_demo_says_in_process(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Without root the demo runs in process and says so first; a bus it cannot use is one line, status 3
    (the in-process run itself: test_inprocess.py)."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the os module evcc.demo.cli calls
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert main(["demo", "--scenario", "tour", "--bus", "session"]) == 3
    out, err = capsys.readouterr()
    assert out.startswith("evcc demo: not root: in-process mode (no network namespaces)\n"), out
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in err and err.count("\n") == 1, err
