"""The shape every EVCC protocol machine has (DIN 70121 now; ISO 15118-2 and -20 next), so one asyncio
adapter drives any of them. Sans-IO: payload bytes and ``now`` in; messages, events and one deadline out."""

from __future__ import annotations

from typing import Any, Protocol

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
