"""`evcc conformance --passive CAPTURE.pcap` (issue 16 point 4): the cases that need no stimulus applied to a
capture taken anywhere (decoded by :mod:`evcc.trace.decode`): each response's ResponseCode, mandatory content and
value ranges, the SessionID the charger assigned, and its performance time (DIN SPEC 70121 Table 75, ISO 15118-2
Table 109, ISO 15118-20 §8.8: the time from the request's capture to the response's). A case whose request is not
in the capture, or whose protocol is not the captured session's, is not applicable. The first V2G session of the
capture is judged."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from evcc.conformance import protocols as proto
from evcc.conformance.context import judge_case_response
from evcc.conformance.messages import session_id_of, short
from evcc.conformance.model import Case, CaseResult, ExpectKind, Phase, StimulusKind, Verdict
from evcc.session.sap import DIN_NAMESPACE, ISO2_NAMESPACE, ISO20_NAMESPACES
from evcc.trace.decode import Event

PROTOCOL_OF_NAMESPACE = {DIN_NAMESPACE: "din", ISO2_NAMESPACE: "iso2", ISO20_NAMESPACES["iso20-dc"]: "iso20-dc",
                         ISO20_NAMESPACES["iso20-ac"]: "iso20-ac"}


@dataclass
class CapturedSession:
    """One V2G connection of the capture: the negotiated protocol, the energy mode seen, and the messages in order
    as (time, from the EV, name, message object)."""

    protocol: str | None = None
    energy: str = "dc"
    messages: list[tuple[float, bool, str, Any]] = field(default_factory=list)
    session_id: bytes | None = None


def sessions(events: list[Event]) -> list[CapturedSession]:
    found: dict[frozenset[str], tuple[str, CapturedSession]] = {}  # connection -> (EV's address, session)
    order: list[CapturedSession] = []
    offers: dict[frozenset[str], dict[int, str]] = {}
    for e in events:
        if e.layer != "v2g" or e.message is None:
            continue
        key = frozenset((e.src, e.dst))
        if e.type == "supportedAppProtocolReq" and key not in found:
            found[key] = (e.src, CapturedSession())
            order.append(found[key][1])
            offers[key] = {a.SchemaID: a.ProtocolNamespace for a in e.message.AppProtocol}
        if key not in found:
            continue
        ev, s = found[key]
        if e.type == "supportedAppProtocolRes" and e.message.SchemaID is not None:
            s.protocol = PROTOCOL_OF_NAMESPACE.get(offers[key].get(e.message.SchemaID, ""))
        if e.type == "SessionSetupRes":
            s.session_id = session_id_of(e.message)
        if e.type in ("ChargingStatusReq", "AC_ChargeLoopReq", "AC_ChargeParameterDiscoveryReq"):
            s.energy = "ac"
        s.messages.append((e.t, e.src == ev, e.type, e.message))
    return order


def applicable(case: Case) -> bool:
    """No stimulus, a response to judge: the content, range and performance cases (and SupportedAppProtocol's)."""
    return (case.stimulus.kind is StimulusKind.NONE and case.expect.kind is ExpectKind.RESPONSE
            and case.phase in (Phase.SESSION, Phase.SAP) and case.precondition.control == "Scheduled")


def judge(case: Case, session: CapturedSession | None) -> tuple[Verdict, str, list[dict[str, Any]], float | None]:
    if session is None:
        return Verdict.NOT_APPLICABLE, "no V2G session in the capture", [], None
    if not applicable(case):
        return Verdict.NOT_APPLICABLE, "needs a stimulus: only on a live charger", [], None
    pre = case.precondition
    if case.phase is Phase.SESSION and (pre.protocol != session.protocol or pre.energy != session.energy):
        return Verdict.NOT_APPLICABLE, f"the capture's session is {session.protocol} {session.energy}", [], None
    request = pre.request or "supportedAppProtocolReq"
    seen = 0
    for i, (t, from_ev, name, msg) in enumerate(session.messages):
        if not from_ev or name != request:
            continue
        seen += 1
        if seen < pre.occurrence:
            continue
        exchange = [_row(t, True, name, msg)]
        reply = next(((rt, rn, rm) for rt, ev, rn, rm in session.messages[i + 1:] if not ev), None)
        if reply is None:
            return Verdict.FAIL, f"no response to {request} in the capture", exchange, None
        rt, rn, rm = reply
        exchange.append(_row(rt, False, rn, rm))
        performance = None
        if case.expect.performance:
            table = proto.timers(session.protocol or "din")
            res_name = "SupportedAppProtocolRes" if request == "supportedAppProtocolReq" else proto.response_of(request)
            performance = table.performance_time(res_name)
        wanted = proto.response_of(request) if request != "supportedAppProtocolReq" else "supportedAppProtocolRes"
        verdict, reason = judge_case_response(case, rm, wanted, session.session_id, rt - t, performance)
        return verdict, reason, exchange, rt - t
    return Verdict.NOT_APPLICABLE, f"{request} #{pre.occurrence} is not in the capture", [], None


def _row(t: float, from_ev: bool, name: str, msg: Any) -> dict[str, Any]:
    return {"t": round(t, 6), "dir": "ev" if from_ev else "charger", "name": name, "detail": short(msg)}


def run_passive(cases: list[Case], events: list[Event]) -> list[CaseResult]:
    found = sessions(events)
    first = found[0] if found else None
    results = []
    for case in cases:
        verdict, reason, exchange, elapsed = judge(case, first)
        timings = {} if elapsed is None else {"response_s": round(elapsed, 6)}
        results.append(CaseResult(case, verdict, reason, started=time.time(), exchange=exchange, timings=timings))
    return results


__all__ = ["CapturedSession", "applicable", "judge", "run_passive", "sessions"]
