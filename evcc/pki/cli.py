"""`evcc pki init <dir>`: generate the test PKI of PKI.md §2 (ISO 15118-2 and -20 suites) for tests and benches."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from evcc.pki.generator import write_pki
from evcc.pki.profiles import Suite


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `pki` command with its `init` sub-command."""
    pki = sub.add_parser("pki", help="test PKI (never for production)")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True)
    init = pki_sub.add_parser("init", help="generate the test PKI into a directory")
    init.add_argument("dir", type=Path, help="output directory (created if missing)")
    init.add_argument("--suite", action="append", choices=[s.value for s in Suite],
                      help="suite to generate (repeatable; default: all)")
    init.add_argument("--now", type=datetime.fromisoformat, default=None,
                      help="generation time as ISO 8601 with offset (default: the current time)")
    init.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    now: datetime = args.now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        print("evcc pki init: --now needs a UTC offset, e.g. 2030-01-01T00:00:00+00:00")
        return 2
    suites = tuple(Suite(s) for s in args.suite) if args.suite else tuple(Suite)
    args.dir.mkdir(parents=True, exist_ok=True)
    write_pki(args.dir, suites, now)
    print(f"test PKI ({', '.join(s.value for s in suites)}) written to {args.dir}")
    return 0
