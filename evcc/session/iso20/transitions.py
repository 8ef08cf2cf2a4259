"""Everything that moves the ISO 15118-20 EVCC from one state to the next lives here: the transition table
``(state, response element) -> handler``. A response not in the table is an unexpected message; the machine
(machine.py) has checked timer, SessionID and ResponseCode before a handler runs. Handlers: setup.py (common
set-up), contract_flow.py (EIM / Plug & Charge), dc.py, ac.py, stopping.py; the glue between them below.

Sequence (§8.8; Plug & Charge steps in brackets)::

    SessionSetup -> AuthorizationSetup -> [CertificateInstallation]* -> Authorization (Ongoing; [next contract])
    -> ServiceDiscovery -> ServiceDetail -> ServiceSelection -> DC_|AC_ChargeParameterDiscovery
    -> ScheduleExchange (Ongoing) -> DC: DC_CableCheck (Ongoing) -> DC_PreCharge (voltage, then Finished)
    -> PowerDelivery(Start) -> DC_|AC_ChargeLoop (until target / stop)
       [-> MeteringConfirmation when the EVSE asks -> back to the loop]
    -> PowerDelivery(Stop) -> DC: DC_WeldingDetection (voltage) -> SessionStop(Terminate | Pause)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evcc.session.events import ChargingStarted, ResponseNote
from evcc.session.iso20 import ac, contract_flow, dc, setup, stopping
from evcc.session.iso20 import requests as rq
from evcc.session.iso20 import schedule as sched
from evcc.session.iso20.config import BPT_CHANNEL_SEPARATED, State
from evcc.session.iso20.stopping import evse_notification
from evcc.session.limits import discharge, power

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc

Handler = Callable[["Iso20Evcc", Any, float], None]

def on_service_selection(m: Iso20Evcc, res: Any, now: float) -> None:
    (dc.send_charge_parameter_discovery if m.config.dc else ac.send_charge_parameter_discovery)(m, now)


def on_dc_charge_parameter_discovery(m: Iso20Evcc, res: Any, now: float) -> None:
    if dc.on_charge_parameter_discovery(m, res, now):
        setup.send_schedule_exchange(m, now)


def on_ac_charge_parameter_discovery(m: Iso20Evcc, res: Any, now: float) -> None:
    if ac.on_charge_parameter_discovery(m, res, now):
        setup.send_schedule_exchange(m, now)


def on_schedule_exchange(m: Iso20Evcc, res: Any, now: float) -> None:
    if not setup.on_schedule_exchange(m, res, now):
        return
    if m.config.dc:
        dc.send_cable_check(m, now)
    else:
        send_power_delivery_start(m, now)


def on_pre_charge(m: Iso20Evcc, res: Any, now: float) -> None:
    if dc.on_pre_charge(m, res, now):
        send_power_delivery_start(m, now)


def send_power_delivery_start(m: Iso20Evcc, now: float) -> None:
    """ChargeProgress Start with the EVPowerProfile; BPT_ChannelSelection Charge when the channel is Separated."""
    if m.config.dc:
        top = rq.max_charge_power(m.vehicle)
    else:
        top = ac.max_power(m)
    back = rq.discharge(m.vehicle, m.config, now).power
    evse = m.limits.evse  # the EVPowerProfile too stays within the EVSE's limits (evcc.session.limits)
    top = power(top, evse.max_power, None, charging=False).value
    back = discharge(back, "W", evse.max_discharge_power, None).value
    horizon = rq.energy(m.vehicle, m.config, now).departure
    profile = sched.power_profile(m.schedule, top, back, m.secc_time(now), max(1, horizon),
                                  m.config.confirm_power_tolerance)
    separated = m.config.bpt and m.parameters.get("BPTChannel") == BPT_CHANNEL_SEPARATED
    m.power_stage = True
    m.send("PowerDeliveryReq", now, EVProcessing="Finished", ChargeProgress="Start", EVPowerProfile=profile,
           BPT_ChannelSelection="Charge" if separated else None)
    m.state = State.WAIT_POWER_DELIVERY_START_RES


TOLERANCE_CODES = frozenset({"OK_PowerToleranceConfirmed", "WARNING_PowerToleranceNotConfirmed"})


def on_power_delivery_start(m: Iso20Evcc, res: Any, now: float) -> None:
    if res.ResponseCode in TOLERANCE_CODES:  # the SECC's answer to PowerToleranceAcceptance: noted, not fatal
        m.emit(ResponseNote("PowerDeliveryRes", str(res.ResponseCode)))
    m.emit(ChargingStarted())
    if evse_notification(m, res.EVSEStatus, now) == "stop":
        return
    (dc.send_charge_loop if m.config.dc else ac.send_charge_loop)(m, now)


def on_metering_confirmation(m: Iso20Evcc, res: Any, now: float) -> None:
    (dc.continue_loop if m.config.dc else ac.continue_loop)(m, now)


ON_RESPONSE: dict[tuple[State, str], Handler] = {
    (State.WAIT_SESSION_SETUP_RES, "SessionSetupRes"): setup.on_session_setup,
    (State.WAIT_AUTHORIZATION_SETUP_RES, "AuthorizationSetupRes"): setup.on_authorization_setup,
    (State.WAIT_CERTIFICATE_INSTALLATION_RES, "CertificateInstallationRes"): contract_flow.on_certificate_installation,
    (State.WAIT_AUTHORIZATION_RES, "AuthorizationRes"): setup.on_authorization,
    (State.WAIT_SERVICE_DISCOVERY_RES, "ServiceDiscoveryRes"): setup.on_service_discovery,
    (State.WAIT_SERVICE_DETAIL_RES, "ServiceDetailRes"): setup.on_service_detail,
    (State.WAIT_SERVICE_SELECTION_RES, "ServiceSelectionRes"): on_service_selection,
    (State.WAIT_DC_CHARGE_PARAMETER_DISCOVERY_RES, "DC_ChargeParameterDiscoveryRes"): on_dc_charge_parameter_discovery,
    (State.WAIT_AC_CHARGE_PARAMETER_DISCOVERY_RES, "AC_ChargeParameterDiscoveryRes"): on_ac_charge_parameter_discovery,
    (State.WAIT_SCHEDULE_EXCHANGE_RES, "ScheduleExchangeRes"): on_schedule_exchange,
    (State.WAIT_DC_CABLE_CHECK_RES, "DC_CableCheckRes"): dc.on_cable_check,
    (State.WAIT_DC_PRE_CHARGE_RES, "DC_PreChargeRes"): on_pre_charge,
    (State.WAIT_POWER_DELIVERY_START_RES, "PowerDeliveryRes"): on_power_delivery_start,
    (State.WAIT_DC_CHARGE_LOOP_RES, "DC_ChargeLoopRes"): dc.on_charge_loop,
    (State.WAIT_AC_CHARGE_LOOP_RES, "AC_ChargeLoopRes"): ac.on_charge_loop,
    (State.WAIT_METERING_CONFIRMATION_RES, "MeteringConfirmationRes"): on_metering_confirmation,
    (State.WAIT_POWER_DELIVERY_STOP_RES, "PowerDeliveryRes"): stopping.on_power_delivery_stop,
    (State.WAIT_DC_WELDING_DETECTION_RES, "DC_WeldingDetectionRes"): stopping.on_welding_detection,
    (State.WAIT_SESSION_STOP_RES, "SessionStopRes"): stopping.on_session_stop,
}
"""Anything not in this table is an unexpected message and ends the session."""

FORWARD_STATES = frozenset(
    s for s in State
    if s not in (State.IDLE, State.ENDED, State.WAIT_SESSION_SETUP_RES, State.WAIT_POWER_DELIVERY_STOP_RES,
                 State.WAIT_DC_WELDING_DETECTION_RES, State.WAIT_SESSION_STOP_RES)
)
"""States in which a stop the EV asked for (Iso20Evcc.stop) turns the next response into the orderly stop.
SessionSetupRes is handled first (it assigns the SessionID the SessionStopReq must carry), then the stop."""
