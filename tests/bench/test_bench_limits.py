"""A charger that limits on the bench (issue 19): the scenario keys, the simulator's LimitCheck, the D-Bus
Session.Limit property, and the bench verdict that fails when the EV asks for more than is in force."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.bench import cli
from evcc.bench.scenario_file import load_scenario
from evcc.bench.secc.limit_plan import ChargerLimits, LimitCheck
from evcc.contracts.store import ContractStore
from evcc.errors import ConfigError
from evcc.hmi.names import BUS_NAME, SESSION_INTERFACE, SESSION_PATH
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService
from tests.bench.bench_helpers import run_bench

SCENARIOS = Path(__file__).resolve().parents[2] / "evcc" / "bench" / "scenarios"
LIMIT_FILES = sorted(p for p in SCENARIOS.glob("*.toml") if "limit" in p.stem or "pmax" in p.stem)


def test_scenario_keys_become_the_charger_limits(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[ev]\nprotocols = ["din"]\n[charger]\nmax_power_kw = 10\nmax_current = 200\n'
                    'limit_drop_after = 5\nlimit_drop_power_kw = 4\nlimit_drop_current = 20\n'
                    'pmax_steps = [[0, 50], [60, 11]]\n')
    limits = load_scenario(path).scenario.charger_limits
    assert limits == ChargerLimits(10_000.0, 200.0, 5, 4_000.0, 20.0, ((0.0, 50_000.0), (60.0, 11_000.0)))
    assert limits.power(100_000.0, 4) == 10_000.0 and limits.power(100_000.0, 5) == 4_000.0
    assert limits.pmax_at(59.9, 0.0) == 50_000.0 and limits.pmax_at(60.0, 0.0) == 11_000.0


@pytest.mark.parametrize(("text", "message"), [
    ("pmax_steps = [[0, 50], [60]]", "charger.pmax_steps: expected [start s, PMax kW] pairs"),
    ('pmax_steps = [[0, "fifty"]]', "charger.pmax_steps: expected [start s, PMax kW] pairs"),
    ("pmax_steps = [[5, 50], [60, 11]]", "charger.pmax_steps: steps must start at 0 s and rise"),
    ("pmax_steps = [[0, 50], [60, 11], [30, 5]]", "charger.pmax_steps: steps must start at 0 s and rise"),
    ("max_power_kw = 1e9", "charger.max_power_kw=1000000000.0 outside"),
    ("limit_drop_after = 0", "charger.limit_drop_after=0"),
    ('max_current = "lots"', "charger.max_current: expected float"),
])
def test_broken_limit_keys_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[ev]\nprotocols = ["din"]\n[charger]\n{text}\n')
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(path)


def test_limit_check_counts_every_request_above_what_was_announced() -> None:
    check = LimitCheck(ChargerLimits(pmax_steps=((0.0, 50_000.0), (60.0, 11_000.0))), schedule_start=0.0)
    check.announce(59.99, 200.0, 100_000.0)
    check.check("CurrentDemandReq", 60.01, 120.0, 400.0, default_pmax=0.0)  # 48 kW: the step may not have reached
    assert check.violations == []
    check.announce(60.02, 200.0, 100_000.0)
    check.check("CurrentDemandReq", 60.03, 120.0, 400.0, default_pmax=0.0)  # told after the step: 11 kW
    check.check("CurrentDemandReq", 60.04, 250.0, 40.0, default_pmax=0.0)  # 250 A above 200 A
    assert check.exceeded == 2 and "above 11000 W" in check.violations[0] and "above 200.00 A" in check.violations[1]


@pytest.mark.parametrize("path", LIMIT_FILES, ids=lambda p: p.stem)
def test_each_limit_scenario_passes_without_a_request_above_the_limits(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "r.json"
    status, out = run_bench(["--link", "memory", "--no-dbus", "--json", str(out_json), "--scenario", str(path)],
                            capsys)
    assert status == cli.EXIT_OK, out
    result = json.loads(out_json.read_text())["scenarios"][0]
    assert result["verdict"] == "PASS" and result["report"]["limit_violations"] == [], result["why"]
    limit = result["report"]["limit"]
    assert limit is not None and limit["source"] in ("EV", "EVSE maximum", "schedule", "minimum")


def test_session_limit_is_a_dbus_property(tmp_path: Path) -> None:
    """Issue 19 point 2: org.evcc.Evcc1.Session.Limit says what the EV may ask for and what set it."""
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon missing: scripts/setup installs the Debian package dbus-daemon")

    async def scenario(address: str) -> dict[str, object]:
        service = HmiService(HmiConfig(address), ContractStore(tmp_path / "contracts"))
        await service.start()
        client = await MessageBus(bus_address=address).connect()
        try:
            service.set_limit("27.1 A (EVSE maximum)")
            reply = await client.call(Message(destination=BUS_NAME, path=SESSION_PATH,
                                              interface="org.freedesktop.DBus.Properties", member="GetAll",
                                              signature="s", body=[SESSION_INTERFACE]))
            assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
            return {k: v.value for k, v in reply.body[0].items()}
        finally:
            client.disconnect()
            service.stop()

    with PrivateBus() as bus:
        values = asyncio.run(scenario(bus.address))
    assert values["Limit"] == "27.1 A (EVSE maximum)"


def test_the_verdict_fails_when_the_ev_asks_for_more(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An EV that asks for its wish as it is (issue 19's behaviour) fails the scenario, whatever its outcome."""
    from evcc.session.din import transitions
    from evcc.session.limits import Allowance

    monkeypatch.setattr(transitions, "dc_current", lambda wish, *a, **kw: Allowance(wish, "A", "EV"))
    out_json = tmp_path / "r.json"
    status, out = run_bench(["--link", "memory", "--no-dbus", "--json", str(out_json), "--scenario",
                             str(SCENARIOS / "din_charger_limits_10kw.toml")], capsys)
    assert status != cli.EXIT_OK
    result = json.loads(out_json.read_text())["scenarios"][0]
    assert result["verdict"] == "FAIL" and "asked for more than the charger allowed" in result["why"]
    assert "above 10000 W" in result["report"]["limit_violations"][0]
