"""The sans-IO SECC responder shape (DIN SPEC 70121, ISO 15118-2 and -20 responders alike) and the in-memory
pairing of an EV machine with a responder on an injected clock: every message goes through the EXI codec both
ways, time jumps from one deadline to the next. Used by the tests, the benchmarks and the bench's in-process link.

V2GTP payload types (ISO 15118-2 §7.8.3, ISO 15118-20 §V2GTP): a responder may declare the type of each message
it sends with ``payload_type_of(msg)`` or one ``payload_type`` attribute, and the types it takes with
``accepted_payload_types``; without them the type follows the message's schema set (0x8001 for SAP, DIN and -2;
0x8002 -20 common, 0x8003 AC, 0x8004 DC, 0x8005 ACDP, 0x8006 WPT). A responder that must know the type of a
request (-20 decodes with the grammar it names) has ``receive_typed(payload_type, data, now)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Disconnect, FaultSpecError, RawFrame, RawPayload
from evcc.session import v2gtp
from evcc.session.din.machine import DinEvcc
from evcc.session.events import SessionEnded
from evcc.session.session_log import SessionLog
from evcc.session import machine as ev_side
from evcc.session.machine import EvccMachine


class SeccResponder(Protocol):
    """What the in-memory pairing and the server need of a sans-IO SECC responder (DIN, ISO 15118-2, -20).

    ``messages_to_send`` returns message objects; the fault layer may also return the injected items of
    :mod:`evcc.bench.secc.faults` (RawPayload, RawFrame, Disconnect)."""

    def receive_payload(self, data: bytes, now: float) -> None: ...

    def messages_to_send(self, now: float) -> list[Any]: ...

    def get_timer(self) -> float | None: ...


SCHEMA_PAYLOAD_TYPES: dict[str, int] = {
    "sap": v2gtp.EXI_ENCODED, "din": v2gtp.EXI_ENCODED, "iso2": v2gtp.EXI_ENCODED,
    "iso20_common": v2gtp.ISO20_COMMON, "iso20_ac": v2gtp.ISO20_AC, "iso20_dc": v2gtp.ISO20_DC,
    "iso20_acdp": v2gtp.ISO20_ACDP, "iso20_wpt": v2gtp.ISO20_WPT,
}


def payload_type_for(responder: object, msg: Any) -> int:
    """The V2GTP payload type ``responder`` sends ``msg`` in (its declaration, else the message's schema set)."""
    declared = getattr(responder, "payload_type_of", None)
    if callable(declared):
        return int(declared(msg))
    fixed = getattr(responder, "payload_type", None)
    if isinstance(fixed, int):
        return fixed
    return SCHEMA_PAYLOAD_TYPES.get(getattr(msg, "_schema", ""), v2gtp.EXI_ENCODED)


def accepted_payload_types(responder: object) -> frozenset[int]:
    """The payload types ``responder`` takes requests in (default 0x8001)."""
    declared = getattr(responder, "accepted_payload_types", None)
    if declared is None:
        return frozenset({v2gtp.EXI_ENCODED})
    return frozenset(int(t) for t in declared)


def deliver(responder: object, payload_type: int, data: bytes, now: float) -> None:
    """Hand one request payload to ``responder``: ``receive_typed`` when it has one, else ``receive_payload``."""
    typed = getattr(responder, "receive_typed", None)
    if callable(typed):
        typed(payload_type, data, now)
    else:
        responder.receive_payload(data, now)  # type: ignore[attr-defined]


@dataclass
class PairResult:
    ended: SessionEnded
    end_time: float
    events: SessionLog = field(default_factory=SessionLog)  # bounded (evcc.session.session_log)
    ev_payloads: int = 0


def run_din_in_memory(ev: DinEvcc, secc: DinSecc, now: float = 0.0, max_steps: int = 1_000_000) -> PairResult:
    return run_in_memory(ev, secc, now, max_steps)


def run_in_memory(ev: EvccMachine, secc: SeccResponder, now: float = 0.0, max_steps: int = 1_000_000) -> PairResult:
    """Any EV machine against any responder of the same protocol, until the EV machine ends. Payloads cross
    with their V2GTP payload type both ways (ISO 15118-20 decodes by it)."""
    events = SessionLog()
    sent = 0
    ev.start(now)
    for _ in range(max_steps):
        for msg in ev.messages_to_send():
            sent += 1
            deliver(secc, ev_side.payload_type_of(ev, msg), exi.encode(msg), now)
        events.extend(ev.events())
        if ev.ended is not None:
            return PairResult(ev.ended, now, events, sent)
        deadlines = [t for t in (ev.get_timer(), secc.get_timer()) if t is not None]
        if not deadlines:
            raise RuntimeError("deadlock: neither side has anything to do")
        now = max(now, min(deadlines))
        for out in secc.messages_to_send(now):
            payload = _payload(out)  # refuses frame and connection faults before anything asks for their type
            payload_type = out.payload_type if isinstance(out, RawPayload) else payload_type_for(secc, out)
            ev_side.deliver(ev, payload_type, payload, now)
        ev.handle_timer(now)
    raise RuntimeError(f"no end after {max_steps} steps")


def _payload(out: Any) -> bytes:
    if isinstance(out, RawPayload):
        return out.data
    if isinstance(out, (RawFrame, Disconnect)):
        raise FaultSpecError(f"{type(out).__name__}: frame and connection faults need a transport (TCP or TLS), "
                             "not the in-memory pairing")
    return exi.encode(out)
