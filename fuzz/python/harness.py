"""The rule every Python fuzz target is held to (issue 20 point 2), shared by the atheris engine and the replay.

A target is a module with ``test_one(data: bytes) -> None`` and ``EXPECTED``, the tuple of the documented error
classes (from the one error tree, ``evcc/errors.py``) its parser may raise on bad input, and ``MAX_LEN`` (the
longest input a campaign generates). :data:`TARGETS` names the modules atheris instruments for each.

The rule: an input either passes or raises one of ``EXPECTED`` whose message is one non-empty line of at most
:data:`MAX_MESSAGE` characters. Any other exception (IndexError, struct.error, RecursionError, an oracle's
AssertionError, ...) is a finding; so is an input that runs past the time limit or grows memory past the limit
(those two are enforced by libFuzzer in a campaign and by :func:`replay` here).
"""

from __future__ import annotations

import importlib
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MAX_MESSAGE = 1000
DEFAULT_MAX_LEN = 4096

# Target name (fixed by issue 20) -> (module in fuzz/python/targets/, module prefixes atheris instruments).
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "py-v2gtp": ("v2gtp_stream", ("evcc",)),
    "py-sdp": ("sdp", ("evcc", "ipaddress")),
    "py-slac": ("slac_mme", ("evcc",)),
    "py-bms-can": ("bms_can", ("evcc", "cantools")),
    "py-config": ("config_toml", ("evcc", "tomllib")),
}
FILE_PREFIX = "file:"  # "file:/path/to/module.py": a target outside the product (the harness's own tests)


class RuleBroken(Exception):
    """An input broke the rule: an undocumented exception escaped, or a documented one had a bad message."""


class UnknownTarget(Exception):
    """The target name is neither a registered name nor ``file:PATH``."""


@dataclass(frozen=True)
class Target:
    name: str
    module_name: str  # what to import (inside atheris.instrument_imports for a campaign)
    search_path: Path  # put on sys.path before importing module_name
    instrument: tuple[str, ...]  # module prefixes instrumented for coverage (the target module is added)


def resolve(name: str) -> Target:
    if name.startswith(FILE_PREFIX):
        path = Path(name[len(FILE_PREFIX):]).resolve()
        if path.suffix != ".py" or not path.is_file():
            raise UnknownTarget(f"{name}: not an existing .py file")
        return Target(path.stem, path.stem, path.parent, (path.stem,))
    entry = TARGETS.get(name)
    if entry is None:
        raise UnknownTarget(f"unknown target {name!r} (known: {', '.join(TARGETS)})")
    module = f"fuzz.python.targets.{entry[0]}"
    return Target(name, module, REPO, (*entry[1], module))


def import_target(target: Target) -> ModuleType:
    """Import the target module; checks that it has ``test_one`` and a tuple ``EXPECTED`` of exception classes."""
    if str(target.search_path) not in sys.path:
        sys.path.insert(0, str(target.search_path))
    module = importlib.import_module(target.module_name)
    expected = getattr(module, "EXPECTED", None)
    if not callable(getattr(module, "test_one", None)) or not isinstance(expected, tuple) or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in expected
    ):
        raise UnknownTarget(f"{target.module_name}: needs test_one(data) and EXPECTED = (ErrorClass, ...)")
    return module


def checker(module: ModuleType) -> Callable[[bytes], None]:
    """``check(data)``: run the target once; raise :class:`RuleBroken` (chained to the escape) if the rule broke."""
    test_one: Callable[[bytes], None] = module.test_one
    expected: tuple[type[BaseException], ...] = module.EXPECTED

    def check(data: bytes) -> None:
        try:
            test_one(data)
        except expected as exc:
            text = str(exc)
            if not text or "\n" in text or len(text) > MAX_MESSAGE:
                raise RuleBroken(f"{type(exc).__name__} message is not one line of 1..{MAX_MESSAGE} characters: "
                                 f"{text[:200]!r}") from exc
        except RuleBroken:
            raise
        except Exception as exc:  # the finding: anything undocumented escaped the parser
            where = "".join(traceback.format_exception(exc))
            raise RuleBroken(f"undocumented {type(exc).__name__} escaped: {exc}\n{where}") from exc

    return check


class InputTimeout(Exception):
    """One input ran past the replay's time limit."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise InputTimeout("input ran past the time limit")


@dataclass(frozen=True)
class ReplayResult:
    path: Path
    problem: str | None  # None: the input kept the rule


def replay(module: ModuleType, files: list[Path], timeout_s: float, rss_limit_mb: int) -> list[ReplayResult]:
    """Each file through the target once, with a time limit (SIGALRM) and an address-space limit (RLIMIT_AS)."""
    check = checker(module)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = rss_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    old = signal.signal(signal.SIGALRM, _alarm)
    results = []
    try:
        for path in files:
            data = path.read_bytes()
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                check(data)
                problem = None
            except RuleBroken as exc:
                problem = "".join(traceback.format_exception(exc))
            except (InputTimeout, MemoryError) as exc:
                problem = f"{type(exc).__name__}: {exc or 'out of memory'}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            results.append(ReplayResult(path, problem))
    finally:
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return results


def signature(module: ModuleType, data: bytes) -> str | None:
    """What kind of rule break ``data`` causes (the escaped exception's type, or the bad-message kind); None if
    it keeps the rule."""
    try:
        checker(module)(data)
    except RuleBroken as exc:
        cause = exc.__cause__
        return f"{type(cause).__name__}:{str(exc).split(':', 1)[0]}" if cause is not None else str(exc)
    return None


def minimize(module: ModuleType, data: bytes, max_checks: int = 20000) -> bytes:
    """A smaller input that breaks the rule the same way: drop chunks (halving their size), then lower bytes."""
    want = signature(module, data)
    if want is None:
        raise ValueError("the input keeps the rule: nothing to minimise")
    checks, size = 0, max(1, len(data) // 2)
    while size >= 1 and checks < max_checks:
        pos, shrunk = 0, False
        while pos < len(data) and checks < max_checks:
            candidate = data[:pos] + data[pos + size:]
            checks += 1
            if candidate != data and signature(module, candidate) == want:
                data, shrunk = candidate, True
            else:
                pos += size
        if not shrunk:
            size //= 2
    for i in range(len(data)):
        for value in (0x00, 0x30, 0x61):
            if checks >= max_checks or data[i] <= value:
                break
            candidate = data[:i] + bytes([value]) + data[i + 1:]
            checks += 1
            if signature(module, candidate) == want:
                data = candidate
                break
    return data
