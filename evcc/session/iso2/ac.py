"""ISO 15118-2 AC handlers (§8.4.4, §8.8.2.2 Figure 104): ChargeParameterDiscovery (Finished, AC_EVSEChargeParameter)
-> PowerDelivery(Start) -> ChargingStatus (loop: target SoC, stop, receipt) -> PowerDelivery(Stop) -> SessionStop.

The EVSE reports its nominal voltage and current limit; the vehicle's on-board charger draws up to it
(AcVehiclePort.ac_supply). An RCD trip or StopCharging ends the charge loop in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from evcc.exi import iso2
from evcc.session.events import ChargingStarted, EndKind
from evcc.session.iso2 import requests as rq
from evcc.session.iso2.ac_vehicle import AcVehiclePort
from evcc.session.iso2.config import State
from evcc.session.iso2.values import value_of
from evcc.session.limits import ac_current

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc


def evse_stop(status: iso2.AC_EVSEStatusType) -> str | None:
    if status.RCD:
        return "the EVSE reports a residual current (RCD)"
    if status.EVSENotification == "StopCharging":
        return "the EVSE asks to stop (EVSENotification=StopCharging)"
    return None


def phases(m: Iso2Evcc) -> int:
    return 3 if m.config.energy_transfer_mode == "AC_three_phase_core" else 1


def after_charge_parameters(m: Iso2Evcc, res: iso2.ChargeParameterDiscoveryResType, now: float) -> None:
    evse = res.AC_EVSEChargeParameter
    if evse is None:
        m.end(EndKind.PROTOCOL_ERROR, "ChargeParameterDiscoveryRes (Finished) without AC_EVSEChargeParameter")
        return
    m.ac_nominal_voltage = value_of(evse.EVSENominalVoltage)
    m.ac_max_current = value_of(evse.EVSEMaxCurrent)
    m.limits.evse = m.limits.evse.updated(max_current=m.ac_max_current)
    lim = cast(AcVehiclePort, m.vehicle).ac_limits()
    if (m.ac_max_current or 0.0) < lim.min_current:
        m.begin_stop(EndKind.STOPPED, f"EVSEMaxCurrent {m.ac_max_current} A is below the vehicle's minimum "
                                      f"{lim.min_current} A", now)
        return
    m.power_stage = True
    tuple_id = m.sa_schedule_tuple_id or 1
    req = rq.power_delivery(m.vehicle, now, "Start", tuple_id, m.charging_profile, dc=False)
    m.send("PowerDeliveryReq", req, now)
    m.state = State.WAIT_POWER_DELIVERY_START_RES


def on_power_delivery_start(m: Iso2Evcc, res: iso2.PowerDeliveryResType, now: float) -> None:
    m.emit(ChargingStarted())
    send_charging_status(m, now)


def send_charging_status(m: Iso2Evcc, now: float) -> None:
    m.loop_count += 1
    m.send("ChargingStatusReq", iso2.ChargingStatusReqType(), now)
    m.state = State.WAIT_CHARGING_STATUS_RES


def charging_status_stop(m: Iso2Evcc, res: iso2.ChargingStatusResType, now: float) -> str | None:
    """Let the on-board charger draw what the EVSE allows; a reason to stop, or None."""
    if res.EVSEMaxCurrent is not None:
        m.ac_max_current = value_of(res.EVSEMaxCurrent)
        m.limits.evse = m.limits.evse.updated(max_current=m.ac_max_current)
    reason = evse_stop(res.AC_EVSEStatus)
    if reason is None and res.SAScheduleTupleID != m.sa_schedule_tuple_id:
        reason = f"ChargingStatusRes names SAScheduleTupleID {res.SAScheduleTupleID}, {m.sa_schedule_tuple_id} was agreed"
    if reason is not None:
        return reason
    vehicle = cast(AcVehiclePort, m.vehicle)
    voltage, n = m.ac_nominal_voltage or 0.0, phases(m)
    lim = vehicle.ac_limits()
    wish = 0.0 if vehicle.ac_charging_complete(now) else lim.max_current
    a = ac_current(wish, voltage, n, m.limits.evse, m.limits.pmax(now), lim.min_current, charging=wish > 0)
    for event in m.limits.take("EV current per phase", a, now):
        m.emit(event)
    if a.stop is not None:
        return a.stop
    vehicle.ac_supply(voltage, a.value, n, now)  # the on-board charger draws what the EVSE and the PMax allow
    error = vehicle.dc_status(now).error
    return f"the vehicle reports {error}" if error != "NO_ERROR" else None


def charging_complete(m: Iso2Evcc, now: float) -> bool:
    return cast(AcVehiclePort, m.vehicle).ac_charging_complete(now)
