"""`evcc bench --json` lists the charger's tolerated deviations (issue #14): the bench's EVSEs made to answer
CM_SLAC_PARM.REQ with RESP_TYPE 0, as the chip vendor's reference EVSE does; SLAC still matches and the report
names field, value, expected value, clause and count. The bench's own EVSEs list nothing. (Only the SLAC part of
the run is checked here: the report takes the deviations when SLAC ends, whatever happens after it.)"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from evcc.bench import memory_link
from evcc.bench.plc_sim.evse import EvseConfig
from tests.bench.bench_helpers import run_bench


def test_bench_report_lists_slac_deviations(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_link, "EvseConfig", functools.partial(EvseConfig, resp_type=0))
    path = tmp_path / "deviating.json"
    _status, out = run_bench(["--link", "memory", "--protocol", "din", "--json", str(path)], capsys)
    report = json.loads(path.read_text())
    assert report["slac"]["matched"], out
    rows = report["deviations"]
    assert [(r["field"], r["value"], r["expected"]) for r in rows] == [("CM_SLAC_PARM.CNF RESP_TYPE", "0", "1")]
    assert rows[0]["count"] >= 1 and rows[0]["clause"].startswith("ISO 15118-3")


def test_bench_report_without_deviations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plain.json"
    _status, out = run_bench(["--link", "memory", "--protocol", "din", "--json", str(path)], capsys)
    report = json.loads(path.read_text())
    assert report["slac"]["matched"] and report["deviations"] == [], out
