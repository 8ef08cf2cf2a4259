"""Builders of the ISO 15118-20 request contents from the vehicle port's answers (§8.3.4.7 ScheduleExchange,
§8.3.5 DC and AC ChargeParameterDiscovery and charge loops, Scheduled / Dynamic and their BPT variants). Pure
functions returning keyword fields for ``Iso20Evcc.send``.

Sign conventions: limits are positive magnitudes (EVMaximumDischargePower = 30 kW), flows are signed
(EVTargetCurrent < 0 discharges). A vehicle at or below its minimum discharge SoC reports discharge limits of 0.

The charge-loop builders run once per loop message: they take what the handler already read from the vehicle
port for this message (targets, status) instead of asking the port again; the port's answers do not change
while one message is handled.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType
from typing import Any, NamedTuple, cast

from evcc.session.iso2.ac_vehicle import AcVehiclePort
from evcc.session.iso20.config import Iso20Config
from evcc.session.iso20.vehicle import BptLimitsView, Iso20VehiclePort
from evcc.session.iso20.values import Rationals, common, rational
from evcc.session.vehicle import DcLimits, DcTargets


class Energy(NamedTuple):  # a tuple: built for every loop message, a frozen dataclass costs more
    target: float
    minimum: float
    maximum: float
    departure: int


class Discharge(NamedTuple):
    """What the vehicle may give back now (0 when not BPT or at its minimum SoC)."""

    current: float
    power: float


NO_DISCHARGE = Discharge(0.0, 0.0)


def energy(vehicle: Iso20VehiclePort, config: Iso20Config, now: float, limits: DcLimits | None = None) -> Energy:
    """The energy requests (Wh); without BPT the minimum is never below 0. ``limits``: dc_limits() if already
    read for this message."""
    req = vehicle.energy_request(now)
    if req is None:
        wanted = (limits if limits is not None else vehicle.dc_limits()).energy_request or 0.0
        target, minimum, maximum, dep = wanted, 0.0, wanted, None
    else:
        target, minimum, maximum, dep = req.target, req.minimum, req.maximum, req.departure_time
    if not config.bpt:
        minimum = max(0.0, minimum)
    maximum = max(maximum, target, minimum)
    departure = int(dep) if dep is not None and dep >= 0 else config.departure_time
    return Energy(target, minimum, maximum, min(departure, 2**32 - 1))


def discharge(vehicle: Iso20VehiclePort, config: Iso20Config, now: float, soc: int | None = None,
              lim: BptLimitsView | None = None) -> Discharge:
    """``soc`` and ``lim``: dc_status(now).soc and bpt_limits(now) if already read for this message."""
    if not config.bpt:
        return NO_DISCHARGE
    if lim is None:
        lim = vehicle.bpt_limits(now)
    if (vehicle.dc_status(now).soc if soc is None else soc) <= lim.min_discharge_soc:
        return NO_DISCHARGE
    return Discharge(max(0.0, lim.max_discharge_current), max(0.0, lim.max_discharge_power))


def max_charge_power(vehicle: Iso20VehiclePort, lim: DcLimits | None = None) -> float:
    if lim is None:
        lim = vehicle.dc_limits()
    return lim.max_power if lim.max_power is not None else lim.max_voltage * lim.max_current


def schedule_exchange(vehicle: Iso20VehiclePort, config: Iso20Config, now: float) -> dict[str, Any]:
    m = common()
    e = energy(vehicle, config, now)
    if config.control_mode == "Dynamic":
        mode = m.Dynamic_SEReqControlModeType(
            DepartureTime=e.departure, EVTargetEnergyRequest=rational(m, e.target),
            EVMaximumEnergyRequest=rational(m, e.maximum), EVMinimumEnergyRequest=rational(m, e.minimum))
        return {"MaximumSupportingPoints": config.maximum_supporting_points, "Dynamic_SEReqControlMode": mode}
    mode = m.Scheduled_SEReqControlModeType(
        DepartureTime=e.departure, EVTargetEnergyRequest=rational(m, e.target),
        EVMaximumEnergyRequest=rational(m, e.maximum), EVMinimumEnergyRequest=rational(m, e.minimum))
    return {"MaximumSupportingPoints": config.maximum_supporting_points, "Scheduled_SEReqControlMode": mode}


# ------------------------------------------------------------------------------------------------- DC
def dc_charge_parameters(m: ModuleType, vehicle: Iso20VehiclePort, config: Iso20Config, now: float) -> dict[str, Any]:
    lim = vehicle.dc_limits()
    bpt = vehicle.bpt_limits(now)
    r = partial(rational, m)
    base = dict(EVMaximumChargePower=r(max_charge_power(vehicle)), EVMinimumChargePower=r(0.0),
                EVMaximumChargeCurrent=r(lim.max_current), EVMinimumChargeCurrent=r(0.0),
                EVMaximumVoltage=r(lim.max_voltage), EVMinimumVoltage=r(bpt.min_voltage),
                TargetSOC=None if lim.full_soc is None else max(0, min(100, lim.full_soc)))
    if not config.bpt:
        return {"DC_CPDReqEnergyTransferMode": m.DC_CPDReqEnergyTransferModeType(**base)}
    d = discharge(vehicle, config, now)
    return {"BPT_DC_CPDReqEnergyTransferMode": m.BPT_DC_CPDReqEnergyTransferModeType(
        **base, EVMaximumDischargePower=r(d.power), EVMinimumDischargePower=r(0.0),
        EVMaximumDischargeCurrent=r(d.current), EVMinimumDischargeCurrent=r(0.0))}


def dc_scheduled_loop(r: Rationals, config: Iso20Config, target_current: float, t: DcTargets,
                      d: Discharge) -> dict[str, Any]:
    """Scheduled DC_ChargeLoopReq control mode from this message's targets ``t`` and discharge limits ``d``."""
    m = r.module
    if not config.bpt:
        return {"Scheduled_DC_CLReqControlMode": m.Scheduled_DC_CLReqControlModeType(
            EVTargetCurrent=r(target_current), EVTargetVoltage=r(t.voltage))}
    return {"BPT_Scheduled_DC_CLReqControlMode": m.BPT_Scheduled_DC_CLReqControlModeType(
        EVTargetCurrent=r(target_current), EVTargetVoltage=r(t.voltage),
        EVMaximumDischargePower=r(d.power), EVMaximumDischargeCurrent=r(d.current))}


def dc_dynamic_loop(r: Rationals, vehicle: Iso20VehiclePort, config: Iso20Config, now: float, done: bool,
                    lim: DcLimits, bpt: BptLimitsView, d: Discharge,
                    maxima: tuple[float, float] | None = None) -> dict[str, Any]:
    """Dynamic DC_ChargeLoopReq control mode from what was read for this message: ``done`` (the vehicle reached
    its target), ``lim`` and ``bpt`` (dc_limits(), bpt_limits(now)), ``d`` (what it may give back); ``maxima``:
    EVMaximumChargePower/-Current as evcc.session.limits allows them (else the vehicle's own)."""
    e = energy(vehicle, config, now)
    top, current = (0.0, 0.0) if done else (max_charge_power(vehicle, lim), lim.max_current)
    if maxima is not None:
        top, current = min(top, maxima[0]), min(current, maxima[1])
    m = r.module
    if not config.bpt:
        return {"Dynamic_DC_CLReqControlMode": m.Dynamic_DC_CLReqControlModeType(
            DepartureTime=e.departure, EVTargetEnergyRequest=r(e.target), EVMaximumEnergyRequest=r(e.maximum),
            EVMinimumEnergyRequest=r(e.minimum), EVMaximumChargePower=r(top), EVMinimumChargePower=r(0.0),
            EVMaximumChargeCurrent=r(current), EVMaximumVoltage=r(lim.max_voltage),
            EVMinimumVoltage=r(bpt.min_voltage))}
    return {"BPT_Dynamic_DC_CLReqControlMode": m.BPT_Dynamic_DC_CLReqControlModeType(
        DepartureTime=e.departure, EVTargetEnergyRequest=r(e.target), EVMaximumEnergyRequest=r(e.maximum),
        EVMinimumEnergyRequest=r(e.minimum), EVMaximumChargePower=r(top), EVMinimumChargePower=r(0.0),
        EVMaximumChargeCurrent=r(current), EVMaximumVoltage=r(lim.max_voltage), EVMinimumVoltage=r(bpt.min_voltage),
        EVMaximumDischargePower=r(d.power), EVMinimumDischargePower=r(0.0), EVMaximumDischargeCurrent=r(d.current))}


# ------------------------------------------------------------------------------------------------- AC
def ac_max_power(vehicle: Iso20VehiclePort, voltage: float, phases: int) -> float:
    return cast(AcVehiclePort, vehicle).ac_limits().max_current * voltage * phases


def ac_charge_parameters(m: ModuleType, vehicle: Iso20VehiclePort, config: Iso20Config, now: float,
                         voltage: float, phases: int) -> dict[str, Any]:
    lim = cast(AcVehiclePort, vehicle).ac_limits()
    r = partial(rational, m)
    base = dict(EVMaximumChargePower=r(lim.max_current * voltage * phases),
                EVMinimumChargePower=r(lim.min_current * voltage * phases))
    if not config.bpt:
        return {"AC_CPDReqEnergyTransferMode": m.AC_CPDReqEnergyTransferModeType(**base)}
    d = discharge(vehicle, config, now)
    return {"BPT_AC_CPDReqEnergyTransferMode": m.BPT_AC_CPDReqEnergyTransferModeType(
        **base, EVMaximumDischargePower=r(d.power), EVMinimumDischargePower=r(0.0))}


def ac_loop(r: Rationals, vehicle: Iso20VehiclePort, config: Iso20Config, now: float, present: float,
            max_power: float, done: bool, d: Discharge) -> dict[str, Any]:
    """AC_ChargeLoopReq control mode: EVPresentActivePower (W, < 0 discharging) and the vehicle's limits;
    ``done`` (ac_charging_complete) and ``d`` (what it may give back) as read for this message."""
    m = r.module
    top = 0.0 if done else max_power
    if config.control_mode == "Scheduled":
        fields: dict[str, Any] = dict(EVPresentActivePower=r(present), EVMaximumChargePower=r(top))
        if config.bpt:
            return {"BPT_Scheduled_AC_CLReqControlMode": m.BPT_Scheduled_AC_CLReqControlModeType(
                **fields, EVMaximumDischargePower=r(d.power))}
        return {"Scheduled_AC_CLReqControlMode": m.Scheduled_AC_CLReqControlModeType(**fields)}
    e = energy(vehicle, config, now)
    fields = dict(DepartureTime=e.departure, EVTargetEnergyRequest=r(e.target), EVMaximumEnergyRequest=r(e.maximum),
                  EVMinimumEnergyRequest=r(e.minimum), EVMaximumChargePower=r(top), EVMinimumChargePower=r(0.0),
                  EVPresentActivePower=r(present), EVPresentReactivePower=r(0.0))
    if config.bpt:
        return {"BPT_Dynamic_AC_CLReqControlMode": m.BPT_Dynamic_AC_CLReqControlModeType(
            **fields, EVMaximumDischargePower=r(d.power), EVMinimumDischargePower=r(0.0))}
    return {"Dynamic_AC_CLReqControlMode": m.Dynamic_AC_CLReqControlModeType(**fields)}


class Displays:
    """DisplayParameters with the present SoC (dc_status(now).soc, which AC vehicles give too) and
    ChargingComplete (the vehicle reached its target; optional in the schema, sent always: some chargers
    require it), for schema set ``module``: remembered per machine by (SoC, complete), 202 at most, since the
    charge loops send one every message. Requests share them: for encoding, never to be changed afterwards."""

    __slots__ = ("module", "_memo")

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self._memo: dict[tuple[int, bool], Any] = {}

    def __call__(self, soc: int, complete: bool) -> Any:
        key = (max(0, min(100, soc)), bool(complete))
        shown = self._memo.get(key)
        if shown is None:
            shown = self._memo[key] = self.module.DisplayParametersType(PresentSOC=key[0], ChargingComplete=key[1])
        return shown
