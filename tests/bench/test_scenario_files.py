"""Scenario files: every packaged example runs in process and gets the verdict it expects (CI usage: exit 0
only if all pass); a scenario whose expectation is not met fails with the reason; broken files are refused
with an error naming the key; fault strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.report import BenchReport, SdpResult, SlacResult
from evcc.bench.scenario_faults import parse_faults
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.scenario_file import load_scenario
from evcc.bench.verdict import Expect, judge
from evcc.errors import ConfigError
from tests.bench.bench_helpers import run_bench

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "evcc" / "bench" / "scenarios").glob("*.toml"))


def test_every_packaged_scenario_passes_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SCENARIOS) >= 6
    path = tmp_path / "all.json"
    status, out = run_bench(["--link", "memory", "--no-dbus", "--json", str(path), "--scenario",
                             *map(str, SCENARIOS)], capsys)
    assert status == cli.EXIT_OK, out
    results = json.loads(path.read_text())["scenarios"]
    assert [r["verdict"] for r in results] == ["PASS"] * len(SCENARIOS), [(r["name"], r["why"]) for r in results]
    assert f"scenarios: {len(SCENARIOS)} of {len(SCENARIOS)} passed" in out
    by_file = {Path(r["file"]).stem: r for r in results}
    pnc = by_file["iso2_dc_pnc_install"]["report"]
    assert pnc["pnc"]["installed"] and pnc["pnc"]["emaid"] and pnc["protocol"] == "iso2"
    paused = by_file["iso2_pause_resume"]["report"]
    assert paused["sessions"] == 2 and paused["steps_done"] == ["pause at SoC 55.0 %", "resume after 1 s"]
    assert 65.0 <= paused["end_soc"] < 65.5  # no energy counted while paused
    assert [m["session"] for m in paused["messages"]].count(1) > 5
    stopped = by_file["iso2_stop_by_driver"]["report"]
    assert stopped["end_kind"] == "stopped" and 60.0 <= stopped["end_soc"] < 61.0
    silent = by_file["secc_silent_cable_check"]
    assert silent["outcome"] == "failed" and silent["stage"] == "CableCheckRes"
    two = by_file["iso20_two_contracts_first_refused"]["report"]
    assert two["pnc"]["refused"] == ["DE8AA0012345670 (WARNING_eMSPUnknown)"]
    assert two["pnc"]["emaid"] == "NN123ABCDEFGHIT"
    back = by_file["iso20_dc_bpt_dynamic_discharge"]["report"]
    assert back["service"] == "DC_BPT" and back["control"] == "Dynamic" and back["discharged_wh"] > 4000
    assert min(p["power"] for p in back["series"]) < -15_000 and 49.9 < back["end_soc"] <= 50.0
    ac = by_file["iso20_ac_scheduled_pnc"]["report"]
    assert ac["protocol"] == "iso20-ac" and ac["pnc"]["installed"] and ac["end_kind"] == "completed"


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_unmet_expectation_fails_with_its_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = _write(tmp_path, '[ev]\nprotocols = ["din"]\nstart_soc = 78\n', "ok.toml")
    wrong = _write(tmp_path, '[ev]\nprotocols = ["iso2"]\n[charger]\nfaults = ["silent-from:PreChargeRes"]\n'
                             '[expect]\noutcome = "completed"\n', "wrong.toml")
    status, out = run_bench(["--link", "memory", "--no-dbus", "--scenario", str(ok), str(wrong)], capsys)
    assert status == cli.EXIT_FAILED
    assert "verdict PASS: ok:" in out
    assert "verdict FAIL: wrong: expected completed, got failed" in out and "scenarios: 1 of 2 passed" in out


@pytest.mark.parametrize(("text", "message"), [
    ('[ev]\ncolour = "red"\n', "ev.colour: unknown key"),
    ('[ev]\ntls = "yes"\n', "ev.tls: expected bool, got str 'yes'"),
    ('[ev]\nprotocols = ["iso3"]\n', "ev.protocols='iso3': one of ['din', 'iso2', 'iso20-ac'"),
    ('[ev]\nprotocols = ["iso2"]\n[charger]\nprotocols = ["dinn"]\n', "charger.protocols=['dinn']"),
    ('[ev]\ncapacity_kwh = 0\n', "ev.capacity_kwh=0.0 outside (0, 1000]"),
    ('[charger]\nfaults = ["explode"]\n', "charger.faults: fault 'explode': fault 'explode': unknown kind"),
    ('[charger]\nfaults = ["silence:CableCheckRes", "code:PreChargeRes"]\n', "one SECC fault per run"),
    ('[ev]\ncontrol = "fuzzy"\n', "ev.control='fuzzy': one of ('scheduled', 'dynamic')"),
    ('[ev]\ncontracts = 2.5\n', "ev.contracts: expected int, got float"),
    ('[ev]\ncontracts = 2\n', "several contracts need ISO 15118-20"),
    ('[charger]\ndynamic_power_kw = 900\n', "charger.dynamic_power_kw=900.0 outside [-500, 500] kW"),
    ('[charger]\nfaults = ["delay:CableCheckRes=soon"]\n', "'soon' is not a number"),
    ('[[steps]]\naction = "resume"\n', "steps[0].action='resume': only after a pause step"),
    ('[ev]\nprotocols = ["din"]\n[[steps]]\naction = "pause"\nat_soc = 50\n',
     "pause and resume need ISO 15118-2 or -20"),
    ('[[steps]]\naction = "stop"\n', "steps[0]: steps.at_soc: a stop step needs a SoC"),
    ('[expect]\noutcome = "great"\n', "expect.outcome='great'"),
    ('[expect]\nreason = "(("\n', "not a regular expression"),
    ("[ev\n", "not valid TOML"),
    ('speed = 3\n', "speed: unknown key"),
    ('[ev]\nstart_soc = 90\ntarget_soc = 80\n', "ev SoC: need 0 <= start (90.0) < target (80.0)"),
])
def test_broken_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(_write(tmp_path, text))
    assert message in str(info.value) and str(tmp_path) in str(info.value)


def test_a_broken_file_is_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--scenario", str(_write(tmp_path, "[ev]\nauth = 1\n"))], capsys)
    assert status == cli.EXIT_PLATFORM and "ev.auth: expected str" in out
    status, out = run_bench(["--scenario", str(tmp_path / "missing.toml")], capsys)
    assert status == cli.EXIT_PLATFORM and "No such file" in out


def test_fault_strings_go_to_the_shared_fault_layer() -> None:
    parsed = parse_faults(["evse-silent", "delay:CableCheckRes=2.5", "stop-after-loop:4"])
    assert parsed.evse_silent and not parsed.no_secc and parsed.stop_after_loop == 4
    assert parsed.secc == Fault(FaultKind.DELAY, "CableCheckRes", delay=2.5)
    aliases = {"silent-from:WeldingDetectionRes": Fault(FaultKind.SILENCE, "WeldingDetectionRes"),
               "response-code:AuthorizationRes=FAILED": Fault(FaultKind.CODE, "AuthorizationRes"),
               "wrong-session-id:PreChargeRes": Fault(FaultKind.SESSION_ID, "PreChargeRes"),
               "ongoing-forever:AuthorizationRes": Fault(FaultKind.STALL, "AuthorizationRes"),
               "silence:CurrentDemandRes#3": Fault(FaultKind.SILENCE, "CurrentDemandRes", occurrence=3),
               "cert:expired": Fault(FaultKind.CERT_EXPIRED), "disconnect:CableCheckRes":
               Fault(FaultKind.DISCONNECT, "CableCheckRes")}
    for spec, fault in aliases.items():
        assert parse_faults([spec]).secc == fault, spec
    for bad in ("delay:CableCheckRes=-1", "response-code:CableCheckRes=BAD", "silent-from:cablecheck", "no-secc:x",
                "stop-after-loop:0", "stop-after-loop:x"):
        with pytest.raises(ConfigError, match="accepted: evse-silent"):
            parse_faults([bad])


def test_verdict_stages() -> None:
    report = BenchReport(link="memory", clock="virtual")
    assert judge(Expect("failed", "PARM", "SLAC"), report).passed is False  # no reason yet
    report.fail("SLAC failed in phase PARM")
    verdict = judge(Expect("failed", "PARM", "slac"), report)
    assert verdict.passed and verdict.stage == "SLAC"
    report.slac = SlacResult(matched=True)
    report.sdp = SdpResult(found=True)
    report.end_kind, report.end_state, report.end_reason = "timeout", "CableCheckRes", "V2G_EVCC_Msg_Timeout"
    assert judge(Expect("failed", stage="CableCheckRes"), report).passed
    miss = judge(Expect("completed"), report)
    assert not miss.passed and miss.why == "expected completed, got failed" and miss.word == "FAIL"
