"""ISO 15118-20 EVCC handlers from SessionSetupRes to ScheduleExchangeRes (§8.3.4, §8.8.x sequences): the part AC
and DC share. Checks before a handler runs are the machine's (machine.py); here: what the SECC's answer means.

    SessionSetup -> AuthorizationSetup -> [CertificateInstallation]* -> Authorization (Ongoing loop)
    -> ServiceDiscovery -> ServiceDetail -> ServiceSelection -> {DC|AC}_ChargeParameterDiscovery (dc.py, ac.py)
    -> ScheduleExchange (Ongoing loop) -> DC: DC_CableCheck ... | AC: PowerDelivery(Start)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from evcc.session.events import EndKind, ScheduleReanchored
from evcc.session.iso20 import contract_flow
from evcc.session.iso20 import requests as rq
from evcc.session.iso20 import schedule as sched
from evcc.session.iso20.config import BPT_CHANNEL_UNIFIED, CONTROL_MODE_IDS, State
from evcc.session.iso20.stopping import begin_stop, pause, schedule_over

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc

GEN_CHALLENGE_LENGTH = 16  # genChallengeType: base64Binary, length 16


def on_session_setup(m: Iso20Evcc, res: Any, now: float) -> None:
    """OK_NewSessionEstablished assigns the SessionID; OK_OldSessionJoined continues the paused session the EV
    asked for and must carry its SessionID."""
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
        begin_stop(m, *m.stop_reason, now)
        return
    m.send("AuthorizationSetupReq", now)
    m.state = State.WAIT_AUTHORIZATION_SETUP_RES


def on_authorization_setup(m: Iso20Evcc, res: Any, now: float) -> None:
    """Pick EIM or PnC from AuthorizationServices; PnC keeps the GenChallenge for the signed AuthorizationReq."""
    services = list(res.AuthorizationServices or [])
    m.certificate_installation_offered = bool(res.CertificateInstallationService)
    if m.authorization == "PnC":
        mode = res.PnC_ASResAuthorizationMode
        if "PnC" in services and mode is not None:
            if len(mode.GenChallenge) != GEN_CHALLENGE_LENGTH:
                m.end(EndKind.PROTOCOL_ERROR, f"AuthorizationSetupRes GenChallenge has {len(mode.GenChallenge)} "
                                              "bytes, not 16")
                return
            m.gen_challenge = mode.GenChallenge
            contract_flow.start(m, now)
            return
        if not (m.config.eim_fallback and "EIM" in services):
            begin_stop(m, EndKind.STOPPED, f"the EVSE offers {services or 'no'} authorization, not PnC", now)
            return
        m.authorization = "EIM"
    if "EIM" not in services:
        begin_stop(m, EndKind.STOPPED, f"the EVSE offers {services or 'no'} authorization, not EIM", now)
        return
    contract_flow.send_eim_authorization(m, now)


def on_authorization(m: Iso20Evcc, res: Any, now: float) -> None:
    """WARNING_*: PnC tries the next contract, EIM stops. Ongoing: ask again within V2G_EVCC_Ongoing_Timeout."""
    code = str(res.ResponseCode)
    if code.startswith("WARNING"):
        if m.authorization == "PnC":
            contract_flow.contract_refused(m, code, now)
        else:
            begin_stop(m, EndKind.STOPPED, f"authorization refused: {code}", now)
        return
    if res.EVSEProcessing != "Finished":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        if m.authorization == "PnC":
            contract_flow.send_signed_authorization(m, now)
        else:
            contract_flow.send_eim_authorization(m, now)
        return
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    m.send("ServiceDiscoveryReq", now)
    m.state = State.WAIT_SERVICE_DISCOVERY_RES


def on_service_discovery(m: Iso20Evcc, res: Any, now: float) -> None:
    offered = [s.ServiceID for s in res.EnergyTransferServiceList.Service or []]
    if m.config.service_id not in offered:
        begin_stop(m, EndKind.STOPPED, f"the EVSE offers energy services {offered}, the vehicle needs "
                                       f"{m.config.service} ({m.config.service_id})", now)
        return
    m.send("ServiceDetailReq", now, ServiceID=m.config.service_id)
    m.state = State.WAIT_SERVICE_DETAIL_RES


def parameter_value(p: Any) -> Any:
    """The one value a ParameterType carries (bool, byte, short, int, rational as float, or string)."""
    for name in ("boolValue", "byteValue", "shortValue", "intValue", "finiteString"):
        value = getattr(p, name)
        if value is not None:
            return value
    r = p.rationalNumber
    return None if r is None else float(r.Value) * 10.0 ** int(r.Exponent)


def choose_parameter_set(sets: list[Any], control_mode: int) -> tuple[int, dict[str, Any]] | None:
    """The first set with the wanted ControlMode, a unified BPT channel preferred."""
    candidates = []
    for s in sets:
        params = {p.Name: parameter_value(p) for p in s.Parameter or []}
        if params.get("ControlMode") == control_mode:
            candidates.append((params.get("BPTChannel", BPT_CHANNEL_UNIFIED) != BPT_CHANNEL_UNIFIED,
                               int(s.ParameterSetID), params))
    if not candidates:
        return None
    _, set_id, params = min(candidates, key=lambda c: (c[0], c[1]))
    return set_id, params


def on_service_detail(m: Iso20Evcc, res: Any, now: float) -> None:
    if res.ServiceID != m.config.service_id:
        m.end(EndKind.PROTOCOL_ERROR, f"ServiceDetailRes for ServiceID {res.ServiceID}, the EV asked for "
                                      f"{m.config.service_id}")
        return
    chosen = choose_parameter_set(list(res.ServiceParameterList.ParameterSet or []),
                                  CONTROL_MODE_IDS[m.config.control_mode])
    if chosen is None:
        begin_stop(m, EndKind.STOPPED, f"the EVSE offers no {m.config.service} parameter set with ControlMode "
                                       f"{m.config.control_mode}", now)
        return
    m.parameter_set_id, m.parameters = chosen
    selected = m.module("ServiceSelectionReq").SelectedServiceType(ServiceID=m.config.service_id,
                                                                   ParameterSetID=m.parameter_set_id)
    m.send("ServiceSelectionReq", now, SelectedEnergyTransferService=selected)
    m.state = State.WAIT_SERVICE_SELECTION_RES


def send_schedule_exchange(m: Iso20Evcc, now: float) -> None:
    m.send("ScheduleExchangeReq", now, **rq.schedule_exchange(m.vehicle, m.config, now))
    m.state = State.WAIT_SCHEDULE_EXCHANGE_RES


def on_schedule_exchange(m: Iso20Evcc, res: Any, now: float) -> bool:
    """True when the schedule is settled and the energy part may go on; the loop, a pause or an error
    otherwise (then this handler already acted)."""
    if res.EVSEProcessing != "Finished":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        send_schedule_exchange(m, now)
        return False
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    if res.GoToPause:
        pause(m, "the EVSE asks to pause (ScheduleExchangeRes GoToPause)", now)
        return False
    if m.config.control_mode == "Dynamic":
        if res.Dynamic_SEResControlMode is None:
            m.end(EndKind.PROTOCOL_ERROR, "ScheduleExchangeRes (Finished) without Dynamic_SEResControlMode")
            return False
        return True
    mode = res.Scheduled_SEResControlMode
    tuples = list(mode.ScheduleTuple or []) if mode is not None else []
    reason = sched.check_tuples(tuples)
    if reason is not None:
        m.end(EndKind.PROTOCOL_ERROR, f"ScheduleExchangeRes: {reason}")
        return False
    for deviation in sched.too_many_points(tuples, m.config.maximum_supporting_points):
        m.emit(deviation)  # more entries than MaximumSupportingPoints: still usable, go on and report it
    m.schedule = sched.select_tuple(tuples)
    secc_now = m.secc_time(now)
    if secc_now >= m.schedule.end:
        # Ended before it arrived: no charger means that (it could not be followed at all); chargers without a set
        # clock send TimeAnchor 0. Read it from now on the SECC's time base and say so; a schedule that starts in
        # the future stays as it is (clock.py: the EV stops in order).
        m.emit(ScheduleReanchored(m.schedule.tuple_id, m.schedule.time_anchor, secc_now))
        m.schedule = dataclasses.replace(m.schedule, time_anchor=secc_now)
    return not schedule_over(m, now)
