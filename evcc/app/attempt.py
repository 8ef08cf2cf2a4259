"""One charging session on the link (asyncio adapter; ARCHITECTURE.md "the path of one charging session"):

    [slac] enabled: ISO 15118-3 matching (evcc.slac.runner over a raw AF_PACKET socket on the modem interface)
    ISO 15118-2 §7.10.1 SDP on the interface -> SECC address, port, TLS or not
    TCP or TLS (1.2; 1.3 mutual for -20) to the SECC -> evcc.session.runner.run_session: SupportedAppProtocol,
    then the machine (DIN 70121, ISO 15118-2 or -20; -20 messages in their own V2GTP payload types)

The machine is wrapped in :class:`~evcc.app.progress.ObservedMachine`, so every state change reaches the
daemon (D-Bus, BMS stage, STATUS=). :meth:`Attempt.stop` asks for the orderly end (PowerDelivery stop,
SessionStop) once a machine runs; before that there is nothing to end in order and the caller cancels.
:meth:`Attempt.pause` ends it the same way with SessionStop Pause (ISO 15118-2 [V2G2-741]..; -20 ChargingSession
Pause); ``resume`` (the paused session's SessionID) makes the next attempt ask to continue it in SessionSetupReq.

Plug & Charge (``payment = contract``): the machine's steps run on the key store's worker thread
(:class:`~evcc.hsm.aio.AsyncKeyStore`, the runner's ``offload``) so that token calls never hold the daemon's loop;
state changes seen there reach ``on_state`` on the loop (``call_soon_threadsafe``), in order. When the attempt is
cancelled (charger gone, user stop, service stopping) while a step runs on the token, :meth:`Attempt.run` ends
only after that step ended (``AsyncKeyStore.aclose``, awaited without holding the loop): the daemon's next
attempt, or its closing of the key store, never overlaps a running token call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from evcc.app.compose import Parts
from evcc.app.progress import ObservedMachine
from evcc.errors import PeerError, SecurityError
from evcc.hsm.aio import AsyncKeyStore
from evcc.session import v2gtp
from evcc.session.connection import V2gConnection, open_connection
from evcc.session.machine import EvccMachine
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import Negotiated
from evcc.session.sdp import SdpClient, Security
from evcc.session.sdp_aio import discover, interface_index, sdp_socket

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: ``report`` when a V2G session ran, else ``reason`` (no match, no SECC, ...)."""

    report: SessionReport | None
    reason: str
    phase: str  # "slac", "sdp", "connect", "session"


class Attempt:
    def __init__(self, parts: Parts, on_phase: Callable[[str], None], on_state: Callable[[str, str], None],
                 clock: Callable[[], float] = time.monotonic, resume: bytes | None = None) -> None:
        self.parts = parts
        self.resume = resume
        self.on_phase = on_phase  # "slac", "sdp", "connect"
        self.on_state = on_state  # (protocol, machine state)
        self.clock = clock
        self.machine: ObservedMachine | None = None
        self.protocol = ""
        self._stop_reason: str | None = None

    def stop(self, reason: str) -> bool:
        """Ask the running machine to end in order; False when no machine runs yet."""
        self._stop_reason = reason
        if self.machine is None:
            return False
        self.machine.stop(self.clock(), reason)
        return True

    def pause(self, reason: str) -> bool:
        """Ask the running -2/-20 machine to end with SessionStop Pause; False when none runs or it cannot pause
        (DIN SPEC 70121)."""
        inner = self.machine.inner if self.machine is not None else None
        stop = getattr(inner, "stop", None)
        if inner is None or not hasattr(inner, "paused") or not callable(stop):
            return False
        stop(self.clock(), reason, pause=True)
        return True

    def paused_session(self) -> bytes | None:
        """The SessionID to resume with when the machine ended its session with SessionStop Pause, else None."""
        inner = self.machine.inner if self.machine is not None else None
        session_id = getattr(inner, "session_id", None)
        return session_id if getattr(inner, "paused", False) and isinstance(session_id, bytes) else None

    async def run(self) -> Outcome:
        conn = await self.reach_secc()
        if isinstance(conn, Outcome):
            return conn
        protocols = self.parts.protocols
        started = self.clock()
        makers = {offer.protocol: self._factory(offer.protocol) for offer in protocols.offers}
        offload = AsyncKeyStore(self.parts.keystore) if self.parts.config.session.payment == "contract" else None
        try:
            report = await run_session(conn, list(protocols.offers), makers, protocols.sap_timers, self.clock, started,
                                       offload=offload)
        finally:
            if offload is not None:  # never blocks the loop; returns once a cancelled session's running key-store
                await offload.aclose()  # step ended, so the next attempt's steps cannot overlap it (evcc.hsm.aio)
        return Outcome(report, report.ended.reason, "session")

    def accepted_payloads(self) -> frozenset[int]:
        """The V2GTP payload types of the configured protocols (-20 messages have their own)."""
        extra = v2gtp.ISO20_PAYLOAD_TYPES if self.parts.protocols.iso20 else frozenset()
        return frozenset(v2gtp.SESSION_PAYLOAD_TYPES | extra)

    async def reach_secc(self) -> V2gConnection | Outcome:
        """The link: SLAC, SDP on the interface (link-local SECC addresses only), TCP/TLS with that interface's
        scope; an :class:`Outcome` when it fails. (`evcc demo` without root overrides this in its own subclass,
        evcc.demo.inprocess; `evcc run` always takes this path.)"""
        ifname = self.parts.config.plc.interface
        if self.parts.config.slac.enabled:
            self.on_phase("slac")
            try:
                await self._slac(ifname)
            except PeerError as exc:
                return Outcome(None, f"SLAC: {exc}", "slac")
        self.on_phase("sdp")
        tls = self.parts.tls
        sock = sdp_socket(ifname)
        try:
            found = await discover(SdpClient(Security.TLS if tls else Security.NO_TLS), sock, self.clock)
        except PeerError as exc:
            return Outcome(None, f"SDP: {exc}", "sdp")
        finally:
            sock.close()
        self.on_phase("connect")
        LOG.info("SECC found", extra={"fields": {"address": str(found.address), "port": found.port,
                                                 "security": found.security.name}})
        try:
            return await open_connection(str(found.address), found.port, tls=tls, scope_id=interface_index(ifname),
                                         accepted=self.accepted_payloads())
        except (PeerError, SecurityError) as exc:  # SecurityError: the TLS handshake failed (untrusted, refused)
            return Outcome(None, f"connection to the SECC: {exc}", "connect")

    async def _slac(self, ifname: str) -> None:
        # Imported here: benches on a direct link never load the SLAC stack (cold start to READY, issue 6).
        from evcc.plc.rawsock import RawSocket
        from evcc.slac.config import SlacConfig
        from evcc.slac.machine import EvSlac
        from evcc.slac.runner import SlacRunner, system_rng

        raw = RawSocket.open(ifname)
        raw.start()
        try:
            config = SlacConfig(raw.mac, parm_retries=self.parts.config.slac.parm_retries)
            matched = await SlacRunner(EvSlac(config, system_rng), raw, self.clock).match()
        finally:
            raw.close()
        LOG.info("SLAC matched", extra={"fields": {"evse": matched.evse_mac.hex(":"), "nid": matched.nid.hex()}})

    def _factory(self, key: str) -> Callable[[Negotiated], EvccMachine]:
        protocol = self.parts.protocols.names[key]  # the configured name: iso20-dc-bpt rides on iso20-dc

        def make(negotiated: Negotiated) -> EvccMachine:
            inner = self.parts.protocols.makers[key](self.parts.mac, self.parts.bridge.vehicle, self.parts,
                                                     self.resume)
            self.protocol = protocol
            loop = asyncio.get_running_loop()
            loop_thread = threading.get_ident()

            def on_state(state: str) -> None:  # a step may run on the key store's thread (module docstring)
                if threading.get_ident() == loop_thread:
                    self.on_state(protocol, state)
                else:
                    loop.call_soon_threadsafe(self.on_state, protocol, state)
            self.machine = ObservedMachine(inner, on_state)
            if self._stop_reason is not None:  # a stop asked for while negotiating
                self.machine.stop(self.clock(), self._stop_reason)
            return self.machine
        return make
