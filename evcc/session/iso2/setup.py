"""ISO 15118-2 EVCC handlers from SessionSetupRes to ChargeParameterDiscoveryRes (§8.4.3, §8.8.2): the part AC and
DC share. Checks before a handler runs are the machine's (machine.py); here: what the SECC's answer means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evcc.exi import iso2
from evcc.session.events import EndKind
from evcc.session.iso2 import certificate_update, contract_flow
from evcc.session.iso2 import requests as rq
from evcc.session.iso2 import schedules
from evcc.session.iso2.config import State
from evcc.session.iso2.values import value_of

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc


def on_session_setup(m: Iso2Evcc, res: iso2.SessionSetupResType, now: float) -> None:
    """[V2G2-756]..: OK_NewSessionEstablished assigns the SessionID; OK_OldSessionJoined continues the paused
    session the EV asked for and must carry its SessionID."""
    m.disarm("V2G_EVCC_CommunicationSetup_Timeout")
    sid = m.last_header_session_id
    asked = m.config.resume_session_id
    if res.ResponseCode == "OK_OldSessionJoined":
        if asked is None or sid != asked:
            wanted = "a new session" if asked is None else f"SessionID {asked.hex()}"
            m.end(EndKind.PROTOCOL_ERROR, f"SessionSetupRes OK_OldSessionJoined with SessionID {sid.hex()}; "
                                          f"the EV asked for {wanted}")
            return
        m.resumed = True
    elif sid == bytes(8):
        m.end(EndKind.PROTOCOL_ERROR, "SessionSetupRes assigns SessionID 0")
        return
    m.session_id = sid
    m.evse_id = res.EVSEID
    if m.stop_reason is not None:  # the EV asked to stop before the session existed
        m.begin_stop(*m.stop_reason, now)
        return
    m.send("ServiceDiscoveryReq", iso2.ServiceDiscoveryReqType(), now)
    m.state = State.WAIT_SERVICE_DISCOVERY_RES


def on_service_discovery(m: Iso2Evcc, res: iso2.ServiceDiscoveryResType, now: float) -> None:
    options = res.PaymentOptionList.PaymentOption
    if m.config.payment not in options:
        m.begin_stop(EndKind.STOPPED, f"the EVSE does not offer {m.config.payment} (offers {options})", now)
        return
    modes = res.ChargeService.SupportedEnergyTransferMode.EnergyTransferMode
    if m.config.energy_transfer_mode not in modes:
        m.begin_stop(EndKind.STOPPED, f"the EVSE offers {modes}, the vehicle needs {m.config.energy_transfer_mode}", now)
        return
    m.service_id = res.ChargeService.ServiceID
    m.selected_services = [iso2.SelectedServiceType(ServiceID=m.service_id)]
    services = res.ServiceList.Service if res.ServiceList is not None else []
    offered = {s.ServiceID for s in services}
    m.detail_queue = [i for i in m.config.service_detail_ids if i in offered]
    certificate_service = certificate_update.service_to_ask(m, services)
    if certificate_service is not None and certificate_service not in m.detail_queue:
        m.detail_queue.insert(0, certificate_service)
    _next_detail_or_selection(m, now)


def _next_detail_or_selection(m: Iso2Evcc, now: float) -> None:
    if m.detail_queue:
        m.send("ServiceDetailReq", iso2.ServiceDetailReqType(ServiceID=m.detail_queue[0]), now)
        m.state = State.WAIT_SERVICE_DETAIL_RES
        return
    req = iso2.PaymentServiceSelectionReqType(
        SelectedPaymentOption=m.config.payment,
        SelectedServiceList=iso2.SelectedServiceListType(SelectedService=m.selected_services),
    )
    m.send("PaymentServiceSelectionReq", req, now)
    m.state = State.WAIT_PAYMENT_SERVICE_SELECTION_RES


def on_service_detail(m: Iso2Evcc, res: iso2.ServiceDetailResType, now: float) -> None:
    """Select the service with its first parameter set (the vehicle's policy for value-added services)."""
    asked = m.detail_queue.pop(0)
    if res.ServiceID != asked:
        m.end(EndKind.PROTOCOL_ERROR, f"ServiceDetailRes for ServiceID {res.ServiceID}, the EV asked for {asked}")
        return
    if asked == m.certificate_service_id:
        chosen = certificate_update.selected_service(m, res)
        if chosen is not None:
            m.selected_services.append(chosen)
        _next_detail_or_selection(m, now)
        return
    sets = res.ServiceParameterList.ParameterSet if res.ServiceParameterList is not None else []
    m.selected_services.append(
        iso2.SelectedServiceType(ServiceID=asked, ParameterSetID=sets[0].ParameterSetID if sets else None)
    )
    _next_detail_or_selection(m, now)


def on_payment_service_selection(m: Iso2Evcc, res: iso2.PaymentServiceSelectionResType, now: float) -> None:
    if m.config.payment != "Contract":
        send_authorization(m, now)
    elif contract_flow.choose_contract(m, now):
        if m.certificate_update:
            certificate_update.send_certificate_update(m, now)
        else:
            contract_flow.send_payment_details(m, now)


def send_authorization(m: Iso2Evcc, now: float) -> None:
    """EIM: AuthorizationReq without Id and GenChallenge ([V2G2-685]); Plug & Charge: signed (contract_flow)."""
    if m.config.payment == "Contract":
        contract_flow.send_signed_authorization(m, now)
        return
    m.send("AuthorizationReq", iso2.AuthorizationReqType(), now)
    m.state = State.WAIT_AUTHORIZATION_RES


def on_authorization(m: Iso2Evcc, res: iso2.AuthorizationResType, now: float) -> None:
    """Ongoing (also ..._WaitingForCustomerInteraction): ask again, within V2G_EVCC_Ongoing_Timeout [V2G2-684]."""
    if res.EVSEProcessing != "Finished":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        send_authorization(m, now)
        return
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    send_charge_parameter_discovery(m, now)


def send_charge_parameter_discovery(m: Iso2Evcc, now: float) -> None:
    c = m.config
    m.limits.asked_at = now
    req = rq.charge_parameter_discovery(m.vehicle, now, c.energy_transfer_mode, c.max_entries_sa_schedule_tuple)
    m.send("ChargeParameterDiscoveryReq", req, now)
    m.state = State.WAIT_CHARGE_PARAMETER_DISCOVERY_RES


def accept_schedules(m: Iso2Evcc, res: iso2.ChargeParameterDiscoveryResType, now: float) -> bool:
    """Check the SalesTariff signatures (Plug & Charge), pick the SAScheduleTuple and build the ChargingProfile;
    False (session ended or stopping) when the list is unusable. A tuple with more entries than
    MaxEntriesSAScheduleTuple is not: the deviation is emitted (one PeerDeviation event) and the EV uses it as
    sent (schedules.too_many_entries)."""
    tuples = res.SAScheduleList.SAScheduleTuple if res.SAScheduleList is not None else []
    reason = schedules.check_tuples(tuples)
    if reason is not None:
        m.end(EndKind.PROTOCOL_ERROR, f"ChargeParameterDiscoveryRes: {reason}")
        return False
    if contract_flow.sales_tariffs_rejected(m, tuples, now):
        return False
    too_many = schedules.too_many_entries(tuples, m.config.max_entries_sa_schedule_tuple)
    if too_many is not None:  # longer than the EV announced, still usable: go on, the deviation is reported
        m.emit(too_many)
    chosen = schedules.select_tuple(tuples)
    m.sa_schedule_tuple_id = chosen.SAScheduleTupleID
    agreed = schedules.relative(chosen, m.limits.asked_at if m.limits.asked_at is not None else now, now)
    for event in m.limits.deviations(agreed.deviations):
        m.emit(event)
    if m.renegotiation is None:
        m.limits.schedule = agreed
    else:
        m.limits.pending = agreed  # takes effect with PowerDeliveryRes(Start) (renegotiation.finished)
    top = rq.ev_max_power(m.vehicle, m.config.energy_transfer_mode)
    dc = res.DC_EVSEChargeParameter
    evse_power = value_of(dc.EVSEMaximumPowerLimit) if dc is not None else None
    if evse_power is not None and 0 <= evse_power < top:  # the profile within the EVSE's maximum too (issue 19)
        top = evse_power
    m.charging_profile = schedules.charging_profile(chosen, top)
    return True
