"""Issue 20 point 4: the fuzzing record (fuzz/record.py), `scripts/fuzz --collect` for killed campaigns and
benchmarks/fuzz_report.py's table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from fuzz import record  # noqa: E402


def stats(target: str = "exi-decode-iso2", started: str = "2026-12-07T12:00:00Z", **kw: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"target": target, "engine": "AFL++ 4.40c", "executions": 1000, "coverage_kind": "edges",
                         "coverage": 500, "coverage_total": 2000, "corpus": 40, "findings": 0, "cpu_seconds": 30.0,
                         "wall_seconds": 31.0, "code": "a" * 40, "started": started}
    s.update(kw)
    return s


def test_merge_adds_totals_per_target_and_code_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    for i in range(record.MAX_LAST + 3):
        assert record.merge(stats(started=f"2026-12-07T12:00:{i:02d}Z", code=("a" if i % 2 else "b") * 40), path)
    record.merge(stats(target="py-sdp", findings=2, cpu_seconds=7.5), path)
    data = record.load(path)
    e = data["targets"]["exi-decode-iso2"]
    n = record.MAX_LAST + 3
    assert e["executions"] == 1000 * n and e["cpu_seconds"] == 30.0 * n and e["campaigns"] == n
    assert len(e["last"]) == record.MAX_LAST
    assert e["by_code"]["a" * 40]["campaigns"] + e["by_code"]["b" * 40]["campaigns"] == n
    assert data["targets"]["py-sdp"]["findings"] == 2


def test_cpu_seconds_of_a_target_in_all_and_on_one_code(tmp_path: Path) -> None:
    """What `scripts/fuzz --queue` counts: every campaign, or with --current-code only those on the code as it is."""
    path = tmp_path / "record.json"
    record.merge(stats(started="2026-12-07T12:00:01Z", code="a" * 40, cpu_seconds=100.0), path)
    record.merge(stats(started="2026-12-07T12:00:02Z", code="b" * 40, cpu_seconds=40.0), path)
    rec = record.load(path)
    assert record.cpu_seconds_of(rec, "exi-decode-iso2") == 140.0
    assert record.cpu_seconds_of(rec, "exi-decode-iso2", "b" * 40) == 40.0
    assert record.cpu_seconds_of(rec, "exi-decode-iso2", "c" * 40) == 0.0
    assert record.cpu_seconds_of(rec, "exi-decode-din") == 0.0


def test_a_campaign_is_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    s = stats(campaign="exi-decode-iso2@x#1")
    assert record.merge(s, path)
    assert not record.merge(s, path)
    assert record.load(path)["targets"]["exi-decode-iso2"]["campaigns"] == 1


def test_bad_stats_and_records_are_refused_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(record.RecordError, match="lack executions"):
        record.merge({k: v for k, v in stats().items() if k != "executions"}, tmp_path / "r.json")
    with pytest.raises(record.RecordError, match="cpu_seconds must be"):
        record.merge(stats(cpu_seconds=-1), tmp_path / "r.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(record.RecordError, match="not a readable fuzzing record"):
        record.load(bad)


def test_report_has_a_line_per_target_and_the_total(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    record.merge(stats(cpu_seconds=5400.0, code="c" * 40), path)
    record.merge(stats(target="exi-roundtrip", cpu_seconds=1800.0, findings=1, code="d" * 40), path)
    text = record.report(record.load(path), {"exi-decode-iso2": "c" * 40, "exi-roundtrip": "e" * 40})
    lines = text.splitlines()
    iso2 = next(line for line in lines if line.startswith("exi-decode-iso2 "))
    assert iso2.split()[-2:] == ["1.50", "1.50"]  # CPU-hours in total and on the current code
    rt = next(line for line in lines if line.startswith("exi-roundtrip "))
    assert rt.split()[-2:] == ["0.50", "0.00"]  # its code changed since
    assert lines[-1] == "2.0 CPU-hours, 1 crashes"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fuzz_report.py"), "--record", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "2.0 CPU-hours, 1 crashes"


def test_collect_merges_what_a_killed_campaign_left_once(tmp_path: Path) -> None:
    work = tmp_path / "work" / "exi-decode-din"
    work.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    partial = stats(target="exi-decode-din", campaign="exi-decode-din@y#9", pid=dead.pid, finished=False,
                    merged=False, executions=123456, cpu_seconds=600.0)
    (work / "campaign.json").write_text(json.dumps(partial))
    rec = tmp_path / "record.json"
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(REPO / "scripts" / "fuzz"), "--collect", "--workdir",
                               str(tmp_path / "work"), "--record", str(rec)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    e = record.load(rec)["targets"]["exi-decode-din"]
    assert e["executions"] == 123456 and e["cpu_seconds"] == 600.0 and e["campaigns"] == 1
    assert e["last"][-1]["stop"] == "killed"
    assert json.loads((work / "campaign.json").read_text())["merged"] is True


def test_usage_errors_exit_2() -> None:
    for args in (["no-such-target"], ["--queue", "exi-decode-din"], ["exi-decode-din", "--seconds", "0"],
                 ["--merge-corpus", "py-sdp"]):
        proc = subprocess.run([sys.executable, str(REPO / "scripts" / "fuzz"), *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1].startswith("scripts/fuzz: error:")


def test_the_same_bug_found_again_counts_once_in_the_report(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    kinds = {"exit -N: finding: excessive allocation": 3}
    record.merge(stats(started="1", findings=1, finding_kinds=kinds), path)
    record.merge(stats(started="2", findings=1, finding_kinds=kinds), path)
    record.merge(stats(started="3", findings=1, finding_kinds={"panic at src/decode.rs:1:1: x": 1}), path)
    data = record.load(path)
    assert data["targets"]["exi-decode-iso2"]["findings"] == 3
    assert record.report(data, {}).splitlines()[-1] == "0.0 CPU-hours, 2 crashes"
