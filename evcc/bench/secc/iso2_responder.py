"""A sans-IO ISO 15118-2 SECC (AC and DC, EIM; Plug & Charge through ``pnc``) for the bench and the tests (faults:
the shared layer, :class:`~evcc.bench.secc.hostile.FaultySecc`).

``receive_payload(exi, now)`` queues the answer; ``messages_to_send(now)`` returns those whose time has come
(``get_timer()`` says when the next one is due). The SECC
checks the order (FAILED_SequenceError; PowerDelivery(Renegotiate) must be followed by ChargeParameterDiscovery),
the SessionID (FAILED_UnknownSession), the selected payment option and
energy transfer mode, the SAScheduleTupleID (FAILED_TariffSelectionInvalid) and the ChargingProfile against the
PMax schedule (FAILED_ChargingProfileInvalid) like a real one. Paused sessions ([V2G2-741]) are remembered in the
``paused`` set shared by the responders of one server: SessionSetupReq with such a SessionID is answered
OK_OldSessionJoined. ``renegotiate_after`` makes it ask for a renegotiation (EVSENotification=ReNegotiation) in
the charge loop; after any PowerDelivery(Renegotiate) it offers ``renegotiated_schedules`` with a new Ongoing
round. ``stop_after_loop``: the EVSE asks to stop (EVSENotification StopCharging) from that charge-loop message on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from evcc import exi
from evcc.bench.secc.iso2_builders import BUILDERS
from evcc.bench.secc.limit_plan import ChargerLimits, LimitCheck
from evcc.bench.secc.responder_core import SEQUENCE_ERROR, ResponderCore
from evcc.exi import iso2
from evcc.session.iso2.values import body_element, message

ALLOWED_NEXT: dict[str, frozenset[str]] = {
    "": frozenset({"SessionSetupReq"}),
    "SessionSetupReq": frozenset({"ServiceDiscoveryReq", "SessionStopReq"}),
    "ServiceDiscoveryReq": frozenset({"ServiceDetailReq", "PaymentServiceSelectionReq", "SessionStopReq"}),
    "ServiceDetailReq": frozenset({"ServiceDetailReq", "PaymentServiceSelectionReq", "SessionStopReq"}),
    "PaymentServiceSelectionReq": frozenset({
        "CertificateInstallationReq", "CertificateUpdateReq", "PaymentDetailsReq", "AuthorizationReq", "SessionStopReq"}),
    "CertificateInstallationReq": frozenset({"PaymentDetailsReq", "SessionStopReq"}),
    "CertificateUpdateReq": frozenset({"PaymentDetailsReq", "SessionStopReq"}),
    "PaymentDetailsReq": frozenset({"AuthorizationReq", "SessionStopReq"}),
    "AuthorizationReq": frozenset({"AuthorizationReq", "ChargeParameterDiscoveryReq", "SessionStopReq"}),
    "ChargeParameterDiscoveryReq": frozenset({
        "ChargeParameterDiscoveryReq", "CableCheckReq", "PowerDeliveryReq", "SessionStopReq"}),
    "CableCheckReq": frozenset({"CableCheckReq", "PreChargeReq", "SessionStopReq"}),
    "PreChargeReq": frozenset({"PreChargeReq", "PowerDeliveryReq", "SessionStopReq"}),
    "PowerDeliveryReq": frozenset({
        "CurrentDemandReq", "ChargingStatusReq", "WeldingDetectionReq", "ChargeParameterDiscoveryReq", "SessionStopReq"}),
    "CurrentDemandReq": frozenset({"CurrentDemandReq", "PowerDeliveryReq", "MeteringReceiptReq"}),
    "ChargingStatusReq": frozenset({"ChargingStatusReq", "PowerDeliveryReq", "MeteringReceiptReq"}),
    "MeteringReceiptReq": frozenset({"CurrentDemandReq", "ChargingStatusReq", "PowerDeliveryReq"}),
    "WeldingDetectionReq": frozenset({"WeldingDetectionReq", "SessionStopReq"}),
    "SessionStopReq": frozenset(),
}


@dataclass
class Iso2SeccConfig:
    evse_id: str = "DE*EVC*E12345"
    energy_modes: tuple[str, ...] = ("DC_extended", "DC_core", "AC_single_phase_core", "AC_three_phase_core")
    payment_options: tuple[str, ...] = ("ExternalPayment", "Contract")
    max_voltage: float = 500.0
    max_current: float = 200.0
    max_power: float = 100_000.0
    ac_nominal_voltage: float = 230.0
    ac_max_current: float = 32.0
    sa_schedules: tuple[float, ...] = (100_000.0,)  # PMax (W) of SAScheduleTuple 1, 2, ...
    value_added_services: tuple[int, ...] = ()  # ServiceIDs offered in ServiceList (category Internet)
    certificate_service: tuple[str, ...] = ()  # parameter sets of the Certificate service: "Installation", "Update"
    ongoing_rounds: int = 1  # Ongoing answers before Finished (authorization, charge parameters)
    cable_check_rounds: int = 2
    precharge_step: float = 150.0  # V per PreChargeReq
    response_time: float = 0.005  # s from request to response (within V2G_SECC_Msg_Performance_Time)
    renegotiate_after: int | None = None  # EVSENotification=ReNegotiation on this charge-loop message (1-based)
    renegotiated_schedules: tuple[float, ...] = (20_000.0, 40_000.0)  # PMax offered after a renegotiation
    stop_after_loop: int | None = None  # EVSENotification=StopCharging from this CurrentDemand/ChargingStatus on
    limits: ChargerLimits = field(default_factory=ChargerLimits)  # a charger that limits (limit_plan.py)


class SeccPnc(Protocol):
    """The Plug & Charge part of the SECC (bench/secc/iso2_pnc.py): builds and checks the contract messages."""

    def respond(self, secc: Iso2Secc, name: str, req: iso2.V2G_Message, code: str) -> tuple[str, Any]:
        """The response body; a signature for the header goes into ``secc.header_signature``."""
        ...

    def sign_sales_tariff(self, secc: Iso2Secc, tuples: list[iso2.SAScheduleTupleType]) -> None: ...

    def receipt_required(self, secc: Iso2Secc) -> bool: ...


@dataclass
class Iso2Secc(ResponderCore):
    config: Iso2SeccConfig = field(default_factory=Iso2SeccConfig)
    paused: set[bytes] = field(default_factory=set)  # shared across sessions of one charger
    pnc: SeccPnc | None = None
    received: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    joined_old_session: bool = False
    selected_payment: str | None = None
    energy_mode: str | None = None
    sa_schedule_tuple_id: int | None = None
    present_voltage: float = 0.0
    present_current: float = 0.0
    energy_wh: float = 0.0  # what the meter counted
    now: float = 0.0  # time of the request being answered
    header_signature: Any = None  # set by the Plug & Charge part for the response being built
    metered_at: float | None = None
    charging_session: str | None = None  # ChargingSession of the SessionStopReq
    schedules: tuple[float, ...] | None = None  # PMax of the tuples on offer now (None: config.sa_schedules)
    renegotiation_asked: bool = False  # EVSENotification=ReNegotiation sent
    renegotiations: int = 0  # PowerDeliveryReq(Renegotiate) received
    charge_progress: str | None = None  # ChargeProgress of the last PowerDeliveryReq
    selected_services: list[tuple[int, int | None]] = field(default_factory=list)  # (ServiceID, ParameterSetID)
    limit_check: LimitCheck = field(default_factory=LimitCheck)  # requests above the limits in force
    _last: str = ""
    _silent: bool = False

    def __post_init__(self) -> None:
        self.limit_check.limits = self.config.limits

    def pmax_steps(self) -> tuple[tuple[float, float], ...]:
        """The configured PMaxSchedule steps: for the first schedules only (a renegotiation offers single PMax)."""
        return self.config.limits.pmax_steps if self.schedules is None else ()

    def receive_payload(self, data: bytes, now: float) -> None:
        try:
            msg = exi.decode("iso2", data)
        except exi.ExiError as exc:
            self.errors.append(f"undecodable request: {exc}")
            self._silent = True  # a real SECC closes the connection; the EV times out
            return
        if not isinstance(msg, iso2.V2G_Message):
            self.errors.append(f"{type(msg).__name__} is not a V2G_Message")
            self._silent = True
            return
        self.receive_message(msg, now)

    def receive_message(self, req: iso2.V2G_Message, now: float) -> None:
        name, value = body_element(req.Body)
        self.received.append(name)
        if self._silent:
            return
        answer = name.replace("Req", "Res")
        pnc = self.pnc if self.pnc is not None and self.selected_payment == "Contract" else None
        if answer not in BUILDERS and not (pnc is not None and answer in PNC_RESPONSES):
            self.errors.append(f"no answer for {name}")
            return  # a real SECC would close; the EV times out
        code = self._check(name, req.Header.SessionID)
        self.now = now
        if pnc is not None and answer in PNC_RESPONSES:
            body_name, body = pnc.respond(self, answer, req, code)
        else:
            body_name, body = BUILDERS[answer](self, value, code)
        if code == "OK":
            self._last = name
        signature, self.header_signature = self.header_signature, None
        self.answer(now + self.config.response_time, message(self.session_id, body_name, body, signature))

    def offered(self) -> tuple[float, ...]:
        return self.schedules if self.schedules is not None else self.config.sa_schedules

    def _check(self, name: str, session_id: bytes) -> str:
        if self._last == "PowerDeliveryReq" and (name == "ChargeParameterDiscoveryReq") != (
                self.charge_progress == "Renegotiate") and name != "SessionStopReq":
            return SEQUENCE_ERROR  # only Renegotiate leads back to ChargeParameterDiscovery [V2G2-812]
        code = self.order_and_session(name, ALLOWED_NEXT.get(self._last, frozenset()), session_id)
        if code == "OK" and name == "SessionSetupReq" and self.rejoin(session_id, self.paused):
            self.joined_old_session = True
        return code


PNC_RESPONSES = frozenset({"CertificateInstallationRes", "CertificateUpdateRes", "PaymentDetailsRes",
                           "AuthorizationRes", "MeteringReceiptRes"})
"""Responses the Plug & Charge part builds when the SECC has one (AuthorizationRes: signature check)."""
