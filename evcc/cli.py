"""The `evcc` command: each part of the product registers its own sub-commands.

Only the module of the sub-command being run is imported (the daemon's cold start does not pay for the bench's or
the codec tools' imports); ``evcc --help`` and unknown commands import them all to list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-command -> module that provides `register(subparsers) -> None`. Each adds its sub-command with a `func`
# default that takes the parsed namespace and returns the exit status.
COMMANDS: dict[str, str] = {
    "run": "evcc.app.cli",
    "session": "evcc.session.cli",
    "bench": "evcc.bench.cli",
    "slac": "evcc.slac.cli",
    "exi": "evcc.exi.cli",
    "pki": "evcc.pki.cli",
    "keys": "evcc.keys.cli",
    "conformance": "evcc.conformance.cli",
    "demo": "evcc.demo.cli",
    "trace": "evcc.trace.cli",
}
COMMAND_MODULES: tuple[str, ...] = tuple(COMMANDS.values())


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every sub-command, or with just ``only`` when it names one."""
    parser = argparse.ArgumentParser(prog="evcc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[only]] if only in COMMANDS else list(COMMAND_MODULES)
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv else None
    args = build_parser(first).parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
