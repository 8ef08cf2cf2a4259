"""Events every EVCC protocol machine reports (DIN 70121, ISO 15118-2, -20 alike)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EndKind(enum.Enum):
    COMPLETED = "completed"  # SessionStopRes received after a normal end
    STOPPED = "stopped"  # ended in order before charging finished (EV, EVSE or vehicle reason)
    FAILED_RESPONSE = "failed response code"  # the SECC answered FAILED*
    PROTOCOL_ERROR = "protocol error"  # unexpected message, wrong SessionID, undecodable data
    TIMEOUT = "timeout"  # a V2G_EVCC_* timer expired


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request/response pair, for the timing table of the report."""

    request: str
    sent_at: float
    received_at: float

    @property
    def latency(self) -> float:
        return self.received_at - self.sent_at


@dataclass(frozen=True, slots=True)
class LateResponse:
    """The SECC answered after its V2G_SECC_Msg_Performance_Time (a performance time, not a timeout)."""

    response: str
    latency: float
    budget: float


@dataclass(frozen=True, slots=True)
class ChargingStarted:
    """PowerDeliveryRes for the start arrived: the charge loop begins."""


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The machine is finished. ``kind`` and ``reason`` say why; ``timer`` names the expired standard timer."""

    kind: EndKind
    reason: str
    state: str
    response_code: str | None = None
    timer: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind is EndKind.COMPLETED


@dataclass(frozen=True, slots=True)
class Renegotiated:
    """ISO 15118-2 renegotiation finished: PowerDeliveryRes(Start) for the newly selected SAScheduleTuple.
    ``trigger``: "EVSE" (EVSENotification=ReNegotiation) or "EV" (the vehicle asked for new schedules)."""

    trigger: str
    sa_schedule_tuple_id: int


@dataclass(frozen=True, slots=True)
class ResponseNote:
    """A response code that is not a failure but means something (OK_CertificateExpiresSoon)."""

    response: str
    response_code: str


@dataclass(frozen=True, slots=True)
class ContractUpdated:
    """CertificateUpdate in the session: ``new_contract_id`` replaced ``old_contract_id`` in the store."""

    old_contract_id: str
    new_contract_id: str
    emaid: str


@dataclass(frozen=True, slots=True)
class ContractUpdateRejected:
    """The EV refused a CertificateUpdateRes (its checks failed); the session goes on with the old contract."""

    contract_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleReanchored:
    """ISO 15118-20: the chosen ScheduleTuple had ended before it arrived (a charger whose clock or TimeAnchor is
    unset, e.g. TimeAnchor 0); the EV reads it from ``secc_time`` (the SECC's time at reception) instead."""

    schedule_tuple_id: int
    time_anchor: int
    secc_time: int


@dataclass(frozen=True, slots=True)
class LimitInForce:
    """What the EV may ask for now (evcc.session.limits) changed: the ``request`` value it bounds (e.g.
    EVTargetCurrent), ``value`` in ``unit``, what set it (``source``: EV, EVSE maximum, schedule, minimum) and when
    (the machine's ``now``). Reported when the source changes or a limit moves by more than 1 %."""

    request: str
    value: float
    unit: str
    source: str
    at: float


@dataclass(frozen=True, slots=True)
class LimitDeviation:
    """A limit from the charger that made no sense (maximum below minimum, negative, 0 while charging, a schedule
    entry out of range) and what the EV did instead; reported once per distinct text."""

    text: str


@dataclass(frozen=True, slots=True)
class PeerDeviation:
    """The charger sent something the standard does not allow but the EV could go on with (issue #14): ``field``
    = ``value`` where ``expected`` was due by ``clause``. Emitted at every occurrence; the session adapter's
    :class:`~evcc.session.session_log.SessionLog` counts them per (field, value) in its bounded
    :class:`~evcc.session.deviations.DeviationRecord`, which the reports list as ``deviations``."""

    field: str
    value: str
    expected: str
    clause: str


SessionEvent = (
    Exchange | LateResponse | ChargingStarted | SessionEnded | Renegotiated | ResponseNote | ContractUpdated
    | ContractUpdateRejected | ScheduleReanchored | LimitInForce | LimitDeviation | PeerDeviation
)
