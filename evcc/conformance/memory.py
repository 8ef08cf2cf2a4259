"""The charger under test in the same process: any sans-IO SECC responder (the shape of the bench's SECC
session: ``receive_typed(payload_type, data, now)``, ``messages_to_send(now)``, ``get_timer()``,
``payload_type_of(msg)``) behind the :class:`~evcc.conformance.link.Charger` face, on a virtual clock that jumps
to the next deadline. Every byte still goes through V2GTP framing (ISO 15118-2 §7.8.3) and the EXI codec both
ways, so the suite's verdicts are the ones it gives over TCP, in milliseconds instead of seconds.

The responder's output items are turned into bytes by ``wire`` (message objects are encoded; a test may pass
one that also knows its fault layer's raw frames and disconnects: ``None`` closes the connection). A responder
that raises on input is a charger that closes the connection, as the simulator's server does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from evcc import exi
from evcc.conformance.link import ALL_PAYLOAD_TYPES, Broken, Closed, Frame, Received
from evcc.session import v2gtp
from evcc.session.connection import PreparedTls
from evcc.session.errors import ConnectionFailed, TlsError, V2gtpError


class MemoryPeer(Protocol):
    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None: ...

    def messages_to_send(self, now: float) -> list[Any]: ...

    def get_timer(self) -> float | None: ...

    def payload_type_of(self, msg: Any) -> int: ...


Wire = Callable[[MemoryPeer, Any], bytes | None]


def encode_wire(peer: MemoryPeer, item: Any) -> bytes | None:
    """A message object as one V2GTP frame in the payload type the peer gives it."""
    return v2gtp.encode(peer.payload_type_of(item), exi.encode(item))


class VirtualClock:
    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, t)


class MemoryLink:
    tls_version: str | None = None
    cipher: str | None = None

    def __init__(self, peer: MemoryPeer, wire: Wire, clock: VirtualClock) -> None:
        self.peer = peer
        self.wire = wire
        self.clock = clock
        self._to_peer = v2gtp.Reassembler(ALL_PAYLOAD_TYPES, v2gtp.DEFAULT_MAX_PAYLOAD)
        self._to_ev = v2gtp.Reassembler(ALL_PAYLOAD_TYPES, v2gtp.DEFAULT_MAX_PAYLOAD)
        self._items: list[Received] = []
        self._ended: Received | None = None

    def send_raw(self, data: bytes) -> None:
        if self._ended is not None:
            return
        try:
            for msg in self._to_peer.feed(data):
                self.peer.receive_typed(msg.payload_type, msg.payload, self.clock.t)
        except Exception as exc:  # noqa: BLE001 - any refusal of the charger's code is its closing the connection
            self._end(Closed(f"the charger closed the connection ({type(exc).__name__}: {exc})", self.clock.t))

    def _end(self, item: Received) -> None:
        if self._ended is None:
            self._ended = item
            self._items.append(item)

    def _flush(self) -> None:
        for item in self.peer.messages_to_send(self.clock.t):
            if self._ended is not None:
                return
            data = self.wire(self.peer, item)
            if data is None:
                self._end(Closed("the charger closed the connection", self.clock.t))
                return
            try:
                for msg in self._to_ev.feed(data):
                    self._items.append(Frame(msg.payload_type, msg.payload, self.clock.t))
            except V2gtpError as exc:
                self._items.extend(Frame(m.payload_type, m.payload, self.clock.t) for m in exc.complete)
                self._end(Broken(str(exc), self.clock.t))

    async def receive(self, timeout: float) -> Received | None:
        deadline = self.clock.t + max(0.0, timeout)
        while True:
            if self._items:
                item = self._items.pop(0)
                if not isinstance(item, Frame):
                    self._items.insert(0, item)  # stays ended
                return item
            due = self.peer.get_timer() if self._ended is None else None
            if due is None or due > deadline:
                self.clock.advance_to(deadline)
                return None
            self.clock.advance_to(due)
            self._flush()

    def close(self) -> None:
        self._end(Closed("closed by the EV", self.clock.t))


class MemoryCharger:
    """``make_peer`` builds the charger's side of each new connection; ``sdp_answer`` answers a datagram (or
    None: no answer); ``tls`` is refused (no TLS in memory: TLS cases need a network charger)."""

    def __init__(self, make_peer: Callable[[], MemoryPeer], sdp_answer: Callable[[bytes], bytes | None],
                 wire: Wire = encode_wire, address: tuple[str, int] = ("::1", 61851)) -> None:
        self.make_peer = make_peer
        self.sdp_answer = sdp_answer
        self.wire = wire
        self.address = address
        self.clock = VirtualClock()
        self.connections = 0

    def now(self) -> float:
        return self.clock.t

    async def sleep(self, seconds: float) -> None:
        self.clock.advance_to(self.clock.t + max(0.0, seconds))

    async def sdp_exchange(self, datagram: bytes, wait: float, first: bool = False) -> list[bytes]:
        answer = self.sdp_answer(datagram)
        if answer is None:
            self.clock.advance_to(self.clock.t + wait)
            return []
        return [answer]

    async def connect(self, address: str, port: int, tls: PreparedTls | None) -> MemoryLink:
        if (address, port) != self.address:
            raise ConnectionFailed(f"TCP connection to [{address}]:{port} failed: Connection refused (ECONNREFUSED)")
        if tls is not None:
            raise TlsError("TLS handshake with the SECC failed: the in-memory charger has no TLS")
        self.connections += 1
        return MemoryLink(self.make_peer(), self.wire, self.clock)
