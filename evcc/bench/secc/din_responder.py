"""A sans-IO DIN SPEC 70121 DC EIM SECC for the bench and the tests (faults: the shared layer,
:class:`~evcc.bench.secc.hostile.FaultySecc`).

``receive_message(req, now)`` queues the answer; ``messages_to_send(now)`` returns those whose time has come
(``get_timer()`` says when the next one is due).
The charger side is modelled coarsely: Ongoing rounds for authorization, charge parameters and cable check,
a PreCharge voltage ramp, current delivered up to its limits, a falling voltage during WeldingDetection, and
``stop_after_loop``: the EVSE asks to stop (EVSENotification StopCharging) from that CurrentDemand on.
The SECC checks the order (FAILED_SequenceError) and the SessionID (FAILED_UnknownSession) like a real one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evcc import exi
from evcc.bench.secc.limit_plan import ChargerLimits, LimitCheck
from evcc.bench.secc.responder_core import ResponderCore
from evcc.exi import din
from evcc.session.din.values import body_element, message, pv, value_of

ALLOWED_NEXT: dict[str, frozenset[str]] = {
    "": frozenset({"SessionSetupReq"}),
    "SessionSetupReq": frozenset({"ServiceDiscoveryReq", "SessionStopReq"}),
    "ServiceDiscoveryReq": frozenset({"ServicePaymentSelectionReq", "SessionStopReq"}),
    "ServicePaymentSelectionReq": frozenset({"ContractAuthenticationReq", "SessionStopReq"}),
    "ContractAuthenticationReq": frozenset({"ContractAuthenticationReq", "ChargeParameterDiscoveryReq", "SessionStopReq"}),
    "ChargeParameterDiscoveryReq": frozenset({"ChargeParameterDiscoveryReq", "CableCheckReq", "SessionStopReq"}),
    "CableCheckReq": frozenset({"CableCheckReq", "PreChargeReq", "SessionStopReq"}),
    "PreChargeReq": frozenset({"PreChargeReq", "PowerDeliveryReq", "SessionStopReq"}),
    "PowerDeliveryReq": frozenset({"CurrentDemandReq", "WeldingDetectionReq", "SessionStopReq"}),
    "CurrentDemandReq": frozenset({"CurrentDemandReq", "PowerDeliveryReq"}),
    "WeldingDetectionReq": frozenset({"WeldingDetectionReq", "SessionStopReq"}),
    "SessionStopReq": frozenset(),
}


@dataclass
class DinSeccConfig:
    evse_id: bytes = b"\x00"  # DIN EVSEID (hexBinary); 0x00 when not known
    max_voltage: float = 500.0
    max_current: float = 200.0
    max_power: float = 100_000.0
    ongoing_rounds: int = 1  # Ongoing answers before Finished (authorization, charge parameters)
    cable_check_rounds: int = 2
    precharge_step: float = 150.0  # V per PreChargeReq
    response_time: float = 0.005  # s from request to response (within V2G_SECC_Msg_Performance_Time)
    stop_after_loop: int | None = None  # EVSENotification=StopCharging from this CurrentDemandRes (1-based) on
    limits: ChargerLimits = field(default_factory=ChargerLimits)  # a charger that limits (limit_plan.py)


PMAX_SATURATED = 32_767  # DIN PMaxType is a bare short (W): larger powers are sent saturated, meaning "at least"


@dataclass
class DinSecc(ResponderCore):
    config: DinSeccConfig = field(default_factory=DinSeccConfig)
    received: list[str] = field(default_factory=list)
    present_voltage: float = 0.0
    present_current: float = 0.0
    now: float = 0.0  # time of the request being answered
    limit_check: LimitCheck = field(default_factory=LimitCheck)  # requests above the limits in force
    _last: str = ""

    def __post_init__(self) -> None:
        self.limit_check.limits = self.config.limits

    def pmax(self, now: float) -> float:
        """The PMax in force (W) as the SECC sends it: a saturated short is no limit."""
        p = self.config.limits.pmax_at(now - (self.limit_check.schedule_start or now), self.config.max_power)
        return math.inf if p >= PMAX_SATURATED else p

    def receive_payload(self, data: bytes, now: float) -> None:
        msg = exi.decode("din", data)
        assert isinstance(msg, din.V2G_Message)
        self.receive_message(msg, now)

    def receive_message(self, req: din.V2G_Message, now: float) -> None:
        name, value = body_element(req.Body)
        self.received.append(name)
        self.now = now
        build = _BUILDERS.get(name.replace("Req", "Res"))
        if build is None:
            return  # not a DIN DC EIM request: a real SECC would close; the EV times out
        code = self.order_and_session(name, ALLOWED_NEXT.get(self._last, frozenset()), req.Header.SessionID)
        self._last = name if code == "OK" else self._last
        body_name, body = build(self, value, code)
        self.answer(now + self.config.response_time, message(self.session_id, body_name, body))

    def status(self, notification: str = "None") -> din.DC_EVSEStatusType:
        return din.DC_EVSEStatusType(
            EVSEIsolationStatus="Valid", EVSEStatusCode="EVSE_Ready", NotificationMaxDelay=0,
            EVSENotification=notification,  # type: ignore[arg-type]
        )


Built = tuple[str, Any]


def _session_setup(s: DinSecc, req: Any, code: str) -> Built:
    code = "OK_NewSessionEstablished" if code == "OK" else code
    return "SessionSetupRes", din.SessionSetupResType(ResponseCode=code, EVSEID=s.config.evse_id)  # type: ignore[arg-type]


def _service_discovery(s: DinSecc, req: Any, code: str) -> Built:
    tag = din.ServiceTagType(ServiceID=1, ServiceCategory="EVCharging")
    return "ServiceDiscoveryRes", din.ServiceDiscoveryResType(
        ResponseCode=code,  # type: ignore[arg-type]
        PaymentOptions=din.PaymentOptionsType(PaymentOption=["ExternalPayment"]),
        ChargeService=din.ServiceChargeType(ServiceTag=tag, FreeService=False, EnergyTransferType="DC_extended"),
    )


def _simple(name: str, cls: Callable[..., Any]) -> Callable[[DinSecc, Any, str], Built]:
    def build(s: DinSecc, req: Any, code: str) -> Built:
        return name, cls(ResponseCode=code)

    return build


def _contract_authentication(s: DinSecc, req: Any, code: str) -> Built:
    processing = s.round("ContractAuthenticationRes", s.config.ongoing_rounds)
    return "ContractAuthenticationRes", din.ContractAuthenticationResType(ResponseCode=code, EVSEProcessing=processing)  # type: ignore[arg-type]


def _charge_parameter_discovery(s: DinSecc, req: Any, code: str) -> Built:
    processing = s.round("ChargeParameterDiscoveryRes", s.config.ongoing_rounds)
    c = s.config
    param = din.DC_EVSEChargeParameterType(
        DC_EVSEStatus=s.status(), EVSEMaximumCurrentLimit=pv(c.limits.current(c.max_current, 0), "A"),
        EVSEMaximumPowerLimit=pv(c.limits.power(c.max_power, 0), "W"), EVSEMaximumVoltageLimit=pv(c.max_voltage, "V"),
        EVSEMinimumCurrentLimit=pv(0, "A"), EVSEMinimumVoltageLimit=pv(50, "V"), EVSEPeakCurrentRipple=pv(1, "A"),
    )
    steps = c.limits.pmax_steps or ((0.0, c.max_power),)
    entries = [din.PMaxScheduleEntryType(
        RelativeTimeInterval=din.RelativeTimeIntervalType(
            start=int(start), duration=86400 - int(start) if i == len(steps) - 1 else None),
        PMax=max(-32768, min(PMAX_SATURATED, int(pmax)))) for i, (start, pmax) in enumerate(steps)]
    tuple_ = din.SAScheduleTupleType(
        SAScheduleTupleID=1, PMaxSchedule=din.PMaxScheduleType(PMaxScheduleID=1, PMaxScheduleEntry=entries))
    if processing == "Finished":
        s.limit_check.schedule_start = s.now
        s.limit_check.announce(s.now, c.limits.current(c.max_current, 0), c.limits.power(c.max_power, 0))
    return "ChargeParameterDiscoveryRes", din.ChargeParameterDiscoveryResType(
        ResponseCode=code, EVSEProcessing=processing,  # type: ignore[arg-type]
        SAScheduleList=din.SAScheduleListType(SAScheduleTuple=[tuple_]),  # the schema requires it, also when Ongoing
        DC_EVSEChargeParameter=param,
    )


def _cable_check(s: DinSecc, req: Any, code: str) -> Built:
    processing = s.round("CableCheckRes", s.config.cable_check_rounds)
    return "CableCheckRes", din.CableCheckResType(ResponseCode=code, DC_EVSEStatus=s.status(), EVSEProcessing=processing)  # type: ignore[arg-type]


def _pre_charge(s: DinSecc, req: Any, code: str) -> Built:
    target = value_of(req.EVTargetVoltage) if isinstance(req, din.PreChargeReqType) else 0.0
    step = s.config.precharge_step
    s.present_voltage = min(target or 0.0, s.present_voltage + step)
    return "PreChargeRes", din.PreChargeResType(
        ResponseCode=code, DC_EVSEStatus=s.status(), EVSEPresentVoltage=pv(s.present_voltage, "V"),  # type: ignore[arg-type]
    )


def _power_delivery(s: DinSecc, req: Any, code: str) -> Built:
    if isinstance(req, din.PowerDeliveryReqType) and not req.ReadyToChargeState:
        s.present_current = 0.0
    return "PowerDeliveryRes", din.PowerDeliveryResType(ResponseCode=code, DC_EVSEStatus=s.status())  # type: ignore[arg-type]


def _current_demand(s: DinSecc, req: Any, code: str) -> Built:
    c = s.config
    n = s.received.count("CurrentDemandReq")
    max_current, max_power = c.limits.current(c.max_current, n), c.limits.power(c.max_power, n)
    if isinstance(req, din.CurrentDemandReqType):
        asked, target = value_of(req.EVTargetCurrent) or 0.0, value_of(req.EVTargetVoltage) or 0.0
        s.limit_check.check("CurrentDemandReq", s.now, asked, target, default_pmax=s.pmax(s.now))
        s.present_voltage = min(c.max_voltage, target)
        v = max(s.present_voltage, 1.0)
        limit = min(max_current, max_power / v, s.pmax(s.now) / v)
        s.present_current = max(0.0, min(limit, asked))
    s.limit_check.announce(s.now, max_current, max_power)
    stop = c.stop_after_loop is not None and n >= c.stop_after_loop
    return "CurrentDemandRes", din.CurrentDemandResType(
        ResponseCode=code, DC_EVSEStatus=s.status("StopCharging" if stop else "None"),  # type: ignore[arg-type]
        EVSEPresentVoltage=pv(s.present_voltage, "V"), EVSEPresentCurrent=pv(s.present_current, "A"),
        EVSECurrentLimitAchieved=s.present_current >= max_current, EVSEVoltageLimitAchieved=False,
        EVSEPowerLimitAchieved=s.present_current * s.present_voltage >= max_power,
        EVSEMaximumVoltageLimit=pv(c.max_voltage, "V"), EVSEMaximumCurrentLimit=pv(max_current, "A"),
        EVSEMaximumPowerLimit=pv(max_power, "W"),
    )


def _welding_detection(s: DinSecc, req: Any, code: str) -> Built:
    s.present_voltage = s.present_voltage / 2 if s.present_voltage > 10 else 0.0
    return "WeldingDetectionRes", din.WeldingDetectionResType(
        ResponseCode=code, DC_EVSEStatus=s.status(), EVSEPresentVoltage=pv(s.present_voltage, "V"),  # type: ignore[arg-type]
    )


_BUILDERS: dict[str, Callable[[DinSecc, Any, str], Built]] = {
    "SessionSetupRes": _session_setup,
    "ServiceDiscoveryRes": _service_discovery,
    "ServicePaymentSelectionRes": _simple("ServicePaymentSelectionRes", din.ServicePaymentSelectionResType),
    "ContractAuthenticationRes": _contract_authentication,
    "ChargeParameterDiscoveryRes": _charge_parameter_discovery,
    "CableCheckRes": _cable_check,
    "PreChargeRes": _pre_charge,
    "PowerDeliveryRes": _power_delivery,
    "CurrentDemandRes": _current_demand,
    "WeldingDetectionRes": _welding_detection,
    "SessionStopRes": _simple("SessionStopRes", din.SessionStopResType),
}
