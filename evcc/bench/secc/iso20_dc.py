"""DC response builders of the ISO 15118-20 SECC simulator (§8.3.5.4, the DC schema set, payload type 0x8004):
DC_ChargeParameterDiscovery, DC_CableCheck, DC_PreCharge, DC_ChargeLoop (Scheduled, Dynamic and their BPT
forms) and DC_WeldingDetection.

The charger is modelled coarsely: Ongoing rounds for the cable check, a PreCharge voltage ramp towards the
EV's target, an output at the EV's target voltage whose current is clamped to the EVSE limits (the schedule's
PMax included) and, for DC_BPT, to the EVSE discharge limits below zero. In Dynamic mode the SECC sets the
power (``dynamic_power``, negative discharges) within both sides' limits and stops charging an EV that asks
for no more energy. A meter counts the energy both ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evcc.bench.secc.iso20_values import (Built, clamp, cpd_code, is_bpt, meter, module_of, number, rational, refine,
                                          status)

if TYPE_CHECKING:
    from evcc.bench.secc.iso20_responder import Iso20Secc

D: Any = module_of("iso20_dc")


def _r(value: float) -> Any:
    return rational(D, value)


def _cpd(s: Iso20Secc, req: Any, code: str) -> Built:
    c = s.config
    bpt = is_bpt(s)
    code = cpd_code(s, req, code, "DC")
    res = D.DC_ChargeParameterDiscoveryResType(Header=s.header("iso20_dc"), ResponseCode=code)
    max_power, max_current = c.limits.power(c.max_charge_power, 0), c.limits.current(c.max_charge_current, 0)
    s.limit_check.announce(s.now, max_current, max_power)
    limits = dict(
        EVSEMaximumChargePower=_r(max_power), EVSEMinimumChargePower=_r(0),
        EVSEMaximumChargeCurrent=_r(max_current), EVSEMinimumChargeCurrent=_r(0),
        EVSEMaximumVoltage=_r(c.max_voltage), EVSEMinimumVoltage=_r(c.min_voltage))
    if bpt:
        res.BPT_DC_CPDResEnergyTransferMode = D.BPT_DC_CPDResEnergyTransferModeType(
            **limits, EVSEMaximumDischargePower=_r(c.max_discharge_power), EVSEMinimumDischargePower=_r(0),
            EVSEMaximumDischargeCurrent=_r(c.max_discharge_current), EVSEMinimumDischargeCurrent=_r(0))
    else:
        res.DC_CPDResEnergyTransferMode = D.DC_CPDResEnergyTransferModeType(**limits)
    return res, "DC_ChargeParameterDiscoveryReq"


def _cable_check(s: Iso20Secc, req: Any, code: str) -> Built:
    processing = s.round("DC_CableCheckRes", s.config.cable_check_rounds) if code == "OK" else "Finished"
    return D.DC_CableCheckResType(Header=s.header("iso20_dc"), ResponseCode=code, EVSEProcessing=processing), \
        "DC_CableCheckReq"


def _pre_charge(s: Iso20Secc, req: Any, code: str) -> Built:
    target = min(number(req.EVTargetVoltage) or 0.0, s.config.max_voltage)
    step = s.config.precharge_step
    s.present_voltage = clamp(target, s.present_voltage - step, s.present_voltage + step)
    return D.DC_PreChargeResType(Header=s.header("iso20_dc"), ResponseCode=code,
                                 EVSEPresentVoltage=_r(s.present_voltage)), "DC_PreChargeReq"


def _current_limits(s: Iso20Secc, voltage: float) -> tuple[float, float]:
    """(lowest, highest) current the EVSE allows at ``voltage``: discharge (negative) only for DC_BPT."""
    c = s.config
    v = max(voltage, 1.0)
    pmax = min(c.limits.power(c.max_charge_power, s.loop_count), s.schedule_pmax())
    high = min(c.limits.current(c.max_charge_current, s.loop_count), pmax / v)
    low = -min(c.max_discharge_current, c.max_discharge_power / v) if is_bpt(s) else 0.0
    return low, high


def _dynamic_power(s: Iso20Secc, mode: Any) -> float:
    c = s.config
    top = c.limits.power(c.max_charge_power, s.loop_count)
    want = c.dynamic_power if c.dynamic_power is not None else top
    high = min(top, number(mode.EVMaximumChargePower) or 0.0)
    if (number(mode.EVMaximumEnergyRequest) or 0.0) <= 0:
        high = 0.0  # the EV wants no more energy
    low = 0.0
    if is_bpt(s) and getattr(mode, "EVMaximumDischargePower", None) is not None:
        low = -min(c.max_discharge_power, number(mode.EVMaximumDischargePower) or 0.0)
    return clamp(want, low, high)


def _expected_mode(s: Iso20Secc) -> str:
    return f"{'BPT_' if is_bpt(s) else ''}{s.record.control_mode or 'Scheduled'}_DC_CL"


def _charge_loop(s: Iso20Secc, req: Any, code: str) -> Built:
    c = s.config
    s.loop_count += 1
    name = _expected_mode(s)
    mode = getattr(req, name + "ReqControlMode")
    if mode is None:
        code = refine(code, "FAILED_WrongChargeParameter")
    power = 0.0
    _check(s, name, mode)
    if code == "OK" and name.endswith("Scheduled_DC_CL"):
        s.present_voltage = min(c.max_voltage, number(mode.EVTargetVoltage) or 0.0)
        low, high = _current_limits(s, s.present_voltage)
        power = clamp(number(mode.EVTargetCurrent) or 0.0, low, high) * s.present_voltage
    elif code == "OK":
        s.present_voltage = min(c.max_voltage, number(req.EVPresentVoltage) or 0.0)
        low, high = _current_limits(s, s.present_voltage)
        power = clamp(_dynamic_power(s, mode) / max(s.present_voltage, 1.0), low, high) * s.present_voltage
    current = power / max(s.present_voltage, 1.0)
    low, high = _current_limits(s, s.present_voltage)
    res = D.DC_ChargeLoopResType(
        Header=s.header("iso20_dc"), ResponseCode=code, EVSEStatus=status(s, D, loop=True),
        MeterInfo=meter(s, D, power) if req.MeterInfoRequested else None,
        EVSEPresentCurrent=_r(current), EVSEPresentVoltage=_r(s.present_voltage),
        EVSEPowerLimitAchieved=power >= c.max_charge_power, EVSECurrentLimitAchieved=current >= high,
        EVSEVoltageLimitAchieved=s.present_voltage >= c.max_voltage)
    if not req.MeterInfoRequested:
        meter(s, D, power)
    setattr(res, name + "ResControlMode", _res_mode(s, name))
    return res, "DC_ChargeLoopReq"


def _check(s: Iso20Secc, name: str, mode: Any) -> None:
    """The request against the limits in force when the EV sent it (limit_plan.LimitCheck)."""
    if mode is None:
        return
    if name.endswith("Scheduled_DC_CL"):
        s.limit_check.check("DC_ChargeLoopReq EVTargetCurrent", s.now, max(0.0, number(mode.EVTargetCurrent) or 0.0),
                            number(mode.EVTargetVoltage) or 0.0, default_pmax=s.schedule_pmax())
    else:
        s.limit_check.check("DC_ChargeLoopReq EVMaximumChargePower", s.now,
                            power=number(mode.EVMaximumChargePower) or 0.0)
        s.limit_check.check("DC_ChargeLoopReq EVMaximumChargeCurrent", s.now,
                            current=number(mode.EVMaximumChargeCurrent) or 0.0)


def _res_mode(s: Iso20Secc, name: str) -> Any:
    c = s.config
    max_power, max_current = c.limits.power(c.max_charge_power, s.loop_count), c.limits.current(
        c.max_charge_current, s.loop_count)
    s.limit_check.announce(s.now, max_current, max_power)
    charge = dict(EVSEMaximumChargePower=_r(max_power), EVSEMinimumChargePower=_r(0),
                  EVSEMaximumChargeCurrent=_r(max_current), EVSEMaximumVoltage=_r(c.max_voltage))
    discharge = dict(EVSEMaximumDischargePower=_r(c.max_discharge_power), EVSEMinimumDischargePower=_r(0),
                     EVSEMaximumDischargeCurrent=_r(c.max_discharge_current), EVSEMinimumVoltage=_r(c.min_voltage))
    if name == "Scheduled_DC_CL":
        return D.Scheduled_DC_CLResControlModeType(**charge)
    if name == "Dynamic_DC_CL":
        return D.Dynamic_DC_CLResControlModeType(**charge)
    if name == "BPT_Scheduled_DC_CL":
        return D.BPT_Scheduled_DC_CLResControlModeType(**charge, **discharge)
    return D.BPT_Dynamic_DC_CLResControlModeType(**charge, **discharge)


def _welding_detection(s: Iso20Secc, req: Any, code: str) -> Built:
    s.present_voltage = s.present_voltage / 2 if s.present_voltage > 10 else 0.0
    return D.DC_WeldingDetectionResType(Header=s.header("iso20_dc"), ResponseCode=code,
                                        EVSEPresentVoltage=_r(s.present_voltage)), "DC_WeldingDetectionReq"


DC_BUILDERS = {
    "DC_ChargeParameterDiscoveryReq": _cpd,
    "DC_CableCheckReq": _cable_check,
    "DC_PreChargeReq": _pre_charge,
    "DC_ChargeLoopReq": _charge_loop,
    "DC_WeldingDetectionReq": _welding_detection,
}
