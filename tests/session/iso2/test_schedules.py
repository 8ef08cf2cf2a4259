"""SAScheduleTuple checks and selection, ChargingProfile capping (ISO 15118-2 §8.5.2.13-14), and the machine's
configuration checks. Sessions against the bench SECC (in memory, through the EXI codec): more tuples than the
EV's MaxEntriesSAScheduleTuple ([V2G2-296]) go on to the charge loop with the tuple ``select_tuple`` picks among
all of them, and the deviation reaches the session's record and reports; unusable tuple lists still stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from evcc.bench.report import BenchReport
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.errors import ConfigError
from evcc.exi import iso2
from evcc.session.battery_model import BatteryModel
from evcc.session.events import ChargingStarted, EndKind, PeerDeviation
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.schedules import (
    MAX_PROFILE_ENTRIES,
    TOO_MANY_TUPLES_CLAUSE,
    TOO_MANY_TUPLES_FIELD,
    charging_profile,
    check_tuples,
    select_tuple,
    too_many_tuples,
)
from evcc.session.iso2.values import pv, value_of
from evcc.session.report import SessionJsonReport

MAC = bytes.fromhex("0242ac110002")


def tup(ident: int, *pmax: float, start: int = 0) -> iso2.SAScheduleTupleType:
    entries = [iso2.PMaxScheduleEntryType(RelativeTimeInterval=iso2.RelativeTimeIntervalType(start=start + 600 * i),
                                          PMax=pv(p, "W")) for i, p in enumerate(pmax)]
    return iso2.SAScheduleTupleType(SAScheduleTupleID=ident, PMaxSchedule=iso2.PMaxScheduleType(PMaxScheduleEntry=entries))


def test_highest_pmax_now_wins_ties_to_the_lowest_id() -> None:
    assert select_tuple([tup(3, 11_000), tup(1, 22_000, 5_000), tup(2, 22_000)]).SAScheduleTupleID == 1


@pytest.mark.parametrize(
    ("tuples", "reason"),
    [([], "SAScheduleList without an SAScheduleTuple"),
     ([tup(1, 1), tup(1, 2)], "SAScheduleTupleIDs are not unique: [1, 1]"),
     ([tup(1, 1, start=60)], "SAScheduleTuple 1: PMaxSchedule does not start at 0"),
     ([tup(1, -5)], "SAScheduleTuple 1: negative PMax")],
)
def test_unusable_tuple_lists_are_named(tuples: list[iso2.SAScheduleTupleType], reason: str) -> None:
    assert check_tuples(tuples) == reason


def test_v2g2_296_more_tuples_than_max_entries_is_a_deviation_not_a_reason() -> None:
    three = [tup(1, 1), tup(2, 1), tup(3, 1)]
    assert check_tuples(three) is None
    found = too_many_tuples(three, 1)
    assert found is not None
    assert (found.field, found.value, found.expected, found.clause) == (
        TOO_MANY_TUPLES_FIELD, "3", "at most 1", TOO_MANY_TUPLES_CLAUSE)
    assert too_many_tuples(three, 3) is None and too_many_tuples(three, None) is None


def test_profile_follows_the_schedule_capped_at_the_vehicle() -> None:
    profile = charging_profile(tup(1, 50_000, 20_000, 90_000), ev_max_power=60_000)
    assert [e.ChargingProfileEntryStart for e in profile.ProfileEntry] == [0, 600, 1200]
    assert [value_of(e.ChargingProfileEntryMaxPower) for e in profile.ProfileEntry] == [50_000, 20_000, 60_000]
    assert len(charging_profile(tup(1, *([1000.0] * 40)), 1e5).ProfileEntry) == MAX_PROFILE_ENTRIES


def test_configuration_checks() -> None:
    with pytest.raises(ValueError, match="6-byte MAC"):
        Iso2Config(evcc_id=b"\x00" * 5)
    with pytest.raises(ValueError, match="SessionID is 8 bytes"):
        Iso2Config(evcc_id=MAC, resume_session_id=b"\x01")
    with pytest.raises(ConfigError, match="AcVehiclePort"):
        Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode="AC_single_phase_core"), BatteryModel())


# ------------------------------------------------------------------ sessions against the bench SECC
PMAX_OFFERED = (20_000.0, 90_000.0, 50_000.0)  # SAScheduleTuple 1, 2, 3: the highest PMax is not the first
Change = Callable[[iso2.ChargeParameterDiscoveryResType], None]


class TupleList:
    """The bench SECC, with every SAScheduleList it sends kept in ``offered`` (as sent) after ``change`` (a
    charger whose tuple list is unusable) was applied to the ChargeParameterDiscoveryRes."""

    def __init__(self, secc: Iso2Secc, change: Change | None = None) -> None:
        self.secc = secc
        self.change = change
        self.offered: list[list[iso2.SAScheduleTupleType]] = []

    def receive_payload(self, data: bytes, now: float) -> None:
        self.secc.receive_payload(data, now)

    def get_timer(self) -> float | None:
        return self.secc.get_timer()

    def messages_to_send(self, now: float) -> list[Any]:
        out = self.secc.messages_to_send(now)
        for msg in out:
            res = getattr(getattr(msg, "Body", None), "ChargeParameterDiscoveryRes", None)
            if res is not None and res.EVSEProcessing == "Finished":
                if self.change is not None:
                    self.change(res)
                listed = res.SAScheduleList
                self.offered.append(list(listed.SAScheduleTuple) if listed is not None else [])
        return out


def _session(mode: str, max_entries: int | None, change: Change | None = None
             ) -> tuple[PairResult, Iso2Evcc, Iso2Secc, TupleList]:
    ac = mode.startswith("AC")
    car = (AcBatteryModel(capacity_wh=60.0, soc=75.0, target_soc=80.0) if ac
           else BatteryModel(capacity_wh=60.0, soc=75.0, target_soc=80.0))
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode,  # type: ignore[arg-type]
                             max_entries_sa_schedule_tuple=max_entries), car)
    secc = Iso2Secc(config=Iso2SeccConfig(sa_schedules=PMAX_OFFERED))
    charger = TupleList(secc, change)
    return run_in_memory(ev, charger, now=0.0, max_steps=200_000), ev, secc, charger


@pytest.mark.parametrize("mode", ["DC_extended", "AC_three_phase_core"])
def test_v2g2_296_three_tuples_for_max_entries_1_go_on_with_select_tuple_and_are_recorded(mode: str) -> None:
    result, ev, secc, charger = _session(mode, max_entries=1)
    (offered,) = charger.offered
    assert len(offered) == 3  # more than the EV's MaxEntriesSAScheduleTuple
    assert result.ended.kind in (EndKind.COMPLETED, EndKind.STOPPED), result.ended.reason
    assert any(isinstance(e, ChargingStarted) for e in result.events) and ev.loop_count > 0  # the charge loop ran
    picked = select_tuple(offered).SAScheduleTupleID
    assert picked == 2  # the highest PMax, among all three: not cut to the first MaxEntriesSAScheduleTuple
    assert ev.sa_schedule_tuple_id == picked and secc.sa_schedule_tuple_id == picked  # PowerDeliveryReq(Start)
    assert not secc.errors and not secc.limit_check.violations
    row = {"field": TOO_MANY_TUPLES_FIELD, "value": "3", "expected": "at most 1", "clause": TOO_MANY_TUPLES_CLAUSE,
           "count": 1}
    assert result.events.deviations.as_json() == [row]
    assert [e for e in result.events if isinstance(e, PeerDeviation)] == [
        PeerDeviation(TOO_MANY_TUPLES_FIELD, "3", "at most 1", TOO_MANY_TUPLES_CLAUSE)]
    session_report = SessionJsonReport("ev0", "iso2", "EIM", False)  # what `evcc session --json` writes
    session_report.take_events(result.events)
    assert session_report.as_dict()["deviations"] == [row]
    bench_report = BenchReport(link="memory", clock="virtual")  # `evcc bench --json`, after SLAC's deviations
    bench_report.deviations = [{"field": "CM_SLAC_PARM.CNF RESP_TYPE", "value": "0", "expected": "1",
                                "clause": "ISO 15118-3", "count": 2}]
    bench_report.take_events(result.events, 0.0)
    assert bench_report.deviations[1:] == [row] and bench_report.deviations[0]["count"] == 2


@pytest.mark.parametrize("max_entries", [None, 3])
def test_v2g2_296_within_max_entries_is_no_deviation(max_entries: int | None) -> None:
    result, ev, _, _ = _session("DC_extended", max_entries)
    assert result.ended.kind in (EndKind.COMPLETED, EndKind.STOPPED), result.ended.reason
    assert ev.sa_schedule_tuple_id == 2
    assert not result.events.deviations and not any(isinstance(e, PeerDeviation) for e in result.events)


def _same_ids(res: iso2.ChargeParameterDiscoveryResType) -> None:
    assert res.SAScheduleList is not None
    for t in res.SAScheduleList.SAScheduleTuple:
        t.SAScheduleTupleID = 1


def _no_list(res: iso2.ChargeParameterDiscoveryResType) -> None:
    res.SAScheduleList = None


def _negative_pmax(res: iso2.ChargeParameterDiscoveryResType) -> None:
    assert res.SAScheduleList is not None
    res.SAScheduleList.SAScheduleTuple[2].PMaxSchedule.PMaxScheduleEntry[0].PMax = pv(-5.0, "W")


def _late_start(res: iso2.ChargeParameterDiscoveryResType) -> None:
    assert res.SAScheduleList is not None
    interval = res.SAScheduleList.SAScheduleTuple[0].PMaxSchedule.PMaxScheduleEntry[0].RelativeTimeInterval
    assert interval is not None
    interval.start = 60


@pytest.mark.parametrize(("change", "reason"), [
    (_same_ids, "SAScheduleTupleIDs are not unique: [1, 1, 1]"),
    (_no_list, "SAScheduleList without an SAScheduleTuple"),
    (_negative_pmax, "SAScheduleTuple 3: negative PMax"),
    (_late_start, "SAScheduleTuple 1: PMaxSchedule does not start at 0"),
])
@pytest.mark.parametrize("max_entries", [None, 1])
def test_unusable_tuple_lists_still_stop_the_session(change: Change, reason: str, max_entries: int | None) -> None:
    result, ev, secc, _ = _session("DC_extended", max_entries, change)
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason == f"ChargeParameterDiscoveryRes: {reason}"
    assert not any(isinstance(e, ChargingStarted) for e in result.events) and ev.sa_schedule_tuple_id is None
    assert not result.events.deviations  # stopped before anything was tolerated
