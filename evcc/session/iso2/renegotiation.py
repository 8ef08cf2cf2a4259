"""ISO 15118-2 renegotiation of the SASchedules in the charge loop (§8.4.3.9 PowerDelivery with
ChargeProgress=Renegotiate, §8.5.3.x EVSENotification=ReNegotiation, §8.8.2 Figures 104/105).

Who asks: the EVSE (EVSENotification=ReNegotiation in the DC_EVSEStatus of CurrentDemandRes or the
AC_EVSEStatus of ChargingStatusRes/MeteringReceiptRes) or the EV (a vehicle port with
:class:`~evcc.session.vehicle.ScheduleRenegotiationPort` says it wants new schedules). Then::

    charge loop -> PowerDelivery(Renegotiate) -> ChargeParameterDiscovery (Ongoing loop, V2G_EVCC_Ongoing_Timeout)
    -> SAScheduleTuple selection (SalesTariff signatures checked under Plug & Charge, setup.accept_schedules)
    -> PowerDelivery(Start) with the new tuple and ChargingProfile -> charge loop

The power stage stays on: DC goes back to CurrentDemand without CableCheck and PreCharge, and a stop asked for
meanwhile goes through PowerDelivery(Stop). A pending MeteringReceipt is sent first; a stop or a complete
charge wins over a renegotiation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evcc.exi import iso2
from evcc.session.events import EndKind, Renegotiated
from evcc.session.iso2 import ac, dc, setup
from evcc.session.iso2 import requests as rq
from evcc.session.iso2.config import State
from evcc.session.iso2.values import value_of

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc

EvseStatus = iso2.DC_EVSEStatusType | iso2.AC_EVSEStatusType | None


def requested(m: Iso2Evcc, status: EvseStatus, now: float) -> str | None:
    """"EVSE" when the status carries ReNegotiation, "EV" when the vehicle asks for new schedules, else None."""
    if status is not None and status.EVSENotification == "ReNegotiation":
        return "EVSE"
    if m.schedule_port is not None and m.schedule_port.wants_renegotiation(now):
        return "EV"
    return None


def begin(m: Iso2Evcc, trigger: str, now: float) -> None:
    """PowerDeliveryReq(ChargeProgress=Renegotiate) for the tuple in force."""
    m.renegotiation = trigger
    m.renegotiation_wanted = None
    req = rq.power_delivery(m.vehicle, now, "Renegotiate", m.sa_schedule_tuple_id or 1, None, m.dc)
    m.send("PowerDeliveryReq", req, now)
    m.state = State.WAIT_POWER_DELIVERY_RENEGOTIATE_RES


def on_power_delivery_renegotiate(m: Iso2Evcc, res: iso2.PowerDeliveryResType, now: float) -> None:
    setup.send_charge_parameter_discovery(m, now)


def after_charge_parameters(m: Iso2Evcc, res: iso2.ChargeParameterDiscoveryResType, now: float) -> None:
    """The renegotiated schedules are accepted: straight to PowerDelivery(Start), the power stage is on."""
    if m.dc:
        evse = res.DC_EVSEChargeParameter
        if evse is None:
            m.end(EndKind.PROTOCOL_ERROR, "ChargeParameterDiscoveryRes (Finished) without DC_EVSEChargeParameter")
            return
        m.evse_max_voltage = value_of(evse.EVSEMaximumVoltageLimit)
        dc.note_evse_limits(m, evse)
        dc.send_power_delivery_start(m, now)
    else:
        ac.after_charge_parameters(m, res, now)


def finished(m: Iso2Evcc) -> None:
    """PowerDeliveryRes(Start) of a renegotiation arrived."""
    assert m.renegotiation is not None
    if m.limits.pending is not None:  # the renegotiated PMaxSchedule is in force from now on
        m.limits.schedule, m.limits.pending = m.limits.pending, None
    m.emit(Renegotiated(m.renegotiation, m.sa_schedule_tuple_id or 1))
    m.renegotiation = None
    m.renegotiations += 1
