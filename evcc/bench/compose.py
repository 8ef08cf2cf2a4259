"""Composition root of `evcc bench` on real sockets: one complete simulated charging session from plug-in.

    EV netns             sim netns                   EVSE netns (one per EVSE)
    ev0 ──veth── pl0 ─┐                          ┌─ pl1 ──veth── evse0: EVSE SLAC, SDP, SECC
                      └─ PowerlineSim (modems) ──┴─ pl2 ──veth── evse0: ...

1. ISO 15118-3: the powerline simulator bridges the veth ends; each EVSE runs its SLAC simulator; the EV runs
   :class:`~evcc.slac.runner.SlacRunner` on ``ev0`` until the match (its modem then holds the EVSE's NMK).
2. ISO 15118-2 §7.10.1: SDP multicast from ``ev0``. IPv6 frames cross the simulated powerline only between
   modems sharing an NMK, so only the matched EVSE's SDP server can answer.
3. TCP, TLS 1.2 (DIN, ISO 15118-2) or TLS 1.3 with the vehicle certificate (ISO 15118-20) to the announced
   address, then SupportedAppProtocol and the protocol machine (:func:`~evcc.session.runner.run_session`)
   against the simulated SECC until SessionStop. The SECC's fault, if any, is the shared fault layer's
   (``serve_secc(fault=...)``); a refused SECC certificate is an orderly failure with the reason.

Everything here is adapter code: it only wires the existing parts and records what they did.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evcc.bench.netns import in_netns, link_local
from evcc.bench.parts import RunParts
from evcc.bench.plc_sim.bridge import PowerlineSim, bench_ports, run_evse
from evcc.bench.plc_sim.topology import Endpoint, Topology
from evcc.bench.runtime_pki import BenchTls
from evcc.bench.scenario import PROTOCOLS
from evcc.bench.secc.faults import CERT_KINDS
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import TIMERS, serve_secc
from evcc.bench.trace import Capture
from evcc.errors import PeerError, SecurityError
from evcc.plc.rawsock import RawSocket
from evcc.session import v2gtp
from evcc.session.connection import open_connection
from evcc.session.runner import run_session
from evcc.session.sdp import SdpClient, SdpResponse, Security, Transport
from evcc.session.sdp_aio import discover, interface_index, sdp_socket
from evcc.slac.config import SlacConfig
from evcc.slac.machine import EvSlac
from evcc.slac.runner import SlacFailed, SlacRunner, system_rng


@dataclass
class _Secc:
    evse: Endpoint
    sdp: SdpResponder


class NetnsBench:
    """One run on a created :class:`Topology`; results go into ``report`` as they happen. ``tls``: the run's
    TLS contexts (None: plain TCP); ``capture``: the EV side's packet capture to start at plug-in."""

    def __init__(self, parts: RunParts, topo: Topology, tls: BenchTls | None = None,
                 capture: Capture | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.parts = parts
        self.sc = parts.sc
        self.topo = topo
        self.tls = tls
        self.capture = capture
        self.display = parts.display
        self.report = parts.report
        self.clock = clock
        self.origin = clock()

    def mark(self, what: str) -> None:
        self.report.mark(self.clock() - self.origin, what)

    async def run(self) -> None:
        ports = bench_ports(self.topo.sim_ifnames, list(self.sc.attenuations), self.sc.modem_restart_s)
        try:
            async with contextlib.AsyncExitStack() as stack:
                sim = await stack.enter_async_context(PowerlineSim(ports, self.topo.sim_netns))
                seccs = [] if self.sc.no_secc else [await self._start_secc(e, stack) for e in self.topo.evses]
                if not self.sc.evse_silent:
                    tasks = [asyncio.create_task(run_evse(e.ifname, e.netns)) for e in self.topo.evses]
                    stack.push_async_callback(_cancel, tasks)
                await self._session(seccs)
                self.report.ip_frames_over_powerline = sim.line.delivered_ip
        finally:
            self.parts.finish(self.origin)

    async def _start_secc(self, evse: Endpoint, stack: contextlib.AsyncExitStack) -> _Secc:
        address = str(link_local(evse.netns, evse.ifname))
        responders = self.parts.responders()
        fault = self.parts.fault
        message_fault = fault if fault is not None and fault.kind not in CERT_KINDS else None
        timers = {**TIMERS, **{PROTOCOLS[k].sap_key: PROTOCOLS[k].timers for k in self.sc.supported}}
        with in_netns(evse.netns):
            server, record = await serve_secc(f"{address}%{evse.ifname}", 0, self.parts.supported(),
                                              ssl_context=self.tls.server if self.tls else None,
                                              responders=responders, fault=message_fault,
                                              timers=timers)
            self.report.fault_actions = record.injected
            stack.push_async_callback(_close_server, server)
            port = server.sockets[0].getsockname()[1]
            security = Security.TLS if self.tls else Security.NO_TLS
            responder = SdpResponder(SdpResponse(ipaddress.IPv6Address(address), port, security, Transport.TCP))
            transport = await serve_sdp(responder, evse.ifname)
            stack.callback(transport.close)
        return _Secc(evse, responder)

    async def _session(self, seccs: list[_Secc]) -> None:
        ev = self.topo.ev
        assert ev is not None
        if self.capture is not None:
            self.capture.start(ev.netns, ev.ifname)
        with in_netns(ev.netns):
            raw = RawSocket.open(ev.ifname)
        raw.start()
        try:
            if not await self._slac(raw):
                return
        finally:
            raw.close()
        if not await self._sdp(ev, seccs):
            return
        self.parts.preinstall()
        resume: bytes | None = None
        while await self._v2g(ev, raw.mac, resume):
            resume = self.parts.paused_session()
            delay = self.parts.steps.resume_after() if resume is not None else None
            if resume is None or delay is None:
                return
            self.display.note(f"V2G: resuming the paused session {resume.hex()} after {delay:g} s")
            await asyncio.sleep(delay)
            self.mark("resume")

    async def _slac(self, raw: RawSocket) -> bool:
        self.display.note(f"SLAC: EV {raw.mac.hex(':')} plugged in, {len(self.topo.evses)} EVSE(s) on the line")
        self.mark("SLAC started")
        config = SlacConfig(raw.mac, parm_retries=self.sc.slac_parm_retries)
        machine = EvSlac(config, system_rng)
        try:
            matched = await SlacRunner(machine, raw, self.clock).match()
        except SlacFailed as exc:
            self.mark("SLAC failed")
            self.report.slac.failure = str(exc)
            self.report.fail(str(exc))
            return False
        finally:
            self.report.deviations = machine.deviations.as_json()
        self.mark("SLAC matched")
        s = self.report.slac
        s.matched, s.time_s = True, round(matched.link_up - matched.started, 6)
        s.evse_mac, s.attenuation_db, s.nid = matched.evse_mac.hex(":"), matched.attenuation_db, matched.nid.hex()
        self.display.note(f"SLAC: {matched.describe()}")
        return True

    async def _sdp(self, ev: Endpoint, seccs: list[_Secc]) -> bool:
        with in_netns(ev.netns):
            sock = sdp_socket(ev.ifname)
        self.mark("SDP started")
        started = self.clock()
        try:
            found = await discover(SdpClient(Security.TLS if self.tls else Security.NO_TLS), sock, self.clock)
        except PeerError as exc:
            self.mark("SDP failed")
            self.report.sdp.failure = str(exc)
            self.report.fail(f"SDP: {exc}")
            return False
        finally:
            sock.close()
        self.mark("SECC found")
        d = self.report.sdp
        d.found, d.address, d.port, d.security = True, str(found.address), found.port, found.security.name
        d.time_s = round(self.clock() - started, 6)
        answered = [s.evse for s in seccs if s.sdp.requests]
        d.evse = ", ".join(f"{e.role} ({e.mac.hex(':')})" for e in answered) or None
        self.display.note(f"SDP: SECC at [{found.address}]:{found.port} ({found.security.name})")
        return True

    async def _v2g(self, ev: Endpoint, mac: bytes, resume: bytes | None) -> bool:
        """One V2G session on a new connection; False when the connection failed."""
        d, tls = self.report.sdp, self.tls
        assert d.address is not None and d.port is not None
        try:
            with in_netns(ev.netns):  # the TCP socket belongs to the EV's namespace
                index = interface_index(ev.ifname)
                conn = await open_connection(d.address, d.port, tls=tls.client if tls else None, scope_id=index,
                                             accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
        except (PeerError, SecurityError) as exc:  # SecurityError: the SECC's certificate was refused
            self.mark("connection failed")
            self.report.fail(f"connection to the SECC: {exc}")
            return False
        self.mark("connected")
        self.report.tls_cipher = conn.cipher[0] if conn.cipher else None
        link = f"{conn.cipher[1]} {conn.cipher[0]}" if conn.cipher else "TCP"
        self.display.note(f"V2G: {link} connected, offering {', '.join(self.sc.offered)}")
        timers = PROTOCOLS[self.sc.protocol].timers
        try:
            session = await run_session(conn, self.parts.offers(), self.parts.factories(mac, resume), timers,
                                        self.clock)
        except SecurityError as exc:  # TLS 1.3: the SECC refused the vehicle certificate (alert on the first read)
            self.mark("connection failed")
            self.report.fail(f"connection to the SECC: {exc}")
            return False
        self.mark("session ended")
        self.report.take_session(session, self.origin)
        self.parts.session_done()
        return True


async def _cancel(tasks: Sequence[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


