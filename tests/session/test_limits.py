"""What the EV may ask for now (evcc.session.limits, issue 19), as pure functions: never above the smallest limit
in force (EVSEMaximumCurrentLimit, EVSEMaximumPowerLimit at the target voltage, the PMax in force), never below
EVSEMinimumCurrentLimit while charging unless it stops, and nonsense limits recorded, never raised."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.exi import din
from evcc.session.din.values import pv, value_of
from evcc.session.events import LimitDeviation, LimitInForce
from evcc.session.limits import (
    EvseLimits, LimitTracker, ac_current, dc_current, discharge, floor_encodable, power, relative_schedule,
    window_min,
)

ANY = st.floats(allow_nan=True, allow_infinity=True)
LIMIT = st.one_of(st.none(), st.floats(-1e6, 1e6), st.just(0.0), st.just(float("nan")))
SANE = st.one_of(st.none(), st.floats(0.5, 1e6))


def evse_limits() -> st.SearchStrategy[EvseLimits]:
    return st.builds(EvseLimits, max_current=LIMIT, max_power=LIMIT, max_voltage=LIMIT, min_current=LIMIT)


@settings(max_examples=400, deadline=None)
@given(wish=ANY, voltage=ANY, evse=evse_limits(), pmax=LIMIT, ev_max=LIMIT)
def test_dc_target_current_never_above_any_limit_and_never_raises(
        wish: float, voltage: float, evse: EvseLimits, pmax: float | None, ev_max: float | None) -> None:
    a = dc_current(wish, voltage, evse, pmax, ev_max)
    assert a.value >= 0 and math.isfinite(a.value)
    assert a.source in ("EV", "EVSE maximum", "schedule", "minimum")
    v = (max(1.0, voltage) if voltage == voltage and voltage > 0 else 1.0)
    bounds = [evse.max_current, None if evse.max_power is None else evse.max_power / v,
              None if pmax is None else pmax / v]
    for bound in bounds:
        if bound is not None and bound == bound:
            assert a.value <= max(0.0, bound) + 1e-9, (a, bound)
    if a.source != "minimum" and wish == wish:
        assert a.value <= max(0.0, wish) + 1e-9  # nothing the vehicle did not ask for
    if a.stop is None and evse.min_current is not None and evse.min_current > 0 and a.value < evse.min_current:
        # below the minimum only when a power limit or the schedule allows no more (recorded), or nothing wanted
        assert a.source in ("EVSE maximum", "schedule") and a.deviations or wish != wish or wish <= 0
    bad = [x for x in (evse.max_current, evse.max_power, pmax) if x is not None and (x != x or x < 0)]
    if bad:
        assert a.deviations  # the nonsense is recorded


@given(wish=st.floats(0, 500), voltage=st.floats(150, 1000), max_power=st.integers(1, 400_000),
       max_current=st.integers(1, 500), pmax=st.integers(0, 400_000))
def test_the_encoded_request_stays_within_the_power_as_encoded(
        wish: float, voltage: float, max_power: int, max_current: int, pmax: int) -> None:
    """DIN 70121 / ISO 15118-2 PhysicalValueType: what the charger decodes (current x voltage) is within the
    power limits, not just the float before encoding."""
    a = dc_current(wish, voltage, EvseLimits(max_current=max_current, max_power=max_power), pmax)
    current, volts = value_of(pv(a.value, "A")), value_of(pv(voltage, "V"))
    assert current is not None and volts is not None
    assert current <= max_current + 1e-9
    assert current * volts <= min(max_power, pmax) * (1 + 1e-12) + 1e-6


def test_the_issue_charger_gets_its_10_kw_not_73_kw() -> None:
    """Issue 19: EVSEMaximumCurrentLimit 200 A, EVSEMaximumPowerLimit 10 kW; the car wants 200 A at 368 V."""
    a = dc_current(200.0, 368.0, EvseLimits(max_current=200, max_power=10_000, max_voltage=450), None)
    assert a.source == "EVSE maximum" and a.stop is None
    assert a.value * 368.0 <= 10_000 and a.value > 27.0


def test_minimum_raises_a_small_wish_when_the_vehicle_can_take_it_else_stops() -> None:
    evse = EvseLimits(max_current=100, min_current=5)
    raised = dc_current(2.0, 400.0, evse, None, ev_max=200.0)
    assert raised.value == 5.0 and raised.source == "minimum" and raised.stop is None
    stopped = dc_current(2.0, 400.0, evse, None, ev_max=3.0)
    assert stopped.stop is not None and stopped.value == 0.0
    squeezed = dc_current(100.0, 400.0, evse, 1_000.0)  # the PMax allows 2.5 A, the EVSE's minimum is 5 A
    assert squeezed.stop is None and squeezed.value == 2.4 and squeezed.source == "schedule"  # never above it
    assert "less than the EVSE's minimum" in squeezed.deviations[0]
    josev = dc_current(100.0, 400.0, EvseLimits(max_current=100, max_power=1_000, min_current=10), None, 200.0)
    assert josev.stop is None and josev.value == 2.4 and josev.deviations  # Josev's -20 DC EVSE: 1 kW, 10 A min
    contradiction = dc_current(100.0, 400.0, EvseLimits(max_current=4, min_current=5), None, 200.0)
    assert contradiction.stop is not None and "no valid request" in contradiction.stop


def test_nonsense_limits_are_recorded_and_stop_in_order() -> None:
    below = dc_current(50.0, 400.0, EvseLimits(max_current=2, min_current=10), None, ev_max=200.0)
    assert any("below its minimum" in d for d in below.deviations) and below.stop is not None
    negative = dc_current(50.0, 400.0, EvseLimits(max_power=-5_000), None)
    assert negative.value == 0.0 and negative.stop is not None and "makes no sense" in negative.deviations[0]
    zero = dc_current(50.0, 400.0, EvseLimits(max_current=0), None)
    assert zero.stop == "the EVSE allows no charging (maximum 0 A)"
    assert dc_current(50.0, 400.0, EvseLimits(max_current=0), None, charging=False).stop is None
    schedule_zero = dc_current(50.0, 400.0, EvseLimits(max_current=100), 0.0)  # a PMax of 0 is a valid 0 A
    assert schedule_zero.value == 0.0 and schedule_zero.stop is None and schedule_zero.source == "schedule"


@given(wish=ANY, voltage=ANY, phases=st.integers(-1, 3), evse=evse_limits(), pmax=LIMIT, ev_min=LIMIT)
def test_ac_current_per_phase_within_evse_max_current_and_pmax(
        wish: float, voltage: float, phases: int, evse: EvseLimits, pmax: float | None, ev_min: float | None) -> None:
    a = ac_current(wish, voltage, phases, evse, pmax, ev_min)
    assert a.value >= 0 and math.isfinite(a.value)
    if evse.max_current is not None and evse.max_current == evse.max_current:
        assert a.value <= max(0.0, evse.max_current) + 1e-9
    per_phase = max(1.0, voltage if voltage == voltage else 0.0) * max(1, phases)
    if pmax is not None and pmax == pmax and math.isfinite(per_phase):
        assert a.value * per_phase <= max(0.0, pmax) * (1 + 1e-12) + 1e-6


@given(wish=ANY, evse_max=LIMIT, pmax=LIMIT, minimum=LIMIT)
def test_power_requests_within_the_evse_and_the_schedule(wish: float, evse_max: float | None, pmax: float | None,
                                                         minimum: float | None) -> None:
    a = power(wish, evse_max, pmax, True, minimum)
    for bound in (evse_max, pmax):
        if bound is not None and bound == bound:
            assert a.value <= max(0.0, bound) + 1e-9


@given(wish=ANY, evse_max=LIMIT, schedule=LIMIT)
def test_bpt_discharge_within_the_evse_discharge_limits_and_never_stops(
        wish: float, evse_max: float | None, schedule: float | None) -> None:
    a = discharge(wish, "A", evse_max, schedule)
    assert a.stop is None and a.value >= 0
    if evse_max is not None and evse_max == evse_max:
        assert a.value <= max(0.0, evse_max) + 1e-9


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(-10, 10 * 86_400), st.one_of(st.none(), st.integers(0, 90_000)),
                                st.floats(-1e5, 1e6)), max_size=6),
       early=st.floats(0, 1000), delay=st.floats(0, 2), at=st.floats(-10, 200_000))
def test_relative_schedule_pmax_is_the_smallest_over_the_secc_time_window(
        steps: list[tuple[int, int | None, float]], early: float, delay: float, at: float) -> None:
    """DIN / ISO 15118-2 PMaxSchedule ([V2G2-294]): the SECC's time 0 lies between our request and its response;
    the PMax used is never above the SECC's at any time in that window; bad entries are recorded, not raised."""
    s = relative_schedule([(float(a), None if d is None else float(d), p) for a, d, p in steps], early, early + delay)
    got = s.pmax(at)
    assert got >= 0
    valid = sorted((a, max(0.0, p) if p == p else 0.0) for a, _, p in steps if 0 <= a <= 7 * 86_400)
    for secc_time in (at - early - delay, at - early):
        in_force = [p for a, p in valid if a <= secc_time]
        if valid and secc_time >= 0 and in_force:
            assert got <= in_force[-1] + 1e-9
    if any(a < 0 or a > 7 * 86_400 or p != p or p < 0 for a, _, p in steps) or not steps:
        assert s.deviations


def test_a_50_kw_then_11_kw_schedule_steps_down_before_the_secc_does() -> None:
    s = relative_schedule([(0.0, None, 50_000.0), (60.0, 86_340.0, 11_000.0)], 100.0, 100.2)
    assert s.pmax(150.0) == 50_000.0
    assert s.pmax(160.0) == 11_000.0  # SECC time 59.8..60.0: it may already be 60
    assert s.pmax(100.0 + 86_400.0) == 0.0  # the schedule ended: nothing is agreed


def test_saturated_din_pmax_sets_no_limit() -> None:
    s = relative_schedule([(0.0, 86_400.0, 32_767.0)], 0.0, 0.01, saturated=32_767)
    a = dc_current(200.0, 400.0, EvseLimits(max_current=200, max_power=100_000), s.pmax(10.0))
    assert a.source == "EV" and a.value == 200.0
    assert din.PMaxScheduleEntryType(PMax=32_767).PMax == 32_767


def test_window_min_sees_a_step_inside_the_window() -> None:
    def step(t: float) -> float:
        return 50_000.0 if t < 60 else 11_000.0
    assert window_min(step, 58.5, 59.5) == 50_000.0
    assert window_min(step, 59.0, 61.0) == 11_000.0


def test_floor_encodable_rounds_down_to_what_physical_values_carry() -> None:
    assert floor_encodable(27.17) == 27.1
    assert floor_encodable(50_000.4) == 50_000.0
    assert floor_encodable(-3.0) == 0.0 and floor_encodable(float("nan")) == 0.0


def test_tracker_reports_source_changes_and_each_deviation_once() -> None:
    tracker = LimitTracker()
    first = tracker.take("EVTargetCurrent", dc_current(100.0, 400.0, EvseLimits(max_current=50), None), 1.0)
    assert [type(e) for e in first] == [LimitInForce]
    assert isinstance(first[0], LimitInForce) and first[0].source == "EVSE maximum" and first[0].value == 50.0
    assert tracker.take("EVTargetCurrent", dc_current(100.0, 400.0, EvseLimits(max_current=50), None), 2.0) == []
    bad = dc_current(100.0, 400.0, EvseLimits(max_current=-1), None)
    events = tracker.take("EVTargetCurrent", bad, 3.0) + tracker.take("EVTargetCurrent", bad, 4.0)
    assert sum(isinstance(e, LimitDeviation) for e in events) == len(bad.deviations) == 2  # once each
    assert tracker.current is bad


def test_the_session_report_shows_the_limit_in_force_and_what_set_it() -> None:
    """Issue 19 point 2: the `evcc session` report carries the last limit and the deviations."""
    from evcc.session.report import SessionJsonReport
    from evcc.session.session_log import SessionLog

    log = SessionLog()
    log.extend([LimitInForce("EVTargetCurrent", 200.0, "A", "EV", 1.0),
                LimitDeviation("EVSEMaximumPowerLimit -5 makes no sense: taken as 0"),
                LimitInForce("EVTargetCurrent", 27.1, "A", "EVSE maximum", 2.5)])
    report = SessionJsonReport(interface="eth1", protocol="din", auth="eim", tls=False)
    report.take_events(log)
    assert report.limit == {"request": "EVTargetCurrent", "value": 27.1, "unit": "A", "source": "EVSE maximum",
                            "at": 2.5}
    assert report.limit_deviations == ["EVSEMaximumPowerLimit -5 makes no sense: taken as 0"]
    assert report.as_dict()["limit"]["source"] == "EVSE maximum"


def test_tracker_reports_each_request_kind_on_its_own() -> None:
    """ISO 15118-20 Dynamic DC bounds two values per message: alternating them is no change of either."""
    tracker = LimitTracker()
    evse = EvseLimits(max_current=50, max_power=20_000)
    told = []
    for i in range(5):
        told += tracker.take("EVMaximumChargePower", power(80_000.0, evse.max_power, None), float(i))
        told += tracker.take("EVMaximumChargeCurrent", dc_current(200.0, 400.0, evse, None), float(i))
    assert [e.request for e in told if isinstance(e, LimitInForce)] == ["EVMaximumChargePower",
                                                                        "EVMaximumChargeCurrent"]


def test_a_din_pmax_that_cannot_be_watts_is_recorded_and_not_applied() -> None:
    """DIN SPEC 70121 PMaxType has no unit: Josev's simulated EVSE sends PMax 200 with EVSEMinimumCurrentLimit
    20 A; read as 200 W no DC request would be valid. It is not applied; EVSEMaximumPowerLimit governs."""
    from evcc.session.limits import din_pmax

    evse = EvseLimits(max_current=200, max_power=10_000, min_current=20)
    pmax, why = din_pmax(200.0, evse, 38.0)
    assert pmax is None and why is not None and "not a power in W" in why
    a = dc_current(100.0, 38.0, evse, pmax, 100.0)
    assert a.stop is None and a.value == 100.0
    assert din_pmax(11_000.0, evse, 400.0) == (11_000.0, None)  # 11 kW >= 20 A x 400 V: applied
    assert din_pmax(200.0, EvseLimits(max_current=200), 400.0) == (200.0, None)  # no minimum: read as W
