"""The hostile charger: one fault (:mod:`evcc.bench.secc.faults`) applied to what ANY sans-IO SECC responder sends
(DIN SPEC 70121, ISO 15118-2, -20, or the server's SupportedAppProtocol-then-protocol session), so that no
responder carries fault code of its own. Issue 4 point 5; timeouts as in DIN SPEC 70121 Table 75 and ISO 15118-2
Table 109 (``V2G_EVCC_Msg_Timeout`` per request), V2GTP header as in ISO 15118-2 §7.8.3.

:class:`FaultySecc` has the responder shape itself. Message faults change, hold back, replace or drop message
objects; frame faults replace the message by a :class:`~evcc.bench.secc.faults.RawFrame` or
:class:`~evcc.bench.secc.faults.Disconnect` that the server writes or performs. Each fault strikes once, at its
target (``SILENCE``, ``TRUNCATED`` and ``STALL`` then last); ``applied`` says what was done.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable
from typing import Any

from evcc import exi
from evcc.bench.secc.faults import (CERT_KINDS, SAP_RESPONSE, Disconnect, Fault, FaultKind, FaultSpecError, RawFrame,
                                    RawPayload)
from evcc.bench.secc.memory import SeccResponder, accepted_payload_types, deliver, payload_type_for
from evcc.session import v2gtp
from evcc.session.elements import body_of, element_name
from evcc.session.timeouts import EvccTimers

TimerSource = Callable[[], EvccTimers | None]


class FaultySecc:
    """``inner`` with ``fault`` applied. ``timers`` gives the EVCC timer table of the session (for a DELAY
    without an explicit delay); ``applied`` collects one line per action taken (shared with the server's log)."""

    def __init__(self, inner: SeccResponder, fault: Fault, timers: TimerSource | None = None,
                 applied: list[str] | None = None) -> None:
        if fault.kind is FaultKind.DELAY and fault.delay is None and timers is None:
            raise FaultSpecError("fault delay: without a delay in seconds it needs the EVCC timer table")
        self.inner = inner
        self.fault = fault
        self.timers = timers
        self.applied = applied if applied is not None else []
        self._index = 0  # responses after SupportedAppProtocol seen so far
        self._seen: dict[str, int] = {}
        self._first: dict[str, Any] = {}  # first response of each name, for UNEXPECTED and STALL
        self._struck = False
        self._silent = False
        self._stalled: Any = None  # the response repeated by STALL
        self._held: list[tuple[float, Any]] = []

    # ------------------------------------------------------------ responder shape
    @property
    def accepted_payload_types(self) -> frozenset[int]:
        return accepted_payload_types(self.inner)

    def receive_payload(self, data: bytes, now: float) -> None:
        self.inner.receive_payload(data, now)

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        deliver(self.inner, payload_type, data, now)

    def payload_type_of(self, msg: Any) -> int:
        return payload_type_for(self.inner, msg)

    def get_timer(self) -> float | None:
        times = [t for t in (self.inner.get_timer(), min((d for d, _ in self._held), default=None)) if t is not None]
        return min(times, default=None)

    def messages_to_send(self, now: float) -> list[Any]:
        for msg in self.inner.messages_to_send(now):
            for due, item in self._apply(msg, now):
                if self._held:  # keep the order: nothing overtakes a held response
                    due = max(due, self._held[-1][0])
                self._held.append((due, item))
        out = [item for due, item in self._held if due <= now]
        self._held = [(due, item) for due, item in self._held if due > now]
        return out

    # ------------------------------------------------------------------ faults
    def _apply(self, msg: Any, now: float) -> list[tuple[float, Any]]:
        name = element_name(msg)
        if self._silent:
            return []
        hit = self._hit(name)
        if name != SAP_RESPONSE:
            self._first.setdefault(name, msg)
        if self._stalled is not None and name == element_name(self._stalled):
            return [(now + (self.fault.delay or 0.0), copy.deepcopy(self._stalled))]
        if not hit:
            return [(now, msg)]
        kind = self.fault.kind
        self.applied.append(f"{self.fault.kind.value}: {name}")
        if kind is FaultKind.DELAY:
            delay = self._delay(name)
            self.applied[-1] += f" held back {delay:.3f} s"
            return [(now + delay, msg)]
        if kind in (FaultKind.SILENCE, FaultKind.TRUNCATED):
            self._silent = True
            return [] if kind is FaultKind.SILENCE else [(now, self._truncated(msg))]
        if kind is FaultKind.STALL:
            self._stalled = msg
            return [(now, msg)]
        if kind is FaultKind.UNEXPECTED:
            return [(now, m) for m in self._unexpected(name, msg)]
        return [(now, self._replace(msg))]

    def _hit(self, name: str) -> bool:
        """True once: for the response the fault targets."""
        if self._struck or self.fault.kind in CERT_KINDS:
            return False
        at = self.fault.at
        if name == SAP_RESPONSE:
            self._struck = at == SAP_RESPONSE
            return self._struck
        index, self._index = self._index, self._index + 1
        self._seen[name] = count = self._seen.get(name, 0) + 1
        self._struck = index == at if isinstance(at, int) else (name == at and count == self.fault.occurrence)
        return self._struck

    def _replace(self, msg: Any) -> Any:
        kind = self.fault.kind
        if kind is FaultKind.CODE:
            changed = copy.deepcopy(msg)
            body_of(changed).ResponseCode = self.fault.response_code
            return changed
        if kind is FaultKind.SESSION_ID:
            changed = copy.deepcopy(msg)
            changed.Header.SessionID = bytes(b ^ 0xFF for b in changed.Header.SessionID)
            return changed
        if kind is FaultKind.GARBAGE_EXI:
            return RawPayload(self.payload_type_of(msg), self.fault.garbage)
        if kind is FaultKind.DISCONNECT:
            return Disconnect()
        payload_type, payload = self.payload_type_of(msg), exi.encode(msg)
        if kind is FaultKind.OVERSIZED:
            return RawFrame(_header(payload_type, self.fault.length))
        if kind is FaultKind.WRONG_VERSION:
            v = self.fault.version
            return RawFrame(struct.pack(">BBHI", v, v ^ 0xFF, payload_type, len(payload)) + payload)
        if kind is FaultKind.WRONG_PAYLOAD_TYPE:
            wrong = self.fault.payload_type
            if wrong is None:
                wrong = v2gtp.ISO20_COMMON if payload_type == v2gtp.EXI_ENCODED else v2gtp.EXI_ENCODED
            return RawFrame(v2gtp.encode(wrong, payload))
        raise FaultSpecError(f"fault {kind.value} does not replace a message")  # pragma: no cover - table above

    def _truncated(self, msg: Any) -> RawFrame:
        payload = exi.encode(msg)
        return RawFrame(_header(self.payload_type_of(msg), len(payload)) + payload[: len(payload) // 2])

    def _unexpected(self, name: str, msg: Any) -> list[Any]:
        wanted = self.fault.replacement
        if wanted is not None:
            if wanted not in self._first:
                raise FaultSpecError(f"fault unexpected: no {wanted} was sent before {name} to send instead")
            return [copy.deepcopy(self._first[wanted])]
        earlier = [m for n, m in self._first.items() if n != name]
        if earlier:
            self.applied[-1] += f" -> {element_name(earlier[0])}"
            return [copy.deepcopy(earlier[0])]
        self.applied[-1] += " sent twice"  # the first response: its copy answers the next request
        return [msg, copy.deepcopy(msg)]

    def _delay(self, name: str) -> float:
        if self.fault.delay is not None:
            return self.fault.delay
        timers = self.timers() if self.timers is not None else None
        request = "SupportedAppProtocolReq" if name == SAP_RESPONSE else name[: -len("Res")] + "Req"
        if timers is None or request not in timers.V2G_EVCC_Msg_Timeout:
            raise FaultSpecError(f"fault delay: no V2G_EVCC_Msg_Timeout for {request}; give the delay in seconds")
        return timers.msg_timeout(request) + self.fault.margin


def _header(payload_type: int, length: int) -> bytes:
    return struct.pack(">BBHI", v2gtp.PROTOCOL_VERSION, v2gtp.INVERSE_PROTOCOL_VERSION, payload_type, length)
