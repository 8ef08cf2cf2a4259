"""Turns the per-protocol data tables into cases: one row of a table is one family of cases (the response to
a request: content and ranges, performance time, SessionID handling; a sequence error in a state; a stop path;
a timeout). The tables are the catalogue; this module only spells the rows out the same way for every protocol."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from evcc.conformance.model import Case, Check, Expect, ExpectKind, Phase, Precondition, Stimulus, StimulusKind
from evcc.conformance.protocols import response_of


@dataclass(frozen=True)
class Step:
    """A request of the normal session and what its response must carry."""

    request: str
    requirements: tuple[str, ...]
    checks: tuple[Check, ...] = ()
    occurrence: int = 1
    codes: tuple[str, ...] = ("OK*",)
    label: str = ""  # id suffix when one request appears twice (PowerDelivery start/stop)

    @property
    def tag(self) -> str:
        return self.label or self.request[: -len("Req")]


@dataclass(frozen=True)
class Profile:
    """One protocol (and energy mode) the tables are spelled out for."""

    prefix: str  # case id prefix: DIN, ISO2-DC, ISO20-DC ...
    protocol: str  # the machine key (evcc session --protocol)
    energy: str
    title: str
    timing: tuple[str, ...]  # the standard's timing table, cited by the performance cases
    sequence_req: tuple[str, ...]  # what the standard says of out-of-order requests
    session_req: tuple[str, ...]  # ... of an unknown SessionID
    unknown_session_code: str = "FAILED_UnknownSession"
    control: str = "Scheduled"


def _pre(p: Profile, request: str, occurrence: int = 1) -> Precondition:
    return Precondition(p.protocol, request, occurrence, energy=p.energy, control=p.control)


def responses(p: Profile, steps: Sequence[Step]) -> Iterable[Case]:
    """RES: mandatory content and ranges; PERF: within V2G_SECC_Msg_Performance_Time; SID: an unknown SessionID
    is refused (not for SessionSetupReq, which carries none)."""
    for s in steps:
        res = response_of(s.request)
        occ = "" if s.occurrence == 1 else f" #{s.occurrence}"
        yield Case(f"{p.prefix}-RES-{s.tag}", f"{p.title}: {res}{occ} has its mandatory content and value ranges",
                   "content", (p.protocol,), s.requirements, Phase.SESSION, _pre(p, s.request, s.occurrence),
                   Stimulus(), Expect(ExpectKind.RESPONSE, res, s.codes, s.checks))
        yield Case(f"{p.prefix}-PERF-{s.tag}", f"{p.title}: {res}{occ} within V2G_SECC_Msg_Performance_Time",
                   "timing", (p.protocol,), p.timing, Phase.SESSION, _pre(p, s.request, s.occurrence),
                   Stimulus(), Expect(ExpectKind.RESPONSE, res, ("*",), performance=True))
        if s.request != "SessionSetupReq" and s.occurrence == 1:
            yield Case(f"{p.prefix}-SID-{s.tag}", f"{p.title}: {s.request} with an unknown SessionID is refused "
                       f"with {p.unknown_session_code}", "session", (p.protocol,), p.session_req, Phase.SESSION,
                       _pre(p, s.request), Stimulus(StimulusKind.SESSION_ID),
                       Expect(ExpectKind.RESPONSE, res, (p.unknown_session_code,)))


def sequence_errors(p: Profile, rows: Sequence[tuple[str, str, str]]) -> Iterable[Case]:
    """(state's request, request sent instead, EARLIER|LATER): FAILED_SequenceError in the response to it."""
    for state, instead, how in rows:
        kind = StimulusKind.EARLIER if how == "earlier" else StimulusKind.LATER
        yield Case(f"{p.prefix}-SEQ-{state[:-3]}-{instead[:-3]}",
                   f"{p.title}: {instead} where {state} is due is refused with FAILED_SequenceError", "sequence",
                   (p.protocol,), p.sequence_req, Phase.SESSION, _pre(p, state), Stimulus(kind, request=instead),
                   Expect(ExpectKind.RESPONSE, response_of(instead), ("FAILED_SequenceError",)))


def stops(p: Profile, at: Sequence[tuple[str, int]], requirements: tuple[str, ...],
          final: str = "SessionStopRes") -> Iterable[Case]:
    """The EV stops at the request: the charger answers each stop request and SessionStop ends OK."""
    for request, occurrence in at:
        yield Case(f"{p.prefix}-STOP-{request[:-3]}{'' if occurrence == 1 else occurrence}",
                   f"{p.title}: the EV stops after {request} #{occurrence}: the stop path ends with {final} OK",
                   "stop", (p.protocol,), requirements, Phase.SESSION, _pre(p, request, occurrence),
                   Stimulus(StimulusKind.STOP), Expect(ExpectKind.RESPONSE, final))


def framing(p: Profile, request: str, requirements: tuple[str, ...]) -> Iterable[Case]:
    """V2GTP header faults and undecodable EXI in place of ``request``: no positive answer (ISO 15118-2 §7.8.3:
    the message is discarded; a close or FAILED is fine)."""
    rows = (("version", 0x02, "protocol version 0x02"), ("inverse", 0x00, "inverse version that does not match"),
            ("payload-type", 0x7001, "unknown payload type 0x7001"),
            ("length", 0x7FFF_FFFF, "payload length 0x7FFFFFFF"))
    for path, value, what in rows:
        yield Case(f"{p.prefix}-V2GTP-{path}", f"{p.title}: a V2GTP header with {what} gets no positive answer",
                   "v2gtp", (p.protocol,), requirements, Phase.SESSION, _pre(p, request),
                   Stimulus(StimulusKind.V2GTP, path=path, value=value), Expect(ExpectKind.IGNORE, within=3.0))
    yield Case(f"{p.prefix}-EXI-garbage", f"{p.title}: undecodable EXI in place of {request} gets no positive answer",
               "v2gtp", (p.protocol,), requirements, Phase.SESSION, _pre(p, request),
               Stimulus(StimulusKind.GARBAGE_EXI), Expect(ExpectKind.IGNORE, within=3.0))


def timeouts(p: Profile, at: Sequence[str], requirements: tuple[str, ...]) -> Iterable[Case]:
    """--full: the EV falls silent where ``request`` is due; the charger ends the session (closes the
    connection) after V2G_SECC_Sequence_Timeout."""
    for request in at:
        yield Case(f"{p.prefix}-TMO-{request[:-3]}", f"{p.title}: no {request}: the charger closes the connection "
                   "after V2G_SECC_Sequence_Timeout", "timing", (p.protocol,), requirements, Phase.SESSION,
                   _pre(p, request), Stimulus(StimulusKind.SILENCE),
                   Expect(ExpectKind.CLOSE, within=70.0, full=True))


def mutations(p: Profile, rows: Sequence[tuple[str, str, str, str, object, tuple[str, ...], tuple[str, ...]]]
              ) -> Iterable[Case]:
    """(id, title, request, field path, value, codes, requirements): a request field at or beyond a limit."""
    for ident, title, request, path, value, codes, reqs in rows:
        yield Case(f"{p.prefix}-VAL-{ident}", f"{p.title}: {title}", "range", (p.protocol,), reqs, Phase.SESSION,
                   _pre(p, request), Stimulus(StimulusKind.MUTATE, path=path, value=value),
                   Expect(ExpectKind.RESPONSE, response_of(request), codes))


def progress(p: Profile, rows: Sequence[tuple[str, str, str, tuple[str, ...]]]) -> Iterable[Case]:
    """(from request, to request, the EV timer that bounds it, requirements): the charger takes the session from one
    to the other before the EV's timer runs out (EVSEProcessing Finished in time, the voltage reached ...)."""
    for start, end, timer, reqs in rows:
        yield Case(f"{p.prefix}-PROG-{start[:-3]}", f"{p.title}: from {start} the charger reaches {end} within "
                   f"{timer}", "timing", (p.protocol,), reqs, Phase.SESSION, _pre(p, start), Stimulus(),
                   Expect(ExpectKind.PROGRESS, end))
