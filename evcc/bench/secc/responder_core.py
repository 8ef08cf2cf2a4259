"""What the bench's sans-IO SECC responders (DIN SPEC 70121, ISO 15118-2, ISO 15118-20) do alike, in one place:

- answers wait in a queue until their due time (request time plus the responder's response time):
  ``messages_to_send(now)`` returns those whose time has come, ``get_timer()`` says when the next one is due;
- EVSEProcessing rounds: ``round(name, n)`` is Ongoing n times, then Finished (``reset_round`` starts again);
- the two checks every request passes before its builder runs: the order (FAILED_SequenceError: not among the
  requests the state allows) and the SessionID (FAILED_UnknownSession; SessionSetupReq is exempt);
- ``rejoin``: a SessionSetupReq naming a paused session takes it over (ISO 15118-2 [V2G2-741], -20 SessionStop
  with Pause; OK_OldSessionJoined). DIN SPEC 70121 has no pause.

Each responder is a dataclass deriving from :class:`ResponderCore`; the core's fields are keyword-only, so the
responders keep their own positional fields.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

SEQUENCE_ERROR = "FAILED_SequenceError"
UNKNOWN_SESSION = "FAILED_UnknownSession"


@dataclass(kw_only=True)
class ResponderCore:
    session_id: bytes = field(default_factory=lambda: secrets.token_bytes(8))
    _rounds: dict[str, int] = field(default_factory=dict)
    _queue: list[tuple[float, Any]] = field(default_factory=list)

    def answer(self, due: float, msg: Any) -> None:
        """Send ``msg`` at ``due``."""
        self._queue.append((due, msg))

    def messages_to_send(self, now: float) -> list[Any]:
        due = [m for t, m in self._queue if t <= now]
        self._queue = [(t, m) for t, m in self._queue if t > now]
        return due

    def get_timer(self) -> float | None:
        return min((t for t, _ in self._queue), default=None)

    def round(self, res_name: str, rounds: int) -> str:
        """EVSEProcessing of the next ``res_name``: Ongoing ``rounds`` times, then Finished."""
        n = self._rounds.get(res_name, 0)
        self._rounds[res_name] = n + 1
        return "Ongoing" if n < rounds else "Finished"

    def reset_round(self, res_name: str) -> None:
        self._rounds.pop(res_name, None)

    def order_and_session(self, name: str, allowed: frozenset[str], session_id: bytes) -> str:
        """OK, or the code for request ``name`` when the state allows only ``allowed`` / it names another session."""
        if name not in allowed:
            return SEQUENCE_ERROR
        if name != "SessionSetupReq" and session_id != self.session_id:
            return UNKNOWN_SESSION
        return "OK"

    def rejoin(self, session_id: bytes, paused: set[bytes]) -> bool:
        """SessionSetupReq with ``session_id``: True (and this session takes the SessionID over, removing it from
        ``paused``, the charger's paused sessions) when it is a paused one."""
        if session_id not in paused:
            return False
        paused.discard(session_id)
        self.session_id = session_id
        return True
