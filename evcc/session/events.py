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


SessionEvent = Exchange | LateResponse | ChargingStarted | SessionEnded
