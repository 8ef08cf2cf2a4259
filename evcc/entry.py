"""The stand-alone entry of one sub-command module (``python -m evcc.slac.cli slac ...``): the same parser and exit
status as the ``evcc`` command (evcc/cli.py), built from the module's ``register`` alone. No protocol logic here."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def standalone_main(register: Register, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with only ``register``'s sub-commands and return the chosen sub-command's exit status."""
    parser = argparse.ArgumentParser(prog="evcc")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
