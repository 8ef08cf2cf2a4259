"""A sans-IO ISO 15118-20 SECC (§8.3, CommonMessages plus the DC or the AC schema set) for the bench and the
tests, shaped like the ISO 15118-2 responder: ``receive_payload(exi, now, payload_type)`` queues the answer,
``messages_to_send(now)`` returns those whose time has come, ``get_timer()`` says when the next one is due,
``payload_type_of(msg)`` gives the V2GTP payload type of a response (0x8002 common, 0x8003 AC, 0x8004 DC).

One responder serves one SupportedAppProtocol namespace (``kind`` "DC" or "AC"): it offers the configured
energy services of that kind (DC, DC_BPT / AC, AC_BPT) with a Scheduled and/or a Dynamic parameter set each.
Checks like a real SECC: message order (FAILED_SequenceError, ``SEQUENCE``), SessionID (FAILED_UnknownSession),
service and parameter set (FAILED_ServiceSelectionInvalid), control mode and charge parameters
(FAILED_WrongChargeParameter), schedule and power profile (FAILED_ScheduleSelectionInvalid,
FAILED_EVPowerProfileInvalid); Plug & Charge (``pnc``, iso20_pnc.py) checks the contract chain, the
GenChallenge and the signature. Paused sessions ([V2G20-...] SessionStop Pause) live in ``paused``, shared by
the responders of one server: SessionSetupReq with such a SessionID gets OK_OldSessionJoined.
``stop_after_loop``: the EVSE asks to stop (EVSENotification Terminate) from that charge-loop message on.
Faults are the shared layer's (:class:`~evcc.bench.secc.hostile.FaultySecc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from evcc import exi
from evcc.bench.secc.iso20_builders import BUILDERS
from evcc.bench.secc.iso20_values import GRAMMAR_OF_PAYLOAD, PAYLOAD_TYPES, header, module_of, payload_type_of
from evcc.bench.secc.limit_plan import ChargerLimits, LimitCheck
from evcc.bench.secc.responder_core import SEQUENCE_ERROR, ResponderCore
from evcc.exi import Message

Kind = Literal["DC", "AC"]
DEFAULT_TIME_BASE = 1_700_000_000  # Unix time at now = 0 before the vehicle's clock is known

_COMMON_NEXT: dict[str, frozenset[str]] = {
    "": frozenset({"SessionSetupReq"}),
    "SessionSetupReq": frozenset({"AuthorizationSetupReq", "SessionStopReq"}),
    "AuthorizationSetupReq": frozenset({"AuthorizationReq", "CertificateInstallationReq", "SessionStopReq"}),
    "CertificateInstallationReq": frozenset({"CertificateInstallationReq", "AuthorizationReq", "SessionStopReq"}),
    "AuthorizationReq": frozenset({"AuthorizationReq", "ServiceDiscoveryReq", "SessionStopReq"}),
    "ServiceDiscoveryReq": frozenset({"ServiceDetailReq", "ServiceSelectionReq", "SessionStopReq"}),
    "ServiceDetailReq": frozenset({"ServiceDetailReq", "ServiceSelectionReq", "SessionStopReq"}),
    "ServiceSelectionReq": frozenset({"{K}_ChargeParameterDiscoveryReq", "SessionStopReq"}),
    "{K}_ChargeParameterDiscoveryReq": frozenset({"ScheduleExchangeReq", "SessionStopReq"}),
    "PowerDeliveryReq:Start": frozenset({"{K}_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"}),
    "PowerDeliveryReq:Standby": frozenset({"{K}_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"}),
    "PowerDeliveryReq:ScheduleRenegotiation": frozenset({"ScheduleExchangeReq", "SessionStopReq"}),
    "{K}_ChargeLoopReq": frozenset({"{K}_ChargeLoopReq", "PowerDeliveryReq", "MeteringConfirmationReq"}),
    "MeteringConfirmationReq": frozenset({"{K}_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"}),
    "SessionStopReq": frozenset(),
    "SessionStopReq:ServiceRenegotiation": frozenset({"ServiceDiscoveryReq", "SessionStopReq"}),
}
_DC_NEXT: dict[str, frozenset[str]] = {
    "ScheduleExchangeReq": frozenset({"ScheduleExchangeReq", "DC_CableCheckReq", "SessionStopReq"}),
    "ScheduleExchangeReq:renegotiated": frozenset({"ScheduleExchangeReq", "PowerDeliveryReq", "SessionStopReq"}),
    "DC_CableCheckReq": frozenset({"DC_CableCheckReq", "DC_PreChargeReq", "SessionStopReq"}),
    "DC_PreChargeReq": frozenset({"DC_PreChargeReq", "PowerDeliveryReq", "SessionStopReq"}),
    "PowerDeliveryReq:Stop": frozenset({"DC_WeldingDetectionReq", "SessionStopReq"}),
    "DC_WeldingDetectionReq": frozenset({"DC_WeldingDetectionReq", "SessionStopReq"}),
}
_AC_NEXT: dict[str, frozenset[str]] = {
    "ScheduleExchangeReq": frozenset({"ScheduleExchangeReq", "PowerDeliveryReq", "SessionStopReq"}),
    "ScheduleExchangeReq:renegotiated": frozenset({"ScheduleExchangeReq", "PowerDeliveryReq", "SessionStopReq"}),
    "PowerDeliveryReq:Stop": frozenset({"SessionStopReq"}),
}


def sequence_table(kind: Kind) -> dict[str, frozenset[str]]:
    """State (the last accepted request, refined by ChargeProgress/ChargingSession) -> requests allowed next.
    Anything not in this map is FAILED_SequenceError."""
    def fill(s: str) -> str:
        return s.replace("{K}", kind)
    table = {fill(k): frozenset(fill(n) for n in v) for k, v in _COMMON_NEXT.items()}
    table.update(_DC_NEXT if kind == "DC" else _AC_NEXT)
    return table


@dataclass(frozen=True)
class Iso20SeccConfig:
    evse_id: str = "DE*EVC*E12345"
    services: tuple[str, ...] = ("DC", "DC_BPT", "AC", "AC_BPT")  # offered when of the responder's kind
    control_modes: tuple[str, ...] = ("Scheduled", "Dynamic")  # one parameter set each (ID 1, 2)
    authorization_services: tuple[str, ...] = ("EIM", "PnC")  # PnC only with a Plug & Charge part
    schedules: tuple[float, ...] = (100_000.0,)  # PMax (W) of ScheduleTuple 1, 2, 3 (at most 3)
    schedule_duration: int = 86_400  # s of the one PowerScheduleEntry
    power_tolerance: float | None = None  # W; PowerTolerance of each ChargingSchedule (PowerToleranceAcceptance due)
    max_voltage: float = 500.0
    min_voltage: float = 50.0
    max_charge_current: float = 200.0
    max_charge_power: float = 100_000.0
    max_discharge_current: float = 100.0  # BPT (positive numbers; discharging is a negative current/power)
    max_discharge_power: float = 30_000.0
    ac_nominal_voltage: float = 230.0
    ac_max_charge_power: float = 22_000.0
    ac_max_discharge_power: float = 11_000.0
    ac_nominal_frequency: float = 50.0
    dynamic_power: float | None = None  # W the grid asks for in Dynamic mode (< 0: discharge); None: max charge
    ongoing_rounds: int = 1  # Ongoing answers before Finished (Authorization EIM, ScheduleExchange)
    cable_check_rounds: int = 2
    precharge_step: float = 150.0  # V per DC_PreChargeReq
    metering_confirmation_at: frozenset[int] = frozenset()  # charge-loop messages (1-based) asking for it
    response_time: float = 0.005  # s from request to response
    time_base: int | None = None  # Unix time = time_base + now; None: the EV's clock (see Iso20Secc.unix_time)
    stop_after_loop: int | None = None  # EVSENotification=Terminate from this charge-loop message (1-based) on
    limits: ChargerLimits = ChargerLimits()  # a charger that limits (limit_plan.py)


@dataclass
class Iso20Record:
    """What the SECC saw, for the tests."""

    received: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # why a Plug & Charge check failed
    authorization_service: str | None = None  # EIM or PnC, once authorised
    emaids_authorized: list[str] = field(default_factory=list)
    emaids_rejected: list[str] = field(default_factory=list)
    selected_service: str | None = None  # DC, DC_BPT, AC, AC_BPT
    parameter_set_id: int | None = None
    control_mode: str | None = None  # Scheduled or Dynamic
    schedule_tuple_id: int | None = None
    channel: str | None = None  # BPT_ChannelSelection of the last PowerDelivery Start
    power_tolerance_acceptance: str | None = None  # PowerToleranceAcceptance of the last Scheduled Start
    energy_delivered_wh: float = 0.0  # to the EV
    energy_returned_wh: float = 0.0  # from the EV (BPT)
    min_power_w: float = 0.0  # the most negative power seen (discharge)
    metering_confirmations: int = 0  # MeteringConfirmationReq whose signature verified
    charging_session: str | None = None  # ChargingSession of the SessionStopReq
    joined_old_session: bool = False


class Iso20SeccPnc(Protocol):
    """The Plug & Charge part (iso20_pnc.py): challenge, contract checks, installation, metering signatures."""

    def gen_challenge(self, secc: Iso20Secc) -> bytes: ...

    def authorize(self, secc: Iso20Secc, req: Any) -> str: ...

    def install(self, secc: Iso20Secc, req: Any, code: str) -> Any: ...

    def check_metering(self, secc: Iso20Secc, req: Any) -> str: ...


@dataclass
class Iso20Secc(ResponderCore):
    kind: Kind = "DC"
    config: Iso20SeccConfig = field(default_factory=Iso20SeccConfig)
    paused: set[bytes] = field(default_factory=set)  # shared across sessions of one charger
    pnc: Iso20SeccPnc | None = None
    record: Iso20Record = field(default_factory=Iso20Record)
    now: float = 0.0  # time of the request being answered
    authorized: bool = False
    challenge: bytes | None = None
    present_voltage: float = 0.0
    present_power: float = 0.0  # W, < 0 while discharging
    metered_at: float | None = None
    loop_count: int = 0
    state: str = ""  # the sequence state: last accepted request (see sequence_table)
    clock_base: float | None = None  # Unix time - now of this charger's clock, once known
    limit_check: LimitCheck = field(default_factory=LimitCheck)  # requests above the limits in force
    last_target: float | None = None  # AC: EVSETargetActivePower of the last response
    _silent: bool = False

    def __post_init__(self) -> None:
        self.limit_check.limits = self.config.limits

    # --------------------------------------------------------------- sans-IO face
    def receive_payload(self, data: bytes, now: float, payload_type: int | None = None) -> None:
        try:
            name, req = self._decode(data, payload_type)
        except exi.ExiError as exc:
            self.record.errors.append(f"undecodable request: {exc}")
            self._silent = True  # a real SECC closes the connection; the EV times out
            return
        self.receive_message(name, req, now)

    def receive_message(self, name: str, req: Any, now: float) -> None:
        self.record.received.append(name)
        if self._silent:
            return
        builder = BUILDERS.get(name)
        if builder is None:
            self.record.errors.append(f"no answer for {name}")
            return  # a real SECC would close; the EV times out
        checked = self._check(name, req.Header.SessionID)
        if name == "SessionSetupReq" and self.config.time_base is None:
            self.clock_base = float(req.Header.TimeStamp) - now  # a charger on the vehicle's wall clock
        self.now = now
        res, state = builder(self, req, checked)
        if checked == "OK" and not str(res.ResponseCode).startswith("FAILED"):
            self.state = state
        self.answer(now + self.config.response_time, res)

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        """A request with its V2GTP payload type (the server and the fault layer call this)."""
        self.receive_payload(data, now, payload_type)

    @property
    def accepted_payload_types(self) -> frozenset[int]:
        return frozenset({PAYLOAD_TYPES["iso20_common"], PAYLOAD_TYPES["iso20_dc" if self.kind == "DC" else "iso20_ac"]})

    def payload_type_of(self, msg: Message) -> int:
        return payload_type_of(msg)

    # ------------------------------------------------------------ for the builders
    def unix_time(self) -> int:
        """The charger's clock at the request being answered (Header TimeStamp, TimeAnchor, MeterTimestamp).

        With ``config.time_base`` None the charger's wall clock agrees with the vehicle's: it is set from the
        SessionSetupReq's Header TimeStamp, as two devices on synchronised wall clocks would be (before any
        SessionSetupReq: DEFAULT_TIME_BASE). An explicit ``time_base`` is a charger whose clock is its own
        (Unix time = time_base + now), to pair with a vehicle clock that differs."""
        return max(0, int(self.time_base() + self.now))

    def time_base(self) -> float:
        """Unix time - now of this charger's clock."""
        base = self.config.time_base if self.config.time_base is not None else self.clock_base
        return DEFAULT_TIME_BASE if base is None else base

    def schedule_pmax(self) -> float:
        """The chosen ScheduleTuple's power in force as the limit check reads it (Scheduled), else no limit."""
        if self.record.control_mode != "Scheduled":
            return float("inf")
        tuple_id = self.record.schedule_tuple_id or 1
        default = self.config.schedules[tuple_id - 1] if 1 <= tuple_id <= len(self.config.schedules) else 0.0
        return self.limit_check.pmax(self.now, default)

    def header(self, schema: str, signature: Any = None) -> Any:
        return header(module_of(schema), self.session_id, self.unix_time(), signature)

    def offered_services(self) -> list[str]:
        return [s for s in self.config.services if s.startswith(self.kind)]

    # ------------------------------------------------------------------ internals
    def _decode(self, data: bytes, payload_type: int | None) -> tuple[str, Any]:
        energy = "iso20-dc" if self.kind == "DC" else "iso20-ac"
        if payload_type is not None:
            grammar = GRAMMAR_OF_PAYLOAD.get(payload_type)
            if grammar not in ("iso20-common", energy):
                raise exi.ExiError(f"payload type 0x{payload_type:04X} is not -20 common or {self.kind}")
            named = exi.decode_named(grammar, data)
            return named.name, named.value
        # In memory there is no V2GTP header: the grammar whose decoding re-encodes to the same bytes wins.
        found: list[tuple[str, Any]] = []
        for grammar in ("iso20-common", energy):
            try:
                named = exi.decode_named(grammar, data)
                if exi.encode(named.value, named.name).rstrip(b"\0") == data.rstrip(b"\0"):
                    found.append((named.name, named.value))
            except exi.ExiError:
                continue
        if not found:
            raise exi.ExiError(f"not an ISO 15118-20 common or {self.kind} message")
        allowed = sequence_table(self.kind).get(self.state, frozenset())
        return next((f for f in found if f[0] in allowed), found[0])

    def _check(self, name: str, session_id: bytes) -> str:
        if name == "ServiceDiscoveryReq" and not self.authorized:
            return SEQUENCE_ERROR
        code = self.order_and_session(name, sequence_table(self.kind).get(self.state, frozenset()), session_id)
        if code == "OK" and name == "SessionSetupReq" and self.rejoin(session_id, self.paused):
            self.record.joined_old_session = True
        return code


def dc_secc(config: Iso20SeccConfig | None = None, **kw: Any) -> Iso20Secc:
    """A -20 DC responder (SAP namespace urn:iso:std:iso:15118:-20:DC)."""
    return Iso20Secc(kind="DC", config=config or Iso20SeccConfig(), **kw)


def ac_secc(config: Iso20SeccConfig | None = None, **kw: Any) -> Iso20Secc:
    """A -20 AC responder (SAP namespace urn:iso:std:iso:15118:-20:AC)."""
    return Iso20Secc(kind="AC", config=config or Iso20SeccConfig(), **kw)


__all__ = ["Iso20Record", "Iso20Secc", "Iso20SeccConfig", "Iso20SeccPnc", "Kind", "PAYLOAD_TYPES",
           "ac_secc", "dc_secc", "sequence_table"]
