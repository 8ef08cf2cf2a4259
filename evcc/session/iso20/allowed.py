"""What the ISO 15118-20 EV may ask for now (evcc.session.limits, issue 19) in its DC and AC charge loops,
Scheduled and Dynamic, and on the BPT discharge side.

- the EVSE's limits: DC_/AC_ChargeParameterDiscoveryRes (EVSEMaximumChargeCurrent, -ChargePower, -Voltage,
  EVSEMinimumChargeCurrent, the BPT discharge limits), updated by every DC_ChargeLoopRes control mode that carries
  them (Scheduled: optional; Dynamic: mandatory);
- Scheduled: the chosen ScheduleTuple's PowerSchedule on the SECC's time base (clock.py). The EV knows that time
  to about a second, so the power in force is the smallest over [t - ``CLOCK_BEFORE``, t + ``CLOCK_AFTER``]:
  a step down is obeyed before the SECC's clock reaches it, a step up only once it surely has;
- Dynamic AC: the EVSE's EVSETargetActivePower is what the on-board charger draws, never above the maximum;
- DC: EVTargetCurrent (Scheduled) and EVMaximumChargePower / -Current (Dynamic) within the EVSE's maxima; AC:
  EVMaximumChargePower within EVSEMaximumChargePower and the schedule; BPT: EVMaximumDischargePower / -Current
  within EVSEMaximumDischargePower / -Current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evcc.session.events import EndKind
from evcc.session.iso20 import requests as rq
from evcc.session.iso20.stopping import begin_stop
from evcc.session.iso20.values import number
from evcc.session.limits import Allowance, EvseLimits, dc_current, discharge, power, window_min

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc

CLOCK_BEFORE = 1.0  # s: the SECC's time may be this much before our estimate (whole-second stamps)
CLOCK_AFTER = 2.0  # s: and this much after it (clock.py keeps the largest sample, truncation adds one)


def evse_from(mode: Any, old: EvseLimits) -> EvseLimits:
    """The EVSE's limits from a -20 control mode or CPD energy transfer mode (fields it lacks keep the old)."""
    def get(name: str) -> float | None:
        return number(getattr(mode, name, None))
    return old.updated(max_current=get("EVSEMaximumChargeCurrent"), max_power=get("EVSEMaximumChargePower"),
                       max_voltage=get("EVSEMaximumVoltage"), min_current=get("EVSEMinimumChargeCurrent"),
                       max_discharge_current=get("EVSEMaximumDischargeCurrent"),
                       max_discharge_power=get("EVSEMaximumDischargePower"))


def note_charge_loop_res(m: Iso20Evcc, res: Any) -> None:
    """DC_ChargeLoopRes: the control mode's EVSE limits are those in force from now on."""
    for name in ("Scheduled_DC_CLResControlMode", "Dynamic_DC_CLResControlMode", "BPT_Scheduled_DC_CLResControlMode",
                 "BPT_Dynamic_DC_CLResControlMode"):
        mode = getattr(res, name, None)
        if mode is not None:
            m.limits.evse = evse_from(mode, m.limits.evse)


def schedule_power(m: Iso20Evcc, now: float) -> float | None:
    """Scheduled: the smallest power of the chosen ScheduleTuple over the SECC's time as known; None otherwise."""
    schedule = m.schedule
    if schedule is None:
        return None
    t = m.secc_time(now)  # outside the schedule the session stops (clock.outside): clamp the window to it
    lo = max(t - CLOCK_BEFORE, schedule.time_anchor)
    return window_min(schedule.power_at, lo, min(t + CLOCK_AFTER, schedule.end - 0.001))


def _taken(m: Iso20Evcc, request: str, a: Allowance, now: float) -> bool:
    """Report the allowance; False (an orderly stop began) when no valid request is possible."""
    for event in m.limits.take(request, a, now):
        m.emit(event)
    if a.stop is None:
        return True
    begin_stop(m, EndKind.STOPPED, a.stop, now)
    return False


def dc_target_current(m: Iso20Evcc, now: float, wish: float, voltage: float, ev_max: float,
                      d: rq.Discharge) -> float | None:
    """Scheduled DC EVTargetCurrent (A, < 0 discharging while a BPT schedule discharges); None: stopping."""
    p = schedule_power(m, now)
    v = max(1.0, voltage)
    if p is None or p >= 0:
        a = dc_current(wish, voltage, m.limits.evse, p, ev_max)
        return a.value if _taken(m, "EVTargetCurrent", a, now) else None
    back = min(d.current, d.power / v)
    evse = m.limits.evse
    evse_current = min(x for x in (evse.max_discharge_current, None if evse.max_discharge_power is None
                                   else evse.max_discharge_power / v, back) if x is not None)
    a = discharge(back, "A", evse_current, -p / v)
    return -a.value if _taken(m, "EVTargetCurrent (discharge)", a, now) else None


def dc_dynamic_maxima(m: Iso20Evcc, now: float, top: float, current: float, voltage: float,
                      charging: bool) -> tuple[float, float] | None:
    """Dynamic DC EVMaximumChargePower / -Current within the EVSE's maxima; None: stopping."""
    a = power(top, m.limits.evse.max_power, None, charging)
    if not _taken(m, "EVMaximumChargePower", a, now):
        return None
    c = dc_current(current, voltage, m.limits.evse, None, current, charging)
    if not _taken(m, "EVMaximumChargeCurrent", c, now):
        return None
    return a.value, c.value


def capped_discharge(m: Iso20Evcc, d: rq.Discharge) -> rq.Discharge:
    """What the EV offers to give back in its requests: within the EVSE's discharge limits."""
    evse = m.limits.evse
    current = discharge(d.current, "A", evse.max_discharge_current, None).value
    watts = discharge(d.power, "W", evse.max_discharge_power, None).value
    return rq.Discharge(current, watts)


def ac_max_power(m: Iso20Evcc, now: float, vehicle_max: float, charging: bool) -> float | None:
    """AC EVMaximumChargePower (W) within EVSEMaximumChargePower and (Scheduled) the schedule; None: stopping."""
    a = power(vehicle_max, m.limits.evse.max_power, schedule_power(m, now), charging)
    return a.value if _taken(m, "EVMaximumChargePower", a, now) else None
