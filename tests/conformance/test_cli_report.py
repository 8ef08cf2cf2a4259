"""`evcc conformance` end to end over loopback against the simulator served on ::1 (SDP at an address, TCP):
progress per case, exit 0 when nothing failed, JUnit XML + JSON + HTML written (issue 16 point 2); --list; one-line
configuration errors; a charger fault makes the exit status 1 and the report name the failing case."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from evcc.bench.secc.faults import parse_fault
from evcc.cli import build_parser
from evcc.conformance.cli import run
from tests.conformance.simulator import served_simulator

CASES = ["SDP-answer", "SDP-bad-version", "SAP-din", "SAP-unknown-namespace", "DIN-RES-SessionSetup",
         "DIN-SID-ServiceDiscovery", "DIN-SEQ-CableCheck-ServiceDiscovery", "ISO2-DC-RES-ChargeParameterDiscovery",
         "ISO20-DC-VAL-ServiceSelection-service", "ISO2-DC-V2GTP-version", "DIN-STOP-CableCheck"]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = build_parser("conformance").parse_args(["conformance", *argv])
    return run(args, out, err), out.getvalue(), err.getvalue()


def _cases() -> list[str]:
    return [arg for case in CASES for arg in ("--cases", case)]


def test_conformance_cli_over_loopback_writes_three_reports(tmp_path: Path) -> None:
    with served_simulator() as sim:
        status, out, err = _run(["--sdp-address", f"::1:{sim.sdp_port}", "--out", str(tmp_path),
                                 "--charge-seconds", "0.2", *_cases()])
    assert status == 0, out + err
    progress = [line for line in out.splitlines() if line.startswith("[")]
    assert len(progress) == len(CASES) and all(" pass " in line for line in progress)
    record = json.loads((tmp_path / "conformance.json").read_text())
    assert record["counts"]["pass"] == len(CASES) and not record["interrupted"]
    assert {r["id"] for r in record["results"]} == set(CASES)
    suite = ET.parse(tmp_path / "conformance.xml").getroot()
    assert suite.get("tests") == str(len(CASES)) and suite.get("failures") == "0"
    page = (tmp_path / "conformance.html").read_text()
    assert "DIN-SEQ-CableCheck-ServiceDiscovery" in page and "<svg" in page and "FAILED_SequenceError" in page


def test_fault_on_the_charger_fails_a_named_case_and_exit_1(tmp_path: Path) -> None:
    with served_simulator(fault=parse_fault("code:SessionSetupRes=FAILED")) as sim:
        status, out, _ = _run(["--sdp-address", f"::1:{sim.sdp_port}", "--out", str(tmp_path),
                               "--cases", "DIN-RES-SessionSetup", "--cases", "SAP-din"])
    assert status == 1
    suite = ET.parse(tmp_path / "conformance.xml").getroot()
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["DIN-RES-SessionSetup"]
    assert "ResponseCode FAILED" in out


def test_list_prints_requirements() -> None:
    status, out, _ = _run(["--list", "--protocol", "din", "--cases", "DIN-SEQ-*"])
    assert status == 0
    assert "DIN-SEQ-CableCheck-ServiceDiscovery" in out and "FAILED_SequenceError" in out
    assert "ISO2-" not in out and out.rstrip().endswith("cases")


def test_configuration_errors_are_one_line(tmp_path: Path) -> None:
    status, _, err = _run(["--out", str(tmp_path)])
    assert status == 2 and err.count("\n") == 1 and "--iface" in err
    status, _, err = _run(["--sdp-address", "nonsense", "--out", str(tmp_path)])
    assert status == 2 and "ADDRESS:PORT" in err
    status, _, err = _run(["--sdp-address", "::1:15118", "--out", str(tmp_path / "missing")])
    assert status == 2 and "not a folder" in err
    status, _, err = _run(["--sdp-address", "::1:15118", "--tls", "--out", str(tmp_path)])
    assert status == 2 and "--v2g-root" in err
