"""Garbage collection off the charge loop's path (issue 13 item 4; evcc.gc_watch): with the objects alive at the
start of the session frozen (what the session runner does), a full collection in the middle of a charge loop walks
only what the loop keeps, not the start-up heap, and takes at most a few milliseconds. Pauses are measured with
``gc.callbacks`` on the thread's CPU clock, so a loaded machine that preempts the test does not count as a pause.
Each full collection here is forced (the worst case of a loop: a full one at any moment)."""

from __future__ import annotations

import gc
import time

from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.gc_watch import GcPauses, frozen_after_start
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.session_log import SessionLog
from tests.session.soak_helpers import Pair

START_UP = 300_000  # long-lived objects of a process that has started (codec tables, parts, imports ...)
A_FEW_MS = 0.005


def _pair() -> Pair:
    car = BatteryModel(capacity_wh=50_000_000.0, soc=10.0, target_soc=100.0)
    pair = Pair(DinEvcc(DinConfig(evcc_id=bytes(6)), car), DinSecc(config=DinSeccConfig(stop_after_loop=20_000)),
                SessionLog())
    pair.start()
    return pair


def test_full_collections_in_a_frozen_charge_loop_are_short_and_skip_the_start_up_heap() -> None:
    heap = [[i] for i in range(START_UP)]  # tracked containers that live as long as the process
    pair = _pair()
    walked: list[int] = []
    with frozen_after_start() as frozen, GcPauses(clock=time.thread_time) as pauses:
        assert frozen >= START_UP
        for round_ in range(1, 5):
            target = round_ * 4000
            pair.run(until=lambda p: p.requests >= target)
            walked.append(len(gc.get_objects()))  # what a full collection walks now
            gc.collect()
    assert pair.ev.ended is None and pair.log.rtt.stats["CurrentDemandRes"].count >= 15_000
    assert pauses[2].count >= 4
    assert max(walked) < START_UP // 3, walked  # the start-up heap is out of the walk ...
    assert pauses[2].max < A_FEW_MS, pauses.summary_ms()  # ... so a full collection is short
    assert pauses.all.max < A_FEW_MS, pauses.summary_ms()
    print(f"frozen {frozen} objects; full collections walked {walked}; pauses (CPU) {pauses.summary_ms()}")
    assert len(gc.get_objects()) >= START_UP  # handed back to the collector after the session
    del heap


def test_unfrozen_the_same_collection_walks_the_whole_start_up_heap() -> None:
    """The control: what freezing saves (object counts, not time: robust on any machine)."""
    heap = [[i] for i in range(START_UP)]
    pair = _pair()
    pair.run(until=lambda p: p.requests >= 2000)
    assert len(gc.get_objects()) >= START_UP
    with frozen_after_start():
        assert len(gc.get_objects()) < START_UP // 3
    del heap
