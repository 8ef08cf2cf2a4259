"""The shape every EVCC protocol machine has (DIN 70121, ISO 15118-2, ISO 15118-20), so one asyncio adapter
drives any of them. Sans-IO: payload bytes and ``now`` in; messages, events and one deadline out.

DIN and -2 messages all travel in V2GTP payload type 0x8001 (``payload_type``). ISO 15118-20 spreads its
messages over several payload types (§7.8.3.3 Table 14: 0x8002 CommonMessages, 0x8003 AC, 0x8004 DC): such a
machine is also a :class:`MultiPayloadMachine` and says per message which type it travels in and takes the
received type with the payload. :func:`payload_type_of`, :func:`accepts` and :func:`deliver` let an adapter
treat both kinds alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from evcc.session.events import SessionEnded, SessionEvent


class EvccMachine(Protocol):
    grammar: str  # evcc.exi grammar id of the protocol's messages
    payload_type: int  # V2GTP payload type the messages travel in

    @property
    def ended(self) -> SessionEnded | None: ...

    def start(self, now: float, setup_deadline: float | None = None) -> None: ...

    def receive_payload(self, data: bytes, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def messages_to_send(self) -> list[Any]: ...

    def events(self) -> list[SessionEvent]: ...


@runtime_checkable
class MultiPayloadMachine(Protocol):
    """The extra face of a machine whose messages use several V2GTP payload types (ISO 15118-20)."""

    payload_types: frozenset[int]  # every payload type the machine accepts from the SECC

    def payload_type_of(self, msg: Any) -> int: ...

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None: ...


def payload_type_of(machine: EvccMachine, msg: Any) -> int:
    """The V2GTP payload type ``msg`` (sent by ``machine``) travels in."""
    return machine.payload_type_of(msg) if isinstance(machine, MultiPayloadMachine) else machine.payload_type


def accepted_payload_types(machine: EvccMachine) -> frozenset[int]:
    """Every V2GTP payload type ``machine`` takes from the SECC."""
    if isinstance(machine, MultiPayloadMachine):
        return frozenset(machine.payload_types)
    return frozenset({machine.payload_type})


def accepts(machine: EvccMachine, payload_type: int) -> bool:
    return payload_type in accepted_payload_types(machine)


@dataclass(frozen=True, slots=True)
class Routing:
    """How one machine's messages map onto V2GTP payload types, decided once per session (a runtime Protocol check
    per message costs tens of microseconds in the charge loop)."""

    type_of: Callable[[Any], int]  # payload type a sent message travels in
    accepted: frozenset[int]  # payload types the machine takes
    receive: Callable[[int, bytes, float], None]  # (payload type, data, now) -> the machine


def routing(machine: EvccMachine) -> Routing:
    if isinstance(machine, MultiPayloadMachine):
        return Routing(machine.payload_type_of, frozenset(machine.payload_types), machine.receive_typed)
    single = machine.payload_type
    return Routing(lambda _msg: single, frozenset({single}), lambda _t, data, now: machine.receive_payload(data, now))


@runtime_checkable
class WriteAware(Protocol):
    """A machine whose per-message timers start when the adapter has written the request (evcc.session.checks:
    every DIN/-2/-20 machine)."""

    def request_written(self, now: float) -> None: ...


def written_hook(machine: EvccMachine) -> Callable[[float], None]:
    """What the adapter calls with the time the queued request(s) were written (a no-op for a machine without
    the hook: its timers run from when it queued them)."""
    if isinstance(machine, WriteAware):
        return machine.request_written
    inner = getattr(machine, "inner", None)  # a wrapper (evcc.app.progress) around a machine that has it
    if inner is not None and isinstance(inner, WriteAware):
        return inner.request_written
    return lambda _now: None


def deliver(machine: EvccMachine, payload_type: int, data: bytes, now: float) -> None:
    """Hand a received payload to ``machine`` with its type when the machine needs it."""
    if isinstance(machine, MultiPayloadMachine):
        machine.receive_typed(payload_type, data, now)
    else:
        machine.receive_payload(data, now)
