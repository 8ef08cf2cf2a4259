"""Shared by the in-memory hostile-charger suites (test_hostile_memory.py: DIN SPEC 70121 and ISO 15118-2;
test_hostile_iso20_memory.py: ISO 15118-20): a responder wrapper that records when each request reached the SECC,
and one faulty run through the shared fault layer (evcc.bench.secc.hostile) on the injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evcc import exi
from evcc.bench.secc.faults import Fault
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso20_values import GRAMMAR_OF_PAYLOAD
from evcc.bench.secc.memory import (PairResult, SeccResponder, accepted_payload_types, deliver, payload_type_for,
                                    run_in_memory)
from evcc.session import v2gtp
from evcc.session.elements import element_name
from evcc.session.machine import EvccMachine
from evcc.session.timeouts import EvccTimers

START = 1000.0


class Stamped:
    """Records when each request reached the SECC (virtual clock) by its element name, then passes it on with
    its V2GTP payload type. ``grammar``: how 0x8001 payloads decode (din or iso2); -20 decodes by the type."""

    def __init__(self, inner: SeccResponder, grammar: str = "iso2") -> None:
        self.inner = inner
        self.grammar = grammar
        self.requests: list[tuple[str, float]] = []

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        if payload_type == v2gtp.EXI_ENCODED:
            name = element_name(exi.decode(self.grammar, data))  # the Body's element, a request here
        else:
            name = exi.decode_named(GRAMMAR_OF_PAYLOAD[payload_type], data).name
        self.requests.append((name, now))
        deliver(self.inner, payload_type, data, now)

    def receive_payload(self, data: bytes, now: float) -> None:
        self.receive_typed(v2gtp.EXI_ENCODED, data, now)

    def messages_to_send(self, now: float) -> list[Any]:
        return list(self.inner.messages_to_send(now))

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def payload_type_of(self, msg: Any) -> int:
        return payload_type_for(self.inner, msg)

    @property
    def accepted_payload_types(self) -> frozenset[int]:
        return accepted_payload_types(self.inner)


@dataclass
class Run:
    result: PairResult
    applied: list[str]
    requests: list[tuple[str, float]]


def faulty_run(machine: EvccMachine, responder: SeccResponder, fault: Fault, timers: EvccTimers,
               grammar: str = "iso2") -> Run:
    """``machine`` against ``responder`` broken by ``fault`` (delays from ``timers``), from START; the fault must
    have struck."""
    stamped = Stamped(responder, grammar)
    applied: list[str] = []
    result = run_in_memory(machine, FaultySecc(stamped, fault, lambda: timers, applied), START)
    assert applied, f"the fault {fault.describe()} never struck"
    return Run(result, applied, stamped.requests)
