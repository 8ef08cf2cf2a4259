"""Shared by the bench tests: run `evcc bench ARGV` through the module's ``register`` on a fresh parser."""

from __future__ import annotations

import argparse

import pytest

from evcc.bench import cli


def run_bench(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="evcc")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    status: int = args.func(args)
    captured = capsys.readouterr()
    return status, captured.out + captured.err
