"""What the session adapter keeps of one V2G session, bounded for any session length (evcc.bounded): the
machine's events (a head/tail window, the exchanges also in one of their own;
:class:`~evcc.session.events.Exchange` and :class:`~evcc.session.events.LateResponse` folded into per-response
aggregates as they come), the charger's
response times per response type (from the request written to the response taken from the connection, the
V2G_EVCC_Msg_Timeout span of ISO 15118-2 §8.7 / DIN SPEC 70121 §9.6 / ISO 15118-20 §8.8), and the EV's own
times (``ev_turn``: a response taken -> the next request written, the pacing wait included; ``ev_work``: the
EV's processing alone, from the wake-up that produced a request to its write). The EV's time is never counted
as the charger's. The charger's tolerated deviations the machine reports
(:class:`~evcc.session.events.PeerDeviation`) are counted in ``deviations``, a bounded
:class:`~evcc.session.deviations.DeviationRecord` (one entry per field and value), whatever the window keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from evcc.bounded import PerName, Quantiles, Window
from evcc.session.deviations import DeviationRecord
from evcc.session.events import Exchange, LateResponse, PeerDeviation, SessionEvent

HEAD = 1000  # events kept from the start of the session
TAIL = 1000  # events kept from its end


def response_name(request: str) -> str:
    return request[:-3] + "Res" if request.endswith("Req") else request


class SessionLog:
    """Iterable like the list of events it replaces (the kept ones, in order). ``over_limits``: request name ->
    seconds; exchanges slower than that (e.g. the standard's V2G_EVCC_Msg_Timeout under a lab
    ``--min-msg-timeout``) are kept in ``over`` (window) and counted in ``over_count``."""

    def __init__(self, head: int = HEAD, tail: int = TAIL, over_limits: Mapping[str, float] | None = None) -> None:
        self.events: Window[SessionEvent] = Window(head, tail)
        self.exchanges: Window[Exchange] = Window(head, tail)
        self.rtt = PerName()
        self.late: Window[LateResponse] = Window(head, tail)
        self.ev_turn = Quantiles()
        self.ev_work = Quantiles()
        self.over_limits = dict(over_limits or {})
        self.over: Window[Exchange] = Window(head, tail)
        self.deviations = DeviationRecord()  # the charger's tolerated deviations (PeerDeviation events)

    # the adapter's side
    def extend(self, events: Iterable[SessionEvent]) -> None:
        for event in events:
            if isinstance(event, Exchange):
                self.exchanges.append(event)
                self.rtt.add(response_name(event.request), event.latency)
                limit = self.over_limits.get(event.request)
                if limit is not None and event.latency > limit:
                    self.over.append(event)
            elif isinstance(event, LateResponse):
                self.late.append(event)
                self.rtt.late[event.response] = self.rtt.late.get(event.response, 0) + 1
            elif isinstance(event, PeerDeviation):
                self.deviations.note(event.field, event.value, event.expected, event.clause)
            self.events.append(event)

    def append(self, event: SessionEvent) -> None:
        self.extend((event,))

    def turn(self, response_taken: float | None, woke: float, written: float) -> None:
        """A request written at ``written``, produced by the wake-up at ``woke``; ``response_taken``: when the
        response before it was taken from the connection (None for the first request)."""
        self.ev_work.add(written - woke)
        if response_taken is not None:
            self.ev_turn.add(written - response_taken)

    # the report's side
    @property
    def late_count(self) -> int:
        return self.late.total

    def __iter__(self) -> Iterator[SessionEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def ev_summary(self) -> dict[str, Any]:
        return {"ev_turn": self.ev_turn.summary_ms(), "ev_work": self.ev_work.summary_ms()}
