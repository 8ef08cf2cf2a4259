"""ISO 15118-20 Scheduled mode (evcc/session/iso20/schedule.py): a PowerSchedule with more entries than the EV's
MaximumSupportingPoints (ScheduleExchangeReq) is still usable, so the session goes on and the deviation reaches
the session's record; a tuple list the EV cannot use still stops. Against the bench SECC (evcc.bench.secc), in
memory through the EXI codec."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig
from evcc.bench.secc.limit_plan import ChargerLimits
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.session.events import ChargingStarted, EndKind, PeerDeviation
from evcc.session.iso2.ac_vehicle import AcBatteryModel
from evcc.session.iso20 import Iso20Config, Iso20Evcc
from evcc.session.iso20.schedule import SUPPORTING_POINTS_CLAUSE, check_tuples, too_many_points
from evcc.session.report import SessionJsonReport

POINTS = 12  # the smallest MaximumSupportingPoints the schema allows
STEPS = tuple((float(i), 50_000.0 - 1_000.0 * i) for i in range(POINTS + 1))  # 13 PowerScheduleEntries
FIELD = "ScheduleExchangeRes ChargingSchedule PowerScheduleEntry count"


class SameTupleIds:
    """The bench SECC whose ScheduleExchangeRes names every ScheduleTuple 1 (a tuple list the EV cannot use)."""

    def __init__(self, secc: Iso20Secc) -> None:
        self.secc = secc

    def __getattr__(self, name: str) -> Any:  # receive_typed, payload types, get_timer: the bench SECC's
        return getattr(self.secc, name)

    def messages_to_send(self, now: float) -> list[Any]:
        out = self.secc.messages_to_send(now)
        for msg in out:
            mode = getattr(msg, "Scheduled_SEResControlMode", None)
            if mode is not None:
                for t in mode.ScheduleTuple:
                    t.ScheduleTupleID = 1
        return out


def _session(service: Literal["DC", "AC"], points: int, steps: tuple[tuple[float, float], ...] = STEPS,
             schedules: tuple[float, ...] = (60_000.0,), same_ids: bool = False
             ) -> tuple[PairResult, Iso20Evcc, Iso20Secc]:
    vehicle = AcBatteryModel(capacity_wh=400.0, soc=75.0, target_soc=80.0)
    ev = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", service=service, control_mode="Scheduled",
                               maximum_supporting_points=points, unix_time_offset=1_700_000_000.0), vehicle)
    secc = Iso20Secc(kind=service, config=Iso20SeccConfig(schedules=schedules, limits=ChargerLimits(pmax_steps=steps)))
    peer: Any = SameTupleIds(secc) if same_ids else secc
    return run_in_memory(ev, peer, now=0.0, max_steps=200_000), ev, secc


@pytest.mark.parametrize("service", ["DC", "AC"])
def test_more_entries_than_maximum_supporting_points_go_on_and_are_recorded(service: Literal["DC", "AC"]) -> None:
    result, ev, secc = _session(service, POINTS)
    assert result.ended.kind in (EndKind.COMPLETED, EndKind.STOPPED), result.ended.reason
    assert any(isinstance(e, ChargingStarted) for e in result.events)
    assert ev.schedule is not None and len(ev.schedule.entries) == POINTS + 1  # every entry read
    assert not secc.limit_check.violations  # and followed
    found = [e for e in result.events if isinstance(e, PeerDeviation)]
    assert found == [PeerDeviation(FIELD, str(POINTS + 1), f"at most {POINTS}", SUPPORTING_POINTS_CLAUSE)]
    report = SessionJsonReport("ev0", "iso20", "EIM", False)  # what `evcc session --json` writes
    report.take_events(result.events)
    assert report.deviations == [{"field": FIELD, "value": str(POINTS + 1), "expected": f"at most {POINTS}",
                                  "clause": SUPPORTING_POINTS_CLAUSE, "count": 1}]


def test_within_maximum_supporting_points_is_no_deviation() -> None:
    result, _, _ = _session("DC", POINTS, STEPS[:POINTS])
    assert result.ended.kind in (EndKind.COMPLETED, EndKind.STOPPED), result.ended.reason
    assert not any(isinstance(e, PeerDeviation) for e in result.events)


def test_unusable_tuple_lists_still_stop_the_session() -> None:
    result, _, _ = _session("DC", POINTS, schedules=(60_000.0, 40_000.0), same_ids=True)
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason == "ScheduleExchangeRes: ScheduleTupleIDs are not unique: [1, 1]"
    assert not any(isinstance(e, (ChargingStarted, PeerDeviation)) for e in result.events)
    assert check_tuples([]) == "Scheduled_SEResControlMode without a ScheduleTuple"
    assert too_many_points([], POINTS) == []
