"""Everything that moves the ISO 15118-2 EVCC from one state to the next lives here: the transition table
``(state, response element) -> handler``. A response not in the table is an unexpected message; the machine
(machine.py) has checked timer, SessionID and ResponseCode before a handler runs. Handlers: setup.py (shared
set-up), dc.py, ac.py; the charge loop, stopping and SessionStop below.

Sequence (§8.8.2; Plug & Charge steps in brackets, contract_flow.py)::

    SessionSetup -> ServiceDiscovery -> [ServiceDetail]* -> PaymentServiceSelection
    -> [CertificateInstallation | CertificateUpdate] -> [PaymentDetails] -> Authorization (Ongoing; [signed GenChallenge])
    -> ChargeParameterDiscovery (Ongoing) -> DC: CableCheck (Ongoing) -> PreCharge (voltage)
    -> PowerDelivery(Start) -> DC: CurrentDemand | AC: ChargingStatus (until target SoC / stop)
       [-> MeteringReceipt when ReceiptRequired -> back to the loop]
       [-> PowerDelivery(Renegotiate) -> ChargeParameterDiscovery -> PowerDelivery(Start) -> back to the loop;
           renegotiation.py]
    -> PowerDelivery(Stop) -> DC: WeldingDetection (voltage) -> SessionStop(Terminate | Pause)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evcc.exi import iso2
from evcc.session.events import EndKind
from evcc.session.iso2 import ac, certificate_update, contract_flow, dc, renegotiation, setup
from evcc.session.iso2.config import State

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc

Handler = Callable[["Iso2Evcc", Any, float], None]


def on_charge_parameter_discovery(m: Iso2Evcc, res: iso2.ChargeParameterDiscoveryResType, now: float) -> None:
    """Ongoing: ask again within V2G_EVCC_Ongoing_Timeout. Finished: the schedules, then AC or DC."""
    if res.EVSEProcessing != "Finished":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        setup.send_charge_parameter_discovery(m, now)
        return
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    if not setup.accept_schedules(m, res, now):
        return
    if m.renegotiation is not None:
        renegotiation.after_charge_parameters(m, res, now)
    else:
        (dc.after_charge_parameters if m.dc else ac.after_charge_parameters)(m, res, now)


def _continue_loop(m: Iso2Evcc, reason: str | None, complete: bool, now: float, res: Any = None,
                   status: renegotiation.EvseStatus = None) -> None:
    """One charge-loop answer handled: stop in order, sign the receipt the SECC asks for (Plug & Charge), finish,
    renegotiate (the EVSE's notification or the vehicle's wish), or ask again."""
    if reason is None and m.renegotiation_wanted is None:
        m.renegotiation_wanted = renegotiation.requested(m, status, now)
    if reason is None and res is not None and contract_flow.receipt_needed(m, res.ReceiptRequired):
        contract_flow.send_metering_receipt(m, res.MeterInfo, now)
    elif reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
    elif complete:
        m.begin_stop(EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
    elif m.renegotiation_wanted is not None:
        renegotiation.begin(m, m.renegotiation_wanted, now)
    else:
        m.pace(lambda t: _loop_turn(m, t, now), now)


def _loop_turn(m: Iso2Evcc, now: float, handled: float) -> None:
    """The next CurrentDemandReq / ChargingStatusReq when it is due (MachineCore.pace); after a paced wait
    (``now`` past ``handled``, when the response was handled) the vehicle's say is read again: the EV's stop,
    a vehicle stop or the target reached."""
    if now > handled:
        if m.stop_reason is not None:
            m.begin_stop(*m.stop_reason, now)
            return
        reason = dc.vehicle_stop(m, now) if m.dc else None
        if reason is not None:
            m.begin_stop(EndKind.STOPPED, reason, now)
            return
        if m.vehicle.dc_targets(now).charging_complete if m.dc else ac.charging_complete(m, now):
            m.begin_stop(EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
            return
    (dc.send_current_demand if m.dc else ac.send_charging_status)(m, now)


def on_current_demand(m: Iso2Evcc, res: iso2.CurrentDemandResType, now: float) -> None:
    reason = dc.current_demand_stop(m, res, now)
    _continue_loop(m, reason, m.vehicle.dc_targets(now).charging_complete, now, res, res.DC_EVSEStatus)


def on_charging_status(m: Iso2Evcc, res: iso2.ChargingStatusResType, now: float) -> None:
    reason = ac.charging_status_stop(m, res, now)
    _continue_loop(m, reason, ac.charging_complete(m, now), now, res, res.AC_EVSEStatus)


def on_metering_receipt(m: Iso2Evcc, res: iso2.MeteringReceiptResType, now: float) -> None:
    complete = m.vehicle.dc_targets(now).charging_complete if m.dc else ac.charging_complete(m, now)
    _continue_loop(m, None, complete, now, status=res.DC_EVSEStatus or res.AC_EVSEStatus)


def on_power_delivery_stop(m: Iso2Evcc, res: iso2.PowerDeliveryResType, now: float) -> None:
    if m.dc:
        dc.on_power_delivery_stop(m, res, now)
    else:
        m.send_session_stop(now)


def on_power_delivery_start(m: Iso2Evcc, res: iso2.PowerDeliveryResType, now: float) -> None:
    if m.renegotiation is None:
        (dc.on_power_delivery_start if m.dc else ac.on_power_delivery_start)(m, res, now)
        return
    renegotiation.finished(m)
    (dc.send_current_demand if m.dc else ac.send_charging_status)(m, now)


def on_session_stop(m: Iso2Evcc, res: iso2.SessionStopResType, now: float) -> None:
    kind, reason = m.stop_reason or (EndKind.COMPLETED, "session stopped")
    m.paused = m.charging_session == "Pause"
    m.end(kind, reason)


ON_RESPONSE: dict[tuple[State, str], Handler] = {
    (State.WAIT_SESSION_SETUP_RES, "SessionSetupRes"): setup.on_session_setup,
    (State.WAIT_SERVICE_DISCOVERY_RES, "ServiceDiscoveryRes"): setup.on_service_discovery,
    (State.WAIT_SERVICE_DETAIL_RES, "ServiceDetailRes"): setup.on_service_detail,
    (State.WAIT_PAYMENT_SERVICE_SELECTION_RES, "PaymentServiceSelectionRes"): setup.on_payment_service_selection,
    (State.WAIT_CERTIFICATE_INSTALLATION_RES, "CertificateInstallationRes"): contract_flow.on_certificate_installation,
    (State.WAIT_CERTIFICATE_UPDATE_RES, "CertificateUpdateRes"): certificate_update.on_certificate_update,
    (State.WAIT_PAYMENT_DETAILS_RES, "PaymentDetailsRes"): contract_flow.on_payment_details,
    (State.WAIT_AUTHORIZATION_RES, "AuthorizationRes"): setup.on_authorization,
    (State.WAIT_CHARGE_PARAMETER_DISCOVERY_RES, "ChargeParameterDiscoveryRes"): on_charge_parameter_discovery,
    (State.WAIT_CABLE_CHECK_RES, "CableCheckRes"): dc.on_cable_check,
    (State.WAIT_PRE_CHARGE_RES, "PreChargeRes"): dc.on_pre_charge,
    (State.WAIT_POWER_DELIVERY_START_RES, "PowerDeliveryRes"): on_power_delivery_start,
    (State.WAIT_CURRENT_DEMAND_RES, "CurrentDemandRes"): on_current_demand,
    (State.WAIT_CHARGING_STATUS_RES, "ChargingStatusRes"): on_charging_status,
    (State.WAIT_METERING_RECEIPT_RES, "MeteringReceiptRes"): on_metering_receipt,
    (State.WAIT_POWER_DELIVERY_RENEGOTIATE_RES, "PowerDeliveryRes"): renegotiation.on_power_delivery_renegotiate,
    (State.WAIT_POWER_DELIVERY_STOP_RES, "PowerDeliveryRes"): on_power_delivery_stop,
    (State.WAIT_WELDING_DETECTION_RES, "WeldingDetectionRes"): dc.on_welding_detection,
    (State.WAIT_SESSION_STOP_RES, "SessionStopRes"): on_session_stop,
}
"""Anything not in this table is an unexpected message and ends the session."""

FORWARD_STATES = frozenset(
    s for s in State
    if s not in (State.IDLE, State.ENDED, State.WAIT_SESSION_SETUP_RES, State.WAIT_POWER_DELIVERY_STOP_RES,
                 State.WAIT_WELDING_DETECTION_RES, State.WAIT_SESSION_STOP_RES)
)
"""States in which a stop the EV asked for (Iso2Evcc.stop) turns the next response into the orderly stop.
SessionSetupRes is handled first (it assigns the SessionID the SessionStopReq must carry), then the stop."""
