"""The `evcc` command: each part of the product registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that provide `register(subparsers) -> None`. Each adds its sub-commands with a `func` default that
# takes the parsed namespace and returns the exit status.
COMMAND_MODULES: tuple[str, ...] = ("evcc.exi.cli", "evcc.slac.cli", "evcc.pki.cli", "evcc.bench.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evcc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
