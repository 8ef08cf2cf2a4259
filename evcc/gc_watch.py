"""Garbage collection off the charge loop's path, and the measure of it.

CPython's cyclic collector walks every tracked object of the generation it collects; a full (generation 2)
collection over a large heap pauses the process for as long as the walk takes. The objects alive once a
session has started (codec tables, the machine, the connection, the daemon's parts) live as long as the session:
:func:`frozen_after_start` moves them into the collector's permanent generation (``gc.freeze``) for the time
of the session, so a collection in the charge loop walks only what the loop allocated since, and hands them back
(``gc.unfreeze``) at its end so that whatever of them became garbage is collected then.

:class:`GcPauses` measures collections through ``gc.callbacks``: per generation, how many and how long each took
(bounded, :class:`evcc.bounded.Quantiles`). The clock is passed in.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from evcc.bounded import Quantiles


@contextlib.contextmanager
def frozen_after_start(enabled: bool = True) -> Iterator[int]:
    """Freeze what is alive now for the duration of the block; yields how many objects are frozen."""
    if not enabled:
        yield gc.get_freeze_count()
        return
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()


class GcPauses:
    """Collections seen while installed (``with GcPauses() as pauses:``): ``pauses[gen]`` durations in seconds,
    ``all`` for every generation together."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.by_generation = [Quantiles(), Quantiles(), Quantiles()]
        self.all = Quantiles()
        self._started: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
        elif self._started is not None:
            pause = self.clock() - self._started
            self._started = None
            generation = int(info.get("generation", 2))
            self.by_generation[min(2, max(0, generation))].add(pause)
            self.all.add(pause)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def __getitem__(self, generation: int) -> Quantiles:
        return self.by_generation[generation]

    def summary_ms(self) -> dict[str, Any]:
        return {"all": self.all.summary_ms(), **{f"gen{g}": q.summary_ms() for g, q in enumerate(self.by_generation)}}
