"""Sans-IO bridge core against the bench battery in memory, with an injected clock (BMS.md safety rules)."""

from __future__ import annotations

import pytest

from evcc.bms_bridge.battery_bms import BmsFault
from evcc.bms_bridge.codec import ChargeMode
from evcc.bms_bridge.state import (
    FrameRejected, InputFresh, InputStale, SessionStage, SessionStatus, StopReason, StopRequested,
)
from evcc.session.battery_model import BatteryModel

from .pair import CODEC, Pair

CHARGING = SessionStatus(stage=SessionStage.CHARGING, contactors_wanted=True, energy_transfer=ChargeMode.DC)


def _evcc_status(pair: Pair) -> dict[str, float]:
    """The last EVCC_Status the battery received."""
    return pair.bms.evcc_status


def test_fresh_bms_maps_onto_the_dc_vehicle_port() -> None:
    pair = Pair(model=BatteryModel(soc=40.0))
    pair.run_until(0.5)
    status = pair.vehicle.dc_status(pair.now)
    assert (status.ready, status.soc, status.error) == (True, 40, "NO_ERROR")
    limits = pair.vehicle.dc_limits()
    assert (limits.max_voltage, limits.max_current, limits.max_power) == (420.0, 200.0, 80_000.0)
    assert limits.energy_request == pytest.approx(20_000.0, abs=10)
    assert pair.vehicle.battery_voltage(pair.now) == pytest.approx(358.0, abs=0.1)
    targets = pair.vehicle.dc_targets(pair.now)
    assert targets.current == pytest.approx(200.0, abs=0.1) and not targets.charging_complete
    assert targets.remaining_time_to_full is not None
    assert pair.stops() == []


def test_contactors_close_only_when_the_charger_matches_the_battery_voltage() -> None:
    pair = Pair(model=BatteryModel(soc=40.0))
    pair.run_until(0.3)
    pair.core.set_session(CHARGING)
    pair.vehicle.evse_output(300.0, 0.0, pair.now)  # 58 V below the battery: PreCharge not done
    pair.run_until(0.6)
    assert not pair.bms.contactors_closed and _evcc_status(pair)["EVCC_ContactorCloseRequest"] == 0
    pair.vehicle.evse_output(pair.vehicle.battery_voltage(pair.now) - 5.0, 0.0, pair.now)
    pair.run_until(0.9)
    assert pair.bms.contactors_closed


def test_charge_to_the_target_soc_then_charging_complete() -> None:
    model = BatteryModel(soc=79.0, target_soc=80.0, capacity_wh=1_000.0)
    pair = Pair(model=model)
    pair.run_until(0.3)
    pair.core.set_session(CHARGING)
    for _ in range(600):
        if pair.vehicle.dc_targets(pair.now).charging_complete:
            break
        targets = pair.vehicle.dc_targets(pair.now)
        pair.vehicle.evse_output(pair.vehicle.battery_voltage(pair.now), targets.current, pair.now)
        pair.run_until(pair.now + 0.1)
    assert pair.vehicle.dc_targets(pair.now).charging_complete and model.soc >= 80.0
    assert pair.vehicle.dc_targets(pair.now).current == 0.0
    assert pair.stops() == []


def test_bms_silence_stops_at_the_freshness_deadline_and_releases_the_contactors() -> None:
    pair = Pair(freshness=1.0)
    pair.run_until(0.5)
    pair.core.set_session(CHARGING)
    pair.vehicle.evse_output(pair.vehicle.battery_voltage(pair.now), 0.0, pair.now)
    pair.run_until(1.0)
    assert pair.bms.contactors_closed
    pair.bms.faults.add(BmsFault.SILENCE)
    last_frame = max(t for t, _ in pair.events) if pair.events else 1.0
    pair.run_until(1.89)
    assert pair.stops() == []  # the last frames came at 0.9-1.0 s: still fresh
    pair.run_until(2.2)
    (t, stop), = pair.stops()
    assert stop.reason is StopReason.BMS_TIMEOUT and "BMS_Status stale for" in stop.detail
    assert 1.9 <= t <= 2.01, (t, last_frame)
    assert any(isinstance(e, InputStale) and e.frame == "BMS_DcRequest" for _, e in pair.events)
    assert _evcc_status(pair)["EVCC_ContactorCloseRequest"] == 0
    assert _evcc_status(pair)["EVCC_StopReason"] == StopReason.BMS_TIMEOUT
    assert not pair.vehicle.dc_status(pair.now).ready and pair.vehicle.dc_status(pair.now).error == "NoData"
    assert pair.vehicle.dc_targets(pair.now).current == 0.0


def test_a_bms_that_never_speaks_is_stale_one_deadline_after_start() -> None:
    pair = Pair(freshness=0.5)
    pair.bms.faults.add(BmsFault.SILENCE)
    pair.run_until(0.49)
    assert pair.stops() == []
    pair.run_until(0.6)
    (t, stop), = pair.stops()
    assert t == pytest.approx(0.5) and "BMS_Status never received" in stop.detail
    assert pair.vehicle.dc_status(pair.now).error == "NoData"


@pytest.mark.parametrize(("fault", "reason"), [
    (BmsFault.ERROR_FLAG, StopReason.BMS_ERROR),
    (BmsFault.EMERGENCY_STOP, StopReason.BMS_EMERGENCY_STOP),
    (BmsFault.STOP_REQUEST, StopReason.VEHICLE_REQUEST),
])
def test_error_and_emergency_flags_end_the_charge_loop_at_the_next_message(fault: BmsFault,
                                                                           reason: StopReason) -> None:
    pair = Pair()
    pair.run_until(0.5)
    pair.core.set_session(CHARGING)
    pair.bms.faults.add(fault)
    pair.run_until(0.61)
    (t, stop), = pair.stops()
    assert stop.reason is reason and t <= 0.6 + 1e-9
    assert pair.vehicle.dc_targets(pair.now).current == 0.0
    if fault is BmsFault.ERROR_FLAG:
        assert pair.vehicle.dc_status(pair.now).error == "FAILED_EVRESSMalfunction"


@pytest.mark.parametrize(("fault", "named"), [
    (BmsFault.OUT_OF_RANGE, "BMS_Status.BMS_SoC = 127.5 outside 0..100 %"),
    (BmsFault.FROZEN_COUNTER, "BMS_AliveCounter frozen"),
    (BmsFault.WRONG_VERSION, "BMS_ProtocolVersion = 2"),
])
def test_rejected_frames_do_not_refresh_and_the_stop_says_why(fault: BmsFault, named: str) -> None:
    pair = Pair(freshness=0.5)
    pair.run_until(0.35)
    pair.bms.faults.add(fault)
    pair.run_until(1.0)
    rejected = [e for _, e in pair.events if isinstance(e, FrameRejected)]
    first_rejected = min(t for t, e in pair.events if isinstance(e, FrameRejected))
    assert rejected and all(e.frame == "BMS_Status" for e in rejected)
    assert named in rejected[0].reason
    (t, stop), = pair.stops()
    assert stop.reason is StopReason.BMS_TIMEOUT and named in stop.detail
    last_good = first_rejected - 0.1  # one cycle before the first bad frame
    assert 0.5 - 1e-6 <= t - last_good <= 0.5 + 0.011
    assert pair.core.counters.rejected_frames == len(rejected)


def test_the_stop_latches_for_the_session_and_clears_between_sessions() -> None:
    pair = Pair(freshness=0.5)
    pair.run_until(0.3)
    pair.core.set_session(CHARGING)
    pair.bms.faults.add(BmsFault.SILENCE)
    pair.run_until(1.0)
    assert len(pair.stops()) == 1
    pair.bms.faults.clear()
    pair.run_until(1.5)
    assert any(isinstance(e, InputFresh) for _, e in pair.events)
    assert pair.core.stop is not None, "fresh again, but this session must still end"
    pair.core.set_session(SessionStatus(stage=SessionStage.STOPPED))
    pair.core.set_session(SessionStatus(stage=SessionStage.IDLE))
    pair.run_until(1.7)
    assert pair.core.stop is None and len(pair.stops()) == 1
    assert pair.core.counters.session_count == 1


def test_a_persisting_cause_is_reported_once_per_session_not_per_tick() -> None:
    pair = Pair()
    pair.run_until(0.3)
    pair.core.set_session(CHARGING)
    pair.bms.faults.add(BmsFault.ERROR_FLAG)
    pair.run_until(1.0)
    pair.core.set_session(SessionStatus(stage=SessionStage.IDLE))
    pair.run_until(3.0)
    pair.core.set_session(SessionStatus(stage=SessionStage.IDLE))
    pair.run_until(4.0)
    assert [s.reason for _, s in pair.stops()] == [StopReason.BMS_ERROR, StopReason.BMS_ERROR]


def test_ac_mapping() -> None:
    pair = Pair(mode=ChargeMode.AC)
    pair.bms.ac_max_current = 16.0
    pair.run_until(0.3)
    ac = pair.vehicle.ac_limits()
    assert (ac.max_voltage, ac.max_current, ac.min_current) == (230.0, 16.0, 6.0)
    assert ac.energy_request == pytest.approx(20_000.0, abs=10) and ac.departure_time is None
    assert pair.core.required == ("BMS_Status", "BMS_AcRequest")


def test_bpt_discharge_limits_and_their_safe_values_when_stale() -> None:
    pair = Pair(mode=ChargeMode.DC_BPT, freshness=0.5)
    pair.run_until(0.3)
    bpt = pair.vehicle.bpt_limits(pair.now)
    assert (bpt.max_discharge_current, bpt.max_discharge_power, bpt.min_discharge_soc) == (100.0, 30_000.0, 20)
    request = pair.vehicle.energy_request(pair.now)
    assert request is not None and request.maximum == pytest.approx(30_000.0, abs=10)
    pair.bms.silent_frames = frozenset({"BMS_BptLimits"})
    pair.run_until(1.0)
    (_, stop), = pair.stops()
    assert "BMS_BptLimits stale" in stop.detail
    assert pair.vehicle.bpt_limits(pair.now).max_discharge_current == 0.0


def test_dc_mode_does_not_need_the_bpt_or_timing_frames() -> None:
    pair = Pair(freshness=0.5)
    pair.bms.silent_frames = frozenset({"BMS_Timing", "BMS_AcRequest", "BMS_BptLimits"})
    pair.run_until(2.0)
    assert pair.stops() == []
    assert pair.vehicle.dc_targets(pair.now).remaining_time_to_full is None


def test_evcc_frames_carry_version_alive_counter_stage_and_evse_values() -> None:
    pair = Pair()
    pair.core.set_session(SessionStatus(stage=SessionStage.PRE_CHARGE, evse_max_voltage=920.0,
                                        evse_max_current=2_000.0, evse_max_power=350_000.0))
    pair.core.evse_output(355.5, -12.5)
    first = dict(pair.core.frames_due(0.0))
    second = dict(pair.core.frames_due(0.1))
    assert pair.core.frames_due(0.15) == [] and pair.core.next_deadline() == pytest.approx(0.2)
    status1 = CODEC.decode(CODEC.frame_id("EVCC_Status"), first[CODEC.frame_id("EVCC_Status")])[1]
    status2 = CODEC.decode(CODEC.frame_id("EVCC_Status"), second[CODEC.frame_id("EVCC_Status")])[1]
    assert status1["EVCC_ProtocolVersion"] == 1 and status1["EVCC_SessionStage"] == SessionStage.PRE_CHARGE
    assert (status2["EVCC_AliveCounter"] - status1["EVCC_AliveCounter"]) % 16 == 1
    present = CODEC.decode(CODEC.frame_id("EVCC_EvsePresent"), first[CODEC.frame_id("EVCC_EvsePresent")])[1]
    assert (present["EVCC_EvsePresentVoltage"], present["EVCC_EvsePresentCurrent"]) == (355.5, -12.5)
    limits = CODEC.decode(CODEC.frame_id("EVCC_EvseMaxLimits"), first[CODEC.frame_id("EVCC_EvseMaxLimits")])[1]
    assert limits["EVCC_EvseMaxVoltage"] == 920.0
    assert limits["EVCC_EvseMaxCurrent"] == 1000.0, "clamped to the DBC range"
    assert isinstance(pair.core.stop, (StopRequested, type(None)))


def test_pause_request_is_a_level_of_fresh_data_and_no_stop() -> None:
    """BMS_PauseRequest (dbc/evcc_bms.dbc): set -> pause_requested, cleared -> not; it never latches a stop (the
    session pauses in order and resumes); stale BMS data is no pause request (that is the stale stop)."""
    pair = Pair()
    pair.run_until(0.5)
    pair.core.set_session(CHARGING)
    assert not pair.core.pause_requested
    pair.bms.faults.add(BmsFault.PAUSE_REQUEST)
    pair.run_until(0.8)
    assert pair.core.pause_requested and pair.stops() == [] and pair.core.stop is None
    pair.bms.faults.discard(BmsFault.PAUSE_REQUEST)
    pair.run_until(1.1)
    assert not pair.core.pause_requested
    pair.bms.faults.update({BmsFault.PAUSE_REQUEST, BmsFault.SILENCE})
    pair.run_until(3.0)
    assert not pair.core.pause_requested and pair.core.stop is not None
