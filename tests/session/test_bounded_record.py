"""Bounded records for sessions of any length (issue 13 item 1; ARCHITECTURE.md: everything that grows with the
session goes through evcc.bounded): the structures themselves (exact while small, the stated precision after),
and 200,000 unpaced charge-loop messages of a DIN SPEC 70121 session against the simulated SECC in memory whose
traced memory stays the same from the early loop to its end (tracemalloc)."""

from __future__ import annotations

import math
import random
import statistics
import tracemalloc

from evcc.bench.secc.din_responder import DinSecc
from evcc.bounded import EXACT, Decimator, PerName, Quantiles, Window
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind, Exchange, LateResponse
from evcc.session.session_log import SessionLog
from tests.session.soak_helpers import Pair, ReplayLoop


def test_window_keeps_head_and_tail_and_counts_the_rest() -> None:
    w: Window[int] = Window(3, 2)
    w.extend(range(10))
    assert list(w) == [0, 1, 2, 8, 9] and w.total == 10 and w.dropped == 5 and w.last() == 9
    assert w.parts() == ([0, 1, 2], [8, 9])
    short: Window[int] = Window(3, 2)
    short.extend(range(4))
    assert list(short) == [0, 1, 2, 3] and short.dropped == 0


def test_quantiles_exact_while_small() -> None:
    rng = random.Random(13)
    values = [rng.expovariate(100.0) for _ in range(EXACT)]
    q = Quantiles()
    for v in values:
        q.add(v)
    ordered = sorted(values)
    assert q.exact and q.count == EXACT
    assert q.median == statistics.median(values)
    assert q.p99 == ordered[math.ceil(0.99 * len(ordered)) - 1]
    assert (q.min, q.max) == (ordered[0], ordered[-1])


def test_quantiles_within_the_stated_precision_when_large() -> None:
    rng = random.Random(15118)
    values = [rng.lognormvariate(-5.0, 1.5) for _ in range(50_000)]  # ~7 ms median, up to seconds
    q = Quantiles()
    for v in values:
        q.add(v)
    ordered = sorted(values)
    assert not q.exact and q.count == len(values) and q.max == ordered[-1] and q.min == ordered[0]
    for share in (0.5, 0.9, 0.99, 0.999):
        exact = ordered[math.ceil(share * len(ordered)) - 1]
        assert abs(q.quantile(share) - exact) <= max(1e-6, exact * 0.0025), share  # 1 us or 0.2 % (+ rounding)
    assert len(q._hist) < 10_000  # the histogram is bounded by the value range, not the count


def test_quantiles_merge_keeps_counts_and_extremes() -> None:
    a, b = Quantiles(), Quantiles()
    for v in (0.001, 0.002, 0.003):
        a.add(v)
    for v in (0.010, 0.020):
        b.add(v)
    a.merge(b)
    assert a.count == 5 and a.min == 0.001 and a.max == 0.020 and a.median == 0.003 and a.exact


def test_per_name_bounds_the_names_a_peer_can_invent() -> None:
    names = PerName(max_names=4)
    for i in range(100):
        names.add(f"Invented{i}Res", 0.001)
    assert len(names.stats) == 5 and names.stats[PerName.OTHER].count == 96


def test_decimator_keeps_first_last_and_even_spacing() -> None:
    d: Decimator[int] = Decimator(50)
    d.extend(range(100_000))
    kept = d.items()
    assert kept[0] == 0 and kept[-1] == 99_999 and len(kept) <= 101
    steps = {b - a for a, b in zip(kept[:-2], kept[1:-1])}
    assert len(steps) == 1  # evenly spaced (the newest sample aside)


def test_session_log_aggregates_every_exchange_and_keeps_a_window() -> None:
    log = SessionLog(head=10, tail=10)
    for i in range(1000):
        log.extend([Exchange("CurrentDemandReq", i * 0.1, i * 0.1 + 0.004)])
        if i % 100 == 0:
            log.extend([LateResponse("CurrentDemandRes", 0.04, 0.025)])
    assert log.rtt.stats["CurrentDemandRes"].count == 1000 and log.rtt.late["CurrentDemandRes"] == 10
    assert len(log.exchanges) == 20 and log.exchanges.total == 1000 and len(log) == 20 and log.late_count == 10
    assert abs(log.rtt.stats["CurrentDemandRes"].median - 0.004) < 1e-9


def _traced_ev_side(snapshot: tracemalloc.Snapshot) -> int:
    """Traced bytes outside the charger simulator (its own record of every request grows on purpose)."""
    ev_side = snapshot.filter_traces([tracemalloc.Filter(False, "*/evcc/bench/secc/*"),
                                      tracemalloc.Filter(False, tracemalloc.__file__)])
    return sum(stat.size for stat in ev_side.statistics("filename"))


def test_200k_unpaced_loop_messages_keep_memory_flat() -> None:
    """100,000 CurrentDemand exchanges (200,000 loop messages), unpaced; the traced memory at the end is within
    256 KiB of what it was after the first 20,000 messages (the windows and exact samples full by then). The
    charger answers the loop with its last CurrentDemandRes replayed (ReplayLoop): only the EV side costs time."""
    exchanges = 100_000
    car = BatteryModel(capacity_wh=50_000_000.0, soc=10.0, target_soc=100.0)  # never full: the EV stops it
    secc = ReplayLoop(DinSecc())
    ev = DinEvcc(DinConfig(evcc_id=bytes(6)), car)
    pair = Pair(ev, secc, SessionLog())
    pair.start()
    pair.run(until=lambda p: p.log.rtt.stats.get("CurrentDemandRes") is not None)
    secc.replay = True
    pair.run(until=lambda p: p.requests >= 10_000)
    tracemalloc.start(1)
    try:
        pair.run(until=lambda p: p.requests >= 20_000)
        early = _traced_ev_side(tracemalloc.take_snapshot())
        pair.run(until=lambda p: p.log.rtt.stats["CurrentDemandRes"].count >= exchanges)
        late = _traced_ev_side(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    secc.replay = False
    ev.stop(pair.now, "the soak is over")
    pair.run()
    ended = pair.ev.ended
    assert ended is not None and ended.kind is EndKind.STOPPED and ended.reason == "the soak is over", ended
    loop = pair.log.rtt.stats["CurrentDemandRes"]
    assert loop.count >= exchanges and pair.requests + pair.responses > 200_000
    assert len(pair.log.exchanges) <= 2000 and len(pair.log) <= 2000
    assert late - early < 256 * 1024, (early, late)
    print(f"traced EV side after 20,000 messages {early} B, after {pair.requests + pair.responses}: {late} B")
