"""`evcc bench` end to end: SLAC over the simulated powerline in network namespaces, SDP through the matched
powerline only, TCP/TLS 1.2, the DIN 70121 session to SessionStop; the in-process fallback (forced and for want
of CAP_SYS_ADMIN); failures with their reasons and exit status."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evcc.bench import cli
from tests.bench.bench_helpers import run_bench

REPO = Path(__file__).resolve().parents[2]


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the bench end-to-end tests need root (network namespaces, raw sockets)")


def _left_behind(out: str) -> bool:
    match = re.search(r"namespaces (evcc-[0-9a-f]+)-\*", out)
    assert match, out
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return match.group(1) in listing


def _events(report: dict[str, Any]) -> list[str]:
    return [e["event"] for e in report["timeline"]]


def test_din_session_from_plug_in_over_namespaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs_root()
    path = tmp_path / "report.json"
    # --time-scale 1000: about 20 CurrentDemand rounds instead of 60 — each one a wall-clock 0.25 s budget
    # (DIN), which a stall of the loaded 2-core CI machine missed once
    status, out = run_bench(["--evse-attenuation", "22", "--evse-attenuation", "35", "--start-soc", "72",
                             "--time-scale", "1000", "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(path.read_text())
    assert report["ok"] and report["link"] == "netns" and report["clock"] == "wall"
    assert report["end_kind"] == "completed" and report["end_soc"] >= 80.0
    # SLAC chose the EVSE with the lower attenuation, and only that EVSE's SDP server heard the EV
    assert report["slac"]["matched"] and report["slac"]["attenuation_db"] == 22.0
    assert report["sdp"]["found"] and report["sdp"]["evse"].startswith("evse0 ")
    assert report["slac"]["evse_mac"] in report["sdp"]["evse"] and "evse1" not in report["sdp"]["evse"]
    assert report["ip_frames_over_powerline"] > 0
    events = _events(report)
    order = ["SLAC started", "SLAC matched", "SDP started", "SECC found", "connected", "session ended"]
    assert events == order
    times = [e["t"] for e in report["timeline"]]
    assert times == sorted(times)
    requests = [m["request"] for m in report["messages"]]
    assert requests[0] == "SessionSetupReq" and requests[-1] == "SessionStopReq"
    assert requests.count("CurrentDemandReq") > 10 and all(m["rtt_ms"] > 0 for m in report["messages"])
    table = {t["request"]: t for t in report["timings"]}
    assert table["CurrentDemandReq"]["count"] == requests.count("CurrentDemandReq")
    assert 0 < table["CurrentDemandReq"]["median_ms"] <= table["CurrentDemandReq"]["max_ms"]
    assert "CurrentDemandReq" in out and "verdict:     PASS (SessionStop)" in out
    assert re.search(r"din: CurrentDemandRes +SoC +\d+\.\d %", out), out
    assert not _left_behind(out)


def test_tls12_session_with_run_time_pki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs_root()
    path = tmp_path / "tls.json"
    status, out = run_bench(["--tls", "--start-soc", "78", "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(path.read_text())
    assert report["tls"] and report["tls_cipher"] == "ECDHE-ECDSA-AES128-SHA256"
    assert report["sdp"]["security"] == "TLS" and report["end_kind"] == "completed"
    assert not _left_behind(out)


def test_silent_evse_fails_slac_with_its_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs_root()
    path = tmp_path / "silent.json"
    status, out = run_bench(["--evse-silent", "--json", str(path)], capsys)
    assert status == cli.EXIT_FAILED, out
    report = json.loads(path.read_text())
    assert not report["ok"] and not report["slac"]["matched"] and "PARM" in report["slac"]["failure"]
    assert not report["sdp"]["found"] and report["messages"] == []
    assert _events(report) == ["SLAC started", "SLAC failed"]
    assert "SLAC failed in phase PARM" in out and "verdict:     FAIL" in out
    assert not _left_behind(out)


def test_forced_in_process_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "memory.json"
    status, out = run_bench(["--link", "memory", "--protocol", "iso2", "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(path.read_text())
    assert report["link"] == "memory" and report["clock"] == "virtual" and report["protocol"] == "iso2"
    assert _events(report)[:4] == ["SLAC started", "SLAC matched", "SDP started", "SECC found"]
    assert report["messages"][-1]["request"] == "SessionStopReq" and report["end_soc"] >= 80.0
    assert "in-process link" in out


def test_in_process_link_reports_a_silent_secc(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--link", "memory", "--secc-silent-from", "CableCheckRes"], capsys)
    assert status == cli.EXIT_FAILED
    assert "V2G_EVCC_Msg_Timeout" in out and "CableCheckRes" in out


def test_in_process_link_no_secc_fails_sdp(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--link", "memory", "--no-secc"], capsys)
    assert status == cli.EXIT_FAILED and "no valid SDP response to 50 requests" in out


def test_fallback_without_namespace_capability(tmp_path: Path) -> None:
    """Without CAP_SYS_ADMIN `ip netns add` is refused: the bench says so and runs in process."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to drop the capabilities")
    path = tmp_path / "fallback.json"
    done = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m", "evcc.bench.cli", "bench",
         "--start-soc", "78", "--json", str(path)],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cannot create network namespaces" in done.stdout and "using the in-process link" in done.stdout
    report = json.loads(path.read_text())
    assert report["link"] == "memory" and "cannot create network namespaces" in report["fallback_reason"]


def test_netns_required_but_refused_is_a_platform_error() -> None:
    done = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m", "evcc.bench.cli", "bench",
         "--link", "netns"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == cli.EXIT_PLATFORM and "ip netns add" in done.stderr


def test_bad_scenario_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--start-soc", "90", "--target-soc", "80"], capsys)
    assert status == cli.EXIT_PLATFORM and "start (90.0) < target (80.0)" in out
    status, out = run_bench(["--link", "memory", "--json", "/nonexistent-evcc/r.json"], capsys)
    assert status == cli.EXIT_PLATFORM and "folder /nonexistent-evcc does not exist" in out
