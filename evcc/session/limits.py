"""What the EV may ask for now: the one place every protocol's request builders take their current and power
values from (DIN SPEC 70121 CurrentDemandReq; ISO 15118-2 CurrentDemandReq and the AC on-board charger's draw;
ISO 15118-20 DC/AC charge loops, Scheduled and Dynamic, and the BPT discharge side). Issue 19.

The vehicle's wish (BMS or battery model) is limited by, the smallest wins::

    EV             what the vehicle wants now (DcTargets.current, the AC limits, the -20 power wishes)
    EVSE maximum   EVSEMaximumCurrentLimit / -PowerLimit (DIN, -2 DC_EVSEChargeParameterType and every
                   CurrentDemandRes that carries them), EVSEMaxCurrent (-2 AC_EVSEChargeParameterType and
                   ChargingStatusRes), EVSEMaximumChargeCurrent / -ChargePower and the discharge limits (-20
                   ChargeParameterDiscoveryRes and the DC_ChargeLoopRes control modes)
    schedule       the PMax in force: DIN and -2 PMaxSchedule of the chosen SAScheduleTuple (relative to the
                   ChargeParameterDiscoveryRes; ISO 15118-2 [V2G2-294]: the EV stays within it), -20 Scheduled:
                   the ScheduleTuple's PowerSchedule on the SECC's time base; -20 Dynamic AC: EVSETargetActivePower
    minimum        EVSEMinimumCurrentLimit (DIN, -2 DC), EVSEMinimumChargeCurrent (-20 DC): while charging the EV
                   never asks for less than it wants; a vehicle that wants less is raised to it when its own
                   maximum allows, otherwise the session stops in order. The maxima win over the minimum: a power
                   limit or schedule that allows less at this voltage is kept and recorded (Josev's -20 EVSE
                   announces 1 kW with a 10 A minimum); the EVSE's maximum current below its minimum current
                   is a contradiction with no valid request: an orderly stop

Power limits become current at the EV's target voltage plus the encoding's rounding (``VOLTAGE_MARGIN``), so
that the product of the values as encoded stays within the power; every value is rounded down to what
PhysicalValueType / RationalNumberType carry exactly (:func:`floor_encodable`).

Bad input (a maximum below the minimum, a negative or NaN limit, a maximum of 0 while charging): the EV asks for
nothing it cannot justify (the limit counts as 0), the :class:`Allowance` names the deviation, and ``stop``
says why no valid request is possible (the machine then stops in order). Nothing here raises.

Sans-IO: pure functions and frozen values; times are passed in (the machine's monotonic ``now`` for DIN and
-2 relative schedules, the SECC's Unix time for -20).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

from evcc.session.events import LimitDeviation, LimitInForce

Source = Literal["EV", "EVSE maximum", "schedule", "minimum"]
SOURCES: tuple[Source, ...] = ("EV", "EVSE maximum", "schedule", "minimum")

VOLTAGE_MARGIN = 0.1  # V added to the target voltage when a power limit becomes a current (encoding rounding)
MAX_SCHEDULE_START = 7 * 86_400  # s: a schedule entry starting later than this is absurd and ignored
SHORT_MAX_PMAX = 32_767  # DIN PMaxType is a bare short: a saturated value means "at least this", no limit


@dataclass(frozen=True, slots=True)
class EvseLimits:
    """The EVSE's limits as last reported (None: not reported). Currents in A (AC: per phase), power in W;
    discharge limits are positive magnitudes."""

    max_current: float | None = None
    max_power: float | None = None
    max_voltage: float | None = None
    min_current: float | None = None
    max_discharge_current: float | None = None
    max_discharge_power: float | None = None

    def updated(self, **values: float | None) -> EvseLimits:
        """These limits with every given value that is not None replacing the old one (a CurrentDemandRes /
        ChargeLoopRes that leaves an optional limit out keeps the last one in force)."""
        new = {k: v for k, v in values.items() if v is not None and v != getattr(self, k)}
        return replace(self, **new) if new else self  # unchanged limits (most responses): the same object


class Allowance(NamedTuple):  # a tuple: one per charge-loop request, a frozen dataclass costs 10 times more
    """What the EV may ask for now: ``value`` (A or W, >= 0), ``source`` (what set it), ``stop`` (why no valid
    request is possible, or None) and ``deviations`` (limits that made no sense and what was done instead)."""

    value: float
    unit: str
    source: Source
    stop: str | None = None
    deviations: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.value:.1f} {self.unit} ({self.source})"


def floor_encodable(value: float, finest: int = -1) -> float:
    """``value`` rounded down to a number PhysicalValueType (Value short, Multiplier from ``finest``) encodes
    exactly; the -20 RationalNumberType (Exponent from -3) encodes it exactly too. Never negative; NaN: 0."""
    if not value > 0:
        return 0.0
    if finest == -1 and value <= 3276.7:  # the common case (currents): tenths
        return math.floor(value * 10.0 + 1e-9) / 10.0
    for multiplier in range(finest, 8):
        step = 10.0**multiplier
        if value / step <= 32_767:
            return math.floor(value / step + 1e-9) * step
    return 32_767 * 10.0**7


def _checked(name: str, value: float | None, deviations: list[str]) -> float | None:
    """A limit as usable: None (not reported) and +inf (no limit) are None; NaN, -inf or negative is a deviation
    and counts as 0 (nothing can be justified by it)."""
    if value is None or value == math.inf:  # +inf: no limit (a saturated DIN PMax, an open window)
        return None
    if value != value or value == -math.inf or value < 0:
        deviations.append(f"{name} {value} makes no sense: taken as 0")
        return 0.0
    return value


def _charge(wish: float, unit: str, limits: Sequence[tuple[Source, str, float | None]], minimum: float | None,
            ev_max: float | None, charging: bool, deviations: list[str]) -> Allowance:
    """The smallest of the wish and ``limits`` ((source, name, value) already in ``unit``; ties: the wish, then
    the first named), then the minimum. One pass: it runs for every charge-loop request."""
    source: Source = "EV"
    value = wish if wish == wish and wish > 0 else 0.0
    evse_max: float | None = None
    direct: float | None = None  # the EVSE's maximum in ``unit`` itself (not a power at this voltage)
    room = math.inf  # the smallest limit
    for src, name, raw in limits:
        limit = _checked(name, raw, deviations)
        if limit is None:
            continue
        if src == "EVSE maximum":
            if charging and limit == 0.0:
                deviations.append(f"{name} is 0 while charging")
            evse_max = limit if evse_max is None or limit < evse_max else evse_max
            if name != "EVSEMaximumPowerLimit":
                direct = limit if direct is None or limit < direct else direct
        room = min(room, limit)
        if limit < value:
            source, value = src, limit
    value = floor_encodable(value)
    minimum = _checked("minimum", minimum, deviations)
    if evse_max is not None and minimum and evse_max < minimum:
        deviations.append(f"the EVSE's maximum {evse_max:.1f} {unit} is below its minimum {minimum:.1f} {unit}")
    stop = None
    if charging and evse_max == 0.0:
        stop = f"the EVSE allows no charging (maximum 0 {unit})"
    elif charging and minimum and value < minimum:
        if source == "EV" and ev_max is not None and ev_max >= minimum and room >= minimum:
            value, source = float(minimum), "minimum"  # the vehicle can take the minimum: never ask below it
        elif source == "EV":
            stop = f"the vehicle wants {value:.1f} {unit}, less than the EVSE's minimum {minimum:.1f} {unit}"
        elif direct is not None and direct < minimum:  # the EVSE's own maximum below its minimum: contradiction
            stop = (f"the EVSE's maximum {direct:.1f} {unit} is less than its minimum {minimum:.1f} {unit}: "
                    "no valid request")
        else:  # a power limit or the schedule at this voltage: never above it; the minimum is the EVSE's floor
            deviations.append(f"the {source} allows less than the EVSE's minimum {minimum:.1f} {unit}: "
                              f"the request stays within the {source}")
    return Allowance(0.0 if stop else value, unit, source, stop, tuple(deviations))


def dc_current(wish: float, voltage: float, evse: EvseLimits, pmax: float | None, ev_max: float | None = None,
               charging: bool = True) -> Allowance:
    """EVTargetCurrent (A) for a DC charge loop (DIN CurrentDemandReq, -2 CurrentDemandReq, -20 Scheduled
    DC_ChargeLoopReq): the vehicle's ``wish`` limited by EVSEMaximumCurrentLimit, EVSEMaximumPowerLimit and the
    schedule's ``pmax`` (W) at ``voltage`` (the EV's EVTargetVoltage), and by EVSEMinimumCurrentLimit.
    ``ev_max``: the vehicle's own maximum current (justifies raising a small wish to the minimum)."""
    deviations: list[str] = []
    v = voltage if voltage == voltage and voltage > 0 else 0.0
    v = max(1.0, v) + VOLTAGE_MARGIN
    max_power = _checked("EVSEMaximumPowerLimit", evse.max_power, deviations)
    pmax = _checked("PMax", pmax, deviations)
    limits: list[tuple[Source, str, float | None]] = [
        ("EVSE maximum", "EVSEMaximumCurrentLimit", evse.max_current),
        ("EVSE maximum", "EVSEMaximumPowerLimit", None if max_power is None else max_power / v),
        ("schedule", "PMax", None if pmax is None else pmax / v),
    ]
    return _charge(wish, "A", limits, evse.min_current, ev_max, charging, deviations)


def ac_current(wish: float, nominal_voltage: float, phases: int, evse: EvseLimits, pmax: float | None,
               ev_min: float | None = None, charging: bool = True) -> Allowance:
    """The current per phase the on-board charger may draw (A; -2 EVMaxCurrent is the vehicle's own part):
    ``wish`` limited by EVSEMaxCurrent and the schedule's ``pmax`` (W) over ``phases`` at ``nominal_voltage``.
    Below the vehicle's EVMinCurrent (``ev_min``) it cannot charge: the session stops in order."""
    deviations: list[str] = []
    per_phase = max(1.0, nominal_voltage if nominal_voltage == nominal_voltage else 0.0) * max(1, phases)
    pmax = _checked("PMax", pmax, deviations)
    limits: list[tuple[Source, str, float | None]] = [
        ("EVSE maximum", "EVSEMaxCurrent", evse.max_current),
        ("schedule", "PMax", None if pmax is None else pmax / per_phase),
    ]
    a = _charge(wish, "A", limits, None, None, charging, deviations)
    if charging and a.stop is None and ev_min and a.value < ev_min and a.source != "EV":
        return a._replace(value=0.0, stop=f"the {a.source} allows {a.value:.1f} A per phase, less than the "
                                          f"vehicle's minimum {ev_min:.1f} A")
    return a


def power(wish: float, evse_max: float | None, pmax: float | None, charging: bool = True,
          evse_min: float | None = None, name: str = "EVSEMaximumChargePower") -> Allowance:
    """A charge power the EV asks for or announces (W; -20 EVMaximumChargePower in the loops, the AC draw):
    ``wish`` limited by the EVSE's maximum power and the schedule's (or, Dynamic AC, the EVSE's target) power."""
    deviations: list[str] = []
    limits: list[tuple[Source, str, float | None]] = [("EVSE maximum", name, evse_max), ("schedule", "PMax", pmax)]
    return _charge(wish, "W", limits, evse_min, None, charging, deviations)


def discharge(wish: float, unit: str, evse_max: float | None, schedule_max: float | None) -> Allowance:
    """The BPT discharge side (a positive magnitude, A or W): what the vehicle may give back limited by the EVSE's
    EVSEMaximumDischargeCurrent / -Power and the DischargingSchedule. Holding 0 is always valid: no stop."""
    deviations: list[str] = []
    limits: list[tuple[Source, str, float | None]] = [
        ("EVSE maximum", "EVSEMaximumDischarge" + ("Current" if unit == "A" else "Power"), evse_max),
        ("schedule", "DischargingSchedule", schedule_max)]
    return _charge(wish, unit, limits, None, None, False, deviations)


def din_pmax(pmax: float | None, evse: EvseLimits, voltage: float) -> tuple[float | None, str | None]:
    """DIN SPEC 70121's PMax is a bare short (PMaxType, no unit in the schema) and chargers disagree on it (W
    saturated at 32767; Josev's simulator sends 200). It is read in W where that is consistent with the EVSE's
    own limits; a PMax below the power of EVSEMinimumCurrentLimit at ``voltage`` cannot be W (no valid DC request
    would exist): it is recorded and not applied (None), and EVSEMaximumPowerLimit (a PhysicalValue in W) governs."""
    if pmax is None or not evse.min_current or evse.min_current <= 0 or pmax >= evse.min_current * voltage:
        return pmax, None
    return None, (f"PMax {pmax:.0f} is below the EVSE's minimum {evse.min_current:.0f} A x {voltage:.0f} V: "
                  "not a power in W, not applied (EVSEMaximumPowerLimit governs)")


# ------------------------------------------------------------------------------------- relative schedules
@dataclass(frozen=True, slots=True)
class RelativeSchedule:
    """A DIN / ISO 15118-2 PMaxSchedule: ``steps`` (start s, PMax W) from the SECC's time 0, which lies between
    ``anchor_early`` (the EV sent ChargeParameterDiscoveryReq) and ``anchor_late`` (the response arrived) on the
    vehicle's clock; ``end``: when the last entry ends (None: open). ``pmax(now)`` is the smallest PMax over that
    uncertainty, so the EV never asks for more than the SECC's schedule allows at its own time."""

    steps: tuple[tuple[float, float], ...]
    anchor_early: float
    anchor_late: float
    end: float | None = None
    deviations: tuple[str, ...] = ()

    def pmax(self, now: float) -> float:
        lo, hi = now - self.anchor_late, now - self.anchor_early
        if self.end is not None and hi >= self.end:
            return 0.0  # the schedule ends within the window: no power is agreed after it
        found: float | None = None
        for i, (start, value) in enumerate(self.steps):
            nxt = self.steps[i + 1][0] if i + 1 < len(self.steps) else math.inf
            if nxt > lo and start <= hi:
                found = value if found is None else min(found, value)
        return 0.0 if found is None else found


def relative_schedule(entries: Sequence[tuple[float, float | None, float]], anchor_early: float,
                      anchor_late: float, saturated: float | None = None) -> RelativeSchedule:
    """``entries``: (start s, duration s or None, PMax W) as received. Deviations are recorded, never raised: a
    negative PMax counts as 0; an entry starting beyond ``MAX_SCHEDULE_START`` is ignored; entries out of order
    are sorted. ``saturated``: a PMax value that means "at least this" (DIN's bare short at 32767): no limit."""
    deviations: list[str] = []
    steps: list[tuple[float, float]] = []
    end: float | None = None
    for start, duration, pmax in entries:
        if not 0 <= start <= MAX_SCHEDULE_START:
            deviations.append(f"PMaxScheduleEntry starting at {start} s ignored (outside 0..{MAX_SCHEDULE_START} s)")
            continue
        if pmax != pmax or pmax < 0:
            deviations.append(f"PMax {pmax} W at {start} s makes no sense: taken as 0")
            pmax = 0.0
        if saturated is not None and pmax >= saturated:
            pmax = math.inf
        steps.append((float(start), float(pmax)))
        if not steps[:-1] or start >= max(s for s, _ in steps[:-1]):  # the last entry's duration ends it
            end = float(start + duration) if duration is not None and duration >= 0 else None
    if [s for s, _ in steps] != sorted(s for s, _ in steps):
        deviations.append("PMaxScheduleEntries out of order: sorted by start")
        steps.sort()
    if not steps:
        deviations.append("no usable PMaxScheduleEntry: no power agreed")
        steps = [(0.0, 0.0)]
    elif steps[0][0] > 0:
        deviations.append(f"PMaxSchedule starts at {steps[0][0]} s: no power agreed before it")
        steps.insert(0, (0.0, 0.0))
    return RelativeSchedule(tuple(steps), anchor_early, min(anchor_late, max(anchor_early, anchor_late)),
                            end, tuple(deviations))


def window_min(power_at: Callable[[float], float], lo: float, hi: float) -> float:
    """The smallest value of a step function ``power_at`` over [lo, hi], sampled at both ends and every whole
    second between (the -20 schedules step at whole seconds on the SECC's clock, known to about a second)."""
    hi = max(lo, hi)
    points = {lo, hi}
    points.update(float(s) for s in range(math.ceil(lo), math.floor(hi) + 1))
    return min(power_at(p) for p in points)


# ------------------------------------------------------------------------------------- per machine
MAX_DEVIATIONS = 32  # distinct deviation texts reported per session (bounded)


class LimitTracker:
    """One machine's view of the limits: the EVSE's (``evse``, updated from every response that carries them),
    the agreed relative schedule (DIN, -2; ``schedule``, with ``pending`` for a renegotiated one until it takes
    effect), when ChargeParameterDiscoveryReq was sent (``asked_at``) and the allowance last used (``current``,
    for the report and the D-Bus Session). :meth:`take` returns the events to report: a :class:`LimitInForce`
    when the source changes or a limit moves by more than 1 % (the EV's own wish moving is no news), a
    :class:`LimitDeviation` per new deviation text (at most ``MAX_DEVIATIONS``)."""

    __slots__ = ("evse", "schedule", "pending", "asked_at", "current", "_told", "_deviations")

    def __init__(self) -> None:
        self.evse = EvseLimits()
        self.schedule: RelativeSchedule | None = None
        self.pending: RelativeSchedule | None = None
        self.asked_at: float | None = None
        self.current: Allowance | None = None
        self._told: dict[str, tuple[Source, float]] = {}  # per request: the source and value last reported
        self._deviations: set[str] = set()

    def pmax(self, now: float) -> float | None:
        return None if self.schedule is None else self.schedule.pmax(now)

    def take(self, request: str, a: Allowance, now: float) -> list[LimitInForce | LimitDeviation]:
        self.current = a
        out: list[LimitInForce | LimitDeviation] = []
        for text in a.deviations:
            if text not in self._deviations and len(self._deviations) < MAX_DEVIATIONS:
                self._deviations.add(text)
                out.append(LimitDeviation(text))
        told = self._told.get(request)
        moved = told is None or told[0] != a.source or (
            a.source != "EV" and abs(a.value - told[1]) > 0.01 * max(abs(told[1]), 1.0))
        if moved and (told is not None or len(self._told) < MAX_DEVIATIONS):  # a few request kinds per protocol
            self._told[request] = (a.source, a.value)
            out.append(LimitInForce(request, a.value, a.unit, a.source, now))
        return out

    def deviations(self, texts: Iterable[str]) -> list[LimitDeviation]:
        """Deviations found outside an allowance (a schedule as received)."""
        out: list[LimitDeviation] = []
        for text in texts:
            if text not in self._deviations and len(self._deviations) < MAX_DEVIATIONS:
                self._deviations.add(text)
                out.append(LimitDeviation(text))
        return out


def limit_summary(events: Iterable[object]) -> tuple[dict[str, object] | None, list[str]]:
    """For a report: the last :class:`LimitInForce` among ``events`` (request, value, unit, source, at) and the
    deviations' texts (at most ``MAX_DEVIATIONS``)."""
    last: LimitInForce | None = None
    deviations: list[str] = []
    for event in events:
        if isinstance(event, LimitInForce):
            last = event
        elif isinstance(event, LimitDeviation) and len(deviations) < MAX_DEVIATIONS:
            deviations.append(event.text)
    if last is None:
        return None, deviations
    return {"request": last.request, "value": round(last.value, 3), "unit": last.unit, "source": last.source,
            "at": round(last.at, 3)}, deviations
