"""The orderly ways out of an ISO 15118-20 session and the EVSE's notifications (§8.3.4.9 PowerDelivery,
§8.3.4.13 SessionStop, §8.3.5.2.2 EVSEStatus/EVSENotification).

    stop asked (EV, EVSE, vehicle, error)  ->  PowerDeliveryReq(Stop) if the power stage began
                                           ->  DC: DC_WeldingDetectionReq until below the safe voltage
                                           ->  SessionStopReq(Terminate | Pause)

EVSENotification: Terminate stops, Pause stops with ChargingSession Pause, MeteringConfirmation asks for a
signed MeteringConfirmationReq (Plug & Charge; EIM has no key to sign with and goes on), ExitStandby has nothing
to do outside Standby. ScheduleRenegotiation and ServiceRenegotiation are not implemented on the EV side: the
session stops in order and says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evcc.session.events import EndKind
from evcc.session.iso20 import clock
from evcc.session.iso20.config import State
from evcc.session.iso20.values import number

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc


EXPLANATION_LENGTH = 160  # descriptionType


def begin_stop(m: Iso20Evcc, kind: EndKind, reason: str, now: float, code: str | None = None) -> None:
    """PowerDelivery(Stop) if the power stage began, else SessionStop. ``code``: the EVTerminationCode the
    SessionStopReq names (with the reason as EVTerminationExplanation) when the EV ends for a reason of its own
    the SECC cannot see (an expired schedule, nothing left to give back)."""
    if m.stop_reason is None or m.stop_reason[0] is EndKind.COMPLETED:
        m.stop_reason = (kind, reason)
        if code is not None:
            m.termination = (code, reason[:EXPLANATION_LENGTH])
    m.disarm("V2G_EVCC_Ongoing_Timeout", "V2G_EVCC_CableCheck_Timeout", "V2G_EVCC_PreCharge_Timeout")
    if m.power_stage:
        m.power_stage = False
        m.send("PowerDeliveryReq", now, EVProcessing="Finished", ChargeProgress="Stop")
        m.state = State.WAIT_POWER_DELIVERY_STOP_RES
    else:
        send_session_stop(m, now)


def schedule_over(m: Iso20Evcc, now: float) -> bool:
    """Scheduled mode: True, and an orderly stop has begun, when the SECC's time lies outside the chosen
    ScheduleTuple (clock.py: evaluated on the SECC's time base; EVTerminationCode ScheduleExpired)."""
    if m.schedule is None:
        return False
    reason = clock.outside(m.schedule, m.secc_time(now))
    if reason is None:
        return False
    begin_stop(m, EndKind.STOPPED, f"{reason}: no schedule applies (this EVCC does not renegotiate)", now,
               code="ScheduleExpired")
    return True


def pause(m: Iso20Evcc, reason: str, now: float) -> None:
    m.charging_session = "Pause"
    begin_stop(m, EndKind.STOPPED, f"paused: {reason}", now)


def send_session_stop(m: Iso20Evcc, now: float) -> None:
    code, explanation = m.termination or (None, None)
    m.send("SessionStopReq", now, ChargingSession=m.charging_session, EVTerminationCode=code,
           EVTerminationExplanation=explanation)
    m.state = State.WAIT_SESSION_STOP_RES


def on_session_stop(m: Iso20Evcc, res: Any, now: float) -> None:
    kind, reason = m.stop_reason or (EndKind.COMPLETED, "session stopped")
    m.paused = m.charging_session == "Pause"
    m.end(kind, reason)


def evse_notification(m: Iso20Evcc, status: Any, now: float) -> str | None:
    """What an EVSEStatus asks: "stop" (a stop began), "confirm" (MeteringConfirmation wanted) or None."""
    if status is None:
        return None
    note = str(status.EVSENotification)
    if note == "Terminate":
        begin_stop(m, EndKind.STOPPED, "the EVSE asks to terminate (EVSENotification=Terminate)", now)
        return "stop"
    if note == "Pause":
        pause(m, "the EVSE asks to pause (EVSENotification=Pause)", now)
        return "stop"
    if note in ("ScheduleRenegotiation", "ServiceRenegotiation"):
        begin_stop(m, EndKind.STOPPED, f"the EVSE asks for {note}, which this EVCC does not implement", now)
        return "stop"
    if note == "MeteringConfirmation" and m.authorization == "PnC":
        return "confirm"
    return None


def on_power_delivery_stop(m: Iso20Evcc, res: Any, now: float) -> None:
    if m.config.dc:
        send_welding_detection(m, now)
    else:
        send_session_stop(m, now)


def send_welding_detection(m: Iso20Evcc, now: float) -> None:
    m.welding_requests += 1
    m.send("DC_WeldingDetectionReq", now, EVProcessing="Ongoing")
    m.state = State.WAIT_DC_WELDING_DETECTION_RES


def on_welding_detection(m: Iso20Evcc, res: Any, now: float) -> None:
    present = number(res.EVSEPresentVoltage) or 0.0
    m.evse_present_voltage = present
    if present >= m.config.welding_safe_voltage and m.welding_requests < m.config.welding_max_requests:
        send_welding_detection(m, now)
    else:
        send_session_stop(m, now)
