"""ISO 15118-20 DC and DC_BPT handlers (§8.3.5.3, §8.8.x DC sequence): DC_ChargeParameterDiscovery ->
ScheduleExchange (setup.py) -> DC_CableCheck (loop: Ongoing, V2G_EVCC_CableCheck_Timeout) -> DC_PreCharge (loop
until the EVSE's voltage matches the battery, then one request with EVProcessing=Finished;
V2G_EVCC_PreCharge_Timeout) -> PowerDelivery(Start) -> DC_ChargeLoop (Scheduled: the EV sets EVTargetCurrent from
the schedule in force, negative while the schedule discharges; Dynamic: the EVSE sets the current within the
EV's limits) -> PowerDelivery(Stop) -> DC_WeldingDetection -> SessionStop (stopping.py).

The charger's reported output is checked against the vehicle's limits before the vehicle hears of it; a
discharge current is only plausible in a BPT session, within the vehicle's discharge limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from evcc.session.events import EndKind
from evcc.session.iso20 import allowed, bpt_hold, contract_flow
from evcc.session.iso20 import requests as rq
from evcc.session.iso20.config import State
from evcc.session.iso20.stopping import begin_stop, evse_notification, schedule_over
from evcc.session.iso20.values import dc as dc_module
from evcc.session.iso20.values import number, rational
from evcc.session.iso20.vehicle import BptLimitsView
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets


if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc

_EVSE_LIMITS = ("EVSEMaximumChargePower", "EVSEMaximumChargeCurrent", "EVSEMaximumVoltage", "EVSEMinimumVoltage",
                "EVSEMaximumDischargePower", "EVSEMaximumDischargeCurrent")


def vehicle_stop(m: Iso20Evcc, now: float) -> str | None:
    s = m.vehicle.dc_status(now)
    return f"the vehicle reports {s.error}" if s.error != "NO_ERROR" else None


def send_charge_parameter_discovery(m: Iso20Evcc, now: float) -> None:
    fields = rq.dc_charge_parameters(dc_module(), m.vehicle, m.config, now)
    m.send("DC_ChargeParameterDiscoveryReq", now, **fields)
    m.state = State.WAIT_DC_CHARGE_PARAMETER_DISCOVERY_RES


def on_charge_parameter_discovery(m: Iso20Evcc, res: Any, now: float) -> bool:
    """Keep the EVSE's limits; False (session ended or stopping) when they do not fit the battery."""
    mode = res.BPT_DC_CPDResEnergyTransferMode if m.config.bpt else res.DC_CPDResEnergyTransferMode
    if mode is None:
        wanted = "BPT_DC_CPDResEnergyTransferMode" if m.config.bpt else "DC_CPDResEnergyTransferMode"
        m.end(EndKind.PROTOCOL_ERROR, f"DC_ChargeParameterDiscoveryRes without {wanted}")
        return False
    m.evse_limits = {k: number(getattr(mode, k, None)) or 0.0 for k in _EVSE_LIMITS}
    m.limits.evse = allowed.evse_from(mode, m.limits.evse)
    battery = m.vehicle.battery_voltage(now)
    if m.evse_limits["EVSEMaximumVoltage"] < battery:
        begin_stop(m, EndKind.STOPPED, f"EVSE maximum {m.evse_limits['EVSEMaximumVoltage']:.0f} V is below the "
                                       f"battery {battery:.0f} V", now)
        return False
    return True


def send_cable_check(m: Iso20Evcc, now: float) -> None:
    m.arm("V2G_EVCC_CableCheck_Timeout", now)
    m.send("DC_CableCheckReq", now)
    m.state = State.WAIT_DC_CABLE_CHECK_RES


def on_cable_check(m: Iso20Evcc, res: Any, now: float) -> None:
    reason = vehicle_stop(m, now)
    if reason is not None:
        begin_stop(m, EndKind.STOPPED, reason, now)
    elif res.EVSEProcessing != "Finished":
        send_cable_check(m, now)
    else:
        m.disarm("V2G_EVCC_CableCheck_Timeout")
        m.precharge_finished = False
        send_pre_charge(m, now)


def send_pre_charge(m: Iso20Evcc, now: float) -> None:
    d = dc_module()
    battery = m.vehicle.battery_voltage(now)
    m.arm("V2G_EVCC_PreCharge_Timeout", now)
    m.send("DC_PreChargeReq", now, EVProcessing="Finished" if m.precharge_finished else "Ongoing",
           EVPresentVoltage=rational(d, battery), EVTargetVoltage=rational(d, battery))
    m.state = State.WAIT_DC_PRE_CHARGE_RES


def on_pre_charge(m: Iso20Evcc, res: Any, now: float) -> bool:
    """True when pre-charge is over (the Finished request was answered): PowerDelivery(Start) comes next."""
    reason = vehicle_stop(m, now)
    if reason is not None:
        begin_stop(m, EndKind.STOPPED, reason, now)
        return False
    present = number(res.EVSEPresentVoltage) or 0.0
    m.evse_present_voltage = present
    if m.precharge_finished:
        m.disarm("V2G_EVCC_PreCharge_Timeout")
        return True
    m.precharge_finished = abs(present - m.vehicle.battery_voltage(now)) <= m.config.precharge_tolerance
    send_pre_charge(m, now)
    return False


class Reading(NamedTuple):
    """The vehicle port's answers while one DC_ChargeLoopRes is handled, each read once: the limits when the
    response arrives (the EVSE's reported output is checked against them), the status after evse_output, and
    what the vehicle may give back from both (BPT; else nothing)."""

    lim: DcLimits
    bpt: BptLimitsView | None  # BPT sessions only
    status: DcStatus
    back: rq.Discharge


def read(m: Iso20Evcc, now: float, lim: DcLimits | None = None, bpt: BptLimitsView | None = None) -> Reading:
    vehicle = m.vehicle
    if lim is None:
        lim = vehicle.dc_limits()
    if bpt is None and m.bpt:
        bpt = vehicle.bpt_limits(now)
    status = vehicle.dc_status(now)
    return Reading(lim, bpt, status, rq.discharge(vehicle, m.config, now, status.soc, bpt))


def send_charge_loop(m: Iso20Evcc, now: float, t: DcTargets | None = None, reading: Reading | None = None) -> None:
    """DC_ChargeLoopReq; ``t`` and ``reading``: dc_targets(now) and the port's other answers when already read
    for this message."""
    if schedule_over(m, now):
        return
    r = m.rationals
    vehicle = m.vehicle
    if t is None:
        t = vehicle.dc_targets(now)
    if reading is None:
        reading = read(m, now)
    soc = reading.status.soc
    battery = vehicle.battery_voltage(now)
    m.loop_count += 1
    back = allowed.capped_discharge(m, reading.back) if m.bpt else reading.back
    if m.dynamic:  # EVMaximumChargePower/-Current within the EVSE's maxima (evcc.session.limits)
        bpt = reading.bpt if reading.bpt is not None else vehicle.bpt_limits(now)
        lim = reading.lim
        done = t.charging_complete
        maxima = allowed.dc_dynamic_maxima(m, now, 0.0 if done else rq.max_charge_power(vehicle, lim),
                                           0.0 if done else lim.max_current, t.voltage, not done)
        if maxima is None:
            m.loop_count -= 1
            return
        mode = rq.dc_dynamic_loop(r, vehicle, m.config, now, done, lim, bpt, back, maxima)
    else:  # EVTargetCurrent: the vehicle's wish within the EVSE's limits and the schedule in force
        wish = 0.0 if t.charging_complete else t.current
        target = allowed.dc_target_current(m, now, wish, max(battery, t.voltage), reading.lim.max_current,
                                           reading.back)
        if target is None:
            m.loop_count -= 1
            return
        mode = rq.dc_scheduled_loop(r, m.config, target, t, back)
    m.send("DC_ChargeLoopReq", now, DisplayParameters=m.displays(soc, t.charging_complete),
           MeterInfoRequested=m.config.meter_info_requested or m.meter_info_wanted, EVPresentVoltage=r(battery),
           **mode)
    m.state = State.WAIT_DC_CHARGE_LOOP_RES


def _output_out_of_range(voltage: float, current: float, lim: DcLimits, bpt: BptLimitsView | None) -> str | None:
    """The charger's reported output against the vehicle's limits (10 % margin): never trusted blindly."""
    back = bpt.max_discharge_current if bpt is not None else 0.0
    if not 0 <= voltage <= lim.max_voltage * 1.1:
        return f"EVSEPresentVoltage {voltage:.1f} V is outside 0..{lim.max_voltage:.0f} V"
    if not -back * 1.1 <= current <= lim.max_current * 1.1:
        return f"EVSEPresentCurrent {current:.1f} A is outside {-back:.0f}..{lim.max_current:.0f} A"
    return None


def on_charge_loop(m: Iso20Evcc, res: Any, now: float) -> None:
    note = evse_notification(m, res.EVSEStatus, now)
    if note == "stop":
        return
    voltage = number(res.EVSEPresentVoltage) or 0.0
    current = number(res.EVSEPresentCurrent) or 0.0
    m.evse_present_voltage = voltage
    allowed.note_charge_loop_res(m, res)  # the EVSE's limits in force from now on
    vehicle = m.vehicle
    lim = vehicle.dc_limits()
    bpt = vehicle.bpt_limits(now) if m.bpt else None
    reason = _output_out_of_range(voltage, current, lim, bpt)
    if reason is not None:
        begin_stop(m, EndKind.STOPPED, reason, now)
        return
    vehicle.evse_output(voltage, current, now)
    reading = read(m, now, lim, bpt)
    if reading.status.error != "NO_ERROR":
        begin_stop(m, EndKind.STOPPED, f"the vehicle reports {reading.status.error}", now)
        return
    if m.bpt and m.dynamic:
        hold = bpt_hold.dc_step(m, reading.status.soc, reading.back, current, now)
        if hold is not None:
            begin_stop(m, EndKind.STOPPED, hold, now, code=bpt_hold.TERMINATION_CODE)
            return
    if not contract_flow.metering_step(m, note == "confirm", res, now):
        continue_loop(m, now, reading)


def continue_loop(m: Iso20Evcc, now: float, reading: Reading | None = None) -> None:
    t = m.vehicle.dc_targets(now)
    if t.charging_complete:
        begin_stop(m, EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
    else:
        m.pace(lambda at: _loop_turn(m, at, now, t, reading), now)


def _loop_turn(m: Iso20Evcc, now: float, handled: float, t: DcTargets, reading: Reading | None) -> None:
    """DC_ChargeLoopReq when it is due (MachineCore.pace); after a paced wait the vehicle's values are read
    again and the EV's own stop (asked for during the wait) or the target reached goes first."""
    if now > handled:
        if m.stop_reason is not None:
            begin_stop(m, *m.stop_reason, now)
            return
        t, reading = m.vehicle.dc_targets(now), None
        if t.charging_complete:
            begin_stop(m, EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
            return
    send_charge_loop(m, now, t, reading)
