"""DC_BPT and AC_BPT Dynamic control (ISO 15118-20 §8.3.5 charge loops, §8.3.4.13 SessionStop) when the vehicle
can give nothing back (at or below its minimum discharge SoC, or the BMS allows no discharge) while the EVSE
still asks for discharge.

In Dynamic mode the EVSE sets the power within the limits the EV reports each loop message. Such a vehicle
reports EVMaximumDischargePower/-Current 0 (requests.discharge), so it holds 0:

    AC: the EV's own on-board charger draws nothing when EVSETargetActivePower < 0 (ac.draw);
    DC: the EVSE drives the current; a compliant one delivers 0 A. One that still discharges beyond
        ``DISCHARGE_NOISE`` A after ``RAMP_DOWN`` s (it has seen the zero limits by then) discharges below the
        vehicle's minimum: the EV stops at once.

Nothing in the messages ends such a standoff: the grid may ask for power back until the vehicle's departure. The
standard lets the EV end a session whenever it wants to, and say why: SessionStopReq carries an optional
EVTerminationCode and EVTerminationExplanation (V2G_CI_CommonMessages.xsd SessionStopReqType). So after
``Iso20Config.no_discharge_hold`` s of holding 0 this EVCC stops in order (PowerDelivery(Stop), DC welding
detection, SessionStop(Terminate), EVTerminationCode ``NoDischargeAllowed``). The vehicle port ends it earlier
when it says so: charging complete or an error (dc.py, ac.py).

"The EVSE asks for discharge": it gives the vehicle no charge. AC: EVSETargetActivePower <= 0; DC:
EVSEPresentCurrent <= ``DISCHARGE_NOISE`` (a DC response carries no target). A compliant EVSE clamps the grid's
request for power back to the vehicle's zero limits and shows exactly that; one idle for another reason looks
the same, and a vehicle that can neither charge nor discharge has no reason to stay either. Any charge resets
the hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evcc.session.iso20 import requests as rq

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc

DISCHARGE_NOISE = 1.0  # A: |EVSEPresentCurrent| below this is no current (measurement noise)
RAMP_DOWN = 1.0  # s: a DC EVSE still discharging this long after the vehicle reached its minimum ignores it
TERMINATION_CODE = "NoDischargeAllowed"


def _held(m: Iso20Evcc, asked: bool, soc: int, now: float) -> str | None:
    """Track the hold; the reason to stop once it lasted ``no_discharge_hold`` s."""
    if not asked:
        m.no_discharge_since = None
        return None
    if m.no_discharge_since is None:
        m.no_discharge_since = now
    held = now - m.no_discharge_since
    if held < m.config.no_discharge_hold:
        return None
    return (f"the vehicle can give nothing back (SoC {soc} %) and the EVSE has asked for discharge for "
            f"{held:.0f} s (limit {m.config.no_discharge_hold:.0f} s)")


def dc_step(m: Iso20Evcc, soc: int, back: rq.Discharge, current: float, now: float) -> str | None:
    """After a DC_ChargeLoopRes (the EVSE's ``current`` applied; ``soc`` and ``back``, what the vehicle may give
    back, read after it): why to stop, or None."""
    if back.power > 0 and back.current > 0:
        m.no_discharge_since = None
        return None
    since = m.no_discharge_since
    if current < -DISCHARGE_NOISE and since is not None and now - since >= RAMP_DOWN:
        return (f"the EVSE keeps discharging ({current:.1f} A) although the vehicle can give nothing back "
                f"(SoC {soc} %) since {now - since:.1f} s")
    return _held(m, current <= DISCHARGE_NOISE, soc, now)


def ac_step(m: Iso20Evcc, soc: int, back: rq.Discharge, target: float, now: float) -> str | None:
    """After an AC_ChargeLoopRes with EVSETargetActivePower ``target`` (W): why to stop, or None."""
    if back.power > 0 and back.current > 0:
        m.no_discharge_since = None
        return None
    return _held(m, target <= 0, soc, now)
