"""Everything that moves the DIN SPEC 70121 DC EVCC from one state to the next lives here: the transition table
``(state, response element) -> handler`` and the handlers. A response not in the table is an unexpected
message; the machine (machine.py) has already checked timer, SessionID and ResponseCode before a handler runs.

Sequence (EIM, ExternalPayment)::

    SessionSetup -> ServiceDiscovery -> ServicePaymentSelection -> ContractAuthentication (loop: Ongoing)
    -> ChargeParameterDiscovery (loop: Ongoing) -> CableCheck (loop: Ongoing) -> PreCharge (loop: voltage)
    -> PowerDelivery(ReadyToChargeState=true) -> CurrentDemand (loop: until target SoC / stop)
    -> PowerDelivery(ReadyToChargeState=false) -> WeldingDetection (loop: voltage) -> SessionStop
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evcc.exi import din
from evcc.session.din import requests as rq
from evcc.session.din.config import State
from evcc.session.din.values import value_of
from evcc.session.events import ChargingStarted, EndKind
from evcc.session.limits import SHORT_MAX_PMAX, dc_current, din_pmax, relative_schedule

if TYPE_CHECKING:
    from evcc.session.din.machine import DinEvcc

Handler = Callable[["DinEvcc", Any, float], None]

_EVSE_STOP_CODES = frozenset({"EVSE_Shutdown", "EVSE_UtilityInterruptEvent", "EVSE_EmergencyShutdown", "EVSE_Malfunction"})


def _evse_stop(status: din.DC_EVSEStatusType) -> str | None:
    """A reason to stop from the EVSE status, or None."""
    if status.EVSENotification == "StopCharging":
        return "the EVSE asks to stop (EVSENotification=StopCharging)"
    if status.EVSEStatusCode in _EVSE_STOP_CODES:
        return f"the EVSE reports {status.EVSEStatusCode}"
    if status.EVSEIsolationStatus == "Fault":
        return "the EVSE reports an isolation fault"
    return None


def _vehicle_stop(m: DinEvcc, now: float) -> str | None:
    s = m.vehicle.dc_status(now)
    if s.error != "NO_ERROR":
        return f"the vehicle reports {s.error}"
    return None


# ------------------------------------------------------------ set-up phase
def on_session_setup(m: DinEvcc, res: din.SessionSetupResType, now: float) -> None:
    m.disarm("V2G_EVCC_CommunicationSetup_Timeout")
    m.session_id = m.last_header_session_id
    if m.stop_reason is not None:  # the EV asked to stop before the session existed: stop with the new SessionID
        m.begin_stop(*m.stop_reason, now)
        return
    m.send("ServiceDiscoveryReq", din.ServiceDiscoveryReqType(ServiceCategory="EVCharging"), now)
    m.state = State.WAIT_SERVICE_DISCOVERY_RES


def on_service_discovery(m: DinEvcc, res: din.ServiceDiscoveryResType, now: float) -> None:
    options = res.PaymentOptions.PaymentOption
    if "ExternalPayment" not in options:
        m.begin_stop(EndKind.STOPPED, f"the EVSE offers no ExternalPayment (offers {options})", now)
        return
    offered = res.ChargeService.EnergyTransferType
    if offered != m.config.energy_transfer:
        m.begin_stop(EndKind.STOPPED, f"the EVSE offers {offered}, the vehicle needs {m.config.energy_transfer}", now)
        return
    m.service_id = res.ChargeService.ServiceTag.ServiceID
    selected = din.SelectedServiceListType(SelectedService=[din.SelectedServiceType(ServiceID=m.service_id)])
    req = din.ServicePaymentSelectionReqType(SelectedPaymentOption="ExternalPayment", SelectedServiceList=selected)
    m.send("ServicePaymentSelectionReq", req, now)
    m.state = State.WAIT_SERVICE_PAYMENT_SELECTION_RES


def on_service_payment_selection(m: DinEvcc, res: din.ServicePaymentSelectionResType, now: float) -> None:
    m.send("ContractAuthenticationReq", din.ContractAuthenticationReqType(), now)
    m.state = State.WAIT_CONTRACT_AUTHENTICATION_RES


def on_contract_authentication(m: DinEvcc, res: din.ContractAuthenticationResType, now: float) -> None:
    if res.EVSEProcessing == "Ongoing":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        m.send("ContractAuthenticationReq", din.ContractAuthenticationReqType(), now)
        return
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    _send_charge_parameter_discovery(m, now)


def _send_charge_parameter_discovery(m: DinEvcc, now: float) -> None:
    m.limits.asked_at = now
    m.send("ChargeParameterDiscoveryReq", rq.charge_parameter_discovery(m.vehicle, now, m.config.energy_transfer), now)
    m.state = State.WAIT_CHARGE_PARAMETER_DISCOVERY_RES


def on_charge_parameter_discovery(m: DinEvcc, res: din.ChargeParameterDiscoveryResType, now: float) -> None:
    if res.EVSEProcessing == "Ongoing":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        _send_charge_parameter_discovery(m, now)
        return
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    evse = res.DC_EVSEChargeParameter
    if evse is None:
        m.end(EndKind.PROTOCOL_ERROR, "ChargeParameterDiscoveryRes (Finished) without DC_EVSEChargeParameter")
        return
    m.evse_max_voltage = value_of(evse.EVSEMaximumVoltageLimit)
    m.evse_max_current = value_of(evse.EVSEMaximumCurrentLimit)
    _note_evse_limits(m, res, now)
    battery = m.vehicle.battery_voltage(now)
    if m.evse_max_voltage is not None and m.evse_max_voltage < battery:
        m.begin_stop(EndKind.STOPPED, f"EVSE maximum {m.evse_max_voltage:.0f} V is below the battery {battery:.0f} V", now)
        return
    m.arm("V2G_EVCC_ReadyToCharge_Timeout", now)
    _send_cable_check(m, now)


def _note_evse_limits(m: DinEvcc, res: din.ChargeParameterDiscoveryResType, now: float) -> None:
    """The EVSE's limits (DC_EVSEChargeParameter) and the PMaxSchedule of the (one) SAScheduleTuple, on the SECC's
    time base: RelativeTimeInterval starts count from the ChargeParameterDiscoveryRes, which the SECC sent between
    our request and its arrival (evcc.session.limits.RelativeSchedule). DIN's PMaxType is a bare short, read in W;
    32767 (the short saturated, as chargers send for "no limit") sets none."""
    evse = res.DC_EVSEChargeParameter
    assert evse is not None
    m.limits.evse = m.limits.evse.updated(
        max_current=value_of(evse.EVSEMaximumCurrentLimit), max_power=value_of(evse.EVSEMaximumPowerLimit),
        max_voltage=value_of(evse.EVSEMaximumVoltageLimit), min_current=value_of(evse.EVSEMinimumCurrentLimit))
    tuples = res.SAScheduleList.SAScheduleTuple if res.SAScheduleList is not None else []
    if tuples:
        entries = [(float(e.RelativeTimeInterval.start) if e.RelativeTimeInterval is not None else 0.0,
                    None if e.RelativeTimeInterval is None or e.RelativeTimeInterval.duration is None
                    else float(e.RelativeTimeInterval.duration), float(e.PMax))
                   for e in tuples[0].PMaxSchedule.PMaxScheduleEntry]
        early = m.limits.asked_at if m.limits.asked_at is not None else now
        m.limits.schedule = relative_schedule(entries, early, now, saturated=SHORT_MAX_PMAX)
        for event in m.limits.deviations(m.limits.schedule.deviations):
            m.emit(event)


# ---------------------------------------------------------- DC preparation
def _send_cable_check(m: DinEvcc, now: float) -> None:
    m.arm("V2G_EVCC_CableCheck_Timeout", now)
    m.send("CableCheckReq", din.CableCheckReqType(DC_EVStatus=rq.dc_ev_status(m.vehicle, now)), now)
    m.state = State.WAIT_CABLE_CHECK_RES


def on_cable_check(m: DinEvcc, res: din.CableCheckResType, now: float) -> None:
    reason = _evse_stop(res.DC_EVSEStatus) or _vehicle_stop(m, now)
    if reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
    elif res.EVSEProcessing == "Ongoing":
        _send_cable_check(m, now)
    else:
        m.disarm("V2G_EVCC_CableCheck_Timeout")
        _send_pre_charge(m, now)


def _send_pre_charge(m: DinEvcc, now: float) -> None:
    m.arm("V2G_EVCC_PreCharge_Timeout", now)
    m.send("PreChargeReq", rq.pre_charge(m.vehicle, now, m.config.precharge_current), now)
    m.state = State.WAIT_PRE_CHARGE_RES


def on_pre_charge(m: DinEvcc, res: din.PreChargeResType, now: float) -> None:
    reason = _evse_stop(res.DC_EVSEStatus) or _vehicle_stop(m, now)
    if reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
        return
    present = value_of(res.EVSEPresentVoltage) or 0.0
    m.evse_present_voltage = present
    if abs(present - m.vehicle.battery_voltage(now)) > m.config.precharge_tolerance:
        _send_pre_charge(m, now)
        return
    m.disarm("V2G_EVCC_PreCharge_Timeout")
    m.power_stage = True
    m.send("PowerDeliveryReq", rq.power_delivery(m.vehicle, now, start=True), now)
    m.state = State.WAIT_POWER_DELIVERY_START_RES


# ------------------------------------------------------------- charge loop
def on_power_delivery_start(m: DinEvcc, res: din.PowerDeliveryResType, now: float) -> None:
    m.disarm("V2G_EVCC_ReadyToCharge_Timeout")
    m.emit(ChargingStarted())
    _send_current_demand(m, now)


def _send_current_demand(m: DinEvcc, now: float) -> None:
    """CurrentDemandReq with EVTargetCurrent = what evcc.session.limits allows now (the vehicle's wish within the
    EVSE's maximum current and power, the PMax in force and EVSEMinimumCurrentLimit); no valid request: stop."""
    t = m.vehicle.dc_targets(now)
    voltage = rq.target_voltage(t, m.limits.evse.max_voltage)
    pmax, unusable = din_pmax(m.limits.pmax(now), m.limits.evse, voltage)
    a = dc_current(t.current, voltage, m.limits.evse, pmax, m.vehicle.dc_limits().max_current)
    for event in m.limits.deviations([unusable] if unusable else []) + m.limits.take("EVTargetCurrent", a, now):
        m.emit(event)
    if a.stop is not None:
        m.begin_stop(EndKind.STOPPED, a.stop, now)
        return
    m.current_demand_count += 1
    m.send("CurrentDemandReq", rq.current_demand(m.vehicle, now, a.value, voltage), now)
    m.state = State.WAIT_CURRENT_DEMAND_RES


def _output_out_of_range(m: DinEvcc, voltage: float, current: float) -> str | None:
    """The charger's reported output against the vehicle's limits (10 % margin): never trust it blindly."""
    lim = m.vehicle.dc_limits()
    if voltage < 0 or voltage > lim.max_voltage * 1.1:
        return f"EVSEPresentVoltage {voltage:.1f} V is outside 0..{lim.max_voltage:.0f} V"
    if current < 0 or current > lim.max_current * 1.1:
        return f"EVSEPresentCurrent {current:.1f} A is outside 0..{lim.max_current:.0f} A"
    return None


def on_current_demand(m: DinEvcc, res: din.CurrentDemandResType, now: float) -> None:
    voltage = value_of(res.EVSEPresentVoltage) or 0.0
    current = value_of(res.EVSEPresentCurrent) or 0.0
    m.evse_present_voltage = voltage
    m.limits.evse = m.limits.evse.updated(  # CurrentDemandRes carries the limits in force now
        max_current=value_of(res.EVSEMaximumCurrentLimit), max_power=value_of(res.EVSEMaximumPowerLimit),
        max_voltage=value_of(res.EVSEMaximumVoltageLimit))
    reason = _output_out_of_range(m, voltage, current)
    if reason is None:
        m.vehicle.evse_output(voltage, current, now)
    reason = reason or _evse_stop(res.DC_EVSEStatus)
    if reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
    else:
        m.pace(lambda t: _loop_turn(m, t), now)


def _loop_turn(m: DinEvcc, now: float) -> None:
    """The vehicle's say when the next CurrentDemandReq is due (paced, MachineCore.pace): stop, done, or ask."""
    if m.stop_reason is not None:  # the EV's stop, asked for while the loop was paced
        m.begin_stop(*m.stop_reason, now)
        return
    reason = _vehicle_stop(m, now)
    if reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
    elif m.vehicle.dc_targets(now).charging_complete:
        m.begin_stop(EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
    else:
        _send_current_demand(m, now)


# ---------------------------------------------------------------- stopping
def on_power_delivery_stop(m: DinEvcc, res: din.PowerDeliveryResType, now: float) -> None:
    _send_welding_detection(m, now)


def _send_welding_detection(m: DinEvcc, now: float) -> None:
    m.welding_requests += 1
    m.send("WeldingDetectionReq", din.WeldingDetectionReqType(DC_EVStatus=rq.dc_ev_status(m.vehicle, now)), now)
    m.state = State.WAIT_WELDING_DETECTION_RES


def on_welding_detection(m: DinEvcc, res: din.WeldingDetectionResType, now: float) -> None:
    present = value_of(res.EVSEPresentVoltage) or 0.0
    m.evse_present_voltage = present
    if present >= m.config.welding_safe_voltage and m.welding_requests < m.config.welding_max_requests:
        _send_welding_detection(m, now)
    else:
        m.send_session_stop(now)


def on_session_stop(m: DinEvcc, res: din.SessionStopResType, now: float) -> None:
    kind, reason = m.stop_reason or (EndKind.COMPLETED, "session stopped")
    m.end(kind, reason)


ON_RESPONSE: dict[tuple[State, str], Handler] = {
    (State.WAIT_SESSION_SETUP_RES, "SessionSetupRes"): on_session_setup,
    (State.WAIT_SERVICE_DISCOVERY_RES, "ServiceDiscoveryRes"): on_service_discovery,
    (State.WAIT_SERVICE_PAYMENT_SELECTION_RES, "ServicePaymentSelectionRes"): on_service_payment_selection,
    (State.WAIT_CONTRACT_AUTHENTICATION_RES, "ContractAuthenticationRes"): on_contract_authentication,
    (State.WAIT_CHARGE_PARAMETER_DISCOVERY_RES, "ChargeParameterDiscoveryRes"): on_charge_parameter_discovery,
    (State.WAIT_CABLE_CHECK_RES, "CableCheckRes"): on_cable_check,
    (State.WAIT_PRE_CHARGE_RES, "PreChargeRes"): on_pre_charge,
    (State.WAIT_POWER_DELIVERY_START_RES, "PowerDeliveryRes"): on_power_delivery_start,
    (State.WAIT_CURRENT_DEMAND_RES, "CurrentDemandRes"): on_current_demand,
    (State.WAIT_POWER_DELIVERY_STOP_RES, "PowerDeliveryRes"): on_power_delivery_stop,
    (State.WAIT_WELDING_DETECTION_RES, "WeldingDetectionRes"): on_welding_detection,
    (State.WAIT_SESSION_STOP_RES, "SessionStopRes"): on_session_stop,
}
"""Anything not in this table is an unexpected message and ends the session."""

FORWARD_STATES = frozenset(
    s for s in State
    if s not in (State.IDLE, State.ENDED, State.WAIT_SESSION_SETUP_RES, State.WAIT_POWER_DELIVERY_STOP_RES,
                 State.WAIT_WELDING_DETECTION_RES, State.WAIT_SESSION_STOP_RES)
)
"""States in which a stop the EV asked for (DinEvcc.stop) turns the next response into the orderly stop.
SessionSetupRes is handled first (it assigns the SessionID the SessionStopReq must carry), then the stop."""
