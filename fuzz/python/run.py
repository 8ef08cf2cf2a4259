"""Run one coverage-guided Python fuzz campaign (atheris/libFuzzer) or replay saved inputs (issue 20 point 2).

    python3 fuzz/python/run.py TARGET --seconds S --corpus DIR --out DIR --stats FILE [--replay DIR]

TARGET is one of ``py-v2gtp py-sdp py-slac py-bms-can py-config`` (``fuzz/python/targets/``), or
``file:PATH.py`` for a target kept outside the product (the harness's own tests). A campaign runs about S seconds
(wall) in one atheris process from the corpus DIR, where libFuzzer saves the new interesting inputs;
``fuzz/regressions/TARGET/`` is read as extra seeds. An input that lets an undocumented exception escape, or
runs past ``--timeout`` seconds, or grows past ``--rss-limit-mb`` is a finding: libFuzzer writes it to --out
(``crash-*``, ``timeout-*``, ``oom-*``) with the log beside it (``*.log``); a timeout or memory stop counts only
if one replay of the input breaks the rule too (else it goes to ``--out/unconfirmed/``: on a loaded machine
libFuzzer also stops an input that only waited for a CPU). ``--replay DIR`` instead runs every
file of DIR once through the same rule (time limit by SIGALRM, memory by RLIMIT_AS) and prints each failure;
``--minimize FILE`` shrinks a finding (same exception type) into ``--out/FILE.min`` (libFuzzer's own
``-minimize_crash`` re-executes argv[0], which an atheris script is not).

Exit status: 0 no finding, 1 finding, 2 usage error (or the campaign could not run at all). ``--stats FILE``
gets JSON: target, engine, executions, coverage_kind, coverage, coverage_total, corpus, findings, cpu_seconds,
wall_seconds, code (``git rev-parse HEAD:evcc``), started.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: fuzz.python, evcc

from fuzz.python import harness  # noqa: E402

ENGINE = harness.HERE / "engine.py"
ARTIFACT_PREFIXES = ("crash-", "timeout-", "oom-", "leak-")
DEFAULT_TIMEOUT_S = 10  # per input; generous: the machine is shared (the targets take well under 10 ms)
DEFAULT_RSS_LIMIT_MB = 1024
INTERRUPTED = 72  # libFuzzer's exit status after SIGINT (a campaign stopped early, e.g. by scripts/fuzz)
GRACE_S = 120  # start-up (imports, instrumentation, seed corpus) and shut-down beyond --seconds
STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
FINAL_RUNS = re.compile(r"^stat::number_of_executed_units:\s*(\d+)")


@dataclass
class Campaign:
    executions: int = 0
    coverage: int | None = None
    findings: list[Path] | None = None
    log: str = ""
    returncode: int = 0


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fuzz/python/run.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("target", help=f"one of {', '.join(harness.TARGETS)} or file:PATH.py")
    p.add_argument("--seconds", type=float, required=True, help="campaign length, wall seconds")
    p.add_argument("--corpus", type=Path, required=True, help="corpus folder (new interesting inputs saved there)")
    p.add_argument("--out", type=Path, required=True, help="folder for findings")
    p.add_argument("--stats", type=Path, required=True, help="JSON file for the campaign's figures")
    p.add_argument("--replay", type=Path, help="run each file of this folder once instead of a campaign")
    p.add_argument("--minimize", type=Path, help="shrink this finding (same exception) into --out as NAME.min")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="per-input time limit, seconds")
    p.add_argument("--rss-limit-mb", type=int, default=DEFAULT_RSS_LIMIT_MB, help="memory limit, MB")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.timeout <= 0 or args.rss_limit_mb <= 0:
        p.error("--seconds, --timeout and --rss-limit-mb must be positive")
    if args.replay is not None and not args.replay.is_dir():
        p.error(f"--replay {args.replay}: not a folder")
    if args.minimize is not None and not args.minimize.is_file():
        p.error(f"--minimize {args.minimize}: not a file")
    return args


def _code_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD:evcc"], cwd=harness.REPO, capture_output=True, text=True,
                             check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _artifacts(out: Path) -> set[Path]:
    return {p for p in out.iterdir() if p.is_file() and p.name.startswith(ARTIFACT_PREFIXES)}


def _files(folder: Path) -> list[Path]:
    """The inputs in ``folder`` (not the ``*.log`` files run.py writes beside findings)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".log")


def parse_log(log: str) -> tuple[int, int | None]:
    """(executions, coverage) from libFuzzer's output: the final stats, else the last status line."""
    executions, coverage = 0, None
    for line in log.splitlines():
        status = STATUS.match(line)
        if status:
            executions, coverage = int(status.group(1)), int(status.group(2))
        final = FINAL_RUNS.match(line)
        if final:
            executions = int(final.group(1))
    return executions, coverage


def campaign(target: harness.Target, name: str, seconds: float, corpus: Path, out: Path, timeout_s: int,
             rss_limit_mb: int, max_len: int) -> Campaign:
    before = _artifacts(out)
    seeds = [corpus]
    regressions = harness.REPO / "fuzz" / "regressions" / name
    if regressions.is_dir() and _files(regressions):
        seeds.append(regressions)
    dictionary = harness.HERE / "dicts" / f"{name}.dict"  # libFuzzer tokens (a target's grammar), where useful
    cmd = [sys.executable, str(ENGINE), name, *([f"-dict={dictionary}"] if dictionary.is_file() else []),
           f"-max_total_time={max(1, round(seconds))}",
           f"-timeout={timeout_s}", f"-rss_limit_mb={rss_limit_mb}", f"-max_len={max_len}",
           f"-artifact_prefix={out}{os.sep}", "-print_final_stats=1", f"-interrupted_exitcode={INTERRUPTED}",
           *map(str, seeds)]
    with tempfile.TemporaryFile() as logf:
        proc = subprocess.Popen(cmd, cwd=harness.REPO, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)

        stopped: list[int] = []

        def forward(signum: int, _frame: FrameType | None) -> None:  # stop early: libFuzzer ends the run cleanly
            stopped.append(signum)
            proc.send_signal(signal.SIGINT)

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            rc = proc.wait(timeout=seconds + timeout_s + GRACE_S)
            note = ""
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            note = "\nrun.py: the atheris process did not stop in time and was killed\n"
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        logf.seek(0)
        log = logf.read().decode(errors="replace") + note
    if stopped and rc != 0:  # libFuzzer says 72; Python's own handler (SIGINT before libFuzzer's) 130
        rc = INTERRUPTED
    executions, coverage = parse_log(log)
    found = sorted(_artifacts(out) - before)
    if found:
        for artifact in found:
            artifact.with_name(artifact.name + ".log").write_text(log, encoding="utf-8")
    return Campaign(executions, coverage, found, log, rc)


def confirm(module: ModuleType, found: list[Path], out: Path, timeout_s: float,
            rss_limit_mb: int) -> tuple[list[Path], list[Path]]:
    """(confirmed, unconfirmed) artifacts: a timeout or memory stop (``timeout-*``, ``oom-*``) is a finding only if
    one replay of the input breaks the rule too; on a shared, loaded machine libFuzzer also stops inputs that merely
    waited for a CPU. Unconfirmed ones (and their logs) move to ``out/unconfirmed/``; crashes count as they are."""
    confirmed: list[Path] = []
    unconfirmed: list[Path] = []
    for artifact in found:
        if not artifact.name.startswith(("timeout-", "oom-")):
            confirmed.append(artifact)
            continue
        [again] = harness.replay(module, [artifact], timeout_s, rss_limit_mb)
        if again.problem is not None:
            confirmed.append(artifact)
            continue
        aside = out / "unconfirmed"
        aside.mkdir(exist_ok=True)
        for path in (artifact, artifact.with_name(artifact.name + ".log")):
            if path.exists():
                os.replace(path, aside / path.name)
        unconfirmed.append(aside / artifact.name)
    return confirmed, unconfirmed


def _write_stats(path: Path, stats: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    args = _parse_args(argv)
    try:
        target = harness.resolve(args.target)
    except harness.UnknownTarget as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    args.corpus.mkdir(parents=True, exist_ok=True)
    name = args.target if args.target in harness.TARGETS else target.name
    stats: dict[str, object] = {"target": name, "engine": "atheris", "coverage_total": None, "code": _code_hash(),
                                "started": started}
    if args.minimize is not None:
        module = harness.import_target(target)
        data = args.minimize.read_bytes()
        if harness.signature(module, data) is None:
            print(f"run.py: {args.minimize} keeps the rule: nothing to minimise", file=sys.stderr)
            return 2
        small = harness.minimize(module, data)
        dest = args.out / f"{args.minimize.name}.min"
        dest.write_bytes(small)
        print(f"{name}: {len(data)} -> {len(small)} bytes in {dest} ({harness.signature(module, small)}): {small.hex()}")
        return 1
    if args.replay is not None:
        module = harness.import_target(target)
        files = _files(args.replay)
        results = harness.replay(module, files, float(args.timeout), args.rss_limit_mb)
        failed = [r for r in results if r.problem is not None]
        for r in failed:
            print(f"FINDING {r.path}:\n{r.problem}", file=sys.stderr)
        print(f"{name}: replayed {len(files)} inputs from {args.replay}, {len(failed)} broke the rule")
        stats.update(executions=len(files), coverage_kind="none", coverage=None, corpus=len(files),
                     findings=len(failed))
        rc = 1 if failed else 0
    else:
        module = harness.import_target(target)  # fail here (exit 2) rather than inside the atheris process
        max_len = int(getattr(module, "MAX_LEN", harness.DEFAULT_MAX_LEN))
        result = campaign(target, args.target, args.seconds, args.corpus, args.out, args.timeout,
                          args.rss_limit_mb, max_len)
        findings, unconfirmed = confirm(module, result.findings or [], args.out, float(args.timeout),
                                        args.rss_limit_mb)
        for f in unconfirmed:
            print(f"run.py: {f.name} ran within the limits when replayed (a timeout or memory stop of a loaded "
                  f"machine): not a finding, kept in {f.parent}", file=sys.stderr)
        stats.update(executions=result.executions, coverage_kind="atheris-python-edges", coverage=result.coverage,
                     corpus=len(_files(args.corpus)), findings=len(findings))
        if findings:
            rc = 1
            for f in findings:
                print(f"FINDING {f} (log: {f.name}.log)", file=sys.stderr)
        elif result.returncode not in (0, INTERRUPTED) and not unconfirmed:  # libFuzzer ends at a timeout/oom
            tail = "\n".join(result.log.splitlines()[-30:])
            print(f"run.py: the atheris process failed (status {result.returncode}) without a finding:\n{tail}",
                  file=sys.stderr)
            rc = 2
        else:
            rc = 0
        print(f"{name}: {result.executions} executions, coverage {result.coverage}, corpus {stats['corpus']}, "
              f"{len(findings)} findings")
    stats.update(cpu_seconds=round(_cpu_seconds(), 2), wall_seconds=round(time.monotonic() - t0, 2))
    _write_stats(args.stats, stats)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
