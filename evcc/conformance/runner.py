"""Runs charger test cases (issue 16): for each case a fresh SDP, connection and SupportedAppProtocol, then the
EV's own protocol machine until the precondition, then the stimulus instead of (or around) the request the
machine built, and the charger's reaction read against the expectation. The machines are sans-IO: their requests
come out as message objects, so a deviation is a changed copy of that object (another SessionID, an earlier
request, a field at a limit) or raw bytes, and nothing in the session code changes.

Verdicts: PASS/FAIL from the reaction; INCONCLUSIVE when the charger did not take the session to the
precondition (the reason says how far it got), NOT_APPLICABLE when it does not offer the protocol or TLS. A case
never raises: a charger that crashes, hangs or answers garbage gives that case a verdict with the reason and the
suite goes on with the next case. Timing is the charger's clock (:class:`~evcc.conformance.link.Charger`): real
over the network, virtual in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evcc import exi
from evcc.conformance import protocols as proto
from evcc.conformance.judge import check_fields, code_matches, late
from evcc.conformance.link import Broken, Charger, Closed, Frame, Link, Received
from evcc.conformance.messages import (body_of, element_name, encode, grammar_for, session_id_of, set_field, short,
                                       with_session_id)
from evcc.conformance.model import Case, CaseResult, ExpectKind, Phase, StimulusKind, Verdict
from evcc.errors import EvccError
from evcc.exi import sap
from evcc.session import v2gtp
from evcc.session.attach import with_min_msg_timeout
from evcc.session.attach_protocols import MachineInputs
from evcc.session.attach_vehicle import LabVehicle, VehicleConfig
from evcc.session.iso20.config import ControlMode
from evcc.session.connection import PreparedTls, TlsConfig, TlsVersion, prepare
from evcc.session.errors import SdpError
from evcc.session.machine import EvccMachine, routing
from evcc.session.sap import ProtocolOffer, build_request
from evcc.session.sdp import Security, decode_response, encode_request

GARBAGE_EXI = b"\x80\xff\xff\xff\xff\x00\x13\x37"
MAX_EXCHANGE = 120  # exchange rows kept per case (the first 20 and the last 100)
MAX_STEPS = 100_000


@dataclass(frozen=True)
class RunOptions:
    """``tls12``/``tls13``: the EV's TLS settings (V2G roots; -20: the vehicle certificate) for TLS cases and
    TLS preconditions; without them those cases are not applicable. ``charge_seconds``: how long the EV charges
    before it declares charging complete (the stop paths)."""

    evcc_id: bytes = bytes.fromhex("02005e000001")
    tls12: TlsConfig | None = None
    tls13: TlsConfig | None = None
    sdp_requests: int = 50  # [V2G2-161]: a charger that pauses SDP between sessions (Josev: ~5 s) is still found
    sdp_wait: float = 0.25
    charge_seconds: float = 1.0
    case_timeout: float = 90.0  # a case that takes longer (wall clock) is cut: INCONCLUSIVE
    full: bool = False
    pack_voltage: tuple[float, float] | None = None  # LAB: the vehicle's pack (a charger with a low voltage limit)
    precharge_tolerance: float | None = None  # LAB: PreCharge ends within this many V of the battery voltage
    min_msg_timeout: float | None = None  # LAB: the EV's V2G_EVCC_Msg_Timeout raised to this (a slow charger);
    # the verdicts still use the standard's performance times
    session_tls: bool = False  # SupportedAppProtocol and session cases over TLS too (a charger that offers only TLS)


class CaseOutcome(Exception):
    """Ends a case with a verdict from anywhere in the run."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


def _stop(verdict: Verdict, reason: str) -> CaseOutcome:
    return CaseOutcome(verdict, reason)


@dataclass
class _Run:
    case: Case
    charger: Charger
    opts: RunOptions
    t0: float
    exchange: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    dropped: int = 0

    def note(self, direction: str, name: str, detail: str = "", t: float | None = None) -> None:
        row = {"t": round((self.charger.now() if t is None else t) - self.t0, 6), "dir": direction, "name": name,
               "detail": detail}
        self.exchange.append(row)
        if len(self.exchange) > MAX_EXCHANGE:
            del self.exchange[20]
            self.dropped += 1


async def run_case(case: Case, charger: Charger, opts: RunOptions) -> CaseResult:
    """One case; always a result."""
    run = _Run(case, charger, opts, charger.now())
    wall = time.time()
    try:
        async with asyncio.timeout(opts.case_timeout):
            verdict, reason = await _phase(run)
    except CaseOutcome as out:
        verdict, reason = out.verdict, out.reason
    except TimeoutError:
        verdict, reason = Verdict.INCONCLUSIVE, f"the case did not finish within {opts.case_timeout} s"
    except EvccError as exc:  # a stimulus the codec refuses, a configuration the case cannot use
        verdict, reason = Verdict.INCONCLUSIVE, f"suite: {exc}"
    if run.dropped:
        run.note("suite", "note", f"{run.dropped} exchange rows left out")
    return CaseResult(case, verdict, reason, started=wall, duration=charger.now() - run.t0,
                      exchange=run.exchange, timings=run.timings)


async def _phase(run: _Run) -> tuple[Verdict, str]:
    phase = run.case.phase
    if phase is Phase.SDP:
        return await _sdp_case(run)
    link = await _open(run)
    try:
        if phase is Phase.TLS:
            return await _tls_case(run, link)
        if phase is Phase.SAP:
            return await _sap_case(run, link)
        return await _session_case(run, link)
    finally:
        link.close()


# ------------------------------------------------------------------------------------------------------------- SDP
async def _discover(run: _Run, security: Security) -> tuple[str, int]:
    """[V2G2-160]/[V2G2-161]: requests until a valid answer; the SECC address and port."""
    for _ in range(run.opts.sdp_requests):
        for answer in await run.charger.sdp_exchange(encode_request(security), run.opts.sdp_wait, first=True):
            try:
                found = decode_response(answer)
            except SdpError as exc:
                run.note("charger", "SDP", f"dropped: {exc}")
                continue
            run.note("charger", "SDP", f"[{found.address}]:{found.port} {found.security.name}")
            if found.security is not security:
                raise _stop(Verdict.NOT_APPLICABLE, f"the charger answers SDP {security.name} with {found.security.name}")
            return str(found.address), found.port
    raise _stop(Verdict.INCONCLUSIVE, f"no valid SDP answer to {run.opts.sdp_requests} requests")


async def _sdp_case(run: _Run) -> tuple[Verdict, str]:
    case = run.case
    stim, expect = case.stimulus, case.expect
    security = Security.TLS if case.precondition.tls else Security.NO_TLS
    datagram = bytes.fromhex(str(stim.value)) if stim.kind is StimulusKind.DATAGRAM else encode_request(security)
    wait = float(expect.within) if isinstance(expect.within, (int, float)) else run.opts.sdp_wait
    for n in range(case.precondition.occurrence):
        run.note("ev", "SDP request", datagram.hex())
        answers = await run.charger.sdp_exchange(datagram, wait, first=expect.kind is not ExpectKind.NO_RESPONSE)
        for a in answers:
            run.note("charger", "SDP response", a.hex())
        if expect.kind is ExpectKind.NO_RESPONSE:
            if answers:
                return Verdict.FAIL, f"the charger answered a request it must ignore ({len(answers)} datagram(s))"
            continue
        valid = []
        for a in answers:
            try:
                valid.append(decode_response(a))
            except SdpError as exc:
                return Verdict.FAIL, f"SDP response {n + 1}: {exc}"
        if not valid:
            return Verdict.FAIL, f"no SDP response to request {n + 1} within {wait} s"
        got = valid[0]
        fields = {"security": got.security.name, "transport": got.transport.name, "port": got.port,
                  "address": str(got.address), "link_local": got.address.is_link_local}
        for check in expect.checks:
            value: Any = fields.get(check.path)
            if check.rule == "in" and value not in check.arg:
                if check.path == "security" and security is Security.TLS:
                    return Verdict.NOT_APPLICABLE, f"the charger offers {value} when asked for TLS"
                return Verdict.FAIL, f"SDP {check.path} {value!r} not in {list(check.arg)}"
            if check.rule == "range" and not (check.arg[0] <= int(value or 0) <= check.arg[1]):
                return Verdict.FAIL, f"SDP {check.path} {value} outside {list(check.arg)}"
    if expect.kind is ExpectKind.NO_RESPONSE:
        return Verdict.PASS, f"no answer within {wait} s"
    return Verdict.PASS, "valid SDP response" + ("s" if case.precondition.occurrence > 1 else "")


# ------------------------------------------------------------------------------------------------------ TCP / TLS
def _tls_config(run: _Run, protocol: str) -> TlsConfig | None:
    is13 = protocol.startswith("iso20")
    return run.opts.tls13 if is13 else run.opts.tls12


async def _open(run: _Run) -> Link:
    pre = run.case.precondition
    tls: PreparedTls | None = None
    if pre.tls or run.case.phase is Phase.TLS or (run.opts.session_tls and run.case.phase is not Phase.SDP):
        config = _tls_config(run, pre.protocol)
        if config is None:
            raise _stop(Verdict.NOT_APPLICABLE, "no TLS settings given (--tls-roots)")
        tls = prepare(_tls_deviation(run, config))
    address, port = await _discover(run, Security.TLS if tls is not None else Security.NO_TLS)
    try:
        link = await run.charger.connect(address, port, tls)
    except EvccError as exc:
        if run.case.phase is Phase.TLS:
            raise _stop(*_tls_outcome(run, refused=str(exc)))
        raise _stop(Verdict.INCONCLUSIVE, f"connection: {exc}")
    run.note("ev", "connected", f"[{address}]:{port} {link.tls_version or 'TCP'} {link.cipher or ''}".strip())
    return link


def _tls_deviation(run: _Run, config: TlsConfig) -> TlsConfig:
    """TLS_OFFER stimuli: the EV's side made wrong on purpose."""
    import dataclasses
    stim = run.case.stimulus
    if stim.kind is not StimulusKind.TLS_OFFER or stim.value in (None, "standard"):
        return config
    if stim.value == "no-client-cert":
        return dataclasses.replace(config, client_certificate=None)
    if stim.value == "other-cipher":
        return dataclasses.replace(config, cipher="ECDHE-ECDSA-AES256-GCM-SHA384")
    if stim.value == "tls12-for-20":
        return dataclasses.replace(config, version=TlsVersion.TLS12, client_certificate=None)
    raise EvccError(f"unknown TLS deviation {stim.value!r}")


def _tls_outcome(run: _Run, refused: str | None, detail: str = "") -> tuple[Verdict, str]:
    kind = run.case.expect.kind
    if kind is ExpectKind.TLS_REFUSED:
        return (Verdict.PASS, f"refused: {refused}") if refused else (Verdict.FAIL, f"the charger accepted it {detail}")
    return (Verdict.FAIL, f"TLS refused: {refused}") if refused else (Verdict.PASS, f"TLS accepted {detail}")


async def _tls_case(run: _Run, link: Link) -> tuple[Verdict, str]:
    """The handshake went through; the charger may still refuse on the first read (TLS 1.3 client certificate):
    SupportedAppProtocol tells."""
    pre = run.case.precondition
    offer = proto.choice(pre.protocol).offer
    item = await _sap_exchange(run, link, build_request([offer]), 2.0)
    if not isinstance(item, Frame):
        return _tls_outcome(run, refused="no SupportedAppProtocol answer after the handshake: " + _what(item))
    for check in run.case.expect.checks:
        got = {"version": link.tls_version, "cipher": link.cipher}.get(check.path)
        if check.rule == "in" and got not in check.arg:
            return Verdict.FAIL, f"TLS {check.path} {got} not in {list(check.arg)}"
    return _tls_outcome(run, refused=None, detail=f"({link.tls_version} {link.cipher})")


# ------------------------------------------------------------------------------------------ SupportedAppProtocol
async def _sap_exchange(run: _Run, link: Link, req: Any, wait: float, raw: bytes | None = None) -> Received | None:
    payload = raw if raw is not None else exi.encode(req)
    run.note("ev", "supportedAppProtocolReq", "garbage" if raw is not None else short(req))
    link.send_raw(v2gtp.encode(v2gtp.EXI_ENCODED, payload))
    sent = run.charger.now()
    item = await link.receive(wait)
    if isinstance(item, Frame):
        run.timings["response_s"] = round(item.t - sent, 6)
    return item


def _offers(value: Any) -> list[ProtocolOffer]:
    return [ProtocolOffer("x", ns, major, minor, schema_id=sid, priority=prio)
            for ns, major, minor, sid, prio in value]


async def _supported(run: _Run, protocol: str) -> None:
    """NOT_APPLICABLE unless the charger negotiates ``protocol`` offered alone (a connection of its own)."""
    link = await _open(run)
    try:
        await _negotiate(run, link, protocol)
    finally:
        link.close()


async def _sap_case(run: _Run, link: Link) -> tuple[Verdict, str]:
    case, stim, expect = run.case, run.case.stimulus, run.case.expect
    if stim.kind is StimulusKind.OFFERS and case.precondition.protocol and code_matches(
            "OK_SuccessfulNegotiation", expect.codes):
        await _supported(run, case.precondition.protocol)
    wait = proto.seconds("din", expect.within, "SupportedAppProtocolReq", max(2.0, run.opts.min_msg_timeout or 0.0))
    raw = GARBAGE_EXI if stim.kind is StimulusKind.GARBAGE_EXI else None
    if stim.kind is StimulusKind.OFFERS:
        req = sap.supportedAppProtocolReq(AppProtocol=[
            sap.AppProtocolType(ProtocolNamespace=o.namespace, VersionNumberMajor=o.major,
                                VersionNumberMinor=o.minor, SchemaID=o.schema_id, Priority=o.priority)
            for o in _offers(stim.value)])
    else:
        req = build_request([proto.choice(case.precondition.protocol or "din").offer])
    item = await _sap_exchange(run, link, req, wait, raw)
    if not isinstance(item, Frame):
        return _not_a_response(run, item, wait)
    try:
        res = exi.decode("sap", item.payload)
    except exi.ExiError as exc:
        return Verdict.FAIL, f"undecodable supportedAppProtocolRes: {exc}"
    run.note("charger", element_name(res), short(res), item.t)
    if not isinstance(res, sap.supportedAppProtocolRes):
        return Verdict.FAIL, f"{element_name(res)} instead of supportedAppProtocolRes"
    return _judge_response(run, res, "supportedAppProtocolRes", None, run.timings.get("response_s", 0.0), None)


# ------------------------------------------------------------------------------------------------------- session
@dataclass
class _Session:
    machine: EvccMachine
    vehicle: LabVehicle
    protocol: str
    session_id: bytes | None = None
    sent: dict[str, Any] = field(default_factory=dict)  # last request of each name, for EARLIER
    counts: dict[str, int] = field(default_factory=dict)


async def _negotiate(run: _Run, link: Link, protocol: str) -> None:
    offer = proto.choice(protocol).offer
    item = await _sap_exchange(run, link, build_request([offer]), max(2.0, run.opts.min_msg_timeout or 0.0))
    if not isinstance(item, Frame):
        raise _stop(Verdict.INCONCLUSIVE, f"SupportedAppProtocol: {_what(item)}")
    try:
        res = exi.decode("sap", item.payload)
    except exi.ExiError as exc:
        raise _stop(Verdict.INCONCLUSIVE, f"SupportedAppProtocol: undecodable response: {exc}") from None
    run.note("charger", element_name(res), short(res), item.t)
    if getattr(res, "ResponseCode", "") == "Failed_NoNegotiation":
        raise _stop(Verdict.NOT_APPLICABLE, f"the charger does not offer {offer.namespace}")
    if getattr(res, "SchemaID", None) != offer.schema_id:
        raise _stop(Verdict.INCONCLUSIVE, f"SupportedAppProtocol: {short(res, 200)}")


def _machine(run: _Run, protocol: str) -> _Session:
    pre = run.case.precondition
    choice = proto.choice(protocol)
    opts = run.opts
    vehicle = LabVehicle(VehicleConfig(charge_seconds=opts.charge_seconds, pack_voltage=opts.pack_voltage))
    energy = pre.energy if pre.energy in choice.energy else choice.default_energy
    control: ControlMode = "Dynamic" if pre.control == "Dynamic" else "Scheduled"
    timers = with_min_msg_timeout(choice.timers, opts.min_msg_timeout)
    inputs = MachineInputs(opts.evcc_id, vehicle, energy, "eim", None, opts.precharge_tolerance,  # type: ignore[arg-type]
                           timers, control=control, unix_time_offset=time.time() - run.charger.now())
    return _Session(choice.make_machine(inputs), vehicle, protocol)


async def _session_case(run: _Run, link: Link) -> tuple[Verdict, str]:
    pre = run.case.precondition
    protocol = pre.protocol
    await _negotiate(run, link, protocol)
    s = _machine(run, protocol)
    machine, route = s.machine, routing(s.machine)
    watching = False  # STOP / PROGRESS: the trigger passed, the session goes on to the expected message
    machine.start(run.charger.now(), setup_deadline=run.t0 + proto.timers(protocol).V2G_EVCC_CommunicationSetup_Timeout)
    for _ in range(MAX_STEPS):
        for msg in machine.messages_to_send():
            name = element_name(msg)
            s.counts[name] = s.counts.get(name, 0) + 1
            if watching and run.case.expect.kind is ExpectKind.PROGRESS and name == run.case.expect.response:
                return Verdict.PASS, f"the session went on to {name}"
            if not watching and name == pre.request and s.counts[name] == pre.occurrence:
                result = await _stimulate(run, link, s, msg, route.type_of)
                if result is not None:
                    return result
                watching = True
                continue
            s.sent[name] = msg
            _send(run, link, route.type_of(msg), msg)
        if machine.ended is not None:
            return _ended(run, watching, f"the EV machine ended: {machine.ended.kind.value}: {machine.ended.reason}")
        deadline = machine.get_timer()
        wait = 5.0 if deadline is None else deadline - run.charger.now()
        item = await link.receive(max(0.0, wait))
        now = run.charger.now()
        if isinstance(item, Frame):
            res = _decode(run, protocol, item)
            if res is not None and s.session_id is None and element_name(res) in ("SessionSetupRes",):
                s.session_id = session_id_of(res)
            if watching and res is not None and element_name(res) == run.case.expect.response:
                return _judge_response(run, res, element_name(res), s.session_id, 0.0, None)
            if item.payload_type in route.accepted:
                route.receive(item.payload_type, item.payload, now)
        elif item is not None:
            return _ended(run, watching, _what(item))
        machine.handle_timer(now)
    return Verdict.INCONCLUSIVE, f"no end after {MAX_STEPS} steps"


def _ended(run: _Run, watching: bool, why: str) -> tuple[Verdict, str]:
    if watching:
        return Verdict.FAIL, f"before {run.case.expect.response}: {why}"
    pre = run.case.precondition
    return Verdict.INCONCLUSIVE, f"precondition ({pre.request} #{pre.occurrence}) not reached: {why}"


def _send(run: _Run, link: Link, payload_type: int, msg: Any) -> None:
    link.send_raw(v2gtp.encode(payload_type, encode(msg)))
    run.note("ev", element_name(msg), short(msg))


def _decode(run: _Run, protocol: str, item: Frame) -> Any:
    try:
        res = exi.decode(grammar_for(protocol, item.payload_type), item.payload)
    except exi.ExiError as exc:
        run.note("charger", "undecodable", f"{item.payload_type:#06x}: {exc}", item.t)
        return None
    run.note("charger", element_name(res), short(res), item.t)
    return res


def _what(item: Received | None) -> str:
    if item is None:
        return "no answer"
    if isinstance(item, (Broken, Closed)):
        return item.reason
    return f"a message ({item.payload_type:#06x})"


async def _stimulate(run: _Run, link: Link, s: _Session, msg: Any,
                     type_of: Callable[[Any], int]) -> tuple[Verdict, str] | None:
    """Send the stimulus in place of ``msg``; the verdict, or None when the session goes on (STOP, PROGRESS)."""
    stim, expect, protocol = run.case.stimulus, run.case.expect, s.protocol
    kind = stim.kind
    request = element_name(msg)
    payload_type = type_of(msg)
    now = run.charger.now()
    sid = s.session_id or bytes(8)
    if kind is StimulusKind.STOP:
        stop = getattr(s.machine, "stop", None)
        if not callable(stop):
            raise _stop(Verdict.INCONCLUSIVE, f"suite: the {protocol} machine cannot be asked to stop")
        stop(now, "conformance case: the EV stops here")
        _send(run, link, payload_type, msg)
        return None
    if expect.kind is ExpectKind.PROGRESS and kind is StimulusKind.NONE:
        _send(run, link, payload_type, msg)
        return None
    if kind is StimulusKind.SILENCE:
        run.note("ev", "silence", f"no {request}")
        return await _observe(run, link, s, request, now)
    out = msg
    if kind is StimulusKind.SESSION_ID:
        wrong = bytes.fromhex(str(stim.value)) if stim.value else bytes(b ^ 0xFF for b in sid)
        out = with_session_id(msg, wrong)
    elif kind is StimulusKind.EARLIER:
        earlier = s.sent.get(str(stim.request))
        if earlier is None:
            raise _stop(Verdict.INCONCLUSIVE, f"suite: no earlier {stim.request} in this session")
        out = earlier
        request, payload_type = element_name(out), type_of(out)
    elif kind is StimulusKind.LATER:
        out = proto.later_request(protocol, str(stim.request), s.vehicle, now, sid)
        request, payload_type = element_name(out), type_of(out)
    elif kind is StimulusKind.MUTATE:
        out = set_field(msg, str(stim.path), stim.value)
    if kind is StimulusKind.DELAY:
        delay = proto.seconds(protocol, stim.value, request, 0.0)
        run.note("ev", "delay", f"{request} held back {delay} s")
        await run.charger.sleep(delay)
    sent_at = run.charger.now()
    if kind is StimulusKind.GARBAGE_EXI:
        link.send_raw(v2gtp.encode(payload_type, GARBAGE_EXI))
        run.note("ev", "garbage EXI", f"instead of {request}")
    elif kind is StimulusKind.V2GTP:
        data = _broken_frame(str(stim.path), int(stim.value), payload_type, encode(out))
        link.send_raw(data)
        run.note("ev", "broken V2GTP", f"{stim.path}={stim.value:#x} {request}: {data[:8].hex()}")
    else:
        _send(run, link, payload_type, out)
    return await _observe(run, link, s, request, sent_at)


def _broken_frame(field_name: str, value: int, payload_type: int, payload: bytes) -> bytes:
    version, inverse, length = v2gtp.PROTOCOL_VERSION, v2gtp.INVERSE_PROTOCOL_VERSION, len(payload)
    if field_name == "version":
        version, inverse = value, value ^ 0xFF
    elif field_name == "inverse":
        inverse = value
    elif field_name == "payload-type":
        payload_type = value
    elif field_name == "length":
        length = value
    else:
        raise EvccError(f"unknown V2GTP header field {field_name!r}")
    return bytes([version, inverse]) + payload_type.to_bytes(2, "big") + length.to_bytes(4, "big") + payload


async def _observe(run: _Run, link: Link, s: _Session, request: str, sent_at: float) -> tuple[Verdict, str]:
    expect, protocol = run.case.expect, s.protocol
    table = proto.timers(protocol)
    default = max(table.V2G_EVCC_Msg_Timeout.get(request, 2.0), run.opts.min_msg_timeout or 0.0) + 1.0
    if expect.kind in (ExpectKind.CLOSE,):
        default = table.V2G_SECC_Sequence_Timeout + 5.0
    wait = proto.seconds(protocol, expect.within, request, default)
    item = await link.receive(wait)
    if not isinstance(item, Frame):
        return _not_a_response(run, item, wait)
    elapsed = item.t - sent_at
    run.timings["response_s"] = round(elapsed, 6)
    if item.payload_type not in proto.choice(protocol).payload_types:
        run.note("charger", "wrong payload type", f"{item.payload_type:#06x}", item.t)
        return Verdict.FAIL, f"V2GTP payload type {item.payload_type:#06x} is not one of a {protocol} session"
    res = _decode(run, protocol, item)
    if res is None:
        return Verdict.FAIL, f"undecodable response ({item.payload_type:#06x}) to {request}"
    if expect.kind is ExpectKind.CLOSE:
        code = str(getattr(body_of(res), "ResponseCode", ""))
        if not code.startswith("FAILED"):
            return Verdict.FAIL, f"{element_name(res)} {code} instead of closing the connection"
        after = await link.receive(wait)
        if isinstance(after, Closed):
            return Verdict.PASS, f"{code}, then the connection closed"
        return Verdict.FAIL, f"{code}, but the connection stayed open ({_what(after)})"
    perf = None
    if expect.performance:
        perf = table.performance_time(proto.response_of(request))
    return _judge_response(run, res, proto.response_of(request), s.session_id, elapsed, perf)


def _not_a_response(run: _Run, item: Received | None, wait: float) -> tuple[Verdict, str]:
    kind = run.case.expect.kind
    if isinstance(item, Closed) and kind in (ExpectKind.CLOSE, ExpectKind.REFUSE, ExpectKind.IGNORE):
        return Verdict.PASS, "the charger closed the connection"
    if item is None and kind is ExpectKind.IGNORE:
        return Verdict.PASS, f"no response within {wait:g} s (ignored)"
    if item is None and kind is ExpectKind.CLOSE:
        return Verdict.FAIL, f"the connection stayed open for {wait:g} s (V2G_SECC_Sequence_Timeout not applied)"
    if isinstance(item, Broken):
        return Verdict.FAIL, f"broken V2GTP from the charger: {item.reason}"
    if item is None:
        return Verdict.FAIL, f"no response within {wait:g} s"
    return Verdict.FAIL, _what(item)


def _judge_response(run: _Run, res: Any, wanted: str, session_id: bytes | None, elapsed: float,
                    performance: float | None) -> tuple[Verdict, str]:
    expect = run.case.expect
    name = element_name(res)
    if expect.kind is ExpectKind.RESPONSE and expect.response:
        wanted = expect.response
    if name != wanted:
        return Verdict.FAIL, f"{name} instead of {wanted}"
    code = str(getattr(body_of(res), "ResponseCode", ""))
    if expect.kind in (ExpectKind.REFUSE, ExpectKind.IGNORE):
        if code.startswith("FAILED") or code.startswith("Failed"):
            return Verdict.PASS, f"{name} {code}"
        return Verdict.FAIL, f"{name} {code}: the charger accepted it"
    if not code_matches(code, expect.codes):
        return Verdict.FAIL, f"{name} ResponseCode {code}, expected {' or '.join(expect.codes)}"
    checks = list(expect.checks)
    stim = run.case.stimulus.kind
    failed = check_fields(res, checks, session_id)
    if failed is None and session_id is not None and name not in ("SessionSetupRes", "supportedAppProtocolRes") \
            and stim in (StimulusKind.NONE, StimulusKind.MUTATE, StimulusKind.STOP, StimulusKind.DELAY):
        got = session_id_of(res)
        if got is not None and got != session_id:
            failed = f"Header.SessionID {got.hex().upper()} is not the session's {session_id.hex().upper()}"
    if failed is not None:
        return Verdict.FAIL, f"{name}: {failed}"
    if performance is not None:
        slow = late(elapsed, performance, name)
        if slow is not None:
            return Verdict.FAIL, f"{slow} (V2G_SECC_Msg_Performance_Time)"
    return Verdict.PASS, f"{name} {code}".strip()


# --------------------------------------------------------------------------------------------------------- suite
async def run_suite(cases: Sequence[Case], make_charger: Callable[[], Charger], opts: RunOptions,
                    progress: Callable[[int, int, CaseResult], None] | None = None,
                    results: list[CaseResult] | None = None) -> list[CaseResult]:
    """The cases one after the other, each on a fresh connection (and SDP). Results go into ``results`` as they
    come, so a caller that is interrupted still has what ran."""
    out = results if results is not None else []
    charger = make_charger()
    for i, case in enumerate(cases):
        try:
            result = await run_case(case, charger, opts)
        except Exception as exc:  # noqa: BLE001 - a suite bug on one case must not lose the others' verdicts
            result = CaseResult(case, Verdict.INCONCLUSIVE, f"suite error: {type(exc).__name__}: {exc}")
        out.append(result)
        if progress is not None:
            progress(i + 1, len(cases), result)
    return out
