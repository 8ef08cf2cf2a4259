"""The session part of a case (issue 16): the EV's own protocol machine (DIN SPEC 70121, ISO 15118-2,
ISO 15118-20) runs until the precondition's request; there the stimulus replaces or accompanies it (another
SessionID, an earlier or later request, a field at a limit, a broken V2GTP header, undecodable EXI, a delay,
silence, the EV's stop) and the charger's reaction is observed. The machines are sans-IO, so a deviation is a
changed message object or raw bytes; nothing in the session code changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evcc import exi
from evcc.conformance import pnc
from evcc.conformance import protocols as proto
from evcc.conformance.context import GARBAGE_EXI, MAX_STEPS, CaseRun, judge_response, not_a_response, stop, what
from evcc.conformance.link import Closed, Frame, Link
from evcc.conformance.messages import (body_of, element_name, encode, grammar_for, session_id_of, set_field, short,
                                       with_session_id)
from evcc.conformance.model import ExpectKind, StimulusKind, Verdict
from evcc.conformance.transport_phase import negotiate
from evcc.errors import EvccError
from evcc.session import v2gtp
from evcc.session.attach import with_min_msg_timeout
from evcc.session.attach_protocols import MachineInputs
from evcc.session.attach_vehicle import LabVehicle, VehicleConfig
from evcc.session.iso20.config import ControlMode
from evcc.session.machine import EvccMachine, routing
from evcc.session.sap import build_request


@dataclass
class _Session:
    machine: EvccMachine
    vehicle: LabVehicle
    protocol: str
    session_id: bytes | None = None
    sent: dict[str, Any] = field(default_factory=dict)  # last request of each name, for EARLIER
    counts: dict[str, int] = field(default_factory=dict)
    old_challenge: bytes | None = None  # a GenChallenge the charger issued in an earlier session (replay)




def contract_ports(run: CaseRun, make: bool = False) -> tuple[Any, Any]:
    """The -2 and -20 contract sides a Plug & Charge case runs with; NOT_APPLICABLE (before any connection)
    without them. ``make``: a CertificateInstallation case gets a fresh contract side without a contract."""
    pre, material = run.case.precondition, run.opts.pnc
    if pre.auth != "pnc":
        return None, None
    contracts: Any = material.contracts if material is not None else None
    contracts20: Any = material.contracts20 if material is not None else None
    if pre.request == "CertificateInstallationReq" and pre.protocol == "iso2":
        installer = material.installer if material is not None else None
        contracts = (installer() if make else True) if installer is not None else None
    if (contracts20 if pre.protocol.startswith("iso20") else contracts) is None:
        raise stop(Verdict.NOT_APPLICABLE, "Plug & Charge case: no contract side and test PKI given (--pnc-pki, "
                   "--contracts; CertificateInstallation: --oem-key)")
    return contracts, contracts20


def _machine(run: CaseRun, protocol: str) -> _Session:
    pre = run.case.precondition
    choice = proto.choice(protocol)
    opts = run.opts
    vehicle = LabVehicle(VehicleConfig(charge_seconds=opts.charge_seconds, pack_voltage=opts.pack_voltage))
    energy = pre.energy if pre.energy in choice.energy else choice.default_energy
    control: ControlMode = "Dynamic" if pre.control == "Dynamic" else "Scheduled"
    timers = with_min_msg_timeout(choice.timers, opts.min_msg_timeout)
    contracts, contracts20 = contract_ports(run, make=True)
    auth = "pnc" if pre.auth == "pnc" else "eim"
    inputs = MachineInputs(opts.evcc_id, vehicle, energy, auth, contracts,  # type: ignore[arg-type]
                           opts.precharge_tolerance, timers, control=control, contracts20=contracts20,
                           unix_time_offset=time.time() - run.charger.now())
    return _Session(choice.make_machine(inputs), vehicle, protocol)


async def session_case(run: CaseRun, link: Link) -> tuple[Verdict, str]:
    pre = run.case.precondition
    protocol = pre.protocol
    await negotiate(run, link, protocol)
    s = _machine(run, protocol)
    s.old_challenge = run.suite.challenges[-1] if run.suite.challenges else None
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
            challenge = _gen_challenge(res)
            if challenge is not None:
                run.suite.challenges[:] = [*run.suite.challenges[-7:], challenge]
            if watching and res is not None and element_name(res) == run.case.expect.response:
                return judge_response(run, res, element_name(res), s.session_id, 0.0, None)
            if item.payload_type in route.accepted:
                route.receive(item.payload_type, item.payload, now)
        elif item is not None:
            return _ended(run, watching, what(item))
        machine.handle_timer(now)
    return Verdict.INCONCLUSIVE, f"no end after {MAX_STEPS} steps"


def _gen_challenge(res: Any) -> bytes | None:
    """The GenChallenge a response issues: -2 PaymentDetailsRes, -20 AuthorizationSetupRes (PnC mode)."""
    if res is None:
        return None
    body = body_of(res)
    holder = getattr(body, "PnC_ASResAuthorizationMode", None) or body
    challenge = getattr(holder, "GenChallenge", None)
    return bytes(challenge) if isinstance(challenge, (bytes, bytearray)) else None


def _ended(run: CaseRun, watching: bool, why: str) -> tuple[Verdict, str]:
    if watching:
        return Verdict.FAIL, f"before {run.case.expect.response}: {why}"
    pre = run.case.precondition
    return Verdict.INCONCLUSIVE, f"precondition ({pre.request} #{pre.occurrence}) not reached: {why}"


def _send(run: CaseRun, link: Link, payload_type: int, msg: Any) -> None:
    link.send_raw(v2gtp.encode(payload_type, encode(msg)))
    run.note("ev", element_name(msg), short(msg))


def _decode(run: CaseRun, protocol: str, item: Frame) -> Any:
    try:
        res = exi.decode(grammar_for(protocol, item.payload_type), item.payload)
    except exi.ExiError as exc:
        run.note("charger", "undecodable", f"{item.payload_type:#06x}: {exc}", item.t)
        return None
    run.note("charger", element_name(res), short(res), item.t)
    return res


async def _stimulate(run: CaseRun, link: Link, s: _Session, msg: Any,
                     type_of: Callable[[Any], int]) -> tuple[Verdict, str] | None:
    """Send the stimulus in place of ``msg``; the verdict, or None when the session goes on (STOP, PROGRESS)."""
    stim, expect, protocol = run.case.stimulus, run.case.expect, s.protocol
    kind = stim.kind
    request = element_name(msg)
    payload_type = type_of(msg)
    now = run.charger.now()
    sid = s.session_id or bytes(8)
    if kind is StimulusKind.STOP:
        ask_stop = getattr(s.machine, "stop", None)
        if not callable(ask_stop):
            raise stop(Verdict.INCONCLUSIVE, f"suite: the {protocol} machine cannot be asked to stop")
        ask_stop(now, "conformance case: the EV stops here")
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
            raise stop(Verdict.INCONCLUSIVE, f"suite: no earlier {stim.request} in this session")
        out = earlier
        request, payload_type = element_name(out), type_of(out)
    elif kind is StimulusKind.LATER:
        out = proto.later_request(protocol, str(stim.request), s.vehicle, now, sid)
        request, payload_type = element_name(out), type_of(out)
    elif kind is StimulusKind.MUTATE:
        out = set_field(msg, str(stim.path), stim.value)
    elif kind is StimulusKind.CONTRACT:
        if run.opts.pnc is None:
            raise stop(Verdict.NOT_APPLICABLE, "Plug & Charge case: no contract key store and test PKI given")
        out = pnc.deviate(run.opts.pnc, msg, str(stim.value), sid, s.old_challenge)
        run.note("ev", "contract deviation", f"{stim.value} in {request}")
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


async def _observe(run: CaseRun, link: Link, s: _Session, request: str, sent_at: float) -> tuple[Verdict, str]:
    expect, protocol = run.case.expect, s.protocol
    table = proto.timers(protocol)
    default = max(table.V2G_EVCC_Msg_Timeout.get(request, 2.0), run.opts.min_msg_timeout or 0.0) + 1.0
    if expect.kind in (ExpectKind.CLOSE,):
        default = table.V2G_SECC_Sequence_Timeout + 5.0
    wait = proto.seconds(protocol, expect.within, request, default)
    item = await link.receive(wait)
    if not isinstance(item, Frame):
        return not_a_response(run, item, wait)
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
        return Verdict.FAIL, f"{code}, but the connection stayed open ({what(after)})"
    perf = None
    if expect.performance:
        perf = table.performance_time(proto.response_of(request))
    return judge_response(run, res, proto.response_of(request), s.session_id, elapsed, perf)
