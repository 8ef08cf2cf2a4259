"""asyncio adapter of one V2G communication session over an open connection: SupportedAppProtocol, then the
negotiated protocol's machine until it ends. The only code here that awaits or reads the clock.

A transport failure (peer closed, broken V2GTP framing, a TLS alert such as a TLS 1.3 SECC refusing the vehicle
certificate after the handshake) ends the session like any other protocol error: the report says why, no
exception escapes. ``V2G_EVCC_CommunicationSetup_Timeout`` runs from ``setup_started``
(link up, by default the call) until SessionSetupRes.

Honest timers: once a request's bytes are written to the connection the machine is told
(``request_written``): V2G_EVCC_Msg_Timeout and the reported response time run from there (ISO 15118-2 §8.7
Table 109, DIN SPEC 70121 §9.6 Table 75, ISO 15118-20 §8.8: the time the EVCC waits for a response after sending
the request). The EV's own time between a response and its next request is measured here and reported as the
EV's (:class:`~evcc.session.session_log.SessionLog`: ``ev_turn``, ``ev_work``), never as the charger's.

Bounded: what the session keeps (events, per-response timings) is a SessionLog of fixed size. While the protocol
machine runs, the objects alive after start-up are frozen out of the garbage collector's sight (``gc.freeze``,
:mod:`evcc.gc_watch`), so that a collection in the charge loop scans only what the loop itself allocates; they
are handed back when the session ends.

Off the event loop (issue 15): a Plug & Charge machine calls the key store from its handlers through the
injected contract port (GenChallenge and MeteringReceipt signatures, ECDH and key import in
CertificateInstallation/Update; 10-60 ms a command on a discrete TPM). With ``offload`` (the key store's one
worker thread, :class:`evcc.hsm.aio.AsyncKeyStore`) every machine step (a received response, a timer) runs
there and the runner awaits it, so the loop keeps serving D-Bus, BMS deadlines and the watchdog meanwhile; token
calls stay serialised on that thread. Chosen over making the contract port asynchronous (requests the machine
emits as events): the machines stay sans-IO and unchanged, only this adapter moves. Callbacks a step triggers on
the loop's side (a state observer) must hand their work to the loop (``call_soon_threadsafe``: it runs before the
runner resumes, since the step's result reaches the loop after it). Only PnC sessions pass ``offload``: an EIM
session never touches the key store and keeps its charge loop on the loop thread, without a thread hop per
message. While a step runs off the loop, the loop only reads the machine or sets its stop request (one
attribute write, taken at the next response).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from evcc import exi
from evcc.errors import ConfigError, PeerError, PeerTimeout
from evcc.gc_watch import frozen_after_start
from evcc.session.connection import V2gConnection
from evcc.session.errors import TlsError
from evcc.session.events import EndKind, SessionEnded
from evcc.session.machine import EvccMachine, Routing, accepted_payload_types, routing, written_hook
from evcc.session.sap import Negotiated, ProtocolOffer, SapClient, SapMsgTimeout
from evcc.session.session_log import SessionLog
from evcc.session.timeouts import EvccTimers
from evcc.session.v2gtp import EXI_ENCODED, V2gtpMessage

log = logging.getLogger(__name__)

MachineFactory = Callable[[Negotiated], EvccMachine]
T = TypeVar("T")


class Offload(Protocol):
    """Where blocking machine steps run (:class:`evcc.hsm.aio.AsyncKeyStore`: the key store's worker thread)."""

    async def call(self, fn: Callable[..., T], *args: object) -> T: ...


@dataclass
class SessionReport:
    """``events``: the bounded record of the session (iterates over the kept events; aggregates inside)."""

    ended: SessionEnded
    protocol: str | None = None
    events: SessionLog = field(default_factory=SessionLog)
    started: float = 0.0
    finished: float = 0.0


async def run_session(
    conn: V2gConnection,
    offers: Sequence[ProtocolOffer],
    machines: Mapping[str, MachineFactory],
    sap_timers: EvccTimers,
    clock: Callable[[], float] = time.monotonic,
    setup_started: float | None = None,
    log: SessionLog | None = None,
    freeze_gc: bool = True,
    offload: Offload | None = None,
) -> SessionReport:
    """Negotiate, then run the machine ``machines[offer.protocol]``; always returns a report. ``log``: where the
    session's record goes (a fresh bounded :class:`SessionLog` by default); ``freeze_gc``, ``offload``: see the
    module."""
    missing = [o.protocol for o in offers if o.protocol not in machines]
    if missing:
        raise ConfigError(f"offered protocols without a machine: {missing}")
    start = clock() if setup_started is None else setup_started
    report = SessionReport(SessionEnded(EndKind.PROTOCOL_ERROR, "not started", "idle"), started=start,
                           events=log if log is not None else SessionLog())
    try:
        negotiated = await _negotiate(conn, offers, sap_timers, clock)
        report.protocol = negotiated.offer.protocol
        machine = machines[negotiated.offer.protocol](negotiated)
        machine.start(clock(), setup_deadline=start + sap_timers.V2G_EVCC_CommunicationSetup_Timeout)
        with frozen_after_start(freeze_gc):
            report.ended = await _drive(conn, machine, report.events, clock, report.protocol, offload)
    except (PeerError, TlsError) as exc:  # TLS 1.3: the SECC's verdict on the vehicle certificate comes late
        kind = EndKind.TIMEOUT if isinstance(exc, PeerTimeout) else EndKind.PROTOCOL_ERROR
        timer = exc.timer if isinstance(exc, SapMsgTimeout) else None
        report.ended = SessionEnded(kind, str(exc), "transport" if report.protocol else "SupportedAppProtocol",
                                    timer=timer)
    finally:
        conn.close()
        report.finished = clock()
    return report


async def _negotiate(
    conn: V2gConnection, offers: Sequence[ProtocolOffer], timers: EvccTimers, clock: Callable[[], float]
) -> Negotiated:
    sap = SapClient(offers, timers)
    sap.start(clock())
    for payload in sap.payloads_to_send():
        conn.send(EXI_ENCODED, payload)
    while sap.result is None and sap.error is None:
        deadline = sap.get_timer()
        msg = await conn.receive(None if deadline is None else max(0.0, deadline - clock()))
        if msg is None:
            sap.handle_timer(clock())
        else:
            sap.receive_payload(msg.payload, clock())
    if sap.error is not None:
        raise sap.error
    assert sap.result is not None
    return sap.result


async def _drive(
    conn: V2gConnection, machine: EvccMachine, log: SessionLog, clock: Callable[[], float], protocol: str,
    offload: Offload | None = None,
) -> SessionEnded:
    route = routing(machine)
    written = written_hook(machine)
    response_taken: float | None = None  # the last response, until the request after it is written
    woke = clock()
    while True:
        out = machine.messages_to_send()
        if out:
            for msg in out:
                conn.send(route.type_of(msg), exi.encode(msg))
            at = clock()
            written(at)  # V2G_EVCC_Msg_Timeout starts now, not when the response before was handled
            log.turn(response_taken, woke, at)
            response_taken = None
        log.extend(machine.events())
        if machine.ended is not None:
            return machine.ended
        deadline = machine.get_timer()
        try:
            received = await conn.receive(None if deadline is None else max(0.0, deadline - clock()))
        except PeerError as exc:
            return SessionEnded(EndKind.PROTOCOL_ERROR, f"transport: {exc}", "transport")
        now = woke = clock()
        if received is not None:
            if received.payload_type not in route.accepted:
                return SessionEnded(EndKind.PROTOCOL_ERROR, _wrong_type(received.payload_type, machine, protocol),
                                    "transport")
            response_taken = now
        if offload is not None:
            await offload.call(_step, route, machine, received, now)
            continue
        if received is not None:
            route.receive(received.payload_type, received.payload, now)
        machine.handle_timer(now)


def _step(route: Routing, machine: EvccMachine, received: V2gtpMessage | None, now: float) -> None:
    """One received response (if any) and the timers due with it (on the offload thread)."""
    if received is not None:
        route.receive(received.payload_type, received.payload, now)
    machine.handle_timer(now)


def _wrong_type(payload_type: int, machine: EvccMachine, protocol: str) -> str:
    """A payload type the connection takes but the negotiated protocol does not (ISO 15118-20 §7.8.3 Table 14:
    a DC message in the AC type, SupportedAppProtocol's 0x8001 after negotiation)."""
    accepted = ", ".join(f"{t:#06x}" for t in sorted(accepted_payload_types(machine)))
    return f"transport: V2GTP payload type: {payload_type:#06x} not accepted in the {protocol} session ({accepted})"
