"""`evcc bench` on the in-process link, for machines where network namespaces cannot be created.

The same sans-IO parts as the socket bench, paired in memory on a virtual clock:

1. ISO 15118-3 SLAC: the EV machine and the EVSE SLAC simulators on the sans-IO powerline
   (:class:`~evcc.bench.plc_sim.memory.MemoryBench`).
2. ISO 15118-2 §7.10.1 SDP: the SDP client's datagrams reach an EVSE's SDP responder only while the EV's modem
   and that EVSE's modem hold the same NMK and neither is restarting (what the powerline does with IPv6).
3. SupportedAppProtocol (sap client and responder), then the protocol machine against the SECC responder
   (:func:`~evcc.bench.secc.memory.run_in_memory`; payloads cross with their V2GTP payload type, which
   ISO 15118-20 decodes by), wrapped in the shared fault layer (:class:`~evcc.bench.secc.hostile.FaultySecc`)
   when the scenario has a SECC fault. No TCP and no TLS: there are no sockets, so frame, connection and
   certificate faults end the run with that reason.
"""

from __future__ import annotations

import os
import time
from ipaddress import IPv6Address

from evcc import exi
from evcc.bench.plc_sim.evse import EvseConfig, EvseSlac
from evcc.bench.plc_sim.memory import Host, MemoryBench
from evcc.bench.plc_sim.powerline import ModemPort, Powerline
from evcc.bench.parts import RunParts
from evcc.bench.protocols import plan_for
from evcc.bench.scenario import PROTOCOLS
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.memory import SeccResponder, run_in_memory
from evcc.bench.secc.sap_responder import respond
from evcc.bench.secc.sdp_server import SdpResponder
from evcc.errors import EvccError
from evcc.exi import sap as sap_msgs
from evcc.session.events import EndKind, SessionEnded
from evcc.session.runner import SessionReport
from evcc.session.sap import SapClient
from evcc.session.sdp import SECC_PORTS, SdpClient, SdpFailed, SdpResponse, SeccFound, Security, Transport
from evcc.slac.config import SlacConfig
from evcc.slac.events import Failed, Matched, Phase
from evcc.slac.machine import EvSlac

EV_MAC = bytes.fromhex("02000000ee01")
SLAC_LIMIT_S = 120.0  # virtual seconds; SLAC ends long before (its own timers)
LATENCY = 0.0005  # s per datagram on the in-process link


def evse_mac(i: int) -> bytes:
    return bytes.fromhex(f"02000000e5{i:02x}")


def secc_address(i: int) -> str:
    return f"fe80::e5:{i:x}"


class MemoryRun:
    def __init__(self, parts: RunParts) -> None:
        self.parts = parts
        scenario = self.sc = parts.sc
        self.display = parts.display
        self.report = parts.report
        restart = scenario.modem_restart_s
        ports = [ModemPort("ev", bytes.fromhex("00b052ee0000"), restart_s=restart)]
        ports += [ModemPort(f"evse{i}", bytes.fromhex(f"00b052ee00{i:02x}"), evse=True, attenuation_db=a,
                            restart_s=restart) for i, a in enumerate(scenario.attenuations, start=1)]
        self.line = Powerline(ports)
        self.ev = EvSlac(SlacConfig(EV_MAC, parm_retries=scenario.slac_parm_retries), os.urandom)
        self.evses = [EvseSlac(EvseConfig(evse_mac(i)), os.urandom) for i in range(1, len(ports))]
        hosts: list[Host | None] = [self.ev]
        hosts += [None if scenario.evse_silent else e for e in self.evses]
        self.bench = MemoryBench(self.line, hosts)
        self.sdp = [SdpResponder(SdpResponse(IPv6Address(secc_address(i)), SECC_PORTS.start, Security.NO_TLS,
                                             Transport.TCP))  # no socket here; a port SDP accepts (RFC 6335)
                    for i in range(1, len(ports))]

    def run(self) -> None:
        if self.sc.tls:
            self.display.note("in-process link: no sockets, so no TLS; the session runs without it")
        fault = self.sc.fault
        if fault is not None and fault.needs_transport:
            self.report.fail(f"fault {fault.describe()} needs TCP or TLS: the in-process link has no V2GTP stream"
                             " (use --link netns)")
            return
        self.parts.unix_time_offset = time.time()  # the virtual clock starts at 0 now
        matched = self._slac()
        if matched is None:
            return
        now = self._sdp(matched)
        if now is None:
            return
        self.parts.preinstall()
        resume: bytes | None = None
        while True:
            now = self._v2g(now, resume)
            resume = self.parts.paused_session()
            delay = self.parts.steps.resume_after() if resume is not None else None
            if resume is None or delay is None:
                return
            now += delay
            self.display.note(f"V2G: resuming the paused session {resume.hex()} after {delay:g} s")
            self.report.mark(now, "resume")

    def _slac(self) -> Matched | None:
        if not self.sc.evse_silent:
            for evse in self.evses:
                evse.start()
        self.bench.run_until(lambda: False, self.sc.modem_restart_s + 0.01)  # EVSE modems restart
        self.display.note(f"SLAC: EV {EV_MAC.hex(':')} plugged in, {len(self.evses)} EVSE(s) on the line")
        self.report.mark(self.bench.now, "SLAC started")
        self.ev.plug_in(self.bench.now)
        final: list[Matched | Failed] = []

        def done() -> bool:
            final.extend(e for e in self.ev.events() if isinstance(e, (Matched, Failed)))
            return bool(final)

        self.bench.run_until(done, self.bench.now + SLAC_LIMIT_S)
        self.report.deviations = self.ev.deviations.as_json()
        event = final[0] if final else Failed(Phase.PARM, f"no result within {SLAC_LIMIT_S} s")
        if isinstance(event, Failed):
            self.report.mark(self.bench.now, "SLAC failed")
            self.report.slac.failure = event.describe()
            self.report.fail(event.describe())
            return None
        self.report.mark(self.bench.now, "SLAC matched")
        s = self.report.slac
        s.matched, s.time_s = True, round(event.link_up - event.started, 6)
        s.evse_mac, s.attenuation_db, s.nid = event.evse_mac.hex(":"), event.attenuation_db, event.nid.hex()
        self.display.note(f"SLAC: {event.describe()}")
        return event

    def _reachable(self, index: int, now: float) -> bool:
        ev, port = self.line.ports[0], self.line.ports[index]
        return (ev.nmk is not None and ev.nmk == port.nmk and not ev.restarting(now)
                and not port.restarting(now) and not self.sc.no_secc)

    def _sdp(self, matched: Matched) -> float | None:
        now = self.bench.now
        self.report.mark(now, "SDP started")
        started = now
        client = SdpClient(Security.NO_TLS)
        client.start(now)
        while True:
            for datagram in client.datagrams_to_send():
                for i, responder in enumerate(self.sdp, start=1):
                    reply = responder.answer(datagram) if self._reachable(i, now) else None
                    if reply is not None:
                        client.receive_datagram(reply, now + 2 * LATENCY)
            for event in client.events():
                if isinstance(event, SeccFound):
                    return self._found(event.response, started, now + 2 * LATENCY)
                if isinstance(event, SdpFailed):
                    self.report.mark(now, "SDP failed")
                    self.report.sdp.failure = event.reason
                    self.report.fail(f"SDP: {event.reason}")
                    return None
            deadline = client.get_timer()
            assert deadline is not None  # the client always waits for a response or its next request
            now = max(now, deadline)
            client.handle_timer(now)

    def _found(self, response: SdpResponse, started: float, now: float) -> float:
        self.report.mark(now, "SECC found")
        d = self.report.sdp
        d.found, d.address, d.port, d.security = True, str(response.address), response.port, response.security.name
        d.time_s = round(now - started, 6)
        answered = [f"evse{i - 1} ({evse_mac(i).hex(':')})" for i, r in enumerate(self.sdp, start=1) if r.requests]
        d.evse = ", ".join(answered) or None
        self.display.note(f"SDP: SECC at [{response.address}] on the in-process link")
        return now

    def _v2g(self, now: float, resume: bytes | None) -> float:
        offers = self.parts.offers()
        sap_client = SapClient(offers, PROTOCOLS[self.sc.protocol].timers)
        sap_client.start(now)
        chosen = None
        for payload in sap_client.payloads_to_send():
            req = exi.decode("sap", payload)
            assert isinstance(req, sap_msgs.supportedAppProtocolReq)
            res, chosen = respond(req, self.parts.supported())
            sap_client.receive_payload(exi.encode(res), now + 2 * LATENCY)
        session = SessionReport(_ended("SupportedAppProtocol: no answer", "SupportedAppProtocol"), started=now)
        if sap_client.result is None or chosen is None:
            session.ended = _ended(str(sap_client.error), "SupportedAppProtocol")
            self.report.take_session(session, 0.0)
            return now
        key = sap_client.result.offer.protocol
        self.display.note(f"V2G: {self.parts.describe(key)} on the in-process link (virtual clock)")
        machine = self.parts.make_machine(key, EV_MAC, resume)
        session.protocol = key
        try:
            result = run_in_memory(machine, self._responder(key), now + 2 * LATENCY)
        except (RuntimeError, EvccError) as exc:  # nobody with anything to do; a fault that cannot apply here
            session.ended = _ended(f"in-process link: {exc}", self.parts.phase())
        else:
            session.ended, session.events, session.finished = result.ended, result.events, result.end_time
            now = result.end_time
            self.report.mark(result.end_time, "session ended")
        self.report.take_session(session, 0.0)
        self.parts.session_done()
        return now


    def _responder(self, sap_key: str) -> SeccResponder:
        plan = plan_for(sap_key, self.sc.supported)
        responder = plan.make_responder(self.parts.secc)
        fault = self.sc.fault
        if fault is None:
            return responder
        return FaultySecc(responder, fault, lambda: plan.timers, self.report.fault_actions)


def _ended(reason: str, state: str) -> SessionEnded:
    return SessionEnded(EndKind.PROTOCOL_ERROR, reason, state)


def run_memory(parts: RunParts) -> None:
    run = MemoryRun(parts)
    try:
        run.run()
    finally:
        parts.finish(0.0)
