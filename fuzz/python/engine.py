"""The atheris process of one campaign: ``python3 fuzz/python/engine.py TARGET [libFuzzer flags] CORPUS...``.

Started by ``fuzz/python/run.py`` (one process per campaign). Imports the target with atheris instrumenting the
modules :data:`harness.TARGETS` names (coverage of Python branches), then hands the rule check of
:mod:`harness` to libFuzzer: an input that breaks it is an uncaught exception, which libFuzzer records as a
``crash-*`` artifact; ``-timeout`` and ``-rss_limit_mb`` turn hangs and memory growth into ``timeout-*`` and
``oom-*`` artifacts.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: fuzz.python, evcc

import atheris  # type: ignore[import-untyped]  # noqa: E402  (no type information shipped)

from fuzz.python import harness  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: engine.py TARGET [libFuzzer flags] CORPUS...", file=sys.stderr)
        return 2
    target = harness.resolve(argv[1])
    sys.path.insert(0, str(target.search_path))
    with atheris.instrument_imports(include=list(target.instrument)):
        module = harness.import_target(target)
    check = harness.checker(module)
    atheris.Setup([argv[0], *argv[2:]], check)
    atheris.Fuzz()  # does not return: libFuzzer exits the process
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
