"""How a verdict is read from what the charger did (issue 16): response codes matched against patterns
(exact, or a prefix ending in ``*``), the rules of :class:`~evcc.conformance.model.Check` on the response's
fields, the SessionID of every response after SessionSetup (ISO 15118-2 §8.3.x / DIN SPEC 70121: the one the
charger assigned), the performance time (DIN SPEC 70121 Table 75, ISO 15118-2 Table 109:
V2G_SECC_Msg_Performance_Time). Pure functions: (expectation, observation) -> (verdict, reason)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evcc.conformance.messages import field_value
from evcc.conformance.model import Check, Verdict

Judgement = tuple[Verdict, str]


def code_matches(code: str, patterns: Sequence[str]) -> bool:
    return any(code.startswith(p[:-1]) if p.endswith("*") else code == p for p in patterns)


def check_fields(msg: Any, checks: Sequence[Check], session_id: bytes | None) -> str | None:
    """None when every check holds, else what failed (the first)."""
    for check in checks:
        found, value = field_value(msg, check.path)
        if check.rule == "le-field":
            other_found, other = field_value(msg, str(check.arg))
            if found and other_found and isinstance(value, float) and isinstance(other, float) and value > other:
                return f"{check.path}: {value:g} above {check.arg} {other:g}"
            if not found:
                return f"{check.path}: missing (mandatory here)"
            continue
        failed = _failed(check, found, value, session_id)
        if failed is not None:
            return f"{check.path}: {failed}"
    return None


def _failed(check: Check, found: bool, value: Any, session_id: bytes | None) -> str | None:
    rule, arg = check.rule, check.arg
    if rule == "absent":
        return None if not found else f"present ({value!r}), must be absent"
    if not found:
        return "missing (mandatory here)"
    if rule == "present":
        return None
    if rule == "in":
        return None if _plain(value) in arg else f"{_plain(value)!r} not in {list(arg)}"
    if rule == "not-in":
        return None if _plain(value) not in arg else f"{_plain(value)!r} must not be one of {list(arg)}"
    if rule == "range":
        lo, hi = arg
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{value!r} is not a number"
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"{value:g} outside [{lo}, {hi}]"
        return None
    if rule == "len":
        lo, hi = arg
        try:
            n = len(value)
        except TypeError:
            return f"{value!r} has no length"
        return None if lo <= n <= hi else f"length {n} outside [{lo}, {hi}]"
    if rule == "same-session":
        return None if session_id is None or bytes(value) == session_id else \
            f"{bytes(value).hex().upper()} is not the session's {session_id.hex().upper()}"
    if rule == "new-session":
        sid = bytes(value)
        if len(sid) != 8 or sid == bytes(8):
            return f"{sid.hex().upper()} is no new SessionID (8 bytes, not 0)"
        return None
    return f"unknown rule {rule}"  # pragma: no cover - the model refuses unknown rules


def _plain(value: Any) -> Any:
    """Enum-like values of the codec are plain strings; a bytes value compares as bytes."""
    return value.value if hasattr(value, "value") and not hasattr(value, "_fields") else value


def late(elapsed: float, budget: float, what: str) -> str | None:
    return None if elapsed <= budget else f"{what} after {elapsed * 1000:.1f} ms, budget {budget * 1000:.0f} ms"
