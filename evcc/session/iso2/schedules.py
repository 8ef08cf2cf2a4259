"""SAScheduleTuple selection and the EV's ChargingProfile (ISO 15118-2 §8.5.2.13-14, §8.5.2.9).

The SECC offers 1..3 tuples ([V2G2-296]: at most MaxEntriesSAScheduleTuple when the EV set it), each with a
PMaxSchedule starting at relative time 0. The EV picks one and answers in PowerDeliveryReq(Start) with that
SAScheduleTupleID and a ChargingProfile that never exceeds the PMax in force ([V2G2-294]). Policy here: the
tuple with the highest PMax now (ties: the lowest ID). A tuple list the EV cannot use (none, IDs not unique, a
PMaxSchedule without a start at 0, a negative PMax) is the charger's error and is reported, never repaired.

More tuples than the EV's MaxEntriesSAScheduleTuple break [V2G2-296] but leave every tuple usable: the EV picks
one either way. That is tolerated (issue #14: nothing stopped that could go on) and reported as a deviation of
the peer (:func:`too_many_tuples`, a :class:`~evcc.session.events.PeerDeviation`), and the EV chooses among all
the tuples offered by the same rule: the count limit tells the SECC how many the EV can store, not which ones
it may pick, and the standard names no tuples to drop.

Open question, the field's reading: here MaxEntriesSAScheduleTuple bounds the number of tuples. Other stacks
(EVerest's EV, Josev's SECC) read it as the number of entries (PMaxScheduleEntry, SalesTariffEntry) within one
tuple; under that reading three tuples for a limit of 1 are no deviation and longer tuples would be one (the EV
uses them either way: the first 24 entries make the ChargingProfile). To be settled against the text of ISO
15118-2; either way nothing here stops the session.
"""

from __future__ import annotations

from collections.abc import Sequence

from evcc.exi import iso2
from evcc.session.events import PeerDeviation
from evcc.session.iso2.values import pv, value_of
from evcc.session.limits import RelativeSchedule, relative_schedule

MAX_PROFILE_ENTRIES = 24  # ChargingProfileType: ProfileEntry maxOccurs 24
TOO_MANY_TUPLES_FIELD = "ChargeParameterDiscoveryRes SAScheduleTuple count"
TOO_MANY_TUPLES_CLAUSE = ("ISO 15118-2 [V2G2-296] (at most MaxEntriesSAScheduleTuple of "
                          "ChargeParameterDiscoveryReq)")


def check_tuples(tuples: Sequence[iso2.SAScheduleTupleType]) -> str | None:
    """A reason the offered tuples are unusable, or None. Their number beyond the EV's
    MaxEntriesSAScheduleTuple is not one (:func:`too_many_tuples`)."""
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


def too_many_tuples(tuples: Sequence[iso2.SAScheduleTupleType], max_entries: int | None) -> PeerDeviation | None:
    """The tolerated deviation when the SECC offered more tuples than the EV's MaxEntriesSAScheduleTuple
    ([V2G2-296]), or None (within the limit, or the EV set none)."""
    if max_entries is None or len(tuples) <= max_entries:
        return None
    return PeerDeviation(TOO_MANY_TUPLES_FIELD, str(len(tuples)), f"at most {max_entries}", TOO_MANY_TUPLES_CLAUSE)


def pmax_now(t: iso2.SAScheduleTupleType) -> float:
    return value_of(t.PMaxSchedule.PMaxScheduleEntry[0].PMax) or 0.0


def select_tuple(tuples: Sequence[iso2.SAScheduleTupleType]) -> iso2.SAScheduleTupleType:
    """The tuple with the highest PMax at the start (ties: the lowest SAScheduleTupleID), among all the tuples
    offered: also when the SECC offered more than MaxEntriesSAScheduleTuple ([V2G2-296]; the EV does not drop any,
    a deviation the session records, see :func:`too_many_tuples`)."""
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
