"""Schedules on the SECC's time base (evcc.session.iso20.clock; ISO 15118-20 §8.3.3 Header TimeStamp, §8.3.4.7
TimeAnchor): the EV learns the offset between the charger's Header TimeStamp and its own clock, reads the
Scheduled-mode PowerSchedule and anchors the Dynamic EVPowerProfile on the charger's clock, and stops in order
(EVTerminationCode ScheduleExpired) when the SECC's time lies outside the chosen ScheduleTuple: after its last
entry, before its TimeAnchor, or after the charger's clock was set."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.session.events import EndKind, ScheduleReanchored
from evcc.session.iso20.clock import CLOCK_STEP, SeccClock
from evcc.session.iso20.values import number
from tests.session.iso20.helpers import car, machine, pair
from tests.session.iso20.peer import TIME_BASE, MiniSecc

DAY = 86_400
STEPS = 50_000  # a complete session needs a few hundred; one that never ends fails fast


def test_offset_keeps_the_largest_sample_and_follows_a_clock_that_was_set() -> None:
    clock = SeccClock()
    assert clock.at(1000) == 1000  # nothing learnt yet: the vehicle's own clock
    clock.note(1005, 1000)
    clock.note(1004, 1000)  # stamped before a second boundary, arrived after it: jitter, not a new offset
    assert clock.offset == 5 and clock.at(2000) == 2005
    clock.note(1006, 1000)
    assert clock.offset == 6
    clock.note(1006 - CLOCK_STEP - 1, 1000)  # the charger's clock was set back
    assert clock.offset == 6 - CLOCK_STEP - 1
    clock.note(2**64 - 1, 0)  # a hostile stamp is a number like any other: far ahead, no exception
    assert clock.at(0) == 2**64 - 1


@pytest.mark.parametrize("skew", [DAY, -DAY, 54 * 365 * DAY])
@pytest.mark.parametrize("service", ["DC", "AC", "DC_BPT"])
def test_scheduled_session_charges_whatever_the_charger_clock(service: str, skew: int) -> None:
    vehicle = car()
    ev = machine(vehicle, service=service, control_mode="Scheduled")
    result, secc = pair(ev, MiniSecc(kind=service[:2], clock_offset=skew))
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert vehicle.soc >= 80.0
    assert ev.secc_clock.offset is not None and abs(ev.secc_clock.offset - skew) <= 1
    setup = secc.requests[0]
    assert abs(setup.Header.TimeStamp - TIME_BASE) <= 1  # the EV stamps its own messages with its own clock
    loop = secc.requests[secc.received.index(f"{service[:2]}_ChargeLoopReq")]
    if service.startswith("DC"):
        mode = loop.Scheduled_DC_CLReqControlMode or loop.BPT_Scheduled_DC_CLReqControlMode
        assert (number(mode.EVTargetCurrent) or 0.0) > 0  # the schedule in force gives power


def test_dynamic_power_profile_is_anchored_on_the_charger_clock() -> None:
    ev = machine(service="DC", control_mode="Dynamic")
    result, secc = pair(ev, MiniSecc(kind="DC", clock_offset=DAY))
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    start = secc.requests[secc.received.index("PowerDeliveryReq")]
    assert abs(start.EVPowerProfile.TimeAnchor - (TIME_BASE + DAY)) <= 5


@pytest.mark.parametrize("service", ["DC", "AC"])
def test_schedule_that_ends_stops_the_session_in_order(service: str) -> None:
    """A 3 s schedule: the vehicle charges, then the SECC's time passes its end and the EV stops."""
    vehicle = car(soc=50.0, target=80.0)
    ev = machine(vehicle, service=service, control_mode="Scheduled")
    result, secc = pair(ev, MiniSecc(kind=service, clock_offset=DAY, schedule_entries=((3, 20_000.0),)), STEPS)
    assert result.ended.kind is EndKind.STOPPED, result.ended
    assert "ScheduleTuple 1 ended" in result.ended.reason and "no schedule applies" in result.ended.reason
    assert vehicle.soc > 50.0 and vehicle.soc < 80.0  # it charged while the schedule applied, then stopped
    stop_at = secc.received.index("PowerDeliveryReq", secc.received.index("PowerDeliveryReq") + 1)
    assert secc.requests[stop_at].ChargeProgress == "Stop"
    assert secc.received[-1] == "SessionStopReq"
    stop = secc.requests[-1]
    assert stop.ChargingSession == "Terminate" and stop.EVTerminationCode == "ScheduleExpired"
    assert "ended" in stop.EVTerminationExplanation and len(stop.EVTerminationExplanation) <= 160
    anchor = secc.requests[secc.received.index("PowerDeliveryReq")].EVPowerProfile.TimeAnchor
    last_loop = secc.requests[stop_at - 1]
    assert last_loop.Header.TimeStamp + DAY <= anchor + 3 + 1  # no loop request on the SECC's clock past the end


def test_schedule_starting_in_the_future_stops_before_power_delivery() -> None:
    def later(res: Any) -> None:
        mode = res.Scheduled_SEResControlMode
        if mode is not None:
            mode.ScheduleTuple[0].ChargingSchedule.PowerSchedule.TimeAnchor += 3600
    result, secc = pair(machine(service="DC"), MiniSecc(kind="DC", override={"ScheduleExchangeRes": later}), STEPS)
    assert result.ended.kind is EndKind.STOPPED, result.ended
    assert "starts at its TimeAnchor" in result.ended.reason
    assert "PowerDeliveryReq" not in secc.received and "DC_CableCheckReq" not in secc.received
    assert secc.requests[-1].EVTerminationCode == "ScheduleExpired"


def test_charger_clock_set_a_day_ahead_mid_session_ends_the_schedule() -> None:
    secc = MiniSecc(kind="DC")

    def set_clock(res: Any) -> None:
        if secc.loops == 20:
            secc.clock_offset = DAY  # from this answer on, every Header TimeStamp is a day ahead
            res.Header.TimeStamp += DAY
    secc.override["DC_ChargeLoopRes"] = set_clock
    ev = machine(car(soc=50.0, target=80.0), service="DC")
    result, _ = pair(ev, secc, STEPS)
    assert result.ended.kind is EndKind.STOPPED and "ended" in result.ended.reason, result.ended
    assert secc.loops == 20 and ev.secc_clock.offset is not None and ev.secc_clock.offset >= DAY - 1


def test_session_with_the_clocks_in_agreement_sends_no_termination_code() -> None:
    result, secc = pair(machine(service="DC"))
    assert result.ended.kind is EndKind.COMPLETED
    assert secc.requests[-1].EVTerminationCode is None and secc.requests[-1].EVTerminationExplanation is None


def test_schedule_anchored_at_zero_is_read_from_its_arrival() -> None:
    """A charger without a set clock anchors its schedule at 0 (Josev's SECC does): the schedule ended decades
    before it arrived, which no charger can mean; the EV reads it from the SECC's time at reception, reports it,
    and the session completes."""
    def unset_clock(res: Any) -> None:
        mode = res.Scheduled_SEResControlMode
        if mode is not None:
            mode.ScheduleTuple[0].ChargingSchedule.PowerSchedule.TimeAnchor = 0
    result, secc = pair(machine(service="DC"), MiniSecc(kind="DC", override={"ScheduleExchangeRes": unset_clock}),
                        STEPS)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    notes = [e for e in result.events if isinstance(e, ScheduleReanchored)]
    assert len(notes) == 1 and notes[0].time_anchor == 0 and abs(notes[0].secc_time - TIME_BASE) < DAY
    assert "DC_ChargeLoopReq" in secc.received
