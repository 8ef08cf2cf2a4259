"""Response builders of the ISO 15118-20 SECC simulator (iso20_responder.py) for the CommonMessages (§8.3.4):
SessionSetup, AuthorizationSetup, Authorization, ServiceDiscovery/Detail/Selection, ScheduleExchange,
PowerDelivery, MeteringConfirmation, SessionStop and CertificateInstallation; ``BUILDERS`` also holds the DC
(iso20_dc.py) and AC (iso20_ac.py) builders.

Each builder gets the request, the ResponseCode the checks decided, and returns the response and
the sequence state it leads to. It may refine an OK code with what only it can see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evcc.bench.secc.iso20_ac import AC_BUILDERS
from evcc.bench.secc.iso20_dc import DC_BUILDERS
from evcc.bench.secc.iso20_values import (
    CONTROL_MODE_IDS,
    SERVICE_IDS,
    SERVICE_NAMES,
    Built,
    is_bpt,
    module_of,
    number,
    rational,
    refine,
    status,
)

if TYPE_CHECKING:
    from evcc.bench.secc.iso20_responder import Iso20Secc

Builder = Callable[["Iso20Secc", Any, str], Built]
C: Any = module_of("iso20_common")


def _session_setup(s: Iso20Secc, req: Any, code: str) -> Built:
    if code == "OK":
        code = "OK_OldSessionJoined" if s.record.joined_old_session else "OK_NewSessionEstablished"
    return C.SessionSetupResType(Header=s.header("iso20_common"), ResponseCode=code,
                                 EVSEID=s.config.evse_id), "SessionSetupReq"


def _authorization_services(s: Iso20Secc) -> list[str]:
    return [a for a in s.config.authorization_services if a == "EIM" or (a == "PnC" and s.pnc is not None)]


def _authorization_setup(s: Iso20Secc, req: Any, code: str) -> Built:
    services = _authorization_services(s)
    res = C.AuthorizationSetupResType(Header=s.header("iso20_common"), ResponseCode=code,
                                      AuthorizationServices=services, CertificateInstallationService=s.pnc is not None)
    if "PnC" in services and s.pnc is not None:
        s.challenge = s.pnc.gen_challenge(s)
        res.PnC_ASResAuthorizationMode = C.PnC_ASResAuthorizationModeType(GenChallenge=s.challenge)
    else:
        res.EIM_ASResAuthorizationMode = C.EIM_ASResAuthorizationModeType()
    return res, "AuthorizationSetupReq"


def _authorization(s: Iso20Secc, req: Any, code: str) -> Built:
    selected = req.SelectedAuthorizationService
    processing = "Finished"
    if code == "OK" and selected not in _authorization_services(s):
        code = "WARNING_AuthorizationSelectionInvalid"
    if code == "OK" and selected == "EIM" and req.EIM_AReqAuthorizationMode is None:
        code = "FAILED"
    if code == "OK" and selected == "PnC" and s.pnc is not None:
        code = s.pnc.authorize(s, req)
    if code == "OK":
        processing = s.round("AuthorizationRes", s.config.ongoing_rounds)
        if processing == "Finished":
            s.authorized = True
            s.record.authorization_service = selected
    return C.AuthorizationResType(Header=s.header("iso20_common"), ResponseCode=code,
                                  EVSEProcessing=processing), "AuthorizationReq"


def _service_discovery(s: Iso20Secc, req: Any, code: str) -> Built:
    offered = [SERVICE_IDS[n] for n in s.offered_services()]
    if req.SupportedServiceIDs is not None:
        wanted = set(req.SupportedServiceIDs.ServiceID)
        common = [i for i in offered if i in wanted]
        if not common:
            code = refine(code, "FAILED_NoEnergyTransferServiceSelected")
        offered = common or offered
    services = [C.ServiceType(ServiceID=i, FreeService=False) for i in offered]
    return C.ServiceDiscoveryResType(
        Header=s.header("iso20_common"), ResponseCode=code, ServiceRenegotiationSupported=True,
        EnergyTransferServiceList=C.ServiceListType(Service=services)), "ServiceDiscoveryReq"


def parameter_sets(s: Iso20Secc, service: str) -> list[Any]:
    """One ParameterSet per control mode (ID 1 Scheduled, 2 Dynamic) with the parameters of Tables 205..208."""
    sets = []
    for mode in s.config.control_modes:
        values: list[tuple[str, int]] = [("Connector", 2), ("ControlMode", CONTROL_MODE_IDS[mode])]
        if service.startswith("AC"):
            values.append(("EVSENominalVoltage", int(s.config.ac_nominal_voltage)))
        values += [("MobilityNeedsMode", 1), ("Pricing", 0)]
        if service.endswith("_BPT"):
            values += [("BPTChannel", 1), ("GeneratorMode", 1)]
            if service.startswith("AC"):
                values.append(("GridCodeIslandingDetectionMethod", 1))
        sets.append(C.ParameterSetType(ParameterSetID=CONTROL_MODE_IDS[mode], Parameter=[
            C.ParameterType(Name=name, intValue=v) for name, v in values]))
    return sets


def _service_detail(s: Iso20Secc, req: Any, code: str) -> Built:
    name = SERVICE_NAMES.get(req.ServiceID)
    if name not in s.offered_services():
        code = refine(code, "FAILED_ServiceIDInvalid")
    sets = parameter_sets(s, name or s.offered_services()[0])
    return C.ServiceDetailResType(Header=s.header("iso20_common"), ResponseCode=code, ServiceID=req.ServiceID,
                                  ServiceParameterList=C.ServiceParameterListType(ParameterSet=sets)), \
        "ServiceDetailReq"


def _service_selection(s: Iso20Secc, req: Any, code: str) -> Built:
    chosen = req.SelectedEnergyTransferService
    name = SERVICE_NAMES.get(chosen.ServiceID)
    modes = {CONTROL_MODE_IDS[m]: m for m in s.config.control_modes}
    vas = req.SelectedVASList.SelectedService if req.SelectedVASList is not None else []
    if name not in s.offered_services() or chosen.ParameterSetID not in modes or vas:
        code = refine(code, "FAILED_ServiceSelectionInvalid")
    if code == "OK":
        s.record.selected_service = name
        s.record.parameter_set_id = chosen.ParameterSetID
        s.record.control_mode = modes[chosen.ParameterSetID]
    return C.ServiceSelectionResType(Header=s.header("iso20_common"), ResponseCode=code), "ServiceSelectionReq"


def _power_schedule(s: Iso20Secc, power: float, tolerance: float | None = None,
                    steps: tuple[tuple[float, float], ...] = ()) -> Any:
    """One entry of ``schedule_duration`` s at ``power``, or the (start s, power W) ``steps`` (limit_plan.py)."""
    total = s.config.schedule_duration
    steps = steps or ((0.0, power),)
    starts = [int(start) for start, _ in steps] + [total]
    entries = [C.PowerScheduleEntryType(Duration=max(1, starts[i + 1] - starts[i]), Power=rational(C, p))
               for i, (_, p) in enumerate(steps)]
    return C.PowerScheduleType(TimeAnchor=s.unix_time(),
                               PowerTolerance=None if tolerance is None else rational(C, tolerance),
                               PowerScheduleEntries=C.PowerScheduleEntryListType(PowerScheduleEntry=entries))


def schedule_tuples(s: Iso20Secc) -> list[Any]:
    """ScheduleTuple 1..n with one PMax entry each (and the configured PowerTolerance); BPT services add a
    DischargingSchedule (negative power)."""
    discharge = s.config.max_discharge_power if s.kind == "DC" else s.config.ac_max_discharge_power
    steps = s.config.limits.pmax_steps
    s.limit_check.schedule_start = s.unix_time() - s.time_base()  # the TimeAnchor on this SECC's time line
    return [C.ScheduleTupleType(
        ScheduleTupleID=i + 1, ChargingSchedule=C.ChargingScheduleType(
            PowerSchedule=_power_schedule(s, pmax, s.config.power_tolerance, steps)),
        DischargingSchedule=C.ChargingScheduleType(PowerSchedule=_power_schedule(s, -discharge))
        if is_bpt(s) else None)
        for i, pmax in enumerate(s.config.schedules[:3])]


def _schedule_exchange(s: Iso20Secc, req: Any, code: str) -> Built:
    mode = s.record.control_mode or "Scheduled"
    given = "Dynamic" if req.Dynamic_SEReqControlMode is not None else "Scheduled"
    if given != mode:
        code = refine(code, "FAILED_WrongChargeParameter")
    processing = s.round("ScheduleExchangeRes", s.config.ongoing_rounds) if code == "OK" else "Finished"
    res = C.ScheduleExchangeResType(Header=s.header("iso20_common"), ResponseCode=code, EVSEProcessing=processing)
    if mode == "Scheduled":
        res.Scheduled_SEResControlMode = C.Scheduled_SEResControlModeType(ScheduleTuple=schedule_tuples(s))
    else:
        departure = req.Dynamic_SEReqControlMode.DepartureTime if req.Dynamic_SEReqControlMode else None
        res.Dynamic_SEResControlMode = C.Dynamic_SEResControlModeType(DepartureTime=departure)
    renegotiated = s.state.startswith(("PowerDeliveryReq:ScheduleRenegotiation", "ScheduleExchangeReq:renegotiated"))
    return res, "ScheduleExchangeReq:renegotiated" if renegotiated else "ScheduleExchangeReq"


def _profile_error(s: Iso20Secc, req: Any) -> str | None:
    """FAILED_ScheduleSelectionInvalid / FAILED_EVPowerProfileInvalid for a Scheduled PowerDelivery Start."""
    profile = req.EVPowerProfile
    if s.record.control_mode != "Scheduled":
        return None
    if profile is None or profile.Scheduled_EVPPTControlMode is None:
        s.record.schedule_tuple_id = 1  # no profile: the EV follows tuple 1
        return None
    tuple_id = profile.Scheduled_EVPPTControlMode.SelectedScheduleTupleID
    if not 1 <= tuple_id <= len(s.config.schedules[:3]):
        return "FAILED_ScheduleSelectionInvalid"
    s.record.schedule_tuple_id = tuple_id
    pmax = s.config.schedules[tuple_id - 1]
    low = -(s.config.max_discharge_power if s.kind == "DC" else s.config.ac_max_discharge_power) if is_bpt(s) else 0.0
    for e in profile.EVPowerProfileEntries.EVPowerProfileEntry:
        if not low <= (number(e.Power) or 0.0) <= pmax:
            return "FAILED_EVPowerProfileInvalid"
    return None


def _tolerance_code(s: Iso20Secc, req: Any) -> str:
    """The answer to PowerToleranceAcceptance when the offered tuples carried a PowerTolerance: Confirmed ->
    OK_PowerToleranceConfirmed, NotConfirmed -> WARNING_PowerToleranceNotConfirmed, absent ->
    FAILED_PowerToleranceNotConfirmed (this simulator is as strict as chargers that require it)."""
    mode = req.EVPowerProfile.Scheduled_EVPPTControlMode if req.EVPowerProfile is not None else None
    if s.config.power_tolerance is None or mode is None:
        return "OK"
    s.record.power_tolerance_acceptance = mode.PowerToleranceAcceptance
    return {"PowerToleranceConfirmed": "OK_PowerToleranceConfirmed",
            "PowerToleranceNotConfirmed": "WARNING_PowerToleranceNotConfirmed"}.get(
        str(mode.PowerToleranceAcceptance), "FAILED_PowerToleranceNotConfirmed")


def _power_delivery(s: Iso20Secc, req: Any, code: str) -> Built:
    progress = req.ChargeProgress
    if progress == "Start" and code == "OK":
        code = _profile_error(s, req) or "OK"
        channel = req.BPT_ChannelSelection
        if channel == "Discharge" and not is_bpt(s):
            code = refine(code, "FAILED_WrongChargeParameter")
        if code == "OK":
            code = _tolerance_code(s, req)
        if not code.startswith("FAILED"):
            s.record.channel = channel
    elif progress in ("Stop", "Standby"):
        s.present_power = 0.0
    res = C.PowerDeliveryResType(Header=s.header("iso20_common"), ResponseCode=code, EVSEStatus=status(s, C))
    return res, f"PowerDeliveryReq:{progress}"


def _metering_confirmation(s: Iso20Secc, req: Any, code: str) -> Built:
    if code == "OK":
        if s.pnc is not None and s.record.authorization_service == "PnC":
            code = s.pnc.check_metering(s, req)
        elif req.SignedMeteringData.SessionID != s.session_id:
            code = "FAILED_MeteringSignatureNotValid"
    return C.MeteringConfirmationResType(Header=s.header("iso20_common"), ResponseCode=code), \
        "MeteringConfirmationReq"


def _session_stop(s: Iso20Secc, req: Any, code: str) -> Built:
    session = req.ChargingSession
    if code == "OK":
        s.record.charging_session = session
        if session == "Pause":
            s.paused.add(s.session_id)
    state = "SessionStopReq:ServiceRenegotiation" if session == "ServiceRenegotiation" else "SessionStopReq"
    return C.SessionStopResType(Header=s.header("iso20_common"), ResponseCode=code), state


def _certificate_installation(s: Iso20Secc, req: Any, code: str) -> Built:
    from evcc.bench.secc.iso20_pnc import refused_installation

    if s.pnc is None:
        return refused_installation(s, refine(code, "FAILED")), "CertificateInstallationReq"
    return s.pnc.install(s, req, code), "CertificateInstallationReq"


BUILDERS: dict[str, Builder] = {
    "SessionSetupReq": _session_setup,
    "AuthorizationSetupReq": _authorization_setup,
    "AuthorizationReq": _authorization,
    "CertificateInstallationReq": _certificate_installation,
    "ServiceDiscoveryReq": _service_discovery,
    "ServiceDetailReq": _service_detail,
    "ServiceSelectionReq": _service_selection,
    "ScheduleExchangeReq": _schedule_exchange,
    "PowerDeliveryReq": _power_delivery,
    "MeteringConfirmationReq": _metering_confirmation,
    "SessionStopReq": _session_stop,
    **DC_BUILDERS,
    **AC_BUILDERS,
}
