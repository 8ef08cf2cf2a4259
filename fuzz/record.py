"""The fuzzing record (issue 20 point 4): campaign figures merged into the committed ``fuzz/record.json``.

Each campaign (``scripts/fuzz``) leaves a stats object: target, engine, executions, coverage_kind, coverage,
coverage_total (or null), corpus, findings, cpu_seconds (user+sys of the fuzzer processes), wall_seconds, code
(git tree hash of ``native/exi-core/src`` for Rust targets, of ``evcc/`` for Python targets), started. The record
keeps per target the totals (executions, cpu_seconds, findings, campaigns), the distinct kinds of finding
(``signatures``: the report counts a bug found again by a later campaign once), the totals per code hash (the last
``MAX_CODES``), the last ``MAX_LAST`` campaigns and the ids of the last ``MAX_IDS`` merged campaigns (so that a
campaign is never counted twice); it is bounded whatever the number of campaigns. Writes are atomic (a temporary
file renamed over the record) under an exclusive lock, so that two campaigns ending together both count.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "fuzz" / "record.json"
FORMAT = 1
MAX_LAST = 5
MAX_CODES = 20
MAX_IDS = 50
STATS_KEYS = ("target", "engine", "executions", "coverage_kind", "coverage", "coverage_total", "corpus",
              "findings", "cpu_seconds", "wall_seconds", "code", "started")


class RecordError(Exception):
    """A record or stats file that cannot be used (the message names the file and what is wrong)."""


def code_path(target: str) -> str:
    """The source tree a target's results belong to."""
    return "evcc" if target.startswith("py-") else "native/exi-core/src"


def code_hash(target: str, repo: Path = REPO) -> str | None:
    """Git tree hash of the target's source as it is in the work tree (HEAD's when unchanged), None outside git."""
    path = code_path(target)

    def git(*args: str, env: Mapping[str, str] | None = None) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60,
                              env=None if env is None else {**os.environ, **env}).stdout.strip()

    try:
        if not git("status", "--porcelain", "--", path):
            return git("rev-parse", f"HEAD:{path}")
        # Changed: hash the work tree's files through a private index (the shared index is left alone).
        with tempfile.TemporaryDirectory(prefix="evcc-fuzz-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            git("read-tree", "HEAD", env=env)
            git("add", "-A", "--", path, env=env)
            return git("write-tree", f"--prefix={path}/", env=env)
    except (OSError, subprocess.SubprocessError):
        return None


def empty() -> dict[str, Any]:
    return {"format": FORMAT, "targets": {}}


def load(path: Path = RECORD) -> dict[str, Any]:
    """The record, or an empty one when the file does not exist yet."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as e:
        raise RecordError(f"{path}: not a readable fuzzing record ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("targets"), dict):
        raise RecordError(f"{path}: not a fuzzing record of format {FORMAT}")
    return data


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` by renaming a complete temporary file over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock for read-modify-write of `path` (a lock file in the temporary folder, not in the tree)."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"evcc-fuzz-record-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_stats(stats: Mapping[str, Any], where: str) -> None:
    missing = [k for k in STATS_KEYS if k not in stats]
    if missing:
        raise RecordError(f"{where}: campaign stats lack {', '.join(missing)}")
    for k in ("executions", "findings"):
        if not isinstance(stats[k], int) or stats[k] < 0:
            raise RecordError(f"{where}: {k} must be a non-negative integer, got {stats[k]!r}")
    for k in ("cpu_seconds", "wall_seconds"):
        if not isinstance(stats[k], (int, float)) or stats[k] < 0:
            raise RecordError(f"{where}: {k} must be a non-negative number, got {stats[k]!r}")


def _add(totals: dict[str, Any], stats: Mapping[str, Any]) -> None:
    totals["executions"] = int(totals.get("executions", 0)) + int(stats["executions"])
    totals["cpu_seconds"] = round(float(totals.get("cpu_seconds", 0.0)) + float(stats["cpu_seconds"]), 1)
    totals["findings"] = int(totals.get("findings", 0)) + int(stats["findings"])
    totals["campaigns"] = int(totals.get("campaigns", 0)) + 1


def cpu_seconds_of(rec: Mapping[str, Any], target: str, code: str | None = None) -> float:
    """CPU-seconds `target` has on record: all of them, or (`code` given) those of campaigns on that code hash."""
    entry = rec.get("targets", {}).get(target, {})
    if code is not None:
        entry = entry.get("by_code", {}).get(code, {})
    return float(entry.get("cpu_seconds", 0.0))


def merge_into(record: dict[str, Any], stats: Mapping[str, Any]) -> bool:
    """Add one campaign to `record` (in place). False when that campaign id was merged before."""
    check_stats(stats, f"campaign of {stats.get('target')!r}")
    entry: dict[str, Any] = record["targets"].setdefault(str(stats["target"]), {})
    ident = stats.get("campaign") or f"{stats['target']}@{stats['started']}"
    ids: list[str] = entry.setdefault("merged", [])
    if ident in ids:
        return False
    ids.append(str(ident))
    del ids[:-MAX_IDS]
    _add(entry, stats)
    codes: dict[str, Any] = entry.setdefault("by_code", {})
    code = str(stats["code"])
    totals = codes.pop(code, {})
    _add(totals, stats)
    codes[code] = totals  # most recent last
    for old in list(codes)[:-MAX_CODES]:
        del codes[old]
    last: list[dict[str, Any]] = entry.setdefault("last", [])
    last.append({k: stats.get(k) for k in (*STATS_KEYS, "execs_per_sec", "stop")})
    del last[:-MAX_LAST]
    kinds = stats.get("finding_kinds")
    if isinstance(kinds, dict) and kinds:
        # What the findings do (scripts/fuzz groups them): the same bug found again is not a new crash.
        sigs: list[str] = entry.setdefault("signatures", [])
        sigs.extend(str(k) for k in kinds if str(k) not in sigs)
        del sigs[:-MAX_IDS]
    entry["engine"] = stats["engine"]
    return True


def distinct_findings(entry: Mapping[str, Any]) -> int:
    """Findings of a target counted once per kind where the campaigns said what they do, else per campaign."""
    sigs = entry.get("signatures")
    return len(sigs) if sigs else int(entry.get("findings", 0))


def merge(stats: Mapping[str, Any], path: Path = RECORD) -> bool:
    """Merge one campaign's stats into the record file (locked, atomic)."""
    with locked(path):
        record = load(path)
        added = merge_into(record, stats)
        if added:
            write_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return added


def report(record: Mapping[str, Any], current: Mapping[str, str | None]) -> str:
    """The table of `benchmarks/fuzz_report.py`: one line per target and the total line.

    `current` maps a target to the code hash it has now (CPU-hours on the current code are those of campaigns
    that ran on exactly that tree).
    """
    head = f"{'target':<28} {'executions':>14} {'exec/s':>8} {'coverage':>18} {'corpus':>7} {'findings':>8} " \
           f"{'CPU-h':>7} {'CPU-h now':>9}"
    lines = [head, "-" * len(head)]
    total_cpu = 0.0
    total_findings = 0
    for target in sorted(record.get("targets", {})):
        e = record["targets"][target]
        recent = e.get("last") or [{}]
        last = recent[-1]
        # Coverage: the best of the recent campaigns on the same build as the last one (a short campaign after a
        # long one does not hide what the long one reached).
        same = [c for c in recent if c.get("code") == last.get("code") and c.get("coverage") is not None]
        best = max(same, key=lambda c: int(c["coverage"])) if same else last
        cov = best.get("coverage")
        cov_total = best.get("coverage_total")
        kind = best.get("coverage_kind") or ""
        coverage = "-" if cov is None else f"{cov}/{cov_total} {kind}" if cov_total else f"{cov} {kind}"
        now = e.get("by_code", {}).get(current.get(target) or "", {})
        eps = last.get("execs_per_sec")
        lines.append(f"{target:<28} {int(e.get('executions', 0)):>14,} {'-' if eps is None else f'{eps:.0f}':>8} "
                     f"{coverage:>18} {last.get('corpus', '-')!s:>7} {distinct_findings(e):>8} "
                     f"{float(e.get('cpu_seconds', 0)) / 3600:>7.2f} {float(now.get('cpu_seconds', 0)) / 3600:>9.2f}")
        total_cpu += float(e.get("cpu_seconds", 0))
        total_findings += distinct_findings(e)
    lines.append("")
    lines.append(f"{total_cpu / 3600:.1f} CPU-hours, {total_findings} crashes")
    return "\n".join(lines)
