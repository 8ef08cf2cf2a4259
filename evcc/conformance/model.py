"""The charger test case model: what one case of ``evcc conformance`` is, as frozen data (issue 16).

A case names the protocol area it belongs to, the requirements it checks (as the code cites them: DIN SPEC 70121
clauses and tables, ISO 15118-2 ``[V2G2-nnn]``, ISO 15118-20 ``[V2G20-nnn]``, ISO 15118-3), how far a normal
session goes first (:class:`Precondition`), what the EV then does (:class:`Stimulus`), what the charger must do
(:class:`Expect`) and so how the verdict is read::

    precondition reached?  -- no: INCONCLUSIVE (or NOT_APPLICABLE: the charger does not offer the protocol/TLS)
          | yes
    stimulus sent -> charger's reaction observed until the expectation's window closes
          |
    reaction as expected?  -- yes: PASS   no: FAIL (the reason names what was seen instead)

The catalogue (``evcc.conformance.catalogue``) holds the cases as data tables; the runner interprets them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from evcc.errors import ConfigError


class CatalogueError(ConfigError):
    """A case in the catalogue is not well formed; the message names the case and the field."""


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # the charger did not reach the precondition, or the run was cut short
    NOT_APPLICABLE = "not applicable"  # the charger does not offer what the case needs (protocol, TLS, service)


class Phase(enum.Enum):
    """Where the stimulus goes."""

    SDP = "sdp"  # a SECC Discovery Request datagram (ISO 15118-2 §7.10.1)
    TLS = "tls"  # the TCP/TLS connection set-up (ISO 15118-2 §7.7, -20 §7.7 TLS 1.3)
    SAP = "sap"  # the supportedAppProtocolReq (ISO 15118-2 §8.2.1, DIN SPEC 70121 §9.2)
    SESSION = "session"  # a request of the negotiated protocol


class StimulusKind(enum.Enum):
    NONE = "none"  # the request as the EV machine built it (content, ranges, performance time)
    SESSION_ID = "session-id"  # the request with another SessionID (``value``: hex, default: the right one XOR 0xFF)
    EARLIER = "earlier"  # instead of the request, again an earlier request of this session (``request``)
    LATER = "later"  # instead of the request, one of a later state (``request``, built by the request factory)
    MUTATE = "mutate"  # the request with ``path`` set to ``value`` (a value at or beyond a limit)
    GARBAGE_EXI = "garbage-exi"  # undecodable EXI in a correct V2GTP frame
    V2GTP = "v2gtp"  # a broken V2GTP header: ``path`` names the field (version, inverse, payload-type, length)
    DELAY = "delay"  # the request sent ``value`` seconds late (the charger's sequence timeout)
    SILENCE = "silence"  # no request at all: the charger must end the session (V2G_SECC_Sequence_Timeout)
    STOP = "stop"  # the EV asks to stop at this point (the orderly stop path)
    DATAGRAM = "datagram"  # SDP: ``value`` is the datagram (hex)
    OFFERS = "offers"  # SAP: ``value`` is the list of offers (namespace, major, minor, schema id, priority)
    CONTRACT = "contract"  # Plug & Charge: ``value`` names the deviation (evcc.conformance.pnc.DEVIATIONS)
    TLS_OFFER = "tls-offer"  # TLS: ``value`` names the deviation (e.g. "no-client-cert", "tls12-other-cipher")


class ExpectKind(enum.Enum):
    RESPONSE = "response"  # a response of type ``response`` with a code in ``codes``, all ``checks`` true
    CLOSE = "close"  # the charger closes the connection within ``within`` s (a FAILED response first is fine)
    REFUSE = "refuse"  # a response with a FAILED code, or the connection closed: either ends the session
    PROGRESS = "progress"  # the session goes on normally until the EV sends ``response`` (a request name)
    IGNORE = "ignore"  # no positive response: silence or a close (a FAILED response is fine too)
    NO_RESPONSE = "no-response"  # SDP: no answer within ``within`` s
    SDP_RESPONSE = "sdp-response"  # SDP: a valid answer, ``checks`` on it
    TLS_REFUSED = "tls-refused"  # the TLS handshake (or the first read) fails
    TLS_ACCEPTED = "tls-accepted"  # the TLS handshake succeeds with the profile's parameters (``checks``)


@dataclass(frozen=True, slots=True)
class Check:
    """One rule on the response. ``path``: dotted field path in the response body (``DC_EVSEStatus.EVSEStatusCode``),
    ``Header.SessionID`` for the header. ``rule``: present, absent, in, range (numbers; PhysicalValue and
    RationalNumber read as their value), len (bytes/text/list length range), same-session (the SessionID the
    charger assigned), new-session (8 bytes, not 0), not-in, le-field (a number not above the field ``arg``)."""

    path: str
    rule: str
    arg: Any = None

    RULES = frozenset({"present", "absent", "in", "not-in", "range", "len", "same-session", "new-session",
                       "le-field"})

    def describe(self) -> str:
        return f"{self.path} {self.rule}{'' if self.arg is None else ' ' + repr(self.arg)}"


@dataclass(frozen=True, slots=True)
class Precondition:
    """How far a normal session goes before the stimulus: the protocol key (``din``, ``iso2``, ``iso20-dc`` ...),
    the energy and identification modes, TLS, and the request the stimulus replaces (its ``occurrence``-th one)."""

    protocol: str = ""  # empty: SDP only
    request: str | None = None  # None: the phase's own message (SDP request, TLS handshake, SAP request)
    occurrence: int = 1
    energy: str = "dc"
    auth: str = "eim"
    tls: bool = False
    control: str = "Scheduled"  # ISO 15118-20 control mode (§8.5): Scheduled or Dynamic


@dataclass(frozen=True, slots=True)
class Stimulus:
    kind: StimulusKind = StimulusKind.NONE
    request: str | None = None  # EARLIER/LATER: the request sent instead
    path: str | None = None  # MUTATE/V2GTP: the field
    value: Any = None


@dataclass(frozen=True, slots=True)
class Expect:
    kind: ExpectKind
    response: str | None = None  # RESPONSE: the response element; PROGRESS: the request to reach
    codes: tuple[str, ...] = ("OK*",)  # patterns: exact, or a prefix with '*'
    checks: tuple[Check, ...] = ()
    within: float | str | None = None  # seconds, or a timer name of the protocol's table
    performance: bool = False  # RESPONSE: within V2G_SECC_Msg_Performance_Time of the response
    full: bool = False  # only with --full (a long timeout)


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    area: str  # sdp, v2gtp, sap, session, sequence, content, timing, stop, tls, pnc ...
    protocols: tuple[str, ...]
    requirements: tuple[str, ...]
    phase: Phase
    precondition: Precondition
    stimulus: Stimulus
    expect: Expect
    tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise CatalogueError(f"case id {self.id!r}: letters, digits, '-', '_' and '.' only")
        if not self.title or not self.requirements:
            raise CatalogueError(f"case {self.id}: title and at least one requirement are needed")
        if self.precondition.occurrence < 1:
            raise CatalogueError(f"case {self.id}: occurrence {self.precondition.occurrence} must be >= 1")
        if self.phase is Phase.SESSION and (not self.precondition.protocol or not self.precondition.request):
            raise CatalogueError(f"case {self.id}: a session case needs a protocol and a request")
        for check in self.expect.checks:
            if check.rule not in Check.RULES:
                raise CatalogueError(f"case {self.id}: check rule {check.rule!r} unknown ({sorted(Check.RULES)})")
        if self.expect.kind in (ExpectKind.RESPONSE, ExpectKind.PROGRESS) and not self.expect.response:
            raise CatalogueError(f"case {self.id}: {self.expect.kind.value} needs the response (or request) name")

    @property
    def full_only(self) -> bool:
        return self.expect.full


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class CaseResult:
    """What one case gave: the verdict, the reason in one line, and the record for the report."""

    case: Case
    verdict: Verdict
    reason: str
    started: float = 0.0  # wall-clock seconds (time.time) for the report
    duration: float = 0.0  # seconds of the run (the charger's time base: virtual in memory)
    exchange: list[dict[str, Any]] = field(default_factory=list)  # t, dir, name, detail
    timings: dict[str, float] = field(default_factory=dict)  # e.g. response_s for the stimulus

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {"id": c.id, "title": c.title, "area": c.area, "protocols": list(c.protocols),
                "requirements": list(c.requirements), "verdict": self.verdict.value, "reason": self.reason,
                "started": self.started, "duration_s": round(self.duration, 6), "timings": self.timings,
                "exchange": self.exchange}
