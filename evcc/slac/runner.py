"""asyncio adapter for the EV SLAC machine (ISO 15118-3 §9): feeds it frames from the raw socket and the
monotonic clock, sends what it produces, and returns when it matched or failed. The only code here that awaits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from evcc.errors import PeerError
from evcc.plc.rawsock import RawSocket
from evcc.slac.events import Dropped, Event, Failed, Left, Matched, Phase, ToggleRequest, Tolerated
from evcc.slac.machine import EvSlac

log = logging.getLogger(__name__)


class SlacFailed(PeerError):
    """SLAC did not match; ``phase`` names where it stopped."""

    def __init__(self, failure: Failed) -> None:
        super().__init__(failure.describe())
        self.failure = failure

    @property
    def phase(self) -> Phase:
        return self.failure.phase


class SlacRunner:
    """Drives one :class:`EvSlac` over one :class:`RawSocket` (already started in the running loop)."""

    def __init__(
        self,
        machine: EvSlac,
        sock: RawSocket,
        clock: Callable[[], float] = time.monotonic,
        on_toggle: Callable[[ToggleRequest], None] | None = None,
    ) -> None:
        self.machine = machine
        self.sock = sock
        self._clock = clock
        self._on_toggle = on_toggle
        self.dropped: list[str] = []

    def _flush(self) -> Event | None:
        for frame in self.machine.frames_to_send():
            self.sock.send(frame)
        final: Event | None = None
        for event in self.machine.events():
            if isinstance(event, Dropped):
                self.dropped.append(event.reason)
                log.debug("SLAC dropped a frame: %s", event.reason)
            elif isinstance(event, Tolerated):
                log.info("SLAC %s", event.describe())
            elif isinstance(event, ToggleRequest):
                if self._on_toggle is not None:
                    self._on_toggle(event)
                else:
                    log.warning("CM_VALIDATE asks for %d S2 toggles; no control-pilot port given", event.count)
            else:
                final = final if isinstance(final, (Matched, Failed)) else event
        return final

    async def _until(self, done: Callable[[Event], bool]) -> Event:
        while True:
            event = self._flush()
            if event is not None and done(event):
                return event
            deadline = self.machine.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            frame = await self.sock.recv(timeout)
            now = self._clock()
            while frame is not None:
                self.machine.receive_frame(frame, now)
                frame = self.sock.pop()
            self.machine.handle_timer(now)

    async def match(self) -> Matched:
        """Plug-in to link-up; raise :class:`SlacFailed` with the phase on failure."""
        self.machine.plug_in(self._clock())
        event = await self._until(lambda e: isinstance(e, (Matched, Failed)))
        if isinstance(event, Failed):
            raise SlacFailed(event)
        assert isinstance(event, Matched)
        return event

    async def leave(self) -> None:
        """Unplug: fresh random NMK on the local modem, wait for it to come back."""
        self.machine.unplug(self._clock())
        event = await self._until(lambda e: isinstance(e, (Left, Failed)))
        if isinstance(event, Failed):
            raise SlacFailed(event)


def system_rng(n: int) -> bytes:
    """Random bytes from the OS (RunID, NMK, sound RND)."""
    return os.urandom(n)
