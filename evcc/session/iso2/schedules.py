"""SAScheduleTuple selection and the EV's ChargingProfile (ISO 15118-2 §8.5.2.13-14, §8.5.2.9).

The SECC offers 1..3 tuples (SAScheduleList: SAScheduleTuple maxOccurs 3), each with a PMaxSchedule starting at
relative time 0. The EV picks one and answers in PowerDeliveryReq(Start) with that SAScheduleTupleID and a
ChargingProfile that never exceeds the PMax in force ([V2G2-294]). Policy here: the tuple with the highest PMax
now (ties: the lowest ID). A tuple list the EV cannot use (none, IDs not unique, a PMaxSchedule without a start
at 0, a negative PMax) is the charger's error and is reported, never repaired.

MaxEntriesSAScheduleTuple of ChargeParameterDiscoveryReq, read here as the most entries the EV takes within ONE
tuple: PMaxScheduleEntry in its PMaxSchedule and SalesTariffEntry in its SalesTariff (:func:`too_many_entries`).
Not the number of tuples: the field is an unsignedShort (up to 65535) while the schema already allows at most 3
tuples, and two independent implementations read it per tuple (EVerest's EV sends 12 and cites [V2G2-310] and
[V2G2-610] for it, which we could not check against the text; Josev's SECC bounds its schedule entries by it);
OCPP 2.0.1 hands the value on (maxScheduleTuples) as what the car supports per schedule. Where the text and
independent implementations disagree, this project follows the implementations. A tuple longer than the limit
stays usable (the EV limits power by its whole PMaxSchedule, its ChargingProfile takes the first 24 entries as
for any tuple, and the EV only checks a SalesTariff's signature), so it is tolerated (issue #14: nothing stopped
that could go on) and reported as ONE deviation of the peer, a :class:`~evcc.session.events.PeerDeviation` naming
the longest list; the number of tuples is never one.
"""

from __future__ import annotations

from collections.abc import Sequence

from evcc.exi import iso2
from evcc.session.events import PeerDeviation
from evcc.session.iso2.values import pv, value_of
from evcc.session.limits import RelativeSchedule, relative_schedule

MAX_PROFILE_ENTRIES = 24  # ChargingProfileType: ProfileEntry maxOccurs 24
TOO_MANY_ENTRIES_FIELD = "ChargeParameterDiscoveryRes SAScheduleTuple entries"
TOO_MANY_ENTRIES_CLAUSE = ("ISO 15118-2 MaxEntriesSAScheduleTuple of ChargeParameterDiscoveryReq, entries per "
                           "SAScheduleTuple ([V2G2-310], [V2G2-610] as cited by EVerest)")


def check_tuples(tuples: Sequence[iso2.SAScheduleTupleType]) -> str | None:
    """A reason the offered tuples are unusable, or None. Lists longer than the EV's MaxEntriesSAScheduleTuple
    are not one (:func:`too_many_entries`)."""
    if not tuples:
        return "SAScheduleList without an SAScheduleTuple"
    ids = [t.SAScheduleTupleID for t in tuples]
    if len(set(ids)) != len(ids):
        return f"SAScheduleTupleIDs are not unique: {ids}"
    for t in tuples:
        entries = t.PMaxSchedule.PMaxScheduleEntry
        if not entries or entries[0].RelativeTimeInterval is None:
            return f"SAScheduleTuple {t.SAScheduleTupleID}: PMaxSchedule has no RelativeTimeInterval entry"
        if entries[0].RelativeTimeInterval.start != 0:
            return f"SAScheduleTuple {t.SAScheduleTupleID}: PMaxSchedule does not start at 0"
        if any((value_of(e.PMax) or 0.0) < 0 for e in entries):
            return f"SAScheduleTuple {t.SAScheduleTupleID}: negative PMax"
    return None


def longest_list(tuples: Sequence[iso2.SAScheduleTupleType]) -> tuple[int, str]:
    """The most entries of one list among the tuples (PMaxScheduleEntry, SalesTariffEntry when a SalesTariff is
    present) and where (e.g. "SAScheduleTuple 2 SalesTariff"); the first such list on ties, (0, "") for none."""
    lists = []
    for t in tuples:
        lists.append((len(t.PMaxSchedule.PMaxScheduleEntry), f"SAScheduleTuple {t.SAScheduleTupleID} PMaxSchedule"))
        if t.SalesTariff is not None:
            lists.append((len(t.SalesTariff.SalesTariffEntry), f"SAScheduleTuple {t.SAScheduleTupleID} SalesTariff"))
    return max(lists, key=lambda item: item[0], default=(0, ""))


def too_many_entries(tuples: Sequence[iso2.SAScheduleTupleType], max_entries: int | None) -> PeerDeviation | None:
    """The tolerated deviation when a tuple's PMaxSchedule or SalesTariff has more entries than the EV's
    MaxEntriesSAScheduleTuple (one for the whole list, naming the longest), or None (within the limit, or the EV
    set none). The number of tuples is not counted: see the module docstring."""
    if max_entries is None:
        return None
    count, where = longest_list(tuples)
    if count <= max_entries:
        return None
    return PeerDeviation(TOO_MANY_ENTRIES_FIELD, f"{count} in {where}", f"at most {max_entries}",
                         TOO_MANY_ENTRIES_CLAUSE)


def pmax_now(t: iso2.SAScheduleTupleType) -> float:
    return value_of(t.PMaxSchedule.PMaxScheduleEntry[0].PMax) or 0.0


def select_tuple(tuples: Sequence[iso2.SAScheduleTupleType]) -> iso2.SAScheduleTupleType:
    """The tuple with the highest PMax at the start (ties: the lowest SAScheduleTupleID), among all the tuples
    offered (also ones longer than MaxEntriesSAScheduleTuple, see :func:`too_many_entries`)."""
    return min(tuples, key=lambda t: (-pmax_now(t), t.SAScheduleTupleID))


def charging_profile(t: iso2.SAScheduleTupleType, ev_max_power: float) -> iso2.ChargingProfileType:
    """One ProfileEntry per PMaxScheduleEntry (first 24), each capped at the vehicle's maximum power."""
    entries = []
    for e in t.PMaxSchedule.PMaxScheduleEntry[:MAX_PROFILE_ENTRIES]:
        start = e.RelativeTimeInterval.start if e.RelativeTimeInterval is not None else 0
        power = min(value_of(e.PMax) or 0.0, ev_max_power)
        entries.append(iso2.ProfileEntryType(ChargingProfileEntryStart=start, ChargingProfileEntryMaxPower=pv(power, "W")))
    return iso2.ChargingProfileType(ProfileEntry=entries)


def relative(t: iso2.SAScheduleTupleType, asked_at: float, arrived_at: float) -> RelativeSchedule:
    """The tuple's PMaxSchedule as the EV limits its requests by it (evcc.session.limits): RelativeTimeInterval
    starts count from the ChargeParameterDiscoveryRes, sent by the SECC between ``asked_at`` (our request) and
    ``arrived_at``; [V2G2-294]: the EV stays within the PMax in force."""
    entries = []
    for e in t.PMaxSchedule.PMaxScheduleEntry:
        interval = e.RelativeTimeInterval
        start = float(interval.start) if interval is not None else 0.0
        duration = None if interval is None or interval.duration is None else float(interval.duration)
        entries.append((start, duration, value_of(e.PMax) or 0.0))
    return relative_schedule(entries, asked_at, arrived_at)
