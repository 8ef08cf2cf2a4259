"""SAScheduleTuple checks and selection, ChargingProfile capping (ISO 15118-2 §8.5.2.13-14), and the machine's
configuration checks."""

from __future__ import annotations

import pytest

from evcc.errors import ConfigError
from evcc.exi import iso2
from evcc.session.battery_model import BatteryModel
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2.schedules import MAX_PROFILE_ENTRIES, charging_profile, check_tuples, select_tuple
from evcc.session.iso2.values import pv, value_of

MAC = bytes.fromhex("0242ac110002")


def tup(ident: int, *pmax: float, start: int = 0) -> iso2.SAScheduleTupleType:
    entries = [iso2.PMaxScheduleEntryType(RelativeTimeInterval=iso2.RelativeTimeIntervalType(start=start + 600 * i),
                                          PMax=pv(p, "W")) for i, p in enumerate(pmax)]
    return iso2.SAScheduleTupleType(SAScheduleTupleID=ident, PMaxSchedule=iso2.PMaxScheduleType(PMaxScheduleEntry=entries))


def test_highest_pmax_now_wins_ties_to_the_lowest_id() -> None:
    assert select_tuple([tup(3, 11_000), tup(1, 22_000, 5_000), tup(2, 22_000)]).SAScheduleTupleID == 1


@pytest.mark.parametrize(
    ("tuples", "max_entries", "reason"),
    [([], None, "SAScheduleList without an SAScheduleTuple"),
     ([tup(1, 1), tup(1, 2)], None, "SAScheduleTupleIDs are not unique: [1, 1]"),
     ([tup(1, 1, start=60)], None, "SAScheduleTuple 1: PMaxSchedule does not start at 0"),
     ([tup(1, -5)], None, "SAScheduleTuple 1: negative PMax"),
     ([tup(1, 1), tup(2, 1)], 1, "2 SAScheduleTuples offered, MaxEntriesSAScheduleTuple was 1")],
)
def test_unusable_tuple_lists_are_named(tuples: list[iso2.SAScheduleTupleType], max_entries: int | None,
                                        reason: str) -> None:
    assert check_tuples(tuples, max_entries) == reason


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
