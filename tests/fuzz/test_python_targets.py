"""Issue 20 point 2/3: every Python fuzz target runs a short atheris campaign from the committed corpus with no
finding, the committed regressions and seeds replay clean, and the harness does report what breaks its rule
(an undocumented exception, a multi-line message, a hang, memory growth) with exit 1."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "fuzz" / "python" / "run.py"
TARGETS = ("py-v2gtp", "py-sdp", "py-slac", "py-bms-can", "py-config")
CAMPAIGN_S = 10
STATS_KEYS = {"target", "engine", "executions", "coverage_kind", "coverage", "coverage_total", "corpus", "findings",
              "cpu_seconds", "wall_seconds", "code", "started"}


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # the bound only keeps a broken runner from blocking CI; it is no speed assertion
    return subprocess.run([sys.executable, str(RUN), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def _campaign(target: str, tmp: Path, corpus: Path, seconds: int = CAMPAIGN_S,
              *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object], Path]:
    work = tmp / "corpus"
    shutil.copytree(corpus, work)  # libFuzzer adds inputs to its corpus folder: never to the committed one
    out, stats = tmp / "out", tmp / "stats.json"
    proc = _run(target, "--seconds", str(seconds), "--corpus", work, "--out", out, "--stats", stats, *extra)
    return proc, json.loads(stats.read_text(encoding="utf-8")), out


@pytest.mark.parametrize("target", TARGETS)
def test_short_campaign_from_the_committed_corpus_finds_nothing(target: str, tmp_path: Path) -> None:
    corpus = REPO / "fuzz" / "corpus" / target
    assert any(corpus.iterdir()), f"{corpus}: the seed corpus is committed"
    proc, stats, out = _campaign(target, tmp_path, corpus)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(stats) == STATS_KEYS
    assert stats["target"] == target and stats["engine"] == "atheris" and stats["findings"] == 0
    assert isinstance(stats["executions"], int) and stats["executions"] > len(list(corpus.iterdir()))
    assert isinstance(stats["coverage"], int) and stats["coverage"] > 0
    assert isinstance(stats["corpus"], int) and stats["corpus"] > 0
    code = subprocess.run(["git", "rev-parse", "HEAD:evcc"], cwd=REPO, capture_output=True, text=True, check=True)
    assert stats["code"] == code.stdout.strip()
    assert not any(out.iterdir())


@pytest.mark.parametrize("target", TARGETS)
def test_regressions_and_seeds_replay_clean(target: str, tmp_path: Path) -> None:
    folders = [REPO / "fuzz" / "corpus" / target, REPO / "fuzz" / "regressions" / target]
    replayed = 0
    for folder in (f for f in folders if f.is_dir()):
        stats = tmp_path / f"{folder.parent.name}.json"
        proc = _run(target, "--seconds", "1", "--corpus", tmp_path / "c", "--out", tmp_path / "o", "--stats", stats,
                    "--replay", folder)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        figures = json.loads(stats.read_text(encoding="utf-8"))
        assert figures["findings"] == 0 and figures["executions"] == len(list(folder.iterdir()))
        replayed += int(figures["executions"])
    assert replayed > 0


TOY = '''
"""A deliberately broken toy target (test only): ValueError is documented, the input "!..." breaks the rule."""
import time

EXPECTED = (ValueError,)


def test_one(data: bytes) -> None:
    if not data.startswith(b"!"):
        raise ValueError("not for me")
    MODE
'''
BREAKS = {
    "undocumented": ("{}[data]", "crash-", "KeyError"),  # a KeyError escapes the "parser"
    "multiline": ('raise ValueError("two\\nlines")', "crash-", "not one line"),
    "hang": ("while True: time.sleep(0.01)", "timeout-", "timeout"),
    "memory": ('keep = b"x" * (600 << 20); time.sleep(5)', "oom-", "out-of-memory"),
}


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_the_harness_reports_a_broken_toy_target_as_a_finding(kind: str, tmp_path: Path) -> None:
    code, prefix, reason = BREAKS[kind]
    toy = tmp_path / f"toy_{kind}.py"
    toy.write_text(TOY.replace("MODE", code), encoding="utf-8")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a").write_bytes(b"a")
    proc, stats, out = _campaign(f"file:{toy}", tmp_path / "run", seeds, 60, "--timeout", "2",
                                 "--rss-limit-mb", "400")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert stats["findings"] == 1 and "FINDING" in proc.stderr
    [finding] = [p for p in out.iterdir() if p.suffix != ".log"]
    assert finding.name.startswith(prefix) and finding.read_bytes().startswith(b"!")
    assert reason in (out / f"{finding.name}.log").read_text(encoding="utf-8")
    if kind in ("undocumented", "multiline"):  # the replay applies the same rule
        replay = _run(f"file:{toy}", "--seconds", "1", "--corpus", tmp_path / "c", "--out", tmp_path / "o",
                      "--stats", tmp_path / "replay.json", "--replay", out)
        assert replay.returncode == 1 and reason in replay.stderr, replay.stdout + replay.stderr
        small = _run(f"file:{toy}", "--seconds", "1", "--corpus", tmp_path / "c", "--out", tmp_path / "o",
                     "--stats", tmp_path / "min.json", "--minimize", finding)
        assert small.returncode == 1 and (tmp_path / "o" / f"{finding.name}.min").read_bytes() == b"!", small.stderr


def test_a_timeout_that_does_not_repeat_is_no_finding(tmp_path: Path) -> None:
    """A shared machine can stall an input past the time limit: the campaign's timeout is replayed once, and one
    that then runs within the limit is set aside (out/unconfirmed), not counted, and the exit status stays 0."""
    marker = tmp_path / "stalled-once"
    code = (f"import os\n    if not os.path.exists({str(marker)!r}):\n"
            f"        open({str(marker)!r}, 'w').close()\n        time.sleep(600)")
    toy = tmp_path / "toy_stall.py"
    toy.write_text(TOY.replace("MODE", code), encoding="utf-8")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a").write_bytes(b"a")
    proc, stats, out = _campaign(f"file:{toy}", tmp_path / "run", seeds, 60, "--timeout", "2")
    assert marker.exists(), "the campaign never reached the stalling input"
    assert proc.returncode == 0 and stats["findings"] == 0, proc.stdout + proc.stderr
    assert "not a finding" in proc.stderr
    assert not [p for p in out.iterdir() if p.is_file()]
    [aside] = [p for p in (out / "unconfirmed").iterdir() if p.suffix != ".log"]
    assert aside.name.startswith("timeout-") and aside.read_bytes().startswith(b"!")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    args = ("--seconds", "1", "--corpus", tmp_path / "c", "--out", tmp_path / "o", "--stats", tmp_path / "s.json")
    assert _run("py-nonesuch", *args).returncode == 2
    assert _run("py-sdp", "--seconds", "1").returncode == 2
    assert _run("py-sdp", *args, "--replay", tmp_path / "missing").returncode == 2


def test_a_campaign_stopped_by_sigint_still_writes_its_figures(tmp_path: Path) -> None:
    """scripts/fuzz stops a long campaign with SIGINT: run.py passes it to libFuzzer and still writes --stats."""
    corpus, stats = tmp_path / "corpus", tmp_path / "stats.json"
    corpus.mkdir()  # empty: the first new input shows that fuzzing has begun (the committed corpus is saturated)
    seeds = 0
    proc = subprocess.Popen([sys.executable, str(RUN), "py-sdp", "--seconds", "3600", "--corpus", str(corpus),
                             "--out", str(tmp_path / "out"), "--stats", str(stats)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3000):  # until fuzzing has begun (a new input); bounded so that a stall cannot block CI
            if len(list(corpus.iterdir())) > seeds or proc.poll() is not None:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    figures = json.loads(stats.read_text(encoding="utf-8"))
    assert figures["findings"] == 0 and isinstance(figures["executions"], int) and figures["executions"] > 0


def test_the_python_fuzz_code_type_checks() -> None:
    """mypy --strict on fuzz/python and this file (``fuzz`` is a namespace package: explicit package bases)."""
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--explicit-package-bases", "--no-incremental",
                          "fuzz/python", "tests/fuzz/test_python_targets.py"], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
