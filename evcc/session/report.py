"""The report of one `evcc session`: every V2GTP message both ways (direction, time, type, ResponseCode), the
per-message timings, the outcome and its reason, as JSON written atomically.

Recording happens at the transport boundary (:class:`RecordingConnection`): the raw payloads and the times they
were sent or taken from the connection. Nothing is decoded while the session runs; :func:`message_rows` decodes
afterwards (SupportedAppProtocol for the first message each way, ISO 15118-2 §8.2.1; then the negotiated
protocol's grammar by V2GTP payload type, ISO 15118-2 §7.8.3 Table 10 / ISO 15118-20 Table 13).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evcc import exi
from evcc.session import v2gtp
from evcc.session.connection import V2gConnection
from evcc.session.events import EndKind, LateResponse, SessionEvent
from evcc.session.report_common import timing_summary, write_atomic

EV_TO_SECC = "EV->SECC"
SECC_TO_EV = "SECC->EV"
ISO20_GRAMMARS = {
    v2gtp.ISO20_COMMON: "iso20-common", v2gtp.ISO20_AC: "iso20-ac", v2gtp.ISO20_DC: "iso20-dc",
    v2gtp.ISO20_ACDP: "iso20-acdp", v2gtp.ISO20_WPT: "iso20-wpt",
}


@dataclass(frozen=True, slots=True)
class Recorded:
    t: float  # clock time
    direction: str
    payload_type: int
    payload: bytes


class RecordingConnection(V2gConnection):
    """Wraps an open :class:`V2gConnection`: same ``send``/``receive``/``close``, each payload appended to
    ``records`` with the clock time. (A subclass only so that it fits where a V2gConnection is expected; all
    I/O goes through ``inner``.)"""

    def __init__(self, inner: V2gConnection, clock: Callable[[], float]) -> None:  # noqa: D107
        # deliberately no super().__init__(): this object never becomes an asyncio protocol itself
        self.inner = inner
        self.clock = clock
        self.records: list[Recorded] = []
        self.cipher = inner.cipher
        self.peer_certificate = inner.peer_certificate

    def send(self, payload_type: int, payload: bytes) -> None:
        self.inner.send(payload_type, payload)
        self.records.append(Recorded(self.clock(), EV_TO_SECC, payload_type, payload))

    async def receive(self, timeout: float | None) -> v2gtp.V2gtpMessage | None:
        msg = await self.inner.receive(timeout)
        if msg is not None:
            self.records.append(Recorded(self.clock(), SECC_TO_EV, msg.payload_type, msg.payload))
        return msg

    def close(self) -> None:
        self.inner.close()


def _describe(grammar: str, payload: bytes) -> tuple[str, str | None]:
    """(message type, ResponseCode or None); never raises: undecodable input is named as such."""
    try:
        if grammar.startswith("iso20"):
            named = exi.decode_named(grammar, payload)
            name, value = named.name, named.value
        else:
            msg = exi.decode(grammar, payload)
            name, value = type(msg).__name__, msg
            body = getattr(msg, "Body", None)
            if body is not None:
                found = [(n, v) for n, v in zip(body._fields, body) if v is not None]
                name, value = found[0] if found else ("empty Body", None)
    except exi.ExiError as exc:
        return f"undecodable {grammar} ({exc})", None
    code = getattr(value, "ResponseCode", None)
    return name, None if code is None else str(code)


def message_rows(records: list[Recorded], grammar: str | None, origin: float) -> list[dict[str, Any]]:
    """One row per message; a response row carries ``latency_ms`` since the request before it."""
    rows: list[dict[str, Any]] = []
    seen = {EV_TO_SECC: 0, SECC_TO_EV: 0}
    last_sent: Recorded | None = None
    for rec in records:
        seen[rec.direction] += 1
        if seen[rec.direction] == 1:
            use = "sap"
        elif rec.payload_type in ISO20_GRAMMARS:
            use = ISO20_GRAMMARS[rec.payload_type]
        else:
            use = grammar or "unknown"
        name, code = _describe(use, rec.payload) if use != "unknown" else ("unknown", None)
        row: dict[str, Any] = {"t": round(rec.t - origin, 6), "direction": rec.direction, "type": name,
                               "response_code": code, "bytes": len(rec.payload)}
        if rec.direction == SECC_TO_EV and last_sent is not None:
            row["request"] = rows[-1]["type"] if rows and rows[-1]["direction"] == EV_TO_SECC else None
            row["latency_ms"] = round((rec.t - last_sent.t) * 1000.0, 3)
            last_sent = None
        elif rec.direction == EV_TO_SECC:
            last_sent = rec
        rows.append(row)
    return rows


@dataclass
class MessageTiming:
    type: str
    count: int
    median_ms: float
    max_ms: float


def timings(rows: list[dict[str, Any]]) -> list[MessageTiming]:
    return [MessageTiming(*row)
            for row in timing_summary((row["type"], row["latency_ms"]) for row in rows if "latency_ms" in row)]


@dataclass
class SessionJsonReport:
    """What `evcc session --json` writes. Times are seconds since the command started (monotonic clock)."""

    interface: str
    protocol: str
    auth: str
    tls: bool
    ok: bool = False
    outcome: str = "not started"  # EndKind value, or "sdp failed", "connection failed"
    reason: str = "not started"
    state: str | None = None
    timer: str | None = None
    response_code: str | None = None
    negotiated: str | None = None
    secc: dict[str, Any] = field(default_factory=dict)
    tls_cipher: str | None = None
    tls_version: str | None = None  # "TLSv1.2" (DIN, -2) or "TLSv1.3" (-20)
    tls_client_key: str | None = None  # TLS 1.3: where the vehicle certificate's key is (token or software store)
    control: str | None = None  # ISO 15118-20 control mode asked for (Scheduled or Dynamic)
    times: dict[str, float] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    timings: list[MessageTiming] = field(default_factory=list)
    late_responses: list[dict[str, Any]] = field(default_factory=list)  # past V2G_SECC_Msg_Performance_Time
    min_msg_timeout: float | None = None  # lab option in use (see evcc.session.attach.with_min_msg_timeout)
    over_standard_timeout: list[dict[str, Any]] = field(default_factory=list)  # past the standard's EVCC timeout
    soc: dict[str, float] = field(default_factory=dict)

    def take_messages(self, records: list[Recorded], grammar: str | None, origin: float) -> None:
        self.messages = message_rows(records, grammar, origin)
        self.timings = timings(self.messages)

    def take_events(self, events: list[SessionEvent]) -> None:
        self.late_responses = [{"type": e.response, "latency_ms": round(e.latency * 1000.0, 3),
                                "budget_ms": round(e.budget * 1000.0, 3)}
                               for e in events if isinstance(e, LateResponse)]

    def stopped_in_order(self, kind: EndKind) -> bool:
        """The session ended with SessionStopReq answered (completed, or stopped in order)."""
        sent = [m for m in self.messages if m["direction"] == EV_TO_SECC]
        answered = bool(self.messages) and self.messages[-1]["type"] == "SessionStopRes"
        return (kind in (EndKind.COMPLETED, EndKind.STOPPED) and bool(sent)
                and sent[-1]["type"] == "SessionStopReq" and answered)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_json(report: SessionJsonReport, path: Path) -> None:
    """Atomically (evcc.session.report_common.write_atomic)."""
    write_atomic(path, (json.dumps(report.as_dict(), indent=2) + "\n").encode(), "--json")
