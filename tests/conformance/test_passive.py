"""`evcc conformance --passive CAPTURE` (issue 16 point 4): the cases that need no stimulus judged on a capture of
a real DIN session over veth (the bench's --trace) whose charger answered CableCheckReq 1.8 s late: every reached
response passes its content case, DIN-PERF-CableCheck fails naming V2G_SECC_Msg_Performance_Time, the cases that
need a stimulus or another protocol are not applicable, exit 1 and the three reports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evcc.cli import build_parser
from evcc.conformance.cli import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def late_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces)")
    folder = tmp_path_factory.mktemp("passive")
    done = subprocess.run([sys.executable, "-m", "evcc", "bench", "--protocol", "din", "--link", "netns", "--trace",
                           str(folder), "--no-dbus", "--fault", "delay:CableCheckRes=1.8"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return next(folder.glob("*.pcap"))


def test_passive_judges_a_capture(late_capture: Path, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    args = build_parser("conformance").parse_args(["conformance", "--passive", str(late_capture), "--out",
                                                   str(tmp_path)])
    assert run(args, out, err) == 1, err.getvalue()
    record = json.loads((tmp_path / "conformance.json").read_text())
    verdicts = {r["id"]: r for r in record["results"]}
    assert verdicts["DIN-PERF-CableCheck"]["verdict"] == "fail"
    assert "V2G_SECC_Msg_Performance_Time" in verdicts["DIN-PERF-CableCheck"]["reason"]
    assert verdicts["DIN-RES-CableCheck"]["verdict"] == "pass"
    passed = {k for k, r in verdicts.items() if r["verdict"] == "pass"}
    assert {"SAP-performance", "DIN-RES-SessionSetup", "DIN-RES-CurrentDemand", "DIN-PERF-CurrentDemand",
            "DIN-RES-SessionStop"} <= passed
    assert record["counts"]["fail"] == 1 and record["counts"]["inconclusive"] == 0
    assert verdicts["DIN-SEQ-CableCheck-ServiceDiscovery"]["verdict"] == "not applicable"
    assert verdicts["ISO2-DC-RES-SessionSetup"]["verdict"] == "not applicable"
    assert (tmp_path / "conformance.xml").exists() and (tmp_path / "conformance.html").exists()


def test_passive_bad_capture_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all, longer than 24 bytes")
    err = io.StringIO()
    args = build_parser("conformance").parse_args(["conformance", "--passive", str(bad), "--out", str(tmp_path)])
    assert run(args, io.StringIO(), err) == 2
    assert err.getvalue().count("\n") == 1 and "not a pcap file" in err.getvalue()
