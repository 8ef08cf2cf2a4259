"""ISO 15118-20 AC and AC_BPT handlers (§8.3.5.2, §8.8.x AC sequence): AC_ChargeParameterDiscovery ->
ScheduleExchange (setup.py) -> PowerDelivery(Start) -> AC_ChargeLoop -> PowerDelivery(Stop) -> SessionStop.

AC power is set per phase by the on-board charger: the EV reports EVPresentActivePower (W, < 0 while it feeds
the grid) and its limits; the EVSE answers with EVSETargetActivePower (mandatory in Dynamic mode, optional in
Scheduled mode, where the schedule in force applies otherwise). The vehicle draws min(target, its maximum, the
EVSE's maximum); a negative target discharges only in an AC_BPT session, above the vehicle's minimum SoC.
Nominal voltage and phases come from the ServiceDetail parameters EVSENominalVoltage and Connector
(1 single-phase, 2 three-phase)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from evcc.session.events import EndKind
from evcc.session.iso2.ac_vehicle import AcVehiclePort
from evcc.session.iso20 import allowed, bpt_hold, contract_flow
from evcc.session.iso20 import requests as rq
from evcc.session.iso20.config import State
from evcc.session.iso20.stopping import begin_stop, evse_notification, schedule_over
from evcc.session.iso20.values import ac as ac_module
from evcc.session.iso20.values import number
from evcc.session.vehicle import DcStatus

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc

DEFAULT_NOMINAL_VOLTAGE = 230.0
CONNECTOR_THREE_PHASE = 2
_TARGET_MODES = ("Dynamic_AC_CLResControlMode", "BPT_Dynamic_AC_CLResControlMode", "Scheduled_AC_CLResControlMode",
                 "BPT_Scheduled_AC_CLResControlMode")


def nominal_voltage(m: Iso20Evcc) -> float:
    value = m.parameters.get("EVSENominalVoltage")
    return float(value) if isinstance(value, (int, float)) and 0 < value <= 1000 else DEFAULT_NOMINAL_VOLTAGE


def phases(m: Iso20Evcc) -> int:
    return 3 if m.parameters.get("Connector") == CONNECTOR_THREE_PHASE else 1


def send_charge_parameter_discovery(m: Iso20Evcc, now: float) -> None:
    fields = rq.ac_charge_parameters(ac_module(), m.vehicle, m.config, now, nominal_voltage(m), phases(m))
    m.send("AC_ChargeParameterDiscoveryReq", now, **fields)
    m.state = State.WAIT_AC_CHARGE_PARAMETER_DISCOVERY_RES


def on_charge_parameter_discovery(m: Iso20Evcc, res: Any, now: float) -> bool:
    mode = res.BPT_AC_CPDResEnergyTransferMode if m.config.bpt else res.AC_CPDResEnergyTransferMode
    if mode is None:
        wanted = "BPT_AC_CPDResEnergyTransferMode" if m.config.bpt else "AC_CPDResEnergyTransferMode"
        m.end(EndKind.PROTOCOL_ERROR, f"AC_ChargeParameterDiscoveryRes without {wanted}")
        return False
    m.evse_limits = {"EVSEMaximumChargePower": number(mode.EVSEMaximumChargePower) or 0.0,
                     "EVSEMaximumDischargePower": number(getattr(mode, "EVSEMaximumDischargePower", None)) or 0.0}
    m.limits.evse = allowed.evse_from(mode, m.limits.evse)
    return True


def max_power(m: Iso20Evcc) -> float:
    vehicle = rq.ac_max_power(m.vehicle, nominal_voltage(m), phases(m))
    evse = m.evse_limits.get("EVSEMaximumChargePower") or vehicle
    return max(0.0, min(vehicle, evse))


def send_charge_loop(m: Iso20Evcc, now: float, done: bool | None = None, status: DcStatus | None = None,
                     back: rq.Discharge | None = None) -> None:
    """AC_ChargeLoopReq; ``done``, ``status`` and ``back``: ac_charging_complete(now), dc_status(now) and what the
    vehicle may give back, when already read for this message (each port answer is read once per message)."""
    if schedule_over(m, now):
        return
    vehicle = m.vehicle
    if done is None:
        done = cast(AcVehiclePort, vehicle).ac_charging_complete(now)
    if status is None:
        status = vehicle.dc_status(now)
    if back is None:
        back = rq.discharge(vehicle, m.config, now, status.soc)
    top = allowed.ac_max_power(m, now, rq.ac_max_power(vehicle, nominal_voltage(m), phases(m)), not done)
    if top is None:  # no valid request: an orderly stop began (evcc.session.limits)
        return
    m.loop_count += 1
    back = allowed.capped_discharge(m, back) if m.bpt else back
    mode = rq.ac_loop(m.rationals, vehicle, m.config, now, m.ac_power, top, done, back)
    m.send("AC_ChargeLoopReq", now, DisplayParameters=m.displays(status.soc, done),
           MeterInfoRequested=m.config.meter_info_requested or m.meter_info_wanted, **mode)
    m.state = State.WAIT_AC_CHARGE_LOOP_RES


def evse_target(m: Iso20Evcc, res: Any, now: float) -> float | None:
    """EVSETargetActivePower of the response's control mode, else (Scheduled) the schedule in force; None
    when a Dynamic response carries no control mode."""
    for name in _TARGET_MODES:
        mode = getattr(res, name, None)
        if mode is not None and mode.EVSETargetActivePower is not None:
            return number(mode.EVSETargetActivePower)
    if m.config.control_mode == "Scheduled":
        return m.schedule.power_at(m.secc_time(now)) if m.schedule is not None else max_power(m)
    return None


def draw(m: Iso20Evcc, target: float, now: float) -> float:
    """Apply the EVSE's target to the on-board charger; the power actually drawn (W, < 0 discharging)."""
    vehicle = cast(AcVehiclePort, m.vehicle)
    voltage, n = nominal_voltage(m), phases(m)
    if target < 0:
        d = rq.discharge(m.vehicle, m.config, now)
        back = min(-target, d.power, m.evse_limits.get("EVSEMaximumDischargePower") or d.power)
        if back > 0:
            m.vehicle.evse_output(voltage * n, -back / (voltage * n), now)
            return -back
        target = 0.0
    scheduled = allowed.schedule_power(m, now)  # Scheduled: never above the schedule in force
    top = max_power(m) if scheduled is None else max(0.0, min(max_power(m), scheduled))
    power = 0.0 if vehicle.ac_charging_complete(now) else min(target, top)
    vehicle.ac_supply(voltage, power / (voltage * n), n, now)
    return power


def on_charge_loop(m: Iso20Evcc, res: Any, now: float) -> None:
    note = evse_notification(m, res.EVSEStatus, now)
    if note == "stop":
        return
    target = evse_target(m, res, now)
    if target is None:
        begin_stop(m, EndKind.PROTOCOL_ERROR, "AC_ChargeLoopRes (Dynamic) without EVSETargetActivePower", now)
        return
    m.ac_power = draw(m, target, now)
    status = m.vehicle.dc_status(now)
    back = rq.discharge(m.vehicle, m.config, now, status.soc)
    hold = bpt_hold.ac_step(m, status.soc, back, target, now) if m.bpt and m.dynamic else None
    if status.error != "NO_ERROR":
        begin_stop(m, EndKind.STOPPED, f"the vehicle reports {status.error}", now)
    elif hold is not None:
        begin_stop(m, EndKind.STOPPED, hold, now, code=bpt_hold.TERMINATION_CODE)
    elif not contract_flow.metering_step(m, note == "confirm", res, now):
        continue_loop(m, now, status, back)


def continue_loop(m: Iso20Evcc, now: float, status: DcStatus | None = None, back: rq.Discharge | None = None) -> None:
    done = cast(AcVehiclePort, m.vehicle).ac_charging_complete(now)
    if done:
        begin_stop(m, EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
    else:
        m.pace(lambda at: _loop_turn(m, at, now, status, back), now)


def _loop_turn(m: Iso20Evcc, now: float, handled: float, status: DcStatus | None, back: rq.Discharge | None) -> None:
    """AC_ChargeLoopReq when it is due (MachineCore.pace); after a paced wait the vehicle's values are read
    again and the EV's own stop (asked for during the wait) or the target reached goes first."""
    if now > handled:
        if m.stop_reason is not None:
            begin_stop(m, *m.stop_reason, now)
            return
        if cast(AcVehiclePort, m.vehicle).ac_charging_complete(now):
            begin_stop(m, EndKind.COMPLETED, "charging complete: the vehicle reached its target", now)
            return
        status, back = None, None
    send_charge_loop(m, now, False, status, back)
