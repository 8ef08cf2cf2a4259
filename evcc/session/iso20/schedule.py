"""ScheduleExchange on the EV side (ISO 15118-20 §8.3.4.7, §8.5.x control modes) and the EVPowerProfile of
PowerDeliveryReq(Start).

Scheduled mode: the SECC offers 1..3 ScheduleTuples, each a ChargingSchedule (PowerSchedule: TimeAnchor +
PowerScheduleEntries of Duration/Power, negative power = discharging) and for BPT an optional
DischargingSchedule. Policy here: the tuple with the highest charge power at its start (ties: the lowest
ScheduleTupleID). The EV answers in PowerDeliveryReq(Start) with an EVPowerProfile naming that tuple
(Scheduled_EVPPTControlMode) whose entries never exceed the schedule nor the vehicle's limits.
A tuple whose PowerSchedule carries a PowerTolerance (W the EV may deviate from the schedule) is answered with
PowerToleranceAcceptance in Scheduled_EVPPTControlMode (optional in the schema, absent when the tuple has no
tolerance): PowerToleranceConfirmed when the vehicle follows the schedule within that tolerance (our charge loops
target the schedule in force and the profile never exceeds it, so this is the default), PowerToleranceNotConfirmed
when the configuration says the vehicle cannot; the SECC answers OK_PowerToleranceConfirmed,
WARNING_PowerToleranceNotConfirmed or FAILED_PowerToleranceNotConfirmed.
Dynamic mode: the EV sends its energy requests and DepartureTime; the SECC sets the power in the charge loop.
A tuple list that breaks the schema's rules is the charger's error and is reported, never repaired.
A PowerSchedule with more entries than the EV's MaximumSupportingPoints (ScheduleExchangeReq, 12..1024) breaks
what the EV announced but stays usable (the EV reads every entry; its EVPowerProfile takes the first
:data:`MAX_PROFILE_ENTRIES`): tolerated and reported as a deviation of the peer (:func:`too_many_points`, a
:class:`~evcc.session.events.PeerDeviation`), as ISO 15118-2's MaxEntriesSAScheduleTuple (iso2/schedules.py).
Counted per PowerSchedule (ChargingSchedule, DischargingSchedule), the narrowest reading of the limit: a charger
flagged here breaks it under any reading; price schedules are not counted (the EV does not use them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evcc.session.events import PeerDeviation
from evcc.session.iso20.values import common, number, rational

MAX_TUPLES = 3
MAX_PROFILE_ENTRIES = 1024
SUPPORTING_POINTS_CLAUSE = ("ISO 15118-20 ScheduleExchangeReq MaximumSupportingPoints (the most schedule entries "
                            "the EV takes)")


@dataclass(frozen=True, slots=True)
class Schedule:
    """The chosen ScheduleTuple: its ID and the power over time (W; < 0 discharging) from ``time_anchor``."""

    tuple_id: int
    time_anchor: int  # Unix seconds
    entries: tuple[tuple[int, float], ...]  # (Duration s, Power W)
    discharge_entries: tuple[tuple[int, float], ...] = ()  # DischargingSchedule, W (stored as given)
    power_tolerance: float | None = None  # PowerTolerance (W) of the ChargingSchedule's PowerSchedule, if any
    end: int = field(init=False, repr=False, compare=False)  # Unix s at which the last entry ends

    def __post_init__(self) -> None:
        object.__setattr__(self, "end", self.time_anchor + sum(duration for duration, _ in self.entries))

    def power_at(self, unix_time: float) -> float:
        """The power in force at ``unix_time``; 0 before the anchor or after the last entry."""
        t = unix_time - self.time_anchor
        if t < 0:
            return 0.0
        for duration, power in self.entries:
            if t < duration:
                return power
            t -= duration
        return 0.0

    def discharge_limit_at(self, unix_time: float) -> float | None:
        """The DischargingSchedule's magnitude (W) in force, or None when the tuple has none."""
        if not self.discharge_entries:
            return None
        t = unix_time - self.time_anchor
        for duration, power in self.discharge_entries:
            if t < duration:
                return abs(power)
            t -= duration
        return 0.0


def _entries(schedule: Any) -> tuple[tuple[int, float], ...]:
    lst = schedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry
    return tuple((int(e.Duration), number(e.Power) or 0.0) for e in lst)


def check_tuples(tuples: Sequence[Any]) -> str | None:
    """A reason the offered tuples are unusable, or None."""
    if not tuples:
        return "Scheduled_SEResControlMode without a ScheduleTuple"
    if len(tuples) > MAX_TUPLES:
        return f"{len(tuples)} ScheduleTuples offered, at most {MAX_TUPLES} allowed"
    ids = [t.ScheduleTupleID for t in tuples]
    if len(set(ids)) != len(ids):
        return f"ScheduleTupleIDs are not unique: {ids}"
    for t in tuples:
        if not t.ChargingSchedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry:
            return f"ScheduleTuple {t.ScheduleTupleID}: PowerSchedule without entries"
    return None


def too_many_points(tuples: Sequence[Any], maximum: int) -> list[PeerDeviation]:
    """A tolerated deviation per kind of PowerSchedule (ChargingSchedule, DischargingSchedule) that has more
    PowerScheduleEntries than ``maximum`` (the EV's MaximumSupportingPoints) in some tuple: the largest count."""
    longest: dict[str, int] = {}
    for t in tuples:
        for kind in ("ChargingSchedule", "DischargingSchedule"):
            schedule = getattr(t, kind, None)
            if schedule is not None:
                count = len(schedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry)
                longest[kind] = max(longest.get(kind, 0), count)
    return [PeerDeviation(f"ScheduleExchangeRes {kind} PowerScheduleEntry count", str(count), f"at most {maximum}",
                          SUPPORTING_POINTS_CLAUSE)
            for kind, count in longest.items() if count > maximum]


def select_tuple(tuples: Sequence[Any]) -> Schedule:
    """The tuple with the highest power at its start (ties: the lowest ScheduleTupleID)."""
    chosen = min(tuples, key=lambda t: (-_entries(t.ChargingSchedule)[0][1], t.ScheduleTupleID))
    dis = _entries(chosen.DischargingSchedule) if chosen.DischargingSchedule is not None else ()
    power = chosen.ChargingSchedule.PowerSchedule
    tolerance = number(power.PowerTolerance) if power.PowerTolerance is not None else None
    return Schedule(int(chosen.ScheduleTupleID), int(power.TimeAnchor), _entries(chosen.ChargingSchedule), dis,
                    tolerance)


def tolerance_acceptance(schedule: Schedule, confirm: bool) -> str | None:
    """PowerToleranceAcceptance for the selected tuple: None (element absent) when it has no PowerTolerance."""
    if schedule.power_tolerance is None:
        return None
    return "PowerToleranceConfirmed" if confirm else "PowerToleranceNotConfirmed"


def power_profile(schedule: Schedule | None, max_charge: float, max_discharge: float, timestamp: int,
                  horizon: int, confirm_tolerance: bool = True) -> Any:
    """EVPowerProfile for PowerDeliveryReq(Start): Scheduled: the tuple's entries capped by the vehicle's limits
    (``max_discharge`` >= 0: the most the vehicle gives back) and, when the tuple carries a PowerTolerance, the
    PowerToleranceAcceptance ``confirm_tolerance`` gives; Dynamic: one entry of ``horizon`` s at the vehicle's
    maximum charge power."""
    m = common()
    if schedule is None:
        entries = [(horizon, max_charge)]
        mode = {"Dynamic_EVPPTControlMode": m.Dynamic_EVPPTControlModeType()}
        anchor = timestamp
    else:
        entries = [(d, max(-max_discharge, min(p, max_charge))) for d, p in schedule.entries[:MAX_PROFILE_ENTRIES]]
        mode = {"Scheduled_EVPPTControlMode": m.Scheduled_EVPPTControlModeType(
            SelectedScheduleTupleID=schedule.tuple_id,
            PowerToleranceAcceptance=tolerance_acceptance(schedule, confirm_tolerance))}
        anchor = schedule.time_anchor
    items = [m.PowerScheduleEntryType(Duration=d, Power=rational(m, p)) for d, p in entries]
    return m.EVPowerProfileType(TimeAnchor=anchor, EVPowerProfileEntries=m.EVPowerProfileEntryListType(
        EVPowerProfileEntry=items), **mode)
