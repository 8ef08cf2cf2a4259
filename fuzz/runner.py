"""scripts/fuzz: coverage-guided fuzz campaigns of the EXI core (AFL++) and the Python parsers (issue 20 point 3).

    scripts/fuzz --list
    scripts/fuzz TARGET [--seconds S | --cpu-hours H] [--workdir DIR] [--record FILE | --no-record]
    scripts/fuzz --ci [--seconds S]                  every target briefly (Rust and Python); exit 1 on a finding
    scripts/fuzz --merge-corpus TARGET [--workdir DIR]   afl-cmin the campaign's queue into fuzz/corpus/TARGET
    scripts/fuzz --seed-corpus                       seeds from the shared vectors and generated messages, minimised
    scripts/fuzz --replay TARGET FILE...             run inputs once through the target (regression tests)
    scripts/fuzz --collect                           merge what killed campaigns left in the work dirs
    scripts/fuzz --queue TARGET... --cpu-hours H [--jobs 2]   campaigns one after another, JOBS at a time

A Rust campaign (``exi-*``) builds ``native/fuzz`` with ``cargo afl build --release``, copies the binary into its
work dir (default ``/var/tmp/evcc-fuzz/TARGET``, outside the repository), replays the committed corpus, then runs
afl-fuzz from ``fuzz/corpus/TARGET`` with ``fuzz/dict/TARGET.dict`` and a per-input time limit. ``py-*`` targets run
through ``fuzz/python/run.py``. Long campaigns (``--cpu-hours``, or more than ten minutes) run at nice 19. A
crash or a hang confirmed by a replay is a finding: the minimised input goes to ``fuzz/regressions/TARGET/`` and
the exit status is 1. The campaign's figures (see ``fuzz/record.py``) go to ``WORKDIR/campaign.json`` every two
minutes and at the end, and are merged into ``fuzz/record.json``; ``--collect`` merges those of a campaign that
was killed. CPU seconds are the fuzzer processes' user+sys time, not wall time.

Exit status: 0 no finding, 1 finding, 2 usage error, 3 the campaign could not run.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz import record

REPO = record.REPO
NATIVE_FUZZ = REPO / "native" / "fuzz"
TARGET_DIR = REPO / "native" / "target" / "fuzz"
CORPUS = REPO / "fuzz" / "corpus"
DICTS = REPO / "fuzz" / "dict"
REGRESSIONS = REPO / "fuzz" / "regressions"
PY_RUNNER = REPO / "fuzz" / "python" / "run.py"
VECTORS = REPO.parent / "shared" / "vectors" / "exi_vectors.tsv"
WORK_ROOT = Path(os.environ.get("EVCC_FUZZ_WORKDIR", "/var/tmp/evcc-fuzz"))
PY_TARGETS = ("py-v2gtp", "py-sdp", "py-slac", "py-bms-can", "py-config")
SELFTEST = ("selftest-crash",)  # not listed: the tests' check that a panic becomes a finding
CARGO_AFL_VERSION = "0.18.2"
EXEC_TIMEOUT_MS = 1000  # afl-fuzz's per-input limit; decoding any input takes well under a millisecond
# A hang is confirmed when one replay runs this long (the machine is shared and loaded).
REPLAY_TIMEOUT_S = float(os.environ.get("EVCC_FUZZ_REPLAY_TIMEOUT", "10"))
LONG_S = 600  # campaigns longer than this run at nice 19
SNAPSHOT_S = 120  # partial figures written this often
TMIN_S = 300  # afl-tmin's time per finding
CORPUS_MAX_FILES = 2000  # the committed corpus of a target stays below this after minimising (smallest first)
AFL_ENV = {
    "AFL_SKIP_CPUFREQ": "1",
    "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES": "1",
    "AFL_NO_AFFINITY": "1",
    "AFL_NO_UI": "1",
    "AFL_IGNORE_SEED_PROBLEMS": "1",  # seeds are replayed by us first: a crashing seed is reported as a finding
}


class FuzzError(Exception):
    """Something that keeps a campaign from running (the message says what)."""


def rust_targets() -> list[str]:
    """The Rust targets: one per file of native/fuzz/src/bin that is not a tool."""
    return sorted(p.stem for p in (NATIVE_FUZZ / "src" / "bin").glob("exi-*.rs") if p.stem != "exi-seeds")


def all_targets() -> list[str]:
    return rust_targets() + list(PY_TARGETS)


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc).strftime('%H:%M:%S')}] {msg}", flush=True)


# --- AFL++ and the build ---------------------------------------------------------------------------------------

def afl_bin_dir() -> Path:
    """AFL++'s tools as `cargo afl config --build` installed them for the current rustc."""
    vv = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    release = re.search(r"^release: (\S+)", vv, re.M)
    commit = re.search(r"^commit-hash: (\w+)", vv, re.M)
    if not release or not commit:
        raise FuzzError("rustc -vV gave no release/commit-hash")
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    d = data / "afl.rs" / f"rustc-{release.group(1)}-{commit.group(1)[:7]}" / f"afl.rs-{CARGO_AFL_VERSION}" / "afl" / "bin"
    if not (d / "afl-fuzz").exists():
        raise FuzzError(f"AFL++ is not built at {d}: run scripts/setup (scripts/setup.d/70-fuzz.sh)")
    return d


def build(nice: bool = False) -> None:
    """`cargo afl build --release` of native/fuzz (incremental: quick when nothing changed)."""
    cmd = ["cargo", "afl", "build", "--release", "--quiet"]
    env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET_DIR)}
    r = subprocess.run(cmd, cwd=NATIVE_FUZZ, env=env, capture_output=True, text=True,
                       preexec_fn=(lambda: os.nice(19)) if nice else None)
    if r.returncode != 0:
        raise FuzzError(f"cargo afl build failed in native/fuzz:\n{r.stderr[-4000:]}")


def target_binary(target: str) -> Path:
    p = TARGET_DIR / "release" / target
    if not p.exists():
        raise FuzzError(f"{p} does not exist (not a target of native/fuzz?)")
    return p


# --- CPU time of a process tree ----------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, user+sys seconds of itself and its reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        # fields[1] = ppid; [11..14] = utime, stime, cutime, cstime (proc(5) fields 14-17)
        table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    return table


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and all its descendants (live ones and those they reaped)."""
    table = _proc_table()
    total = 0.0
    todo = [pid]
    seen: set[int] = set()
    while todo:
        p = todo.pop()
        if p in seen or p not in table:
            continue
        seen.add(p)
        total += table[p][1]
        todo.extend(c for c, (pp, _) in table.items() if pp == p)
    return total


# --- one campaign ------------------------------------------------------------------------------------------------

@dataclass
class Campaign:
    target: str
    workdir: Path
    seconds: float | None = None
    cpu_seconds: float | None = None
    record_path: Path | None = record.RECORD
    nice: bool = False
    regressions: Path = REGRESSIONS
    corpus: Path | None = None  # default fuzz/corpus/TARGET
    stats: dict[str, Any] = field(default_factory=dict)
    stop_reason: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def stats_file(self) -> Path:
        return self.workdir / "campaign.json"

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self._stop.set()

    def save(self) -> None:
        record.write_atomic(self.stats_file, json.dumps(self.stats, indent=1, sort_keys=True) + "\n")

    def finish(self) -> int:
        self.stats["finished"] = True
        self.stats["stop"] = self.stop_reason or "time"
        if self.stats.get("execs_per_sec") is None and self.stats["wall_seconds"]:
            self.stats["execs_per_sec"] = round(self.stats["executions"] / self.stats["wall_seconds"], 1)
        self.save()
        if self.record_path is not None:
            record.merge(self.stats, self.record_path)
            self.stats["merged"] = True
            self.save()
        s = self.stats
        cov = "-" if s.get("coverage") is None else f"{s['coverage']}" + (
            f"/{s['coverage_total']}" if s.get("coverage_total") else "") + f" {s['coverage_kind']}"
        log(f"{self.target}: {s['executions']:,} executions ({s.get('execs_per_sec') or 0:.0f}/s), coverage {cov}, "
            f"corpus {s['corpus']}, findings {s['findings']}, CPU {s['cpu_seconds']:.0f} s, wall "
            f"{s['wall_seconds']:.0f} s")
        return 1 if s["findings"] else 0

    def base_stats(self, engine: str, started: str) -> None:
        self.stats = {
            "target": self.target, "engine": engine, "executions": 0, "coverage_kind": None, "coverage": None,
            "coverage_total": None, "corpus": 0, "findings": 0, "cpu_seconds": 0.0, "wall_seconds": 0.0,
            "code": record.code_hash(self.target) or "unknown", "started": started,
            "campaign": f"{self.target}@{started}#{os.getpid()}", "pid": os.getpid(), "finished": False,
            "merged": False, "workdir": str(self.workdir),
        }

    # Rust --------------------------------------------------------------------------------------------------------

    def run_rust(self) -> int:
        started = now_iso()
        self.workdir.mkdir(parents=True, exist_ok=True)
        code = record.code_hash(self.target) or "unknown"
        built_code = TARGET_DIR / "built-code.txt"
        try:
            build(nice=self.nice)
            record.write_atomic(built_code, code + "\n")
        except FuzzError as e:
            # The shared tree may be mid-merge: a long queue goes on with the binary of the last good build.
            if not (TARGET_DIR / "release" / self.target).exists() or not built_code.exists():
                raise
            code = built_code.read_text().strip()
            log(f"{self.target}: build failed, fuzzing the previous build (exi-core {code}): {str(e)[-500:]}")
        afl = afl_bin_dir()
        version = afl_version(afl)
        self.base_stats(f"AFL++ {version} (cargo-afl {CARGO_AFL_VERSION})", started)
        self.stats["code"] = code
        binary = self.workdir / "bin" / self.target
        binary.parent.mkdir(exist_ok=True)
        shutil.copy2(target_binary(self.target), binary)
        self.stats["coverage_kind"] = "edges"
        self.save()
        findings: list[Path] = []
        corpus = self.corpus or CORPUS / self.target
        seeds = self.workdir / "seeds"
        shutil.rmtree(seeds, ignore_errors=True)
        seeds.mkdir()
        for f in sorted(corpus.glob("*")) if corpus.is_dir() else []:
            if f.is_file():
                shutil.copy2(f, seeds / f.name)
        if not any(seeds.iterdir()):
            (seeds / "empty-header").write_bytes(b"\x80\x00")
        out = self.workdir / "out"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [str(afl / "afl-fuzz"), "-i", str(seeds), "-o", str(out), "-t", str(EXEC_TIMEOUT_MS)]
        dictionary = DICTS / f"{self.target}.dict"
        if dictionary.exists():
            cmd += ["-x", str(dictionary)]
        if self.seconds is not None:
            cmd += ["-V", str(max(1, int(self.seconds)))]
        cmd += ["--", str(binary)]
        env = {**os.environ, **AFL_ENV}
        if self.seconds is not None and self.seconds < LONG_S:
            env["AFL_FAST_CAL"] = "1"
        logf = open(self.workdir / "afl.log", "wb")
        t0 = time.monotonic()
        cpu_before = children_cpu()
        proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=(lambda: os.nice(19)) if self.nice else None)
        cpu = 0.0
        last_snapshot = t0
        # afl-fuzz checks -V between queue entries only; a slow entry could hold a short campaign far longer.
        grace = 120.0 if self.seconds is None or self.seconds >= LONG_S else max(15.0, self.seconds)
        deadline = None if self.seconds is None else t0 + self.seconds + grace
        stopping_at = 0.0
        while proc.poll() is None:
            if stopping_at:
                time.sleep(1.0)
            else:
                self._stop.wait(2.0)
            with_cpu = tree_cpu(proc.pid)
            cpu = max(cpu, with_cpu)
            now = time.monotonic()
            if self.cpu_seconds is not None and cpu >= self.cpu_seconds:
                self.request_stop("cpu")
            if deadline is not None and now > deadline:
                self.request_stop("wall")
            if self._stop.is_set() and not stopping_at:
                stopping_at = now
                proc.send_signal(signal.SIGINT)  # afl-fuzz writes its stats and ends
            if stopping_at and now - stopping_at > 60:
                proc.kill()
            if now - last_snapshot >= SNAPSHOT_S:
                last_snapshot = now
                self.update_afl_stats(out, cpu, now - t0)
                self.save()
        logf.close()
        cpu = max(cpu, children_cpu() - cpu_before)
        self.update_afl_stats(out, cpu, time.monotonic() - t0)
        if not (out / "default" / "fuzzer_stats").exists():
            tail = (self.workdir / "afl.log").read_bytes()[-3000:].decode(errors="replace")
            raise FuzzError(f"afl-fuzz did not run (exit {proc.returncode}); {self.workdir / 'afl.log'}:\n{tail}")
        # Every saved crash/hang (and any seed afl-fuzz skipped because it crashed or hung) is replayed; those that
        # reproduce are grouped by what they do (finding_signature): one minimised input per group is kept.
        candidates = [seeds / n for n in skipped_seeds((self.workdir / "afl.log").read_bytes().decode(errors="replace"))]
        for sub in ("crashes", "hangs"):
            candidates += sorted((out / "default" / sub).glob("id:*"))
        groups: dict[str, list[tuple[Path, str]]] = {}
        for f in candidates:
            if not f.is_file():
                continue
            kind, message = replay_one(binary, f.read_bytes())
            if not kind:
                log(f"{self.target}: {f.name} did not reproduce in a replay (load?); not counted")
                continue
            groups.setdefault(finding_signature(kind, message), []).append((f, kind))
        for sig, members in groups.items():
            f, kind = min(members, key=lambda m: m[0].stat().st_size)
            log(f"{self.target}: {len(members)} input(s) with {sig!r}")
            findings.append(self.keep_finding(binary, afl, f, kind))
        self.stats["finding_kinds"] = {sig: len(m) for sig, m in groups.items()}
        unique = sorted(set(findings))
        self.stats["findings"] = len(unique)
        self.stats["finding_files"] = [str(p) for p in unique]
        return self.finish()

    def update_afl_stats(self, out: Path, cpu: float, wall: float) -> None:
        stats = parse_fuzzer_stats(out / "default" / "fuzzer_stats")
        self.stats["cpu_seconds"] = round(cpu, 1)
        self.stats["wall_seconds"] = round(wall, 1)
        if stats:
            self.stats["executions"] = int(stats.get("execs_done", 0))
            self.stats["execs_per_sec"] = float(stats.get("execs_per_sec", 0.0))
            self.stats["coverage"] = int(stats.get("edges_found", 0))
            self.stats["coverage_total"] = int(stats["total_edges"]) if "total_edges" in stats else None
            self.stats["corpus"] = int(stats.get("corpus_count", 0))
            self.stats["afl_crashes"] = int(stats.get("saved_crashes", 0))
            self.stats["afl_hangs"] = int(stats.get("saved_hangs", 0))

    def keep_finding(self, binary: Path, afl: Path, f: Path, kind: str, minimise: bool = True) -> Path:
        """Minimise a confirmed finding into fuzz/regressions/TARGET/ and print what it does."""
        data = f.read_bytes()
        if minimise and kind == "crash":
            tmp = self.workdir / "tmin.out"
            tmp.unlink(missing_ok=True)
            try:
                # Bounded: a slow input (an allocation finding takes ~1 s per run) is kept as found.
                subprocess.run([str(afl / "afl-tmin"), "-i", str(f), "-o", str(tmp), "-t", "5000", "--", str(binary)],
                               env={**os.environ, **AFL_ENV}, capture_output=True, timeout=TMIN_S,
                               preexec_fn=(lambda: os.nice(19)) if self.nice else None)
            except subprocess.TimeoutExpired:
                log(f"{self.target}: afl-tmin did not finish in {TMIN_S} s; the input is kept as found")
            if tmp.exists() and tmp.stat().st_size and replay_one(binary, tmp.read_bytes())[0] == "crash":
                data = tmp.read_bytes()
        dest = self.regressions / self.target
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f"{kind}-{hashlib.sha1(data).hexdigest()[:12]}"
        path.write_bytes(data)
        _, message = replay_one(binary, data)
        log(f"FINDING {self.target}: {kind}, input {data.hex() if len(data) <= 512 else f'{len(data)} bytes'} -> "
            f"{path}\n{message}")
        return path

    # Python ------------------------------------------------------------------------------------------------------

    def run_python(self) -> int:
        if not PY_RUNNER.exists():
            raise FuzzError(f"{PY_RUNNER} does not exist")
        started = now_iso()
        self.workdir.mkdir(parents=True, exist_ok=True)
        corpus = self.workdir / "corpus"
        shutil.rmtree(corpus, ignore_errors=True)
        committed = self.corpus or CORPUS / self.target
        shutil.copytree(committed, corpus) if committed.is_dir() else corpus.mkdir()
        out = self.workdir / "findings"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        stats_file = self.workdir / "py-stats.json"
        stats_file.unlink(missing_ok=True)
        seconds = self.seconds if self.seconds is not None else (self.cpu_seconds or 60.0)
        self.base_stats("atheris", started)
        self.save()
        cmd = [sys.executable, str(PY_RUNNER), self.target, "--seconds", str(seconds), "--corpus", str(corpus),
               "--out", str(out), "--stats", str(stats_file)]
        t0 = time.monotonic()
        with open(self.workdir / "run.log", "wb") as logf:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=(lambda: os.nice(19)) if self.nice else None)
            cpu = 0.0
            while proc.poll() is None:
                self._stop.wait(2.0)
                cpu = max(cpu, tree_cpu(proc.pid))
                if self._stop.is_set():
                    proc.send_signal(signal.SIGINT)
                    self._stop.clear()
        if proc.returncode not in (0, 1) or not stats_file.exists():
            tail = (self.workdir / "run.log").read_bytes()[-3000:].decode(errors="replace")
            raise FuzzError(f"{PY_RUNNER.relative_to(REPO)} {self.target} failed (exit {proc.returncode}):\n{tail}")
        got = json.loads(stats_file.read_text())
        record.check_stats(got, str(stats_file))
        self.stats.update({k: got[k] for k in record.STATS_KEYS if k != "started"})
        self.stats["cpu_seconds"] = round(max(float(got["cpu_seconds"]), cpu), 1)
        self.stats["wall_seconds"] = round(time.monotonic() - t0, 1)
        if got["findings"] or proc.returncode == 1:
            dest = self.regressions / self.target
            dest.mkdir(parents=True, exist_ok=True)
            kept = []
            for f in sorted(out.iterdir()):
                if f.is_file() and not f.name.endswith(".log"):
                    shutil.copy2(f, dest / f.name)
                    kept.append(str(dest / f.name))
                    log(f"FINDING {self.target}: {f.name} -> {dest / f.name}")
            self.stats["finding_files"] = kept
            self.stats["findings"] = max(int(got["findings"]), len(kept), 1)
        return self.finish()

    def run(self) -> int:
        return self.run_python() if self.target.startswith("py-") else self.run_rust()


def children_cpu() -> float:
    """User+sys seconds of this process's reaped children (afl-fuzz counts with the processes it reaped)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(ru.ru_utime + ru.ru_stime)


def afl_version(afl: Path) -> str:
    r = subprocess.run([str(afl / "afl-fuzz"), "--version"], capture_output=True, text=True)
    m = re.search(r"afl-fuzz\+\+(\S+)", r.stdout + r.stderr)
    return m.group(1) if m else "unknown"


def finding_signature(kind: str, message: str) -> str:
    """What a finding does, without the numbers that differ between inputs: the panic location and message,
    the allocation abort, or "hang"."""
    if kind == "hang":
        return "hang"
    m = re.search(r"panicked at ([^\n]+)\n([^\n]*)", message)
    if m:
        what = re.sub(r"[0-9a-f]{4,}|\d+", "N", m.group(2))
        return f"panic at {m.group(1)} {what}"[:200]
    line = next((x for x in message.splitlines() if x.startswith("finding:")), message.splitlines()[0] if message else kind)
    return re.sub(r"\d+", "N", line)[:200]


_DRY_RUN = re.compile(r"Attempting dry run with '[^']*orig:([^'/]+)'")


def skipped_seeds(log_text: str) -> list[str]:
    """The seeds whose dry run crashed or timed out (afl-fuzz's log names them before the warning)."""
    out = []
    parts = _DRY_RUN.split(log_text)
    # parts: [before, name1, text after name1, name2, ...]
    for name, after in zip(parts[1::2], parts[2::2]):
        if re.search(r"program crashed with one of the test cases|results in a (?:crash|timeout)", after, re.I):
            out.append(name)
    return out


def parse_fuzzer_stats(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip().rstrip("%")
    return out


def replay_one(binary: Path, data: bytes) -> tuple[str, str]:
    """Run one input through an AFL-built target outside afl-fuzz: ("", "") when fine, else ("crash"|"hang", why)."""
    try:
        r = subprocess.run([str(binary)], input=data, capture_output=True, timeout=REPLAY_TIMEOUT_S,
                           env={**os.environ, "RUST_BACKTRACE": "1"})
    except subprocess.TimeoutExpired:
        return "hang", f"no result after {REPLAY_TIMEOUT_S} s"
    if r.returncode != 0:
        why = r.stderr.decode(errors="replace").strip()[-6000:]
        return "crash", f"exit {r.returncode}: {why}"
    return "", ""


# --- corpus ------------------------------------------------------------------------------------------------------

def minimise_set(afl: Path, binary: Path, src: Path, traces: Path) -> list[Path]:
    """afl-cmin -e's selection (afl-cmin.py finds no tuples with these persistent-mode targets, afl-cmin.bash is
    slow): afl-showmap traces every file; for each edge the smallest file that has it is kept."""
    r = subprocess.run([str(afl / "afl-showmap"), "-i", str(src), "-o", str(traces), "-t", "5000", "-q", "--",
                        str(binary)], env={**os.environ, **AFL_ENV}, capture_output=True, text=True)
    if r.returncode != 0 or not traces.is_dir():
        raise FuzzError(f"afl-showmap failed for {binary.name}:\n{(r.stdout + r.stderr)[-3000:]}")
    files = sorted((p for p in src.iterdir() if p.is_file()), key=lambda p: (p.stat().st_size, p.name))
    best: dict[str, Path] = {}
    tuples: dict[Path, set[str]] = {}
    for f in files:
        t = traces / f.name
        # Edges only, as afl-cmin -e: with hit-count buckets nearly every queue entry of these grammars is unique.
        found = {x.split(":")[0] for x in t.read_text().split()} if t.exists() else set()
        tuples[f] = found
        for x in found:
            best.setdefault(x, f)
    covered: set[str] = set()
    kept: list[Path] = []
    for f in files:
        if any(best[x] is f and x not in covered for x in tuples[f]):
            kept.append(f)
            covered |= tuples[f]
    return kept


def cmin(target: str, inputs: Sequence[Path]) -> int:
    """Minimise `inputs` (files) into fuzz/corpus/TARGET (replaced whole) the afl-cmin way; returns the count."""
    afl = afl_bin_dir()
    binary = target_binary(target)
    with tempfile.TemporaryDirectory(prefix=f"evcc-cmin-{target}-") as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        failing = 0
        for f in inputs:
            data = f.read_bytes()
            if not data or len(data) > 1 << 20:
                continue
            if replay_one(binary, data)[0]:
                failing += 1  # a finding, not a seed: campaigns report these (they replay the corpus first)
                continue
            (src / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        if failing:
            log(f"{target}: {failing} input(s) crash or hang the target; left out of the corpus")
        if not any(src.iterdir()):
            raise FuzzError(f"{target}: no input to minimise")
        kept = minimise_set(afl, binary, src, Path(tmp) / "traces")
        kept = kept[:CORPUS_MAX_FILES]
        final = CORPUS / target
        new = CORPUS / f".{target}.new"
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        for p in kept:
            data = p.read_bytes()
            (new / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        old = CORPUS / f".{target}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        new.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return len(kept)


def seed_corpus(targets: Sequence[str]) -> int:
    """Seeds from the shared vectors and exi_core::arbitrary, minimised into fuzz/corpus; dictionaries into fuzz/dict."""
    if not VECTORS.exists():
        raise FuzzError(f"{VECTORS} does not exist")
    build()
    with tempfile.TemporaryDirectory(prefix="evcc-seeds-") as tmp:
        r = subprocess.run([str(TARGET_DIR / "release" / "exi-seeds"), str(VECTORS), tmp], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise FuzzError(f"exi-seeds failed: {r.stderr[-2000:]}")
        DICTS.mkdir(parents=True, exist_ok=True)
        for d in sorted((Path(tmp) / "dict").glob("*.dict")):
            shutil.copy2(d, DICTS / d.name)
        for target in targets:
            n = cmin(target, sorted((Path(tmp) / target).glob("*")))
            log(f"{target}: {n} seed files in fuzz/corpus/{target}")
    return 0


def merge_corpus(target: str, workdir: Path) -> int:
    queue = workdir / "out" / "default" / "queue"
    if not queue.is_dir():
        raise FuzzError(f"{queue} does not exist: no campaign of {target} in {workdir}")
    build()
    before = len(list((CORPUS / target).glob("*"))) if (CORPUS / target).is_dir() else 0
    files = [p for p in (CORPUS / target).glob("*") if p.is_file()] + sorted(queue.glob("id:*"))
    n = cmin(target, files)
    log(f"{target}: corpus {before} -> {n} files (afl-cmin of the committed corpus and {queue})")
    return 0


# --- replay, collect, queue, ci ------------------------------------------------------------------------------------

def replay(target: str, files: Sequence[Path]) -> int:
    if target.startswith("py-"):
        raise FuzzError("replay of Python targets: fuzz/python/run.py TARGET --replay DIR")
    build()
    binary = target_binary(target)
    bad = 0
    for f in files:
        kind, why = replay_one(binary, f.read_bytes())
        if kind:
            bad += 1
            print(f"{f}: {kind}: {why}")
        else:
            print(f"{f}: ok")
    return 1 if bad else 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(root: Path, record_path: Path) -> int:
    """Merge the figures of campaigns that ended without merging them (killed): each counted once."""
    merged = 0
    for f in sorted(root.glob("**/campaign.json")):
        try:
            stats = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            log(f"{f}: unreadable ({e}); skipped")
            continue
        if stats.get("merged"):
            continue
        if not stats.get("finished") and pid_alive(int(stats.get("pid", 0) or 0)):
            log(f"{f}: campaign still running (pid {stats.get('pid')}); skipped")
            continue
        stats["stop"] = stats.get("stop") or "killed"
        if not stats.get("finished"):
            # Crashes and hangs afl-fuzz saved before the kill count, unconfirmed (replay them from the work dir).
            saved = int(stats.get("afl_crashes", 0) or 0) + int(stats.get("afl_hangs", 0) or 0)
            if saved:
                stats["findings"] = max(int(stats["findings"]), saved)
                log(f"{stats['target']}: {saved} crash/hang input(s) in {f.parent}/out/default: unconfirmed, "
                    f"replay with scripts/fuzz --replay {stats['target']} FILE")
        if record.merge(stats, record_path):
            merged += 1
            log(f"collected {stats['target']}: {stats['executions']:,} executions, CPU {stats['cpu_seconds']:.0f} s "
                f"({'finished' if stats.get('finished') else 'killed, partial figures'})")
        stats["merged"] = True
        record.write_atomic(f, json.dumps(stats, indent=1, sort_keys=True) + "\n")
    log(f"collect: {merged} campaign(s) merged into {record_path}")
    return 0


def queue(targets: Sequence[str], cpu_hours: float, jobs: int, root: Path, record_path: Path,
          current_code: bool = False) -> int:
    """Campaigns until each target has `cpu_hours` on record (what a killed queue did counts after --collect);
    with `current_code`, only the CPU-hours of campaigns on the target's code as it is now count."""
    pending = list(targets)
    lock = threading.Lock()
    worst = [0]
    procs: set[subprocess.Popen[bytes]] = set()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                target = pending.pop(0)
            done = record.cpu_seconds_of(record.load(record_path), target,
                                         (record.code_hash(target) or "unknown") if current_code else None)
            left = cpu_hours * 3600 - done
            if left < 0.01 * cpu_hours * 3600:
                log(f"queue: {target} has {done / 3600:.2f} CPU-hours on record; skipped")
                continue
            log(f"queue: {target} for {left / 3600:.2f} CPU-hours")
            cmd = [sys.executable, str(REPO / "scripts" / "fuzz"), target, "--cpu-hours", f"{left / 3600:.4f}",
                   "--workdir", str(root / target), "--record", str(record_path)]
            p = subprocess.Popen(cmd, cwd=REPO)
            with lock:
                procs.add(p)
            rc = p.wait()
            with lock:
                procs.discard(p)
                worst[0] = max(worst[0], rc)
            log(f"queue: {target} ended with exit {rc}")

    def forward(signum: int, _frame: object) -> None:
        with lock:
            pending.clear()
            for p in procs:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    threads = [threading.Thread(target=worker) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
        time.sleep(1)
    for t in threads:
        t.join()
    log("queue: done")
    return worst[0]


def ci(seconds: float, root: Path, record_path: Path | None, regressions: Path = REGRESSIONS) -> int:
    """Every target briefly from the committed corpus; 1 when any found something, 3 when any could not run."""
    worst = 0
    for target in all_targets():
        if target.startswith("py-") and not PY_RUNNER.exists():
            log(f"{target}: skipped ({PY_RUNNER.relative_to(REPO)} is not there)")
            continue
        try:
            rc = Campaign(target, root / target, seconds=seconds, record_path=record_path, regressions=regressions).run()
        except FuzzError as e:
            log(f"{target}: could not run: {e}")
            rc = 3
        worst = max(worst, rc)
    return worst


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/fuzz", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("targets", nargs="*", help="target (one; several with --queue, files after it with --replay)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="list the targets")
    mode.add_argument("--ci", action="store_true", help="every target briefly")
    mode.add_argument("--merge-corpus", action="store_true", help="afl-cmin the campaign's queue into the corpus")
    mode.add_argument("--seed-corpus", action="store_true", help="make the committed seed corpus and dictionaries")
    mode.add_argument("--replay", action="store_true", help="TARGET FILE...: run inputs once through the target")
    mode.add_argument("--collect", action="store_true", help="merge the figures of killed campaigns")
    mode.add_argument("--queue", action="store_true", help="campaigns of TARGET... until --cpu-hours each")
    mode.add_argument("--build", action="store_true", help="only build the Rust targets")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="campaign length, wall seconds")
    length.add_argument("--cpu-hours", type=float, help="campaign length, CPU-hours of the fuzzer processes")
    p.add_argument("--hours", type=float, help=argparse.SUPPRESS)  # the spelling: --cpu-hours
    p.add_argument("--workdir", type=Path, help=f"work dir (default {WORK_ROOT}/TARGET; the root with --queue/--ci)")
    p.add_argument("--record", type=Path, help="record file (default fuzz/record.json)")
    p.add_argument("--no-record", action="store_true", help="do not merge the figures into a record")
    p.add_argument("--corpus", type=Path, help="seed corpus (default fuzz/corpus/TARGET)")
    p.add_argument("--regressions", type=Path, default=REGRESSIONS, help="where findings go (default fuzz/regressions)")
    p.add_argument("--jobs", type=int, default=2, help="campaigns at a time with --queue")
    p.add_argument("--current-code", action="store_true",
                   help="with --queue: count only CPU-hours on the targets' code as it is now")
    args = p.parse_args(list(argv))
    if args.hours is not None:
        if args.seconds is not None or args.cpu_hours is not None:
            p.error("--hours is --cpu-hours; give one length")
        args.cpu_hours = args.hours
    for name in ("seconds", "cpu_hours"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    known = all_targets() + list(SELFTEST)
    if args.list or args.ci or args.collect or args.build:
        if args.targets:
            p.error("no target with --list, --ci, --collect or --build")
    elif args.replay:
        if len(args.targets) < 2:
            p.error("--replay TARGET FILE...")
        if args.targets[0] not in known:
            p.error(f"unknown target {args.targets[0]!r} (scripts/fuzz --list)")
    else:
        if args.seed_corpus and not args.targets:
            args.targets = rust_targets()
        bad = [t for t in args.targets if t not in known]
        if bad:
            p.error(f"unknown target {bad[0]!r} (scripts/fuzz --list)")
        if not args.targets:
            p.error("a TARGET is needed (scripts/fuzz --list)")
        if not (args.queue or args.seed_corpus) and len(args.targets) != 1:
            p.error("one TARGET at a time (several with --queue)")
        if args.queue and args.cpu_hours is None:
            p.error("--queue needs --cpu-hours")
        if args.seed_corpus and any(t.startswith("py-") for t in args.targets):
            p.error("--seed-corpus makes the Rust targets' seeds (fuzz/python/make_seeds.py the Python ones)")
        if args.merge_corpus and args.targets[0].startswith("py-"):
            p.error("--merge-corpus is for the AFL++ targets (libFuzzer keeps the Python corpus itself)")
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    record_path = None if args.no_record else (args.record or record.RECORD)
    try:
        if args.list:
            print("\n".join(all_targets()))
            return 0
        if args.build:
            build()
            return 0
        if args.ci:
            root = args.workdir or WORK_ROOT / "ci"
            return ci(args.seconds or 10.0, root, None if args.record is None or args.no_record else record_path,
                      args.regressions)
        if args.collect:
            return collect(args.workdir or WORK_ROOT, record_path or record.RECORD)
        if args.seed_corpus:
            return seed_corpus(args.targets)
        if args.replay:
            return replay(args.targets[0], [Path(f) for f in args.targets[1:]])
        if args.queue:
            return queue(args.targets, args.cpu_hours, args.jobs, args.workdir or WORK_ROOT,
                         record_path or record.RECORD, args.current_code)
        target = args.targets[0]
        workdir = args.workdir or WORK_ROOT / target
        if args.merge_corpus:
            return merge_corpus(target, workdir)
        seconds = args.seconds if args.seconds is not None or args.cpu_hours is not None else 60.0
        cpu = None if args.cpu_hours is None else args.cpu_hours * 3600
        long = cpu is not None or (seconds is not None and seconds > LONG_S)
        campaign = Campaign(target, workdir, seconds=seconds, cpu_seconds=cpu, record_path=record_path, nice=long,
                            regressions=args.regressions, corpus=args.corpus)

        def stop(signum: int, _frame: object) -> None:
            campaign.request_stop(signal.Signals(signum).name)

        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, stop)
        return campaign.run()
    except FuzzError as e:
        print(f"scripts/fuzz: {e}", file=sys.stderr)
        return 3
    except record.RecordError as e:
        print(f"scripts/fuzz: {e}", file=sys.stderr)
        return 2
