"""Fuzzing record (issue 20 point 4): per target the executions, coverage, corpus size, findings and CPU-hours
(in total and on the current code), and the line "N CPU-hours, K crashes".

    python3 benchmarks/fuzz_report.py [--record fuzz/record.json] [--json]

Figures come from ``fuzz/record.json``, which ``scripts/fuzz`` campaigns update (``scripts/fuzz --collect`` adds
what killed campaigns left). "On the current code" counts the campaigns that ran on exactly the tree the target
has now: ``native/exi-core/src`` for the Rust targets, ``evcc/`` for the Python ones (git tree hashes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz import record  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/fuzz_report.py", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--record", type=Path, default=record.RECORD, help="record file (default fuzz/record.json)")
    p.add_argument("--json", action="store_true", help="print the record itself")
    args = p.parse_args(argv)
    try:
        data = record.load(args.record)
    except record.RecordError as e:
        print(f"fuzz_report: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=1, sort_keys=True))
        return 0
    hashes: dict[str, str | None] = {}
    by_path: dict[str, str | None] = {}
    for target in data["targets"]:
        path = record.code_path(target)
        if path not in by_path:
            by_path[path] = record.code_hash(target)
        hashes[target] = by_path[path]
    print(record.report(data, hashes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
