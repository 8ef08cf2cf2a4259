"""Response builders of the ISO 15118-2 SECC simulator (iso2_responder.py), one per response element (§8.4).

The charger is modelled coarsely: Ongoing rounds for authorization, charge parameters and cable check, a
PreCharge voltage ramp, DC current up to its limits, a falling voltage during WeldingDetection, an AC supply at
its nominal voltage. Each builder gets the ResponseCode the checks decided and may refine it with
what only it can see (payment option, energy mode, tuple, profile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from evcc.exi import iso2
from evcc.session.iso2.values import pv, value_of

if TYPE_CHECKING:
    from evcc.bench.secc.iso2_responder import Iso2Secc

CERTIFICATE_SERVICE_ID = 2  # ISO 15118-2 Table 105: ServiceName "Certificate", category ContractCertificate
CERTIFICATE_PARAMETER_SETS = {"Installation": 1, "Update": 2}  # Table 106: Parameter Name="Service"
Built = tuple[str, Any]
Builder = Callable[["Iso2Secc", Any, str], Built]


def dc_status(s: Iso2Secc, notification: str = "None") -> iso2.DC_EVSEStatusType:
    return iso2.DC_EVSEStatusType(
        EVSEIsolationStatus="Valid", EVSEStatusCode="EVSE_Ready", NotificationMaxDelay=0,
        EVSENotification=notification,  # type: ignore[arg-type]
    )


def ac_status(s: Iso2Secc, notification: str = "None") -> iso2.AC_EVSEStatusType:
    return iso2.AC_EVSEStatusType(NotificationMaxDelay=0, EVSENotification=notification, RCD=False)  # type: ignore[arg-type]


def _ok(code: str, refined: str) -> str:
    return refined if code == "OK" else code


def _session_setup(s: Iso2Secc, req: Any, code: str) -> Built:
    if code == "OK":
        code = "OK_OldSessionJoined" if s.joined_old_session else "OK_NewSessionEstablished"
    return "SessionSetupRes", iso2.SessionSetupResType(ResponseCode=code, EVSEID=s.config.evse_id)  # type: ignore[arg-type]


def _service_discovery(s: Iso2Secc, req: Any, code: str) -> Built:
    c = s.config
    services = [iso2.ServiceType(ServiceID=i, ServiceCategory="Internet", FreeService=True) for i in c.value_added_services]
    if c.certificate_service and "Contract" in c.payment_options:
        services.insert(0, iso2.ServiceType(ServiceID=CERTIFICATE_SERVICE_ID, ServiceName="Certificate",
                                            ServiceCategory="ContractCertificate", FreeService=True))
    return "ServiceDiscoveryRes", iso2.ServiceDiscoveryResType(
        ResponseCode=code,  # type: ignore[arg-type]
        PaymentOptionList=iso2.PaymentOptionListType(PaymentOption=list(c.payment_options)),  # type: ignore[arg-type]
        ChargeService=iso2.ChargeServiceType(
            ServiceID=1, ServiceCategory="EVCharging", FreeService=False,
            SupportedEnergyTransferMode=iso2.SupportedEnergyTransferModeType(EnergyTransferMode=list(c.energy_modes)),  # type: ignore[arg-type]
        ),
        ServiceList=iso2.ServiceListType(Service=services) if services else None,
    )


def _service_detail(s: Iso2Secc, req: Any, code: str) -> Built:
    sid = req.ServiceID if isinstance(req, iso2.ServiceDetailReqType) else 0
    params = iso2.ServiceParameterListType(ParameterSet=[iso2.ParameterSetType(
        ParameterSetID=3, Parameter=[iso2.ParameterType(Name="Protocol", intValue=1)])])
    if sid == CERTIFICATE_SERVICE_ID and s.config.certificate_service:
        params = iso2.ServiceParameterListType(ParameterSet=[iso2.ParameterSetType(
            ParameterSetID=CERTIFICATE_PARAMETER_SETS[name], Parameter=[iso2.ParameterType(Name="Service", stringValue=name)])
            for name in s.config.certificate_service])
    return "ServiceDetailRes", iso2.ServiceDetailResType(ResponseCode=code, ServiceID=sid, ServiceParameterList=params)  # type: ignore[arg-type]


def _payment_service_selection(s: Iso2Secc, req: Any, code: str) -> Built:
    if isinstance(req, iso2.PaymentServiceSelectionReqType):
        s.selected_payment = req.SelectedPaymentOption
        ids = {x.ServiceID for x in req.SelectedServiceList.SelectedService}
        s.selected_services = [(x.ServiceID, x.ParameterSetID) for x in req.SelectedServiceList.SelectedService]
        if req.SelectedPaymentOption not in s.config.payment_options:
            code = _ok(code, "FAILED_PaymentSelectionInvalid")
        elif 1 not in ids:
            code = _ok(code, "FAILED_NoChargeServiceSelected")
    return "PaymentServiceSelectionRes", iso2.PaymentServiceSelectionResType(ResponseCode=code)  # type: ignore[arg-type]


def _authorization(s: Iso2Secc, req: Any, code: str) -> Built:
    processing = s.round("AuthorizationRes", s.config.ongoing_rounds)
    return "AuthorizationRes", iso2.AuthorizationResType(ResponseCode=code, EVSEProcessing=processing)  # type: ignore[arg-type]


def _entries(steps: tuple[tuple[float, float], ...]) -> list[iso2.PMaxScheduleEntryType]:
    """PMaxScheduleEntries from (start s, PMax W) steps, the last one lasting until 24 h."""
    return [iso2.PMaxScheduleEntryType(
        RelativeTimeInterval=iso2.RelativeTimeIntervalType(
            start=int(start), duration=max(0, 86400 - int(start)) if i == len(steps) - 1 else None),
        PMax=pv(pmax, "W")) for i, (start, pmax) in enumerate(steps)]


def _tuples(s: Iso2Secc) -> list[iso2.SAScheduleTupleType]:
    steps = s.pmax_steps()
    tuples = [
        iso2.SAScheduleTupleType(
            SAScheduleTupleID=i + 1,
            PMaxSchedule=iso2.PMaxScheduleType(PMaxScheduleEntry=_entries(steps or ((0.0, pmax),))),
        )
        for i, pmax in enumerate(s.offered())
    ]
    s.limit_check.schedule_start = s.now
    s.limit_check.limits = replace(s.config.limits, pmax_steps=steps)
    if s.pnc is not None and s.selected_payment == "Contract":
        s.pnc.sign_sales_tariff(s, tuples)
    return tuples


def _charge_parameter_discovery(s: Iso2Secc, req: Any, code: str) -> Built:
    c = s.config
    mode = req.RequestedEnergyTransferMode if isinstance(req, iso2.ChargeParameterDiscoveryReqType) else "DC_extended"
    if mode not in c.energy_modes:
        code = _ok(code, "FAILED_WrongEnergyTransferMode")
    s.energy_mode = mode
    processing = s.round("ChargeParameterDiscoveryRes", c.ongoing_rounds)
    tuples = _tuples(s) if processing == "Finished" else None
    res = iso2.ChargeParameterDiscoveryResType(
        ResponseCode=code, EVSEProcessing=processing,  # type: ignore[arg-type]
        SAScheduleList=None if tuples is None else iso2.SAScheduleListType(SAScheduleTuple=tuples),
    )
    lim = c.limits
    if mode.startswith("AC"):
        res.AC_EVSEChargeParameter = iso2.AC_EVSEChargeParameterType(
            AC_EVSEStatus=ac_status(s), EVSENominalVoltage=pv(c.ac_nominal_voltage, "V"),
            EVSEMaxCurrent=pv(lim.current(c.ac_max_current, 0), "A"))
    else:
        res.DC_EVSEChargeParameter = iso2.DC_EVSEChargeParameterType(
            DC_EVSEStatus=dc_status(s), EVSEMaximumCurrentLimit=pv(lim.current(c.max_current, 0), "A"),
            EVSEMaximumPowerLimit=pv(lim.power(c.max_power, 0), "W"), EVSEMaximumVoltageLimit=pv(c.max_voltage, "V"),
            EVSEMinimumCurrentLimit=pv(0, "A"), EVSEMinimumVoltageLimit=pv(50, "V"), EVSEPeakCurrentRipple=pv(1, "A"))
    return "ChargeParameterDiscoveryRes", res


def _cable_check(s: Iso2Secc, req: Any, code: str) -> Built:
    processing = s.round("CableCheckRes", s.config.cable_check_rounds)
    return "CableCheckRes", iso2.CableCheckResType(ResponseCode=code, DC_EVSEStatus=dc_status(s), EVSEProcessing=processing)  # type: ignore[arg-type]


def _pre_charge(s: Iso2Secc, req: Any, code: str) -> Built:
    target = value_of(req.EVTargetVoltage) if isinstance(req, iso2.PreChargeReqType) else 0.0
    s.present_voltage = min(target or 0.0, s.present_voltage + s.config.precharge_step)
    return "PreChargeRes", iso2.PreChargeResType(
        ResponseCode=code, DC_EVSEStatus=dc_status(s), EVSEPresentVoltage=pv(s.present_voltage, "V"),  # type: ignore[arg-type]
    )


def _profile_error(s: Iso2Secc, req: iso2.PowerDeliveryReqType) -> str | None:
    """FAILED_TariffSelectionInvalid / FAILED_ChargingProfileInvalid ([V2G2-225], [V2G2-226]) or None."""
    pmax = s.offered()
    if not 1 <= req.SAScheduleTupleID <= len(pmax):
        return "FAILED_TariffSelectionInvalid"
    limit = max([pmax[req.SAScheduleTupleID - 1]] + [p for _, p in s.pmax_steps()])
    entries = req.ChargingProfile.ProfileEntry if req.ChargingProfile is not None else []
    if any((value_of(e.ChargingProfileEntryMaxPower) or 0.0) > limit for e in entries):
        return "FAILED_ChargingProfileInvalid"
    return None


def _power_delivery(s: Iso2Secc, req: Any, code: str) -> Built:
    if isinstance(req, iso2.PowerDeliveryReqType):
        s.charge_progress = req.ChargeProgress
        if req.ChargeProgress == "Start":
            code = _ok(code, _profile_error(s, req) or "OK")
            s.sa_schedule_tuple_id = req.SAScheduleTupleID
        else:
            s.present_current = 0.0
        if req.ChargeProgress == "Renegotiate" and code == "OK":
            s.renegotiations += 1
            s.schedules = s.config.renegotiated_schedules
            s.reset_round("ChargeParameterDiscoveryRes")  # a new Ongoing loop
    res = iso2.PowerDeliveryResType(ResponseCode=code)  # type: ignore[arg-type]
    if (s.energy_mode or "DC").startswith("AC"):
        res.AC_EVSEStatus = ac_status(s)
    else:
        res.DC_EVSEStatus = dc_status(s)
    return "PowerDeliveryRes", res


def _stop_now(s: Iso2Secc, request: str) -> bool:
    n = s.config.stop_after_loop
    return n is not None and s.received.count(request) >= n


def _notification(s: Iso2Secc, request: str) -> str:
    """StopCharging (``stop_after_loop``), ReNegotiation once at ``renegotiate_after`` loop messages, else None."""
    if _stop_now(s, request):
        return "StopCharging"
    n = s.config.renegotiate_after
    if n is not None and not s.renegotiation_asked and s.received.count(request) >= n:
        s.renegotiation_asked = True
        return "ReNegotiation"
    return "None"


def _meter(s: Iso2Secc, power: float) -> iso2.MeterInfoType:
    """Count the energy since the last loop message at ``power`` (W)."""
    if s.metered_at is not None:
        s.energy_wh += power * max(0.0, s.now - s.metered_at) / 3600.0
    s.metered_at = s.now
    return iso2.MeterInfoType(MeterID="SIM-METER-1", MeterReading=int(s.energy_wh))


def _receipt(s: Iso2Secc) -> bool | None:
    return s.pnc.receipt_required(s) if s.pnc is not None and s.selected_payment == "Contract" else None


def pmax_now(s: Iso2Secc) -> float:
    """The PMax in force of the agreed tuple (its steps from the ChargeParameterDiscoveryRes on)."""
    offered = s.offered()
    tuple_id = s.sa_schedule_tuple_id or 1
    default = offered[tuple_id - 1] if 1 <= tuple_id <= len(offered) else 0.0
    return s.limit_check.pmax(s.now, default)


def _current_demand(s: Iso2Secc, req: Any, code: str) -> Built:
    c = s.config
    n = s.received.count("CurrentDemandReq")
    max_current, max_power = c.limits.current(c.max_current, n), c.limits.power(c.max_power, n)
    if isinstance(req, iso2.CurrentDemandReqType):
        asked, target = value_of(req.EVTargetCurrent) or 0.0, value_of(req.EVTargetVoltage) or 0.0
        pmax = pmax_now(s)
        s.limit_check.check("CurrentDemandReq", s.now, asked, target, default_pmax=pmax)
        s.present_voltage = min(c.max_voltage, target)
        v = max(s.present_voltage, 1.0)
        limit = min(max_current, max_power / v, pmax / v)
        s.present_current = max(0.0, min(limit, asked))
    s.limit_check.announce(s.now, max_current, max_power)
    return "CurrentDemandRes", iso2.CurrentDemandResType(
        ResponseCode=code, DC_EVSEStatus=dc_status(s, _notification(s, "CurrentDemandReq")),  # type: ignore[arg-type]
        EVSEPresentVoltage=pv(s.present_voltage, "V"), EVSEPresentCurrent=pv(s.present_current, "A"),
        EVSECurrentLimitAchieved=s.present_current >= max_current, EVSEVoltageLimitAchieved=False,
        EVSEPowerLimitAchieved=s.present_current * s.present_voltage >= max_power,
        EVSEMaximumVoltageLimit=pv(c.max_voltage, "V"), EVSEMaximumCurrentLimit=pv(max_current, "A"),
        EVSEMaximumPowerLimit=pv(max_power, "W"), EVSEID=c.evse_id, SAScheduleTupleID=s.sa_schedule_tuple_id or 1,
        MeterInfo=_meter(s, s.present_voltage * s.present_current), ReceiptRequired=_receipt(s),
    )


def _charging_status(s: Iso2Secc, req: Any, code: str) -> Built:
    c = s.config
    notification = _notification(s, "ChargingStatusReq")
    phases = 3 if s.energy_mode == "AC_three_phase_core" else 1
    max_current = c.limits.current(c.ac_max_current, s.received.count("ChargingStatusReq"))
    # the simulator has no current sensor: its meter counts the offered current within the PMax in force
    power = min(c.ac_nominal_voltage * max_current * phases, pmax_now(s))
    s.limit_check.announce(s.now, max_current, pmax_now(s))
    return "ChargingStatusRes", iso2.ChargingStatusResType(
        ResponseCode=code, EVSEID=c.evse_id, SAScheduleTupleID=s.sa_schedule_tuple_id or 1,  # type: ignore[arg-type]
        EVSEMaxCurrent=pv(max_current, "A"), MeterInfo=_meter(s, power), ReceiptRequired=_receipt(s),
        AC_EVSEStatus=ac_status(s, notification),
    )


def _welding_detection(s: Iso2Secc, req: Any, code: str) -> Built:
    s.present_voltage = s.present_voltage / 2 if s.present_voltage > 10 else 0.0
    return "WeldingDetectionRes", iso2.WeldingDetectionResType(
        ResponseCode=code, DC_EVSEStatus=dc_status(s), EVSEPresentVoltage=pv(s.present_voltage, "V"),  # type: ignore[arg-type]
    )


def _session_stop(s: Iso2Secc, req: Any, code: str) -> Built:
    if isinstance(req, iso2.SessionStopReqType):
        s.charging_session = req.ChargingSession
        if req.ChargingSession == "Pause" and code == "OK":
            s.paused.add(s.session_id)
    return "SessionStopRes", iso2.SessionStopResType(ResponseCode=code)  # type: ignore[arg-type]


BUILDERS: dict[str, Builder] = {
    "SessionSetupRes": _session_setup,
    "ServiceDiscoveryRes": _service_discovery,
    "ServiceDetailRes": _service_detail,
    "PaymentServiceSelectionRes": _payment_service_selection,
    "AuthorizationRes": _authorization,
    "ChargeParameterDiscoveryRes": _charge_parameter_discovery,
    "CableCheckRes": _cable_check,
    "PreChargeRes": _pre_charge,
    "PowerDeliveryRes": _power_delivery,
    "CurrentDemandRes": _current_demand,
    "ChargingStatusRes": _charging_status,
    "WeldingDetectionRes": _welding_detection,
    "SessionStopRes": _session_stop,
}
