"""The bench's records stay bounded for runs of any length (issue 13 item 1): the report keeps the first and last
exchanges with timings over all of them (merged across the sessions of a run), and the battery model's series is
decimated to a bounded number of evenly spaced samples for the plot, first and last kept. The session report
(`evcc session --json`) keeps the first and last messages the same way."""

from __future__ import annotations

import argparse
import json

import pytest

from evcc.bench import cli as bench_cli
from evcc.bench.cli import scenario_from
from evcc.errors import ConfigError
from evcc.session.pacing import DEFAULT_MIN_CYCLE

from evcc.bench.report import MESSAGES_HEAD, MESSAGES_TAIL, SERIES_POINTS, BenchReport
from evcc.bench.vehicle_sim import make_vehicle
from evcc.bounded import Window
from evcc.session.events import Exchange, LateResponse
from evcc.session.report import EV_TO_SECC, SECC_TO_EV, Recorded, SessionJsonReport
from evcc.session.runner import SessionReport
from evcc.session.events import EndKind, SessionEnded
from evcc.session.session_log import SessionLog


def _session(loops: int, t0: float) -> SessionReport:
    log = SessionLog()
    log.extend([Exchange("SessionSetupReq", t0, t0 + 0.002)])
    for i in range(loops):
        sent = t0 + 1.0 + i * 0.1
        log.extend([Exchange("CurrentDemandReq", sent, sent + 0.004)])
        if i % 1000 == 0:
            log.extend([LateResponse("CurrentDemandRes", 0.03, 0.025)])
    log.extend([Exchange("SessionStopReq", t0 + 9e3, t0 + 9e3 + 0.002)])
    return SessionReport(SessionEnded(EndKind.COMPLETED, "done", "SessionStopRes"), "din", log)


def test_bench_report_keeps_head_and_tail_and_times_every_exchange_of_every_session() -> None:
    report = BenchReport(link="memory", clock="virtual")
    report.take_session(_session(30_000, 0.0), 0.0)
    report.take_session(_session(20_000, 1e4), 0.0)
    assert report.sessions == 2 and report.session_stopped
    assert len(report.messages) == MESSAGES_HEAD + MESSAGES_TAIL
    assert report.messages_total == 50_004 and report.messages_dropped == 50_004 - len(report.messages)
    timing = {t.request: t for t in report.timings}
    loop = timing["CurrentDemandReq"]
    assert loop.count == 50_000 and loop.median_ms == 4.0 and loop.late == 50 and report.late_responses == 50
    out = json.loads(json.dumps(report.as_dict()))
    assert "_rtt" not in out and "_messages" not in out and out["messages_total"] == 50_004


def test_the_battery_series_is_decimated_with_first_and_last_kept() -> None:
    car = make_vehicle(10.0, 90.0, 1e6, 1.0)
    for i in range(200_000):  # a long session: one report every 25 ms of protocol time
        car.evse_output(400.0, 100.0, i * 0.025)
    samples = car.samples
    assert len(samples) <= 2 * SERIES_POINTS + 1
    assert samples[0].t == 0.0 and samples[-1].t == 199_999 * 0.025
    assert all(a.t < b.t for a, b in zip(samples, samples[1:]))
    report = BenchReport(link="memory", clock="virtual")
    report.take_series(samples, 0.0)
    assert len(report.series) == len(samples)


def test_short_series_are_kept_whole() -> None:
    car = make_vehicle(10.0, 90.0, 1e6, 1.0)
    for i in range(100):
        car.evse_output(400.0, 100.0, i * 0.025)
    assert [s.t for s in car.samples] == [i * 0.025 for i in range(100)]


def test_session_report_keeps_first_and_last_messages_without_pairing_across_the_gap() -> None:
    records: Window[Recorded] = Window(4, 3)
    for i in range(1000):
        direction = EV_TO_SECC if i % 2 == 0 else SECC_TO_EV
        records.append(Recorded(i * 0.01, direction, 0x8001, b"\x80\x00"))
    report = SessionJsonReport("ev0", "din", "eim", False)
    report.take_messages(records, "din", 0.0)
    assert len(report.messages) == 7 and report.messages_total == 1000 and report.messages_dropped == 993
    first_of_tail = report.messages[4]
    assert first_of_tail["direction"] == SECC_TO_EV and "latency_ms" not in first_of_tail  # its request was dropped
    assert report.messages[-1]["latency_ms"] == 10.0 and report.messages[1]["latency_ms"] == 10.0


def _bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evcc")
    bench_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["bench", *argv])


def test_bench_pace_is_a_cars_in_battery_time_unless_chosen() -> None:
    assert scenario_from(_bench_args()).loop_min_cycle == DEFAULT_MIN_CYCLE / 300.0  # default --time-scale 300
    assert scenario_from(_bench_args("--min-cycle", "0")).loop_min_cycle == 0.0
    assert scenario_from(_bench_args("--min-cycle", "0.25")).loop_min_cycle == 0.25
    with pytest.raises(ConfigError, match="bench.min_cycle 0.5: outside"):
        scenario_from(_bench_args("--min-cycle", "0.5"))
