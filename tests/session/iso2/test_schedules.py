"""SAScheduleTuple checks and selection, ChargingProfile capping (ISO 15118-2 §8.5.2.13-14), and the machine's
configuration checks. Sessions against the bench SECC (in memory, through the EXI codec): MaxEntriesSAScheduleTuple
bounds the entries within one tuple (PMaxScheduleEntry, SalesTariffEntry; read as EVerest and Josev do, see
evcc.session.iso2.schedules), not the number of tuples: three one-entry tuples for a limit of 1 are no deviation;
a longer PMaxSchedule or SalesTariff goes on to the charge loop with one deviation in the session's record and
reports; unusable tuple lists still stop."""

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
from evcc.session.iso2 import schedules
from evcc.session.iso2.schedules import MAX_PROFILE_ENTRIES, charging_profile, check_tuples, select_tuple
from evcc.session.iso2.values import pv, value_of
from evcc.session.report import SessionJsonReport

MAC = bytes.fromhex("0242ac110002")
# the report's row, as a test engineer reads it (spelled out: the text is what the reports show)
ENTRIES_FIELD = "ChargeParameterDiscoveryRes SAScheduleTuple entries"
ENTRIES_CLAUSE = ("ISO 15118-2 MaxEntriesSAScheduleTuple of ChargeParameterDiscoveryReq, entries per "
                  "SAScheduleTuple ([V2G2-310], [V2G2-610] as cited by EVerest)")


def tup(ident: int, *pmax: float, start: int = 0) -> iso2.SAScheduleTupleType:
    entries = [iso2.PMaxScheduleEntryType(RelativeTimeInterval=iso2.RelativeTimeIntervalType(start=start + 600 * i),
                                          PMax=pv(p, "W")) for i, p in enumerate(pmax)]
    return iso2.SAScheduleTupleType(SAScheduleTupleID=ident, PMaxSchedule=iso2.PMaxScheduleType(PMaxScheduleEntry=entries))


def tariff(ident: int, n: int) -> iso2.SalesTariffType:
    """An (unsigned: EIM) SalesTariff of ``n`` SalesTariffEntry, 10 min each."""
    return iso2.SalesTariffType(Id=f"ST{ident}", SalesTariffID=ident, NumEPriceLevels=1, SalesTariffEntry=[
        iso2.SalesTariffEntryType(RelativeTimeInterval=iso2.RelativeTimeIntervalType(start=600 * i), EPriceLevel=1)
        for i in range(n)])


def with_tariff(t: iso2.SAScheduleTupleType, n: int) -> iso2.SAScheduleTupleType:
    t.SalesTariff = tariff(t.SAScheduleTupleID, n)
    return t


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


def test_max_entries_counts_the_entries_of_each_tuple_not_the_tuples() -> None:
    three = [tup(1, 1), tup(2, 1), tup(3, 1)]
    assert check_tuples(three) is None
    assert schedules.too_many_entries(three, 1) is None  # three tuples of one entry each: within a limit of 1
    long_pmax = [tup(1, 1), tup(2, 1, 2, 3)]
    assert schedules.too_many_entries(long_pmax, 2) == PeerDeviation(
        ENTRIES_FIELD, "3 in SAScheduleTuple 2 PMaxSchedule", "at most 2", ENTRIES_CLAUSE)
    long_tariff = [with_tariff(tup(1, 1, 2), 4), with_tariff(tup(2, 1), 2)]
    assert schedules.too_many_entries(long_tariff, 3) == PeerDeviation(
        ENTRIES_FIELD, "4 in SAScheduleTuple 1 SalesTariff", "at most 3", ENTRIES_CLAUSE)
    ties = [with_tariff(tup(1, 1), 3), tup(2, 1, 2, 3)]  # one deviation, naming the first longest list
    found = schedules.too_many_entries(ties, 1)
    assert found is not None and found.value == "3 in SAScheduleTuple 1 SalesTariff"
    for tuples in (three, long_pmax, long_tariff):
        assert schedules.too_many_entries(tuples, None) is None  # the EV set no limit
    assert schedules.too_many_entries(long_tariff, 4) is None  # at the limit


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


def _lengthen(*idents: int, n: int = 3) -> Change:
    """A charger whose PMaxSchedule of these tuples has ``n`` entries (10 min apart, the tuple's PMax)."""
    def change(res: iso2.ChargeParameterDiscoveryResType) -> None:
        assert res.SAScheduleList is not None
        for t in res.SAScheduleList.SAScheduleTuple:
            if t.SAScheduleTupleID in idents:
                pmax = value_of(t.PMaxSchedule.PMaxScheduleEntry[0].PMax) or 0.0
                t.PMaxSchedule = tup(t.SAScheduleTupleID, *[pmax] * n).PMaxSchedule
    return change


def _tariffs(*sizes: tuple[int, int]) -> Change:
    """A charger that adds SalesTariffs: (SAScheduleTupleID, SalesTariffEntry count) (unsigned: EIM)."""
    def change(res: iso2.ChargeParameterDiscoveryResType) -> None:
        assert res.SAScheduleList is not None
        for t in res.SAScheduleList.SAScheduleTuple:
            for ident, n in sizes:
                if t.SAScheduleTupleID == ident:
                    with_tariff(t, n)
    return change


def _both(*changes: Change) -> Change:
    def change(res: iso2.ChargeParameterDiscoveryResType) -> None:
        for c in changes:
            c(res)
    return change


def _charged_with_the_usual_tuple(result: PairResult, ev: Iso2Evcc, secc: Iso2Secc) -> None:
    """The charge loop ran with the tuple select_tuple picks among all offered (2: the highest PMax)."""
    assert result.ended.kind in (EndKind.COMPLETED, EndKind.STOPPED), result.ended.reason
    assert any(isinstance(e, ChargingStarted) for e in result.events) and ev.loop_count > 0
    assert ev.sa_schedule_tuple_id == 2 and secc.sa_schedule_tuple_id == 2  # PowerDeliveryReq(Start)
    assert not secc.errors and not secc.limit_check.violations


def _deviations_reported(result: PairResult, row: dict[str, Any]) -> None:
    """One PeerDeviation event, in the SessionLog's record, `evcc session --json` and `evcc bench --json`."""
    event = PeerDeviation(row["field"], row["value"], row["expected"], row["clause"])
    assert [e for e in result.events if isinstance(e, PeerDeviation)] == [event]
    assert result.events.deviations.as_json() == [row]
    session_report = SessionJsonReport("ev0", "iso2", "EIM", False)  # what `evcc session --json` writes
    session_report.take_events(result.events)
    assert session_report.as_dict()["deviations"] == [row]
    bench_report = BenchReport(link="memory", clock="virtual")  # `evcc bench --json`, after SLAC's deviations
    bench_report.deviations = [{"field": "CM_SLAC_PARM.CNF RESP_TYPE", "value": "0", "expected": "1",
                                "clause": "ISO 15118-3", "count": 2}]
    bench_report.take_events(result.events, 0.0)
    assert bench_report.deviations[1:] == [row] and bench_report.deviations[0]["count"] == 2


def _no_deviation(result: PairResult) -> None:
    assert not result.events.deviations and not any(isinstance(e, PeerDeviation) for e in result.events)
    session_report = SessionJsonReport("ev0", "iso2", "EIM", False)
    session_report.take_events(result.events)
    assert session_report.as_dict()["deviations"] == []


@pytest.mark.parametrize("mode", ["DC_extended", "AC_three_phase_core"])
def test_max_entries_1_with_three_one_entry_tuples_is_no_deviation(mode: str) -> None:
    """MaxEntriesSAScheduleTuple bounds the entries within a tuple; the number of tuples (1..3) is the schema's."""
    result, ev, secc, charger = _session(mode, max_entries=1)
    (offered,) = charger.offered
    assert len(offered) == 3 and all(len(t.PMaxSchedule.PMaxScheduleEntry) == 1 and t.SalesTariff is None
                                     for t in offered)
    _charged_with_the_usual_tuple(result, ev, secc)
    _no_deviation(result)


@pytest.mark.parametrize("mode", ["DC_extended", "AC_three_phase_core"])
def test_a_pmax_schedule_longer_than_max_entries_goes_on_and_is_recorded(mode: str) -> None:
    result, ev, secc, charger = _session(mode, max_entries=2, change=_lengthen(2, 3))
    (offered,) = charger.offered
    assert [len(t.PMaxSchedule.PMaxScheduleEntry) for t in offered] == [1, 3, 3]
    _charged_with_the_usual_tuple(result, ev, secc)
    assert ev.charging_profile is not None  # the EV used the long tuple as sent: one ProfileEntry per entry
    assert [e.ChargingProfileEntryStart for e in ev.charging_profile.ProfileEntry] == [0, 600, 1200]
    _deviations_reported(result, {"field": ENTRIES_FIELD, "value": "3 in SAScheduleTuple 2 PMaxSchedule",
                                  "expected": "at most 2", "clause": ENTRIES_CLAUSE, "count": 1})


def test_a_sales_tariff_longer_than_max_entries_goes_on_and_is_recorded() -> None:
    result, ev, secc, charger = _session("DC_extended", max_entries=2, change=_tariffs((1, 2), (3, 4)))
    (offered,) = charger.offered
    assert [len(t.SalesTariff.SalesTariffEntry) if t.SalesTariff is not None else None for t in offered] == [2, None, 4]
    _charged_with_the_usual_tuple(result, ev, secc)
    _deviations_reported(result, {"field": ENTRIES_FIELD, "value": "4 in SAScheduleTuple 3 SalesTariff",
                                  "expected": "at most 2", "clause": ENTRIES_CLAUSE, "count": 1})


@pytest.mark.parametrize(("max_entries", "change"), [
    (None, _both(_lengthen(1, 2, 3, n=30), _tariffs((1, 30), (2, 30), (3, 30)))),  # no limit: any length
    (2, _both(_lengthen(1, 2, 3, n=2), _tariffs((1, 2), (2, 2), (3, 2)))),  # 3 tuples, none longer than 2
], ids=["no-limit", "at-the-limit"])
def test_lists_within_max_entries_are_no_deviation(max_entries: int | None, change: Change) -> None:
    result, ev, secc, charger = _session("DC_extended", max_entries, change)
    (offered,) = charger.offered
    assert len(offered) == 3
    _charged_with_the_usual_tuple(result, ev, secc)
    _no_deviation(result)


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
    """Also when a list is longer than MaxEntriesSAScheduleTuple: the stop comes first, nothing is tolerated."""
    longer = _both(_lengthen(1, 2, 3), _tariffs((2, 3)), change)
    result, ev, secc, _ = _session("DC_extended", max_entries, longer)
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason == f"ChargeParameterDiscoveryRes: {reason}"
    assert not any(isinstance(e, ChargingStarted) for e in result.events) and ev.sa_schedule_tuple_id is None
    assert not result.events.deviations  # stopped before anything was tolerated
