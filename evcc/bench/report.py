"""The result of one `evcc bench` run: what each layer did (ISO 15118-3 SLAC, ISO 15118-2 §7.10.1 SDP, TCP/TLS,
SupportedAppProtocol and the protocol machine), Plug & Charge (contract used, installed or not), the
per-message timing table, the time series of the charge (SoC, EV targets, EVSE output, power) and the verdict,
as a plain dataclass and as JSON (written atomically).

Bounded for any session length (evcc.bounded): ``messages`` keeps the first and last exchanges
(``messages_total``, ``messages_dropped``), ``timings`` (count, min/median/p99/max, late) covers all of them,
``series`` is decimated to at most about :data:`SERIES_POINTS` evenly spaced samples (the first and the last
kept)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from evcc.bench.vehicle_sim import Sample
from evcc.bounded import Decimator, PerName, Window
from evcc.session.deviations import merge_json
from evcc.session.events import EndKind, Exchange, LateResponse, SessionEvent
from evcc.session.limits import limit_summary
from evcc.session.report_common import write_atomic
from evcc.session.runner import SessionReport
from evcc.session.session_log import SessionLog, response_name

SERIES_POINTS = 1000  # the decimated series holds up to twice this
MESSAGES_HEAD = 1000
MESSAGES_TAIL = 1000
_INTERNAL = ("_rtt", "_messages")


@dataclass
class SlacResult:
    matched: bool = False
    time_s: float | None = None
    evse_mac: str | None = None
    attenuation_db: float | None = None
    nid: str | None = None
    failure: str | None = None


@dataclass
class SdpResult:
    found: bool = False
    address: str | None = None
    port: int | None = None
    security: str | None = None
    time_s: float | None = None
    evse: str | None = None  # which EVSE's SECC answered
    failure: str | None = None


@dataclass
class MessageTiming:
    request: str
    count: int
    median_ms: float
    max_ms: float
    min_ms: float | None = None
    p99_ms: float | None = None
    late: int = 0
    exact: bool = True  # median and p99 exact (else: evcc.bounded.PRECISION)


@dataclass
class PncResult:
    """Plug & Charge (ISO 15118-2, -20): the contract (eMAID) used, whether this run installed it, the key store,
    and (-20) the contracts the charger refused before it authorised one."""

    emaid: str | None = None
    installed: bool = False  # CertificateInstallation in this run's session
    preinstalled: bool = False  # installed before the session (scenario install_contract = false)
    keystore: str = ""
    authorized: bool = False  # AuthorizationReq answered
    refused: list[str] = field(default_factory=list)  # "<eMAID> (<ResponseCode>)" per refused contract


@dataclass
class BenchReport:
    """``timeline``: (seconds since the run started, event) in order; ``clock`` says whether the times are
    wall clock (netns) or the in-process link's virtual clock."""

    link: str
    clock: str
    fallback_reason: str | None = None
    protocol: str | None = None  # the negotiated SAP key (iso20-dc also for DC_BPT)
    service: str | None = None  # the scenario protocol's energy service (ISO 15118-20: DC, DC_BPT, AC, AC_BPT)
    control: str | None = None  # ISO 15118-20 control mode (Scheduled, Dynamic)
    tls: bool = False
    tls_cipher: str | None = None
    auth: str = "eim"
    current: str = "dc"
    pnc: PncResult | None = None
    sessions: int = 0  # V2G sessions run (2 after a pause and resume)
    steps_done: list[str] = field(default_factory=list)
    series: list[Sample] = field(default_factory=list)
    trace: dict[str, str] = field(default_factory=dict)  # what was written (TEST-ONLY files) or why not
    dbus: str | None = None  # what the D-Bus state reader saw last, or why there is none
    slac: SlacResult = field(default_factory=SlacResult)
    sdp: SdpResult = field(default_factory=SdpResult)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # first and last MESSAGES_HEAD/MESSAGES_TAIL
    messages_total: int = 0
    messages_dropped: int = 0
    timings: list[MessageTiming] = field(default_factory=list)
    late_responses: int = 0
    ev: dict[str, Any] = field(default_factory=dict)  # the EV's own time (last session): ev_turn, ev_work
    min_cycle: float | None = None  # the charge loop's minimum cycle in use (s)
    fault: str | None = None  # the SECC fault injected (evcc.bench.secc.faults), described
    limit: dict[str, Any] | None = None  # the EV's limit in force last and what set it (evcc.session.limits)
    limit_deviations: list[str] = field(default_factory=list)  # the charger's limits that made no sense
    limit_violations: list[str] = field(default_factory=list)  # requests above the charger's limits (bounded)
    fault_actions: list[str] = field(default_factory=list)  # what the fault layer did, as it happened
    ip_frames_over_powerline: int | None = None  # IPv6 frames the simulated powerline carried (netns only)
    deviations: list[dict[str, Any]] = field(default_factory=list)  # the charger's tolerated ones (SLAC, V2G; #14)
    end_kind: str | None = None
    end_reason: str = "not started"
    end_state: str | None = None
    end_timer: str | None = None
    session_stopped: bool = False
    start_soc: float = 0.0
    end_soc: float = 0.0
    target_soc: float = 0.0
    delivered_wh: float = 0.0  # net energy into the battery (negative after a net discharge)
    discharged_wh: float = 0.0  # energy the battery gave back (ISO 15118-20 BPT)
    time_scale: float = 1.0
    duration_s: float = 0.0
    _rtt: PerName = field(default_factory=PerName, repr=False, compare=False)
    _messages: Window[dict[str, Any]] = field(default_factory=lambda: Window(MESSAGES_HEAD, MESSAGES_TAIL),
                                              repr=False, compare=False)

    @property
    def protocol_family(self) -> str:
        return "iso20" if (self.protocol or "").startswith("iso20") else (self.protocol or "")

    @property
    def ok(self) -> bool:
        """The session ended with SessionStopReq/Res (completed or stopped in order)."""
        return self.session_stopped

    def mark(self, t: float, what: str) -> None:
        self.timeline.append((round(t, 6), what))

    def fail(self, reason: str) -> None:
        self.end_reason = reason

    def take_session(self, session: SessionReport, origin: float) -> None:
        self.protocol = session.protocol
        self.sessions += 1
        self.take_events(session.events, origin)
        ended = session.ended
        self.end_kind, self.end_reason, self.end_state, self.end_timer = (
            ended.kind.value, ended.reason, ended.state, ended.timer)
        last = self.messages[-1]["request"] if self.messages else None
        self.session_stopped = last == "SessionStopReq" and ended.kind in (EndKind.COMPLETED, EndKind.STOPPED)

    def take_events(self, events: Iterable[SessionEvent], origin: float) -> None:
        """The session's events: a bounded SessionLog (aggregates over every exchange) or a plain list."""
        if not isinstance(events, SessionLog):
            events = list(events)
        limit, deviations = limit_summary(events)
        self.limit = limit or self.limit
        self.limit_deviations = (self.limit_deviations + deviations)[:32]
        if isinstance(events, SessionLog):
            self.deviations = merge_json(self.deviations, events.deviations)  # the V2G machine's, after SLAC's
            self._rtt.merge(events.rtt)
            self.late_responses += events.late_count
            self.ev = events.ev_summary()
            exchanges: Iterable[Exchange] = events.exchanges
            self.messages_total += events.exchanges.total
        else:
            listed = list(events)
            exchanges = [e for e in listed if isinstance(e, Exchange)]
            self.messages_total += len(exchanges)
            for event in listed:
                if isinstance(event, Exchange):
                    self._rtt.add(response_name(event.request), event.latency)
                elif isinstance(event, LateResponse):
                    self.late_responses += 1
                    self._rtt.late[event.response] = self._rtt.late.get(event.response, 0) + 1
        for event in exchanges:
            self._messages.append({"request": event.request, "t": round(event.sent_at - origin, 6),
                                   "rtt_ms": round(event.latency * 1000.0, 3), "session": self.sessions})
        self.messages = list(self._messages)
        self.messages_dropped = self.messages_total - len(self.messages)
        self.timings = [self._timing(name) for name in self._rtt.stats]

    def _timing(self, name: str) -> MessageTiming:
        q = self._rtt.stats[name]
        request = name[:-3] + "Req" if name.endswith("Res") else name
        return MessageTiming(request, q.count, round(q.median * 1e3, 3), round(q.max * 1e3, 3),
                             round(q.min * 1e3, 3), round(q.p99 * 1e3, 3), self._rtt.late.get(name, 0), q.exact)

    def take_series(self, samples: Iterable[Sample], origin: float) -> None:
        """The vehicle's samples, times relative to the run's start (``origin`` on the protocol clock), at most
        about 2 x SERIES_POINTS of them, evenly spaced."""
        kept: Decimator[Sample] = Decimator(SERIES_POINTS)
        kept.extend(samples)
        self.series = [replace(s, t=round(s.t - origin, 4)) for s in kept.items()]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in _INTERNAL:
            out.pop(key, None)
        out["ok"] = self.ok
        out["timeline"] = [{"t": t, "event": what} for t, what in self.timeline]
        return out


def write_json(report: BenchReport, path: Path) -> None:
    write_atomic(path, (json.dumps(report.as_dict(), indent=2) + "\n").encode(), "--json")
