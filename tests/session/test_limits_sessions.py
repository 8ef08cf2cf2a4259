"""Sessions against chargers that limit (issue 19), in memory on an injected clock: a low maximum power or
current, a limit that drops during the charge loop and a PMaxSchedule with steps (evcc.bench.secc.limit_plan).
In DIN SPEC 70121, ISO 15118-2 DC and AC and ISO 15118-20 DC/AC Scheduled and Dynamic, no request exceeds what
is in force when the EV sends it (the simulator's LimitCheck), and the session ends in order. A Hypothesis
property test draws the limits and the schedule; fixed cases pin the issue's examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.limit_plan import ChargerLimits
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind, LimitDeviation, LimitInForce
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso20 import Iso20Config, Iso20Evcc
from evcc.session.iso20.values import number
from evcc.session.limits import Allowance

MAC = bytes.fromhex("0242ac110002")
TIME_BASE = 1_700_000_000.0
ENDED_IN_ORDER = (EndKind.COMPLETED, EndKind.STOPPED)
PROTOCOLS = ["din", "iso2-dc", "iso2-ac", "iso20-dc-Scheduled", "iso20-dc-Dynamic", "iso20-ac-Scheduled",
             "iso20-ac-Dynamic"]


class DrawRecorder(AcBatteryModel):
    """An AC vehicle that records what its on-board charger was allowed to draw (ISO 15118-2 AC: the EV's
    request is its draw; the charger sees only the meter)."""

    draws: list[tuple[float, float, int]]

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        self.draws.append((now, max_current, phases))
        super().ac_supply(voltage, max_current, phases, now)


def _car(ac: bool, capacity_wh: float = 60.0) -> BatteryModel:
    if ac:
        car = DrawRecorder(capacity_wh=capacity_wh, soc=75.0, target_soc=80.0)
        car.draws = []
        return car
    return BatteryModel(capacity_wh=capacity_wh, soc=75.0, target_soc=80.0)


def session(protocol: str, limits: ChargerLimits, capacity_wh: float = 60.0) -> tuple[PairResult, Any, BatteryModel]:
    """One session of ``protocol`` against the simulator limited by ``limits``."""
    ac = "-ac" in protocol
    car = _car(ac, capacity_wh)
    secc: Any
    ev: Any
    if protocol == "din":
        secc = DinSecc(config=DinSeccConfig(limits=limits))
        ev = DinEvcc(DinConfig(evcc_id=MAC), car)
    elif protocol.startswith("iso2-"):
        secc = Iso2Secc(config=Iso2SeccConfig(limits=limits, sa_schedules=(200_000.0,)))
        mode = "AC_three_phase_core" if ac else "DC_extended"
        ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode), car)  # type: ignore[arg-type]
    else:
        _, kind, mode = protocol.split("-")
        service: Any = kind.upper()
        control: Any = mode
        secc = Iso20Secc(kind=service, config=Iso20SeccConfig(limits=limits, schedules=(200_000.0,)))
        ev = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", service=service, control_mode=control,
                                   unix_time_offset=TIME_BASE), car)
    return run_in_memory(ev, secc, now=0.0, max_steps=200_000), secc, car


def ac_draw_violations(secc: Iso2Secc, car: DrawRecorder) -> list[str]:
    """-2 AC: every draw within the EVSEMaxCurrent announced before it and the PMax in force (the larger of the
    response's time and the draw's, as the simulator checks requests)."""
    out = []
    check = secc.limit_check
    start = check.schedule_start or 0.0
    default = secc.offered()[0]
    for now, current, phases in car.draws:
        pmax = max(check.limits.pmax_at(now - secc.config.response_time - start, default),
                   check.limits.pmax_at(now - start, default))
        if current * secc.config.ac_nominal_voltage * phases > pmax + 1e-6:
            out.append(f"draw {current:.2f} A x {phases} at {now:.3f} s above PMax {pmax:.0f} W")
    return out


def check(protocol: str, limits: ChargerLimits, capacity_wh: float = 60.0) -> tuple[PairResult, Any, BatteryModel]:
    result, secc, car = session(protocol, limits, capacity_wh)
    assert result.ended.kind in ENDED_IN_ORDER, result.ended
    assert secc.limit_check.violations == [], secc.limit_check.violations[:5]
    if isinstance(car, DrawRecorder) and isinstance(secc, Iso2Secc):
        assert car.draws and ac_draw_violations(secc, car) == []
    else:
        assert secc.limit_check.requests > 0 or result.ended.kind is EndKind.STOPPED  # it saw loop requests
    return result, secc, car


# --------------------------------------------------------------------------------------------- fixed cases
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_low_maximum_power_is_never_exceeded(protocol: str) -> None:
    """Issue 19's charger: EVSEMaximumPowerLimit 10 kW (AC: 7 kW, -2 AC: 10 A per phase)."""
    low = ChargerLimits(max_power=7_000.0, max_current=10.0) if "-ac" in protocol else ChargerLimits(max_power=10_000.0)
    result, _, car = check(protocol, low)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert car.soc >= 80.0
    limits = [e for e in result.events if isinstance(e, LimitInForce)]
    assert any(e.source == "EVSE maximum" for e in limits) or "-ac" in protocol and "iso20" in protocol


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_limit_that_drops_in_the_loop_is_followed_from_the_next_request(protocol: str) -> None:
    drop = ChargerLimits(drop_after=5, drop_power=4_000.0, drop_current=8.0)
    result, _, _ = check(protocol, drop)
    assert result.ended.kind is EndKind.COMPLETED, result.ended


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pmax_schedule_with_steps_is_followed(protocol: str) -> None:
    """50 kW (DIN: 30 kW, its PMax is a short in W), then 11 kW after 2 s (the sessions here last seconds; the
    scenario files step after 60 s)."""
    first = 30_000.0 if protocol == "din" else 50_000.0
    steps = ChargerLimits(pmax_steps=((0.0, first), (2.0, 11_000.0)))
    result, _, _ = check(protocol, steps, capacity_wh=400.0)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    if protocol.startswith(("din", "iso2-dc")) or "Scheduled" in protocol:
        assert any(isinstance(e, LimitInForce) and e.source == "schedule" for e in result.events), protocol


@pytest.mark.parametrize("protocol", ["din", "iso2-dc", "iso20-dc-Scheduled", "iso20-dc-Dynamic"])
def test_a_limit_of_zero_while_charging_stops_in_order_and_is_recorded(protocol: str) -> None:
    result, _, _ = check(protocol, ChargerLimits(drop_after=3, drop_power=0.0, drop_current=0.0))
    assert result.ended.kind is EndKind.STOPPED and "allows no charging" in result.ended.reason, result.ended
    assert any(isinstance(e, LimitDeviation) and "0 while charging" in e.text for e in result.events)


@pytest.mark.parametrize("protocol", ["din", "iso2-dc", "iso20-dc-Scheduled"])
def test_a_negative_maximum_power_is_recorded_and_asks_for_nothing(protocol: str) -> None:
    result, secc, _ = check(protocol, ChargerLimits(max_power=-10_000.0))
    assert result.ended.kind is EndKind.STOPPED, result.ended
    assert any(isinstance(e, LimitDeviation) and "makes no sense" in e.text for e in result.events)
    received = secc.record.received if isinstance(secc, Iso20Secc) else secc.received
    assert not received.count("CurrentDemandReq") and not received.count("DC_ChargeLoopReq")


@pytest.mark.parametrize("module", ["evcc.session.din.transitions", "evcc.session.iso2.dc"])
def test_the_check_catches_an_ev_that_asks_for_its_wish(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's check can fail: an EV that asks for the vehicle's wish as it is (the behaviour of issue
    19) is caught at once."""
    import importlib

    def wish_as_is(wish: float, *args: Any, **kw: Any) -> Allowance:
        return Allowance(wish, "A", "EV")

    monkeypatch.setattr(importlib.import_module(module), "dc_current", wish_as_is)
    _, secc, _ = session("din" if "din" in module else "iso2-dc", ChargerLimits(max_power=10_000.0))
    assert secc.limit_check.violations and "above 10000 W" in secc.limit_check.violations[0]


# ------------------------------------------------------------------------------------------ property test
def _steps() -> st.SearchStrategy[tuple[tuple[float, float], ...]]:
    power = st.integers(2, 150).map(lambda kw: kw * 1000.0)
    later = st.lists(st.tuples(st.integers(1, 3).map(float), power), max_size=2, unique_by=lambda s: s[0])
    return st.one_of(st.just(()), st.tuples(power, later).map(lambda t: ((0.0, t[0]),) + tuple(sorted(t[1]))))


LIMITS = st.builds(
    ChargerLimits,
    max_power=st.one_of(st.none(), st.integers(3, 150).map(lambda kw: kw * 1000.0)),
    max_current=st.one_of(st.none(), st.integers(8, 250).map(float)),
    drop_after=st.one_of(st.none(), st.integers(1, 40)),
    drop_power=st.one_of(st.none(), st.integers(2, 60).map(lambda kw: kw * 1000.0)),
    drop_current=st.one_of(st.none(), st.integers(6, 100).map(float)),
    pmax_steps=_steps(),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(PROTOCOLS), limits=LIMITS)
def test_no_request_exceeds_the_limits_in_force(protocol: str, limits: ChargerLimits) -> None:
    """Random limits, drops and schedules, every protocol: the simulator never sees a request above what it had
    announced (maximum current and power) or above the PMax in force; the session ends in order."""
    if protocol == "din":  # DIN PMax is a short in W: 32767 means "at least", no limit
        limits = ChargerLimits(limits.max_power, limits.max_current, limits.drop_after, limits.drop_power,
                               limits.drop_current, tuple((s, min(p, 32_000.0)) for s, p in limits.pmax_steps))
    check(protocol, limits, capacity_wh=200.0)


@pytest.mark.parametrize("mode", ["DC_extended", "AC_three_phase_core"])
def test_a_renegotiated_schedule_limits_from_its_power_delivery_on(mode: str) -> None:
    """ISO 15118-2 §8.4.3.9 renegotiation: the new SAScheduleTuple's PMax (5 kW) is in force from its
    PowerDeliveryRes(Start); before, the first one (200 kW). No request above either while it is in force."""
    ac = mode.startswith("AC")
    car = _car(ac, capacity_wh=200.0)
    secc = Iso2Secc(config=Iso2SeccConfig(sa_schedules=(200_000.0,), renegotiate_after=3,
                                          renegotiated_schedules=(5_000.0,)))
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode), car)  # type: ignore[arg-type]
    result = run_in_memory(ev, secc, max_steps=200_000)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert ev.renegotiations == 1 and secc.limit_check.violations == []
    assert ev.limits.schedule is not None and ev.limits.schedule.pmax(result.end_time) == 5_000.0
    if isinstance(car, DrawRecorder):  # after the renegotiation the on-board charger draws within 5 kW
        assert max(current * 230.0 * phases for _, current, phases in car.draws[-5:]) <= 5_000.0
    schedule = [e for e in result.events if isinstance(e, LimitInForce) and e.source == "schedule"]
    assert schedule, "the renegotiated PMax never limited a request"


@pytest.mark.parametrize("control", ["Scheduled", "Dynamic"])
def test_bpt_discharge_offers_and_targets_stay_within_the_evse_discharge_limits(control: str) -> None:
    """ISO 15118-20 DC_BPT: the schedule asks for 4 kW back, the EVSE allows 8 A / 5 kW of discharge, the
    vehicle could give 100 A / 30 kW: EVTargetCurrent (Scheduled), EVMaximumDischargeCurrent/-Power (both
    modes) and the EVPowerProfile never exceed the EVSE's discharge limits."""
    from tests.session.iso20.helpers import Recorder, run_typed

    secc = Iso20Secc(kind="DC", config=Iso20SeccConfig(
        schedules=(-4_000.0,), max_discharge_current=8.0, max_discharge_power=5_000.0, dynamic_power=-30_000.0,
        stop_after_loop=300))  # a discharging schedule lasts a day: the EVSE ends it
    car = AcBatteryModel(capacity_wh=200.0, soc=60.0, target_soc=80.0, min_discharge_soc=58)
    ev = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", service="DC_BPT", control_mode=control,  # type: ignore[arg-type]
                               unix_time_offset=TIME_BASE, no_discharge_hold=0.5), car)
    recorder = Recorder(secc)
    result = run_typed(ev, recorder, max_steps=200_000)
    assert result.ended.kind in ENDED_IN_ORDER, result.ended
    loops = [m for name, m in recorder.requests if name == "DC_ChargeLoopReq"]
    assert loops
    for req in loops:
        mode = req.BPT_Scheduled_DC_CLReqControlMode or req.BPT_Dynamic_DC_CLReqControlMode
        assert _n(mode.EVMaximumDischargeCurrent) <= 8.0 and _n(mode.EVMaximumDischargePower) <= 5_000.0
        if req.BPT_Scheduled_DC_CLReqControlMode is not None:
            current, voltage = _n(mode.EVTargetCurrent), _n(mode.EVTargetVoltage)
            assert current >= -8.0 and -current * voltage <= 4_000.0 + 1e-6, (current, voltage)
    if control == "Scheduled":
        assert min(_n(req.BPT_Scheduled_DC_CLReqControlMode.EVTargetCurrent) for req in loops) == -8.0
    start = next(m for name, m in recorder.requests if name == "PowerDeliveryReq")
    assert min(_n(e.Power) for e in start.EVPowerProfile.EVPowerProfileEntries.EVPowerProfileEntry) >= -5_000.0


def _n(value: Any) -> float:
    """A RationalNumberType the EV sent (mandatory fields: never None)."""
    got = number(value)
    assert got is not None
    return got


def test_the_iso2_charging_profile_stays_within_the_evse_maximum_power() -> None:
    """ISO 15118-2 PowerDeliveryReq(Start): the ChargingProfile never exceeds the PMax ([V2G2-294]) nor the
    EVSEMaximumPowerLimit of the ChargeParameterDiscoveryRes."""
    car = _car(False)
    secc = Iso2Secc(config=Iso2SeccConfig(limits=ChargerLimits(max_power=10_000.0), sa_schedules=(200_000.0,)))
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode="DC_extended"), car)
    result = run_in_memory(ev, secc, max_steps=200_000)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert ev.charging_profile is not None
    assert [e.ChargingProfileEntryMaxPower.Value * 10 ** e.ChargingProfileEntryMaxPower.Multiplier
            for e in ev.charging_profile.ProfileEntry] == [10_000]
