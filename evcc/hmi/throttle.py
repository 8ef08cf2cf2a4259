"""Throttled PropertiesChanged (sans-IO). dbus-fast drops the connection on EAGAIN under unbounded sends
(SERVICE.md), so fast-changing values (SoC, power, energy) go out at most once per ``interval``; the keys in
``immediate`` (the state, errors) flush everything pending at once, so a state change reaches clients without
waiting. Values equal to the last published ones are not sent again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class PropertyThrottle:
    interval: float
    immediate: frozenset[str] = frozenset()
    _published: dict[str, object] = field(default_factory=dict)
    _pending: dict[str, object] = field(default_factory=dict)
    _last_emit: float | None = None

    def update(self, changes: Mapping[str, object], now: float) -> dict[str, object] | None:
        """Record changes; returns what to emit now, or None (then emit :meth:`flush` at :meth:`deadline`)."""
        for key, value in changes.items():
            if key in self._published and self._published[key] == value:
                self._pending.pop(key, None)
            else:
                self._pending[key] = value
        if not self._pending:
            return None
        due = self._last_emit is None or now - self._last_emit >= self.interval
        if due or self.immediate & self._pending.keys():
            return self.flush(now)
        return None

    def deadline(self) -> float | None:
        if not self._pending:
            return None
        return (self._last_emit or 0.0) + self.interval

    def flush(self, now: float) -> dict[str, object]:
        out, self._pending = self._pending, {}
        self._published.update(out)
        self._last_emit = now
        return out
