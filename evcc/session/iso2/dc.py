"""ISO 15118-2 DC handlers (§8.4.5, §8.8.2.3 Figure 105): ChargeParameterDiscovery (Finished) -> CableCheck
(loop: Ongoing, V2G_EVCC_CableCheck_Timeout) -> PreCharge (loop: voltage, V2G_EVCC_PreCharge_Timeout) ->
PowerDelivery(Start) -> CurrentDemand (loop: target SoC, stop, receipt) -> PowerDelivery(Stop) ->
WeldingDetection (loop: voltage) -> SessionStop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evcc.exi import iso2
from evcc.session.events import ChargingStarted, EndKind
from evcc.session.iso2 import requests as rq
from evcc.session.iso2.config import State
from evcc.session.iso2.values import value_of
from evcc.session.limits import dc_current

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc

_EVSE_STOP_CODES = frozenset({"EVSE_Shutdown", "EVSE_UtilityInterruptEvent", "EVSE_EmergencyShutdown", "EVSE_Malfunction"})


def evse_stop(status: iso2.DC_EVSEStatusType) -> str | None:
    """A reason to stop from the DC EVSE status, or None."""
    if status.EVSENotification == "StopCharging":
        return "the EVSE asks to stop (EVSENotification=StopCharging)"
    if status.EVSEStatusCode in _EVSE_STOP_CODES:
        return f"the EVSE reports {status.EVSEStatusCode}"
    if status.EVSEIsolationStatus == "Fault":
        return "the EVSE reports an isolation fault"
    return None


def vehicle_stop(m: Iso2Evcc, now: float) -> str | None:
    s = m.vehicle.dc_status(now)
    return f"the vehicle reports {s.error}" if s.error != "NO_ERROR" else None


def after_charge_parameters(m: Iso2Evcc, res: iso2.ChargeParameterDiscoveryResType, now: float) -> None:
    evse = res.DC_EVSEChargeParameter
    if evse is None:
        m.end(EndKind.PROTOCOL_ERROR, "ChargeParameterDiscoveryRes (Finished) without DC_EVSEChargeParameter")
        return
    m.evse_max_voltage = value_of(evse.EVSEMaximumVoltageLimit)
    note_evse_limits(m, evse)
    battery = m.vehicle.battery_voltage(now)
    if m.evse_max_voltage is not None and m.evse_max_voltage < battery:
        m.begin_stop(EndKind.STOPPED, f"EVSE maximum {m.evse_max_voltage:.0f} V is below the battery {battery:.0f} V", now)
        return
    send_cable_check(m, now)


def note_evse_limits(m: Iso2Evcc, evse: iso2.DC_EVSEChargeParameterType) -> None:
    """DC_EVSEChargeParameter's limits bound every CurrentDemandReq (evcc.session.limits)."""
    m.limits.evse = m.limits.evse.updated(
        max_current=value_of(evse.EVSEMaximumCurrentLimit), max_power=value_of(evse.EVSEMaximumPowerLimit),
        max_voltage=value_of(evse.EVSEMaximumVoltageLimit), min_current=value_of(evse.EVSEMinimumCurrentLimit))


def send_cable_check(m: Iso2Evcc, now: float) -> None:
    m.arm("V2G_EVCC_CableCheck_Timeout", now)
    m.send("CableCheckReq", iso2.CableCheckReqType(DC_EVStatus=rq.dc_ev_status(m.vehicle, now)), now)
    m.state = State.WAIT_CABLE_CHECK_RES


def on_cable_check(m: Iso2Evcc, res: iso2.CableCheckResType, now: float) -> None:
    reason = evse_stop(res.DC_EVSEStatus) or vehicle_stop(m, now)
    if reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
    elif res.EVSEProcessing != "Finished":
        send_cable_check(m, now)
    else:
        m.disarm("V2G_EVCC_CableCheck_Timeout")
        send_pre_charge(m, now)


def send_pre_charge(m: Iso2Evcc, now: float) -> None:
    m.arm("V2G_EVCC_PreCharge_Timeout", now)
    m.send("PreChargeReq", rq.pre_charge(m.vehicle, now, m.config.precharge_current), now)
    m.state = State.WAIT_PRE_CHARGE_RES


def on_pre_charge(m: Iso2Evcc, res: iso2.PreChargeResType, now: float) -> None:
    reason = evse_stop(res.DC_EVSEStatus) or vehicle_stop(m, now)
    if reason is not None:
        m.begin_stop(EndKind.STOPPED, reason, now)
        return
    present = value_of(res.EVSEPresentVoltage) or 0.0
    m.evse_present_voltage = present
    if abs(present - m.vehicle.battery_voltage(now)) > m.config.precharge_tolerance:
        send_pre_charge(m, now)
        return
    m.disarm("V2G_EVCC_PreCharge_Timeout")
    send_power_delivery_start(m, now)


def send_power_delivery_start(m: Iso2Evcc, now: float) -> None:
    tuple_id = m.sa_schedule_tuple_id or 1
    m.power_stage = True
    m.send("PowerDeliveryReq", rq.power_delivery(m.vehicle, now, "Start", tuple_id, m.charging_profile, m.dc), now)
    m.state = State.WAIT_POWER_DELIVERY_START_RES


def send_current_demand(m: Iso2Evcc, now: float) -> None:
    """CurrentDemandReq with EVTargetCurrent = what evcc.session.limits allows now: the vehicle's wish within
    the EVSE's maximum current and power (the latest CurrentDemandRes that carried them), the PMax in force of
    the agreed SAScheduleTuple ([V2G2-294]) and EVSEMinimumCurrentLimit; no valid request: stop in order."""
    t = m.vehicle.dc_targets(now)
    voltage = rq.target_voltage(t, m.limits.evse.max_voltage)
    a = dc_current(t.current, voltage, m.limits.evse, m.limits.pmax(now), m.vehicle.dc_limits().max_current)
    for event in m.limits.take("EVTargetCurrent", a, now):
        m.emit(event)
    if a.stop is not None:
        m.begin_stop(EndKind.STOPPED, a.stop, now)
        return
    m.loop_count += 1
    m.send("CurrentDemandReq", rq.current_demand(m.vehicle, now, a.value, voltage), now)
    m.state = State.WAIT_CURRENT_DEMAND_RES


def on_power_delivery_start(m: Iso2Evcc, res: iso2.PowerDeliveryResType, now: float) -> None:
    m.emit(ChargingStarted())
    send_current_demand(m, now)


def _output_out_of_range(m: Iso2Evcc, voltage: float, current: float) -> str | None:
    """The charger's reported output against the vehicle's limits (10 % margin): never trust it blindly."""
    lim = m.vehicle.dc_limits()
    if voltage < 0 or voltage > lim.max_voltage * 1.1:
        return f"EVSEPresentVoltage {voltage:.1f} V is outside 0..{lim.max_voltage:.0f} V"
    if current < 0 or current > lim.max_current * 1.1:
        return f"EVSEPresentCurrent {current:.1f} A is outside 0..{lim.max_current:.0f} A"
    return None


def current_demand_stop(m: Iso2Evcc, res: iso2.CurrentDemandResType, now: float) -> str | None:
    """Feed the reported output to the vehicle when plausible; a reason to stop, or None."""
    voltage = value_of(res.EVSEPresentVoltage) or 0.0
    current = value_of(res.EVSEPresentCurrent) or 0.0
    m.evse_present_voltage = voltage
    m.limits.evse = m.limits.evse.updated(  # CurrentDemandRes carries the limits in force now
        max_current=value_of(res.EVSEMaximumCurrentLimit), max_power=value_of(res.EVSEMaximumPowerLimit),
        max_voltage=value_of(res.EVSEMaximumVoltageLimit))
    reason = _output_out_of_range(m, voltage, current)
    if reason is None:
        m.vehicle.evse_output(voltage, current, now)
    if reason is None and res.SAScheduleTupleID != m.sa_schedule_tuple_id:
        reason = f"CurrentDemandRes names SAScheduleTupleID {res.SAScheduleTupleID}, {m.sa_schedule_tuple_id} was agreed"
    return reason or evse_stop(res.DC_EVSEStatus) or vehicle_stop(m, now)


def on_power_delivery_stop(m: Iso2Evcc, res: iso2.PowerDeliveryResType, now: float) -> None:
    send_welding_detection(m, now)


def send_welding_detection(m: Iso2Evcc, now: float) -> None:
    m.welding_requests += 1
    m.send("WeldingDetectionReq", iso2.WeldingDetectionReqType(DC_EVStatus=rq.dc_ev_status(m.vehicle, now)), now)
    m.state = State.WAIT_WELDING_DETECTION_RES


def on_welding_detection(m: Iso2Evcc, res: iso2.WeldingDetectionResType, now: float) -> None:
    present = value_of(res.EVSEPresentVoltage) or 0.0
    m.evse_present_voltage = present
    if present >= m.config.welding_safe_voltage and m.welding_requests < m.config.welding_max_requests:
        send_welding_detection(m, now)
    else:
        m.send_session_stop(now)
