"""The phases below the V2G messages of a case (issue 16): SDP (ISO 15118-2 §7.10.1, [V2G2-160]/[V2G2-161]),
the TCP/TLS connection (ISO 15118-2 §7.7, ISO 15118-20 TLS 1.3) and SupportedAppProtocol (ISO 15118-2 §8.2.1,
DIN SPEC 70121 §9.2), each as a case of its own or as the way to a session case's precondition."""

from __future__ import annotations

import dataclasses
from typing import Any

from evcc import exi
from evcc.conformance import protocols as proto
from evcc.conformance.context import GARBAGE_EXI, CaseRun, judge_response, not_a_response, stop, what
from evcc.conformance.judge import code_matches
from evcc.conformance.link import Frame, Link, Received
from evcc.conformance.messages import element_name, short
from evcc.conformance.model import ExpectKind, Phase, StimulusKind, Verdict
from evcc.errors import EvccError
from evcc.exi import sap
from evcc.session import v2gtp
from evcc.session.connection import PreparedTls, TlsConfig, TlsVersion, prepare
from evcc.session.errors import SdpError
from evcc.session.sap import ProtocolOffer, build_request
from evcc.session.sdp import Security, decode_response, encode_request


async def _discover(run: CaseRun, security: Security) -> tuple[str, int]:
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
                raise stop(Verdict.NOT_APPLICABLE, f"the charger answers SDP {security.name} with {found.security.name}")
            return str(found.address), found.port
    raise stop(Verdict.INCONCLUSIVE, f"no valid SDP answer to {run.opts.sdp_requests} requests")


async def sdp_case(run: CaseRun) -> tuple[Verdict, str]:
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
def _tls_config(run: CaseRun, protocol: str) -> TlsConfig | None:
    is13 = protocol.startswith("iso20")
    return run.opts.tls13 if is13 else run.opts.tls12


async def open_link(run: CaseRun) -> Link:
    pre = run.case.precondition
    tls: PreparedTls | None = None
    if pre.tls or run.case.phase is Phase.TLS or (run.opts.session_tls and run.case.phase is not Phase.SDP):
        config = _tls_config(run, pre.protocol)
        if config is None:
            raise stop(Verdict.NOT_APPLICABLE, "no TLS settings given (--tls-roots)")
        tls = prepare(_tls_deviation(run, config))
    address, port = await _discover(run, Security.TLS if tls is not None else Security.NO_TLS)
    try:
        link = await run.charger.connect(address, port, tls)
    except EvccError as exc:
        if run.case.phase is Phase.TLS:
            raise stop(*_tls_outcome(run, refused=str(exc)))
        raise stop(Verdict.INCONCLUSIVE, f"connection: {exc}")
    run.note("ev", "connected", f"[{address}]:{port} {link.tls_version or 'TCP'} {link.cipher or ''}".strip())
    return link


def _tls_deviation(run: CaseRun, config: TlsConfig) -> TlsConfig:
    """TLS_OFFER stimuli: the EV's side made wrong on purpose."""
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


def _tls_outcome(run: CaseRun, refused: str | None, detail: str = "") -> tuple[Verdict, str]:
    kind = run.case.expect.kind
    if kind is ExpectKind.TLS_REFUSED:
        return (Verdict.PASS, f"refused: {refused}") if refused else (Verdict.FAIL, f"the charger accepted it {detail}")
    return (Verdict.FAIL, f"TLS refused: {refused}") if refused else (Verdict.PASS, f"TLS accepted {detail}")


async def tls_case(run: CaseRun, link: Link) -> tuple[Verdict, str]:
    """The handshake went through; the charger may still refuse on the first read (TLS 1.3 client certificate):
    SupportedAppProtocol tells."""
    pre = run.case.precondition
    offer = proto.choice(pre.protocol).offer
    item = await sap_exchange(run, link, build_request([offer]), max(2.0, run.opts.min_msg_timeout or 0.0),
                              timing="sap_s")
    if not isinstance(item, Frame):
        return _tls_outcome(run, refused="no SupportedAppProtocol answer after the handshake: " + what(item))
    for check in run.case.expect.checks:
        got = {"version": link.tls_version, "cipher": link.cipher}.get(check.path)
        if check.rule == "in" and got not in check.arg:
            return Verdict.FAIL, f"TLS {check.path} {got} not in {list(check.arg)}"
    return _tls_outcome(run, refused=None, detail=f"({link.tls_version} {link.cipher})")


# ------------------------------------------------------------------------------------------ SupportedAppProtocol
async def sap_exchange(run: CaseRun, link: Link, req: Any, wait: float, raw: bytes | None = None,
                       timing: str = "response_s") -> Received | None:
    """Send a supportedAppProtocolReq (or ``raw`` EXI); its answer's delay goes into ``timings[timing]``."""
    payload = raw if raw is not None else exi.encode(req)
    run.note("ev", "supportedAppProtocolReq", "garbage" if raw is not None else short(req))
    link.send_raw(v2gtp.encode(v2gtp.EXI_ENCODED, payload))
    sent = run.charger.now()
    item = await link.receive(wait)
    if isinstance(item, Frame):
        run.timings[timing] = round(item.t - sent, 6)
    return item


def _offers(value: Any) -> list[ProtocolOffer]:
    return [ProtocolOffer("x", ns, major, minor, schema_id=sid, priority=prio)
            for ns, major, minor, sid, prio in value]


def needs_probe(run: CaseRun) -> bool:
    """A SupportedAppProtocol case that expects a positive answer to offers of its own first learns on a
    connection of its own whether the charger offers the case's protocol (else NOT_APPLICABLE)."""
    case = run.case
    return (case.phase is Phase.SAP and case.stimulus.kind is StimulusKind.OFFERS and bool(case.precondition.protocol)
            and code_matches("OK_SuccessfulNegotiation", case.expect.codes))


async def supported(run: CaseRun, protocol: str) -> None:
    """NOT_APPLICABLE unless the charger negotiates ``protocol`` offered alone (a connection of its own)."""
    link = await open_link(run)
    try:
        await negotiate(run, link, protocol)
    finally:
        link.close()


async def sap_case(run: CaseRun, link: Link) -> tuple[Verdict, str]:
    case, stim, expect = run.case, run.case.stimulus, run.case.expect
    wait = proto.seconds("din", expect.within, "SupportedAppProtocolReq", max(2.0, run.opts.min_msg_timeout or 0.0))
    raw = GARBAGE_EXI if stim.kind is StimulusKind.GARBAGE_EXI else None
    if stim.kind is StimulusKind.OFFERS:
        req = sap.supportedAppProtocolReq(AppProtocol=[
            sap.AppProtocolType(ProtocolNamespace=o.namespace, VersionNumberMajor=o.major,
                                VersionNumberMinor=o.minor, SchemaID=o.schema_id, Priority=o.priority)
            for o in _offers(stim.value)])
    else:
        req = build_request([proto.choice(case.precondition.protocol or "din").offer])
    item = await sap_exchange(run, link, req, wait, raw)
    if not isinstance(item, Frame):
        return not_a_response(run, item, wait)
    try:
        res = exi.decode("sap", item.payload)
    except exi.ExiError as exc:
        return Verdict.FAIL, f"undecodable supportedAppProtocolRes: {exc}"
    run.note("charger", element_name(res), short(res), item.t)
    if not isinstance(res, sap.supportedAppProtocolRes):
        return Verdict.FAIL, f"{element_name(res)} instead of supportedAppProtocolRes"
    performance = None
    if expect.performance:  # the same 1.5 s in the DIN, -2 and -20 tables
        performance = proto.timers(case.precondition.protocol or "din").performance_time("SupportedAppProtocolRes")
    return judge_response(run, res, "supportedAppProtocolRes", None, run.timings.get("response_s", 0.0), performance)


# ----------------------------------------------------------------------------- negotiation for a session case

def known_not_offered(run: CaseRun, protocol: str) -> None:
    """NOT_APPLICABLE at once when an earlier case of this run found the protocol not offered."""
    namespace = proto.choice(protocol).offer.namespace
    if namespace in run.suite.not_offered:
        raise stop(Verdict.NOT_APPLICABLE, f"the charger does not offer {namespace} (found by an earlier case)")


async def negotiate(run: CaseRun, link: Link, protocol: str) -> None:
    offer = proto.choice(protocol).offer
    item = await sap_exchange(run, link, build_request([offer]), max(2.0, run.opts.min_msg_timeout or 0.0),
                              timing="sap_s")
    if not isinstance(item, Frame):
        raise stop(Verdict.INCONCLUSIVE, f"SupportedAppProtocol: {what(item)}")
    try:
        res = exi.decode("sap", item.payload)
    except exi.ExiError as exc:
        raise stop(Verdict.INCONCLUSIVE, f"SupportedAppProtocol: undecodable response: {exc}") from None
    run.note("charger", element_name(res), short(res), item.t)
    if getattr(res, "ResponseCode", "") == "Failed_NoNegotiation":
        run.suite.not_offered.add(offer.namespace)
        raise stop(Verdict.NOT_APPLICABLE, f"the charger does not offer {offer.namespace}")
    if getattr(res, "SchemaID", None) != offer.schema_id:
        raise stop(Verdict.INCONCLUSIVE, f"SupportedAppProtocol: {short(res, 200)}")
