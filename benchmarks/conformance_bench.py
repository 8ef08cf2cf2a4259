"""Conformance suite benchmarks (issue 16, Benchmarks). Figures only, never assertions.

1. The default case set (no --full) against the SECC simulator served on loopback (real UDP SDP, TCP, V2GTP,
   EXI; the simulator on its own thread and loop as on another device): wall clock of the whole run (target: under
   2 minutes on this machine), per-case overhead (median and 95th percentile of a case's wall clock; the part
   that is not the charger's response: SDP, TCP connect, SupportedAppProtocol, the session up to the stimulus)
   and the verdicts.
2. The same set in memory on the virtual clock (evcc.conformance.memory): the suite's own CPU cost per case.

Run: python3 benchmarks/conformance_bench.py [--skip-loopback] [--charge-seconds S] [--cases PATTERN ...]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evcc.conformance.catalogue import all_cases, select  # noqa: E402
from evcc.conformance.link import Charger, NetworkCharger  # noqa: E402
from evcc.conformance.model import Case, CaseResult  # noqa: E402
from evcc.conformance.runner import RunOptions, run_suite  # noqa: E402
from tests.conformance.simulator import memory_charger, served_simulator  # noqa: E402

TARGET_S = 120.0


def _timed(cases: Sequence[Case], make: Callable[[], Charger], opts: RunOptions) -> tuple[float, list[float],
                                                                                          list[CaseResult]]:
    walls: list[float] = []
    last = [time.perf_counter()]

    def tick(i: int, n: int, r: CaseResult) -> None:
        now = time.perf_counter()
        walls.append(now - last[0])
        last[0] = now

    start = time.perf_counter()
    results = asyncio.run(run_suite(cases, make, opts, tick))
    return time.perf_counter() - start, walls, results


def _report(title: str, total: float, walls: list[float], results: list[CaseResult], target: float | None) -> None:
    counts = collections.Counter(r.verdict.value for r in results)
    walls_sorted = sorted(walls)
    p95 = walls_sorted[int(0.95 * (len(walls_sorted) - 1))] if walls_sorted else 0.0
    print(f"{title}: {len(results)} cases in {total:.2f} s"
          + (f" (target < {target:.0f} s: {total / target:.2f} of it)" if target else ""))
    print(f"  per case: median {statistics.median(walls) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"max {max(walls) * 1000:.1f} ms")
    print(f"  verdicts: {dict(counts)}")
    slow = sorted(zip(walls, (r.case.id for r in results)), reverse=True)[:5]
    print("  slowest: " + ", ".join(f"{cid} {w:.2f} s" for w, cid in slow))
    for r in results:
        if r.verdict.value in ("fail", "inconclusive"):
            print(f"  {r.verdict.value}: {r.case.id}: {r.reason}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-loopback", action="store_true")
    parser.add_argument("--charge-seconds", type=float, default=1.0)
    parser.add_argument("--cases", action="append", default=[])
    args = parser.parse_args(argv)
    cases = select(all_cases(), args.cases)
    opts = RunOptions(charge_seconds=args.charge_seconds)
    total, walls, results = _timed(cases, memory_charger, opts)
    _report("in memory (virtual clock)", total, walls, results, None)
    if not args.skip_loopback:
        with served_simulator() as sim:
            charger = NetworkCharger(sdp_address=("::1", sim.sdp_port))
            total, walls, results = _timed(cases, lambda: charger, opts)
        _report("loopback (UDP SDP, TCP)", total, walls, results, TARGET_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
