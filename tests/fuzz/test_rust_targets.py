"""Issue 20 points 1 and 3: the EXI core's AFL++ targets in CI.

The fuzz crate is built once (``scripts/fuzz --build``); every Rust target then runs a short campaign from the
committed corpus through ``scripts/fuzz`` (a finding fails), every file of ``fuzz/regressions/<target>/`` is
replayed through its target's harness (the regression tests of minimised crashers; ``fuzz/regressions/known.json``
names findings not fixed yet, which are strict xfails), and a target that panics on purpose shows that a panic does
become a finding with a minimised input. The decoders report the structure they reached as extra edges
(``native/fuzz/src/shape.rs``): two messages that the table interpreter runs through the same code light
different edges.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from fuzz import runner  # noqa: E402

FUZZ = REPO / "scripts" / "fuzz"
REGRESSIONS = REPO / "fuzz" / "regressions"
CAMPAIGN_S = 10
EXTRA = ("exi-roundtrip", "exi-fragment-roundtrip")


def grammar_ids() -> list[str]:
    text = (REPO / "native" / "exi-core" / "src" / "lib.rs").read_text()
    block = re.search(r"pub const GRAMMAR_IDS: \[&str; \d+\] = \[(.*?)\];", text, re.S)
    assert block, "GRAMMAR_IDS not found in exi-core/src/lib.rs"
    return re.findall(r'"([^"]+)"', block.group(1))


RUST_TARGETS = sorted([f"exi-decode-{g}" for g in grammar_ids()] + list(EXTRA))


def fuzz(*args: str | Path | int, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    # the bound only keeps a broken runner from blocking CI; it is no speed assertion
    return subprocess.run([sys.executable, str(FUZZ), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def built() -> None:
    proc = fuzz("--build")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_target_per_grammar_and_the_round_trips() -> None:
    listed = fuzz("--list", timeout=60)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert sorted(n for n in names if n.startswith("exi-")) == RUST_TARGETS
    assert {"py-v2gtp", "py-sdp", "py-slac", "py-bms-can", "py-config"} <= set(names)


@pytest.mark.parametrize("target", RUST_TARGETS)
def test_short_campaign_from_the_committed_corpus_finds_nothing(built: None, target: str, tmp_path: Path) -> None:
    corpus = REPO / "fuzz" / "corpus" / target
    assert corpus.is_dir() and any(corpus.iterdir()), f"{corpus}: the seed corpus is committed"
    proc = fuzz(target, "--seconds", CAMPAIGN_S, "--workdir", tmp_path / "work", "--no-record",
                "--regressions", tmp_path / "regressions")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats: dict[str, Any] = json.loads((tmp_path / "work" / "campaign.json").read_text())
    assert stats["target"] == target and stats["finished"] and stats["findings"] == 0
    assert stats["engine"].startswith("AFL++ ")
    assert stats["executions"] > len(list(corpus.iterdir()))
    assert stats["coverage_kind"] == "edges" and 0 < stats["coverage"] <= stats["coverage_total"]
    assert stats["corpus"] >= 1 and stats["cpu_seconds"] > 0
    assert re.fullmatch(r"[0-9a-f]{40}", stats["code"])
    assert not (tmp_path / "regressions").exists()


def test_a_panic_becomes_a_minimised_finding(built: None, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "near").write_bytes(b"EVCA" + bytes(60))  # one byte from the selftest target's panic
    proc = fuzz("selftest-crash", "--seconds", 12, "--workdir", tmp_path / "work", "--no-record",
                "--corpus", seeds, "--regressions", tmp_path / "regressions")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FINDING selftest-crash: crash" in proc.stdout
    assert "a panic in a harness is a finding" in proc.stdout
    kept = list((tmp_path / "regressions" / "selftest-crash").iterdir())
    assert kept and all(p.read_bytes().startswith(b"EVCC") for p in kept)
    assert min(len(p.read_bytes()) for p in kept) < 64  # afl-tmin shrank it
    stats = json.loads((tmp_path / "work" / "campaign.json").read_text())
    assert stats["findings"] == len(kept)
    replay = fuzz("--replay", "selftest-crash", kept[0])
    assert replay.returncode == 1 and "crash" in replay.stdout


def known_findings() -> dict[str, str]:
    path = REGRESSIONS / "known.json"
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text())
    return data


def regression_cases() -> list[Any]:
    known = known_findings()
    cases: list[Any] = []
    for target in RUST_TARGETS:
        folder = REGRESSIONS / target
        for f in sorted(folder.iterdir()) if folder.is_dir() else []:
            name = f"{target}/{f.name}"
            marks = [pytest.mark.xfail(strict=True, reason=known[name])] if name in known else []
            cases.append(pytest.param(target, f, id=name, marks=marks))
    if not cases:
        cases.append(pytest.param("", Path(), id="none", marks=pytest.mark.skip(reason="no Rust regression yet")))
    return cases


@pytest.mark.parametrize(("target", "path"), regression_cases())
def test_regression_replays_clean(built: None, target: str, path: Path) -> None:
    proc = fuzz("--replay", target, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_known_findings_name_existing_files() -> None:
    for name in known_findings():
        assert (REGRESSIONS / name).is_file(), f"fuzz/regressions/known.json names {name}, which is not there"


def test_excessive_allocation_and_hangs_are_findings(built: None, tmp_path: Path) -> None:
    alloc, hang, fine = tmp_path / "alloc", tmp_path / "hang", tmp_path / "fine"
    alloc.write_bytes(b"ALLOC")
    hang.write_bytes(b"HANG")
    fine.write_bytes(b"EVCA")
    proc = subprocess.run([sys.executable, str(FUZZ), "--replay", "selftest-crash", str(alloc), str(hang), str(fine)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EVCC_FUZZ_REPLAY_TIMEOUT": "3"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if line.startswith(str(tmp_path)))
    assert lines[str(alloc)].startswith("crash: ") and "excessive allocation" in lines[str(alloc)]
    assert lines[str(hang)].startswith("hang: ")
    assert lines[str(fine)] == "ok"


# Two iso20-common SessionStopReq messages (same Header, ChargingSession Terminate) that differ only in which
# optional string element they carry: EVTerminationCode "x" or EVTerminationExplanation "x". The table
# interpreter decodes both through the same code (without the structure feedback afl-showmap gives both the same
# 382 edges), so only the feedback tells them apart. The same message with both elements is the richer one.
STOP_CODE = bytes.fromhex("8094040081018202830384080e2cfaa0622006f040")
STOP_EXPLANATION = bytes.fromhex("8094040081018202830384080e2cfaa0622406f000")
STOP_BOTH = bytes.fromhex("8094040081018202830384080e2cfaa0622006f0006f20")


def showmap(target: str, data: bytes, tmp_path: Path) -> set[str]:
    """The edge ids afl-showmap reports for one input of `target`."""
    out = tmp_path / "map"
    proc = subprocess.run([str(runner.afl_bin_dir() / "afl-showmap"), "-q", "-o", str(out), "-t", "5000", "--",
                           str(runner.target_binary(target))], input=data, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line.split(":")[0] for line in out.read_text().split()}


def test_decoded_structure_is_coverage_feedback(built: None, tmp_path: Path) -> None:
    code = showmap("exi-decode-iso20-common", STOP_CODE, tmp_path)
    explanation = showmap("exi-decode-iso20-common", STOP_EXPLANATION, tmp_path)
    both = showmap("exi-decode-iso20-common", STOP_BOTH, tmp_path)
    assert code and explanation
    assert code != explanation, "another optional element of the same kind lights no other edge"
    assert both > code and both > explanation
