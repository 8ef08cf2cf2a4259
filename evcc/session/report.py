"""The report of one `evcc session`: the V2GTP messages both ways (direction, time, type, ResponseCode), the
per-message timings, the EV's own turn times, the outcome and its reason, as JSON written atomically.

Bounded for any session length (evcc.bounded): the messages are the first and the last
:data:`RECORD_HEAD`/:data:`RECORD_TAIL` of the session (``messages_total``, ``messages_dropped`` say how many
there were and how many lie between); the timings (count, min/median/p99/max per response type, late count) and
the EV's turn times cover every message (:class:`~evcc.session.session_log.SessionLog`; their precision:
:data:`evcc.bounded.PRECISION`).

Recording happens at the transport boundary (:class:`RecordingConnection`): the raw payloads and the times they
were sent or taken from the connection. Nothing is decoded while the session runs; :func:`message_rows` decodes
the kept ones afterwards (SupportedAppProtocol for the first message each way, ISO 15118-2 §8.2.1; then the negotiated
protocol's grammar by V2GTP payload type, ISO 15118-2 §7.8.3 Table 10 / ISO 15118-20 Table 13).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evcc import exi
from evcc.bounded import Window
from evcc.session import v2gtp
from evcc.session.connection import V2gConnection
from evcc.session.deviations import DeviationRecord, merge_json, note_exi
from evcc.session.events import EndKind
from evcc.session.limits import limit_summary
from evcc.session.report_common import timing_summary, write_atomic
from evcc.session.session_log import SessionLog
from evcc.session.tolerance import note_sap

EV_TO_SECC = "EV->SECC"
SECC_TO_EV = "SECC->EV"
ISO20_GRAMMARS = {
    v2gtp.ISO20_COMMON: "iso20-common", v2gtp.ISO20_AC: "iso20-ac", v2gtp.ISO20_DC: "iso20-dc",
    v2gtp.ISO20_ACDP: "iso20-acdp", v2gtp.ISO20_WPT: "iso20-wpt",
}


RECORD_HEAD = 1000  # messages kept from the start of a session
RECORD_TAIL = 1000  # and from its end


@dataclass(frozen=True, slots=True)
class Recorded:
    t: float  # clock time
    direction: str
    payload_type: int
    payload: bytes


class RecordingConnection(V2gConnection):
    """Wraps an open :class:`V2gConnection`: same ``send``/``receive``/``close``, each payload appended to
    ``records`` (bounded: the first and last messages, :data:`RECORD_HEAD`, :data:`RECORD_TAIL`) with the clock
    time. (A subclass only so that it fits where a V2gConnection is expected; all
    I/O goes through ``inner``.)"""

    def __init__(self, inner: V2gConnection, clock: Callable[[], float]) -> None:  # noqa: D107
        # deliberately no super().__init__(): this object never becomes an asyncio protocol itself
        self.inner = inner
        self.clock = clock
        self.records: Window[Recorded] = Window(RECORD_HEAD, RECORD_TAIL)
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


def _describe(grammar: str, payload: bytes, deviations: DeviationRecord | None = None) -> tuple[str, str | None]:
    """(message type, ResponseCode or None); never raises: undecodable input is named as such. Empty values the
    peer wrote in EXIficient's form are noted in ``deviations`` (evcc.session.deviations)."""
    try:
        counted = exi.decode_counted(grammar, payload)
        if grammar.startswith("iso20"):
            name, value = counted.name, counted.value
        else:
            msg = counted.value
            name, value = type(msg).__name__, msg
            body = getattr(msg, "Body", None)
            if body is not None:
                found = [(n, v) for n, v in zip(body._fields, body) if v is not None]
                name, value = found[0] if found else ("empty Body", None)
    except exi.ExiError as exc:
        return f"undecodable {grammar} ({exc})", None
    if deviations is not None:
        note_exi(deviations, grammar, name, counted.empty_value_as_ee)
    code = getattr(value, "ResponseCode", None)
    return name, None if code is None else str(code)


def note_sap_pair(deviations: DeviationRecord, records: Sequence[Recorded]) -> None:
    """Note a tolerated SupportedAppProtocol answer (evcc.session.tolerance) from the first message of each
    direction (the SAP pair); undecodable ones are not deviations (the handshake itself failed on them)."""
    firsts: dict[str, Any] = {}
    for rec in records:
        if rec.direction not in firsts:
            try:
                firsts[rec.direction] = exi.decode("sap", rec.payload)
            except exi.ExiError:
                firsts[rec.direction] = None
        if len(firsts) == 2:
            break
    note_sap(deviations, firsts.get(EV_TO_SECC), firsts.get(SECC_TO_EV))


def message_rows(records: Iterable[Recorded] | Window[Recorded], grammar: str | None,
                 origin: float, deviations: DeviationRecord | None = None) -> list[dict[str, Any]]:
    """One row per kept message; a response row carries ``latency_ms`` since the request before it (not across
    the gap of a bounded record: the first kept message after it pairs with nothing before). The SECC's
    tolerated EXI deviations in the kept messages go to ``deviations``."""
    if isinstance(records, Window):
        head, tail = records.parts()
        rows = _rows(head, grammar, origin, first=True, deviations=deviations)
        return rows + _rows(tail, grammar, origin, first=records.total == len(tail), deviations=deviations)
    return _rows(records, grammar, origin, first=True, deviations=deviations)


def _rows(records: Iterable[Recorded], grammar: str | None, origin: float, first: bool,
          deviations: DeviationRecord | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen = {EV_TO_SECC: 0 if first else 1, SECC_TO_EV: 0 if first else 1}
    last_sent: Recorded | None = None
    for rec in records:
        seen[rec.direction] += 1
        if seen[rec.direction] == 1:
            use = "sap"
        elif rec.payload_type in ISO20_GRAMMARS:
            use = ISO20_GRAMMARS[rec.payload_type]
        else:
            use = grammar or "unknown"
        peer = deviations if rec.direction == SECC_TO_EV else None
        name, code = _describe(use, rec.payload, peer) if use != "unknown" else ("unknown", None)
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
    """Response time (request written -> response taken) per response type, over every message of the session."""

    type: str
    count: int
    median_ms: float
    max_ms: float
    min_ms: float | None = None
    p99_ms: float | None = None
    late: int = 0  # past V2G_SECC_Msg_Performance_Time
    exact: bool = True  # median and p99 exact (else: evcc.bounded.PRECISION)


def timings(rows: list[dict[str, Any]]) -> list[MessageTiming]:
    """From message rows (all of a short exchange, e.g. SupportedAppProtocol)."""
    return [MessageTiming(*row)
            for row in timing_summary((row["type"], row["latency_ms"]) for row in rows if "latency_ms" in row)]


def log_timings(log: SessionLog) -> list[MessageTiming]:
    """From the session's bounded log: every exchange of the protocol machine."""
    out: list[MessageTiming] = []
    for name, q in log.rtt.stats.items():
        ms = q.summary_ms()
        out.append(MessageTiming(name, q.count, float(ms["median_ms"]), float(ms["max_ms"]), float(ms["min_ms"]),
                                 float(ms["p99_ms"]), log.rtt.late.get(name, 0), q.exact))
    return out


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
    messages: list[dict[str, Any]] = field(default_factory=list)  # the first and last RECORD_HEAD/RECORD_TAIL
    messages_total: int = 0
    messages_dropped: int = 0  # messages of the session between the kept first and last ones
    timings: list[MessageTiming] = field(default_factory=list)
    late_responses: list[dict[str, Any]] = field(default_factory=list)  # past V2G_SECC_Msg_Performance_Time
    late_count: int = 0  # all of them (the list is bounded like the messages)
    ev: dict[str, Any] = field(default_factory=dict)  # the EV's own time: ev_turn, ev_work (p50/p99/max ms)
    min_cycle: float | None = None  # the charge loop's minimum cycle in use (s)
    min_msg_timeout: float | None = None  # lab option in use (see evcc.session.attach.with_min_msg_timeout)
    over_standard_timeout: list[dict[str, Any]] = field(default_factory=list)  # past the standard's EVCC timeout
    over_standard_count: int = 0  # all of them (the list covers the kept messages)
    lab_tls13_p256: bool = False  # lab option in use: TLS 1.3 also offered P-256 (evcc session --lab-tls13-p256)
    soc: dict[str, float] = field(default_factory=dict)
    deviations: list[dict[str, Any]] = field(default_factory=list)  # the SECC's tolerated ones (issue #14)
    limit: dict[str, Any] | None = None  # the limit in force last and what set it (evcc.session.limits, issue 19)
    limit_deviations: list[str] = field(default_factory=list)  # the charger's limits that made no sense

    def take_messages(self, records: Window[Recorded] | list[Recorded], grammar: str | None, origin: float,
                      log: SessionLog | None = None) -> None:
        found = DeviationRecord()
        self.messages = message_rows(records, grammar, origin, found)
        if isinstance(records, Window):
            head, tail = records.parts()
            note_sap_pair(found, head + tail if records.total == len(head) + len(tail) else head)
        else:
            note_sap_pair(found, records)
        self.deviations = found.as_json()
        self.messages_total = records.total if isinstance(records, Window) else len(records)
        self.messages_dropped = self.messages_total - len(self.messages)
        sap = [t for t in timings(self.messages[:2]) if t.type.startswith("supportedAppProtocol")]
        self.timings = sap + log_timings(log) if log is not None else timings(self.messages)

    def take_events(self, log: SessionLog) -> None:
        """After :meth:`take_messages`: the deviations the protocol machine reported are added to those found in
        the messages."""
        self.late_responses = [{"type": e.response, "latency_ms": round(e.latency * 1000.0, 3),
                                "budget_ms": round(e.budget * 1000.0, 3)} for e in log.late]
        self.late_count = log.late_count
        self.ev = log.ev_summary()
        self.limit, self.limit_deviations = limit_summary(log)
        self.deviations = merge_json(self.deviations, log.deviations)  # the machine's (PeerDeviation events)

    def stopped_in_order(self, kind: EndKind) -> bool:
        """The session ended with SessionStopReq answered (completed, or stopped in order)."""
        sent = [m for m in self.messages[-4:] if m["direction"] == EV_TO_SECC]
        answered = bool(self.messages) and self.messages[-1]["type"] == "SessionStopRes"
        return (kind in (EndKind.COMPLETED, EndKind.STOPPED) and bool(sent)
                and sent[-1]["type"] == "SessionStopReq" and answered)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_json(report: SessionJsonReport, path: Path) -> None:
    """Atomically (evcc.session.report_common.write_atomic)."""
    write_atomic(path, (json.dumps(report.as_dict(), indent=2) + "\n").encode(), "--json")
