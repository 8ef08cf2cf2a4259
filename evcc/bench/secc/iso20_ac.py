"""AC response builders of the ISO 15118-20 SECC simulator (§8.3.5.3, the AC schema set, payload type
0x8003): AC_ChargeParameterDiscovery and AC_ChargeLoop (Scheduled, Dynamic and their BPT forms).

The SECC sets EVSETargetActivePower: in Scheduled mode the selected schedule's PMax (for AC_BPT with the
Discharge channel: minus the discharge limit), in Dynamic mode ``dynamic_power`` (negative discharges) within
both sides' limits, nothing for an EV that asks for no more energy. The meter counts the active power the EV
reports (EVPresentActivePower), clamped to what the EVSE allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evcc.bench.secc.iso20_values import (Built, clamp, cpd_code, is_bpt, meter, module_of, number, rational, refine,
                                          status)

if TYPE_CHECKING:
    from evcc.bench.secc.iso20_responder import Iso20Secc

A: Any = module_of("iso20_ac")


def _r(value: float) -> Any:
    return rational(A, value)


def _cpd(s: Iso20Secc, req: Any, code: str) -> Built:
    c = s.config
    bpt = is_bpt(s)
    code = cpd_code(s, req, code, "AC")
    res = A.AC_ChargeParameterDiscoveryResType(Header=s.header("iso20_ac"), ResponseCode=code)
    max_power = c.limits.power(c.ac_max_charge_power, 0)
    s.limit_check.announce(s.now, float("inf"), max_power)
    limits = dict(EVSEMaximumChargePower=_r(max_power), EVSEMinimumChargePower=_r(0),
                  EVSENominalFrequency=_r(c.ac_nominal_frequency))
    if bpt:
        res.BPT_AC_CPDResEnergyTransferMode = A.BPT_AC_CPDResEnergyTransferModeType(
            **limits, EVSEMaximumDischargePower=_r(c.ac_max_discharge_power), EVSEMinimumDischargePower=_r(0))
    else:
        res.AC_CPDResEnergyTransferMode = A.AC_CPDResEnergyTransferModeType(**limits)
    return res, "AC_ChargeParameterDiscoveryReq"


def _limits(s: Iso20Secc, mode: Any) -> tuple[float, float]:
    """(lowest, highest) active power the EVSE allows, the EV's own limits included where it sent them."""
    c = s.config
    high = min(c.limits.power(c.ac_max_charge_power, s.loop_count), s.schedule_pmax())
    if getattr(mode, "EVMaximumChargePower", None) is not None:
        high = min(high, number(mode.EVMaximumChargePower) or 0.0)
    low = 0.0
    if is_bpt(s):
        low = -c.ac_max_discharge_power
        if getattr(mode, "EVMaximumDischargePower", None) is not None:
            low = max(low, -(number(mode.EVMaximumDischargePower) or 0.0))
    return low, high


def _target(s: Iso20Secc, mode: Any, dynamic: bool) -> float:
    low, high = _limits(s, mode)
    if not dynamic:
        return low if s.record.channel == "Discharge" else high
    c = s.config
    if (number(getattr(mode, "EVMaximumEnergyRequest", None)) or 0.0) <= 0:
        high = 0.0
    return clamp(c.dynamic_power if c.dynamic_power is not None else high, low, high)


def _charge_loop(s: Iso20Secc, req: Any, code: str) -> Built:
    s.loop_count += 1
    dynamic = s.record.control_mode == "Dynamic"
    name = f"{'BPT_' if is_bpt(s) else ''}{'Dynamic' if dynamic else 'Scheduled'}_AC_CL"
    mode = getattr(req, name + "ReqControlMode")
    if mode is None:
        code = refine(code, "FAILED_WrongChargeParameter")
    target = power = 0.0
    if mode is not None:  # the requests against the limits in force when the EV sent them (LimitCheck)
        s.limit_check.check("AC_ChargeLoopReq EVMaximumChargePower", s.now,
                            power=number(mode.EVMaximumChargePower) or 0.0, default_pmax=s.schedule_pmax())
        present = number(mode.EVPresentActivePower) or 0.0
        if s.last_target is not None and present > max(0.0, s.last_target) + 1.0:
            s.limit_check.violation(f"AC_ChargeLoopReq at {s.now:.3f} s: EVPresentActivePower "
                                            f"{present:.0f} W above the EVSE's target {s.last_target:.0f} W")
    if code == "OK":
        target = _target(s, mode, dynamic)
        low, high = _limits(s, mode)
        power = clamp(number(mode.EVPresentActivePower) or 0.0, low, high)
    res = A.AC_ChargeLoopResType(
        Header=s.header("iso20_ac"), ResponseCode=code, EVSEStatus=status(s, A, loop=True),
        MeterInfo=meter(s, A, power) if req.MeterInfoRequested else None,
        EVSETargetFrequency=_r(s.config.ac_nominal_frequency) if dynamic else None)
    if not req.MeterInfoRequested:
        meter(s, A, power)
    s.last_target = target
    out = getattr(A, name + "ResControlModeType")(EVSETargetActivePower=_r(target), EVSEPresentActivePower=_r(power))
    setattr(res, name + "ResControlMode", out)
    return res, "AC_ChargeLoopReq"


AC_BUILDERS = {
    "AC_ChargeParameterDiscoveryReq": _cpd,
    "AC_ChargeLoopReq": _charge_loop,
}
