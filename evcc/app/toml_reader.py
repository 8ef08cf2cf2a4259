"""Reading one TOML table with checks that name the key: unknown keys, wrong types and values out of range
become :class:`~evcc.app.errors.AppConfigError` ("[session] tls: expected a boolean, got 'yes'").

Sans-IO: works on the dict ``tomllib`` returned; the file is read by :func:`evcc.app.config.load_config`.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from evcc.app.errors import AppConfigError

T = TypeVar("T")
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, 60, 60  # bounded, whatever the nesting depth


IFNAMSIZ = 16  # Linux <net/if.h>: interface names are at most 15 bytes and a NUL


def _shown(value: object) -> str:
    text = _SHOWN.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """The keys of one table; :meth:`done` rejects what nobody asked for."""

    def __init__(self, name: str, data: object) -> None:
        self.name = name
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise AppConfigError(f"[{name}]: expected a table, got {_shown(data)}")
        self._data: dict[str, Any] = dict(data)
        self._seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"[{self.name}] {key}"

    def has(self, key: str) -> bool:
        return key in self._data

    def _get(self, key: str, kind: type, default: Any, required: bool) -> Any:
        self._seen.add(key)
        if key not in self._data:
            if required:
                raise AppConfigError(f"{self.where(key)}: missing (required)")
            return default
        value = self._data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise AppConfigError(f"{self.where(key)}: expected {_TYPE_NAMES[kind]}, got {_shown(value)}")
        return value

    def text(self, key: str, default: str | None = None, *, choices: Sequence[str] | None = None,
             required: bool = False) -> str:
        value = self._get(key, str, default, required)
        if choices is not None and value not in choices:
            raise AppConfigError(f"{self.where(key)}: {_shown(value)} is not one of {', '.join(choices)}")
        if not isinstance(value, str):
            raise AppConfigError(f"{self.where(key)}: missing (required)")
        return value

    def interface(self, key: str) -> str:
        """A network interface name as Linux accepts it (1..15 bytes, no '/', ':', whitespace or NUL; not '.'
        or '..'): one clear line here instead of a failed bind when the service starts."""
        value = self.text(key, required=True)
        raw = value.encode("utf-8", "surrogatepass")
        if (not 0 < len(raw) <= IFNAMSIZ - 1 or value in (".", "..")
                or any(c in "/:" or c.isspace() or not c.isprintable() for c in value)):
            raise AppConfigError(f"{self.where(key)}: {_shown(value)} is not a network interface name "
                                 f"(1 to {IFNAMSIZ - 1} bytes, no '/', ':', spaces or control characters)")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, str, None, False)
        return value if isinstance(value, str) else None

    def path(self, key: str, default: Path | None = None, *, required: bool = False) -> Path:
        value = self._get(key, str, None if default is None else str(default), required)
        if not isinstance(value, str) or not value:
            raise AppConfigError(f"{self.where(key)}: expected a non-empty path")
        if "\0" in value:
            raise AppConfigError(f"{self.where(key)}: a path cannot contain a NUL character")
        return Path(value)

    def optional_path(self, key: str) -> Path | None:
        self._seen.add(key)
        return self.path(key) if self.has(key) else None

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._get(key, bool, default, False))

    def number(self, key: str, default: float, low: float, high: float, *, open_low: bool = False) -> float:
        value = float(self._get(key, float, default, False))
        below = value <= low if open_low else value < low
        if not math.isfinite(value) or below or value > high:
            bound = "(" if open_low else "["
            raise AppConfigError(f"{self.where(key)}: {value:g} outside {bound}{low:g}, {high:g}]")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = int(self._get(key, int, default, False))
        if not low <= value <= high:
            raise AppConfigError(f"{self.where(key)}: {value} outside [{low}, {high}]")
        return value

    def strings(self, key: str, default: Sequence[str], *, choices: Sequence[str] | None = None) -> tuple[str, ...]:
        self._seen.add(key)
        value = self._data.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AppConfigError(f"{self.where(key)}: expected a list of strings, got {_shown(value)}")
        for v in value:
            if choices is not None and v not in choices:
                raise AppConfigError(f"{self.where(key)}: {_shown(v)} is not one of {', '.join(choices)}")
        if len(set(value)) != len(value):
            raise AppConfigError(f"{self.where(key)}: an entry is listed twice")
        return tuple(value)

    def paths(self, key: str) -> tuple[Path, ...]:
        """A list of non-empty paths (none by default)."""
        values = self.strings(key, ())
        if any(not v or "\0" in v for v in values):
            raise AppConfigError(f"{self.where(key)}: every entry must be a non-empty path without NUL characters")
        return tuple(Path(v) for v in values)

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            known = ", ".join(sorted(self._seen))
            raise AppConfigError(f"[{self.name}]: unknown key {_SHOWN.repr(unknown[0])} (known: {known})")


def tables(doc: dict[str, Any], known: Sequence[str]) -> dict[str, Table]:
    """One :class:`Table` per known section; an unknown top-level key is an error."""
    unknown = sorted(set(doc) - set(known))
    if unknown:
        # a key may hold any character, newlines too: escaped and bounded like every value shown
        raise AppConfigError(f"unknown section [{_SHOWN.repr(unknown[0])[1:-1]}] (known: {', '.join(known)})")
    return {name: Table(name, doc.get(name)) for name in known}
