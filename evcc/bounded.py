"""Bounded records: everything that grows with session length (message records, events, time series) goes
through these, shared by ``session``, ``bench`` and ``app`` (ARCHITECTURE.md, "Growing the house"). Memory
stays the same for a session of one minute and of one night.

:class:`Window`      the first ``head`` and the last ``tail`` items of a stream, and how many were left out
:class:`Quantiles`   count, min, max, mean exactly; median and p99 exactly for the first ``EXACT`` samples,
                     then from a fixed histogram (:data:`PRECISION`)
:class:`PerName`     one :class:`Quantiles` (and a late count) per message name, a bounded number of names
:class:`Decimator`   at most ``2 * points`` evenly spaced samples of a series (plots), first and last kept

Pure data structures: no clock, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

EXACT = 4096  # samples kept as they are per Quantiles (exact median and p99 up to this count)
_SUB_BITS = 9  # exact microseconds below 512 us, then 256 buckets per octave
PRECISION = ("beyond the first 4096 samples: 1 us below 0.512 ms, above it buckets 1/256 of the value wide "
             "reported by their middle (within 0.2 %); a fixed log-linear histogram, under 10,000 buckets up to "
             "12 days")


class Window(Generic[T]):
    """The first ``head`` and the last ``tail`` items appended; ``total`` counts all of them. Iterating gives
    the kept items in order (head, then tail); ``dropped`` says how many lie between them."""

    def __init__(self, head: int = 1000, tail: int = 1000) -> None:
        if head < 0 or tail < 0:
            raise ValueError("Window: head and tail must be >= 0")
        self.head_limit = head
        self._head: list[T] = []
        self._tail: deque[T] = deque(maxlen=tail)
        self.total = 0

    def append(self, item: T) -> None:
        self.total += 1
        if len(self._head) < self.head_limit:
            self._head.append(item)
        elif self._tail.maxlen:
            self._tail.append(item)

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    @property
    def dropped(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    def __iter__(self) -> Iterator[T]:
        yield from self._head
        yield from self._tail

    def __len__(self) -> int:
        return len(self._head) + len(self._tail)

    def __bool__(self) -> bool:
        return self.total > 0

    def parts(self) -> tuple[list[T], list[T]]:
        """(head, tail) as lists: the first kept items and the last ones (a gap between them when dropped)."""
        return list(self._head), list(self._tail)

    def last(self) -> T | None:
        if self._tail:
            return self._tail[-1]
        return self._head[-1] if self._head else None


def _bucket(us: int) -> int:
    """Histogram key of a value in whole microseconds: itself below 512, else (octave, its top 9 bits)."""
    if us < (1 << _SUB_BITS):
        return us
    shift = us.bit_length() - _SUB_BITS
    return (shift << _SUB_BITS) + (us >> shift)


def _bucket_value(key: int) -> float:
    """The middle of a histogram bucket, microseconds."""
    if key < (1 << _SUB_BITS):
        return float(key)
    shift, mant = key >> _SUB_BITS, key & ((1 << _SUB_BITS) - 1)
    return (mant << shift) + ((1 << shift) - 1) / 2.0


class Quantiles:
    """Summary of a stream of non-negative durations in seconds. Count, min, max and mean are exact; median
    and p99 are exact while ``count <= EXACT`` and come from the histogram afterwards (:data:`PRECISION`).
    Memory: at most ``EXACT`` floats plus the histogram's buckets (bounded by the value range)."""

    __slots__ = ("count", "min", "max", "total", "_samples", "_hist")

    def __init__(self) -> None:
        self.count = 0
        self.min = math.inf
        self.max = 0.0
        self.total = 0.0
        self._samples: list[float] | None = []
        self._hist: dict[int, int] = {}

    def add(self, seconds: float) -> None:
        value = max(0.0, seconds)
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        key = _bucket(int(value * 1e6 + 0.5))
        self._hist[key] = self._hist.get(key, 0) + 1
        if self._samples is not None:
            if len(self._samples) < EXACT:
                self._samples.append(value)
            else:
                self._samples = None

    def merge(self, other: Quantiles) -> None:
        """Add every sample ``other`` summarises (exact when both are and the sum fits in ``EXACT``)."""
        if other.count == 0:
            return
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        for key, n in other._hist.items():
            self._hist[key] = self._hist.get(key, 0) + n
        if self._samples is not None and other._samples is not None and \
                len(self._samples) + len(other._samples) <= EXACT:
            self._samples.extend(other._samples)
        else:
            self._samples = None

    @property
    def exact(self) -> bool:
        """Whether median and p99 are exact (every sample still kept)."""
        return self._samples is not None

    def quantile(self, q: float) -> float:
        """The nearest-rank ``q`` quantile (0 < q <= 1), seconds; 0.0 when empty. The median is
        :func:`statistics.median` while exact."""
        if self.count == 0:
            return 0.0
        if self._samples is not None:
            if q == 0.5:
                return statistics.median(self._samples)
            ordered = sorted(self._samples)
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for key in sorted(self._hist):
            seen += self._hist[key]
            if seen >= rank:
                return min(self.max, max(self.min, _bucket_value(key) / 1e6))
        return self.max

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary_ms(self) -> dict[str, float | int | bool]:
        """count, min/median/p99/max/mean in milliseconds (rounded to the microsecond) and ``exact``."""
        if self.count == 0:
            return {"count": 0}
        return {"count": self.count, "min_ms": round(self.min * 1e3, 3), "median_ms": round(self.median * 1e3, 3),
                "p99_ms": round(self.p99 * 1e3, 3), "max_ms": round(self.max * 1e3, 3),
                "mean_ms": round(self.mean * 1e3, 3), "exact": self.exact}


class PerName:
    """A :class:`Quantiles` and a count of late ones per name, in order of first appearance; at most
    ``max_names`` names (a peer that sends endless new names shares one "other" entry)."""

    OTHER = "other"

    def __init__(self, max_names: int = 128) -> None:
        self.max_names = max_names
        self.stats: dict[str, Quantiles] = {}
        self.late: dict[str, int] = {}

    def _key(self, name: str) -> str:
        if name in self.stats or len(self.stats) < self.max_names:
            return name
        return self.OTHER

    def add(self, name: str, seconds: float, late: bool = False) -> None:
        key = self._key(name)
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = Quantiles()
            self.late[key] = 0
        stats.add(seconds)
        if late:
            self.late[key] += 1

    def merge(self, other: PerName) -> None:
        for name, q in other.stats.items():
            key = self._key(name)
            if key not in self.stats:
                self.stats[key], self.late[key] = Quantiles(), 0
            self.stats[key].merge(q)
            self.late[key] += other.late.get(name, 0)

    def rows(self) -> list[dict[str, float | int | bool | str]]:
        """One summary row per name: ``type``, :meth:`Quantiles.summary_ms`, ``late``."""
        return [{"type": name, **q.summary_ms(), "late": self.late[name]} for name, q in self.stats.items()]


class Decimator(Generic[T]):
    """Evenly spaced samples of a stream: every ``stride``-th item is kept; when ``2 * points`` are kept, every
    other one is dropped and the stride doubles. The first item is always kept, the latest is kept aside so
    that :meth:`items` ends with it. Memory: at most ``2 * points + 1`` items."""

    def __init__(self, points: int = 1000) -> None:
        if points < 1:
            raise ValueError("Decimator: points must be >= 1")
        self.points = points
        self.stride = 1
        self.total = 0
        self._kept: list[T] = []
        self._last: T | None = None

    def append(self, item: T) -> None:
        if self.total % self.stride == 0:
            self._kept.append(item)
            if len(self._kept) >= 2 * self.points:
                self._kept = self._kept[::2]
                self.stride *= 2
            self._last = None
        else:
            self._last = item
        self.total += 1

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def items(self) -> list[T]:
        return self._kept + ([self._last] if self._last is not None else [])

    def __len__(self) -> int:
        return len(self._kept) + (self._last is not None)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items())
