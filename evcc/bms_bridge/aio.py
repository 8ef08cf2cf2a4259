"""asyncio adapter for a sans-IO CAN node (the bridge core or the bench battery): the only code here that
awaits, reads the clock or touches the bus.

One loop per node: receive frames (``loop.add_reader`` on the bus's file descriptor; a 10 ms poll for buses
without one), feed them with ``now``, run the node's timers at its deadline, send what is due. A datagram
python-can cannot unpack, a remote or error frame, or a send that the driver refuses is counted and skipped:
the bus is untrusted and never stops the loop. Bridge events go to ``on_event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import can

from evcc.bms_bridge.bus import open_bus
from evcc.bms_bridge.codec import load_codec
from evcc.bms_bridge.config import BridgeConfig
from evcc.bms_bridge.core import BridgeCore
from evcc.bms_bridge.state import BridgeEvent
from evcc.bms_bridge.vehicle import BridgeVehicle

LOG = logging.getLogger(__name__)
POLL_S = 0.01
QUEUE_MAX = 1024


class CanNode(Protocol):
    def receive_frame(self, frame_id: int, data: bytes, now: float, is_extended: bool = False) -> object: ...

    def frames_due(self, now: float) -> list[tuple[int, bytes]]: ...

    def next_deadline(self) -> float | None: ...


@dataclass
class BusErrors:
    unreadable: int = 0
    not_data: int = 0
    send_failed: int = 0
    dropped: int = 0


@dataclass
class CanNodeRunner:
    bus: can.BusABC
    node: CanNode
    on_event: Callable[[BridgeEvent], None] = lambda _event: None
    clock: Callable[[], float] = time.monotonic
    errors: BusErrors = field(default_factory=BusErrors)
    _queue: asyncio.Queue[can.Message] | None = None

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            try:
                msg = self.bus.recv(0)
            except (can.CanError, OSError, ValueError) as exc:
                self.errors.unreadable += 1
                LOG.debug("unreadable CAN input: %s", exc)
                continue
            if msg is None:
                return
            if self._queue.full():
                self.errors.dropped += 1
                continue
            self._queue.put_nowait(msg)

    def _deliver(self, events: object) -> None:
        if isinstance(events, Sequence):
            for event in events:
                self.on_event(event)

    def _send_due(self, now: float) -> None:
        for frame_id, data in self.node.frames_due(now):
            try:
                self.bus.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=False), timeout=0.05)
            except (can.CanError, OSError) as exc:
                self.errors.send_failed += 1
                LOG.debug("CAN send of 0x%X failed: %s", frame_id, exc)

    def _timers(self, now: float) -> None:
        handle = getattr(self.node, "handle_timer", None)
        if handle is not None:
            self._deliver(handle(now))
        self._send_due(now)

    async def run(self) -> None:
        """Until cancelled (a cancellation always ends it, whatever it arrives with)."""
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_MAX)
        try:
            fd = self.bus.fileno()
        except NotImplementedError:
            fd = -1
        if fd >= 0:
            loop.add_reader(fd, self._drain)
        try:
            while True:
                self._timers(self.clock())
                deadline = self.node.next_deadline()
                timeout = POLL_S if fd < 0 else None
                if deadline is not None:
                    wait = max(0.0, deadline - self.clock())
                    timeout = wait if timeout is None else min(timeout, wait)
                if fd < 0:
                    self._drain()
                with contextlib.suppress(TimeoutError):
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the inner result when a
                    # cancellation arrives as a frame is handed over (the cancel is lost and the loop runs on).
                    async with asyncio.timeout(timeout):
                        msg = await self._queue.get()
                    self._receive(msg)
                    while not self._queue.empty():
                        self._receive(self._queue.get_nowait())
        finally:
            if fd >= 0:
                loop.remove_reader(fd)

    def _receive(self, msg: can.Message) -> None:
        if msg.is_error_frame or msg.is_remote_frame:
            self.errors.not_data += 1
            return
        self._deliver(self.node.receive_frame(msg.arbitration_id, bytes(msg.data), self.clock(),
                                              msg.is_extended_id))


@dataclass
class BmsBridge:
    """The bridge as the composition root wires it: core, vehicle port, runner over the configured bus."""

    core: BridgeCore
    vehicle: BridgeVehicle
    runner: CanNodeRunner

    @classmethod
    def open(cls, config: BridgeConfig, on_event: Callable[[BridgeEvent], None] = lambda _e: None,
             clock: Callable[[], float] = time.monotonic) -> BmsBridge:
        """Load the DBC and open the bus (:class:`ConfigError`/:class:`PlatformError` subclasses naming why)."""
        codec = load_codec(config.dbc_path)
        core = BridgeCore(config, codec, started=clock())
        bus = open_bus(config.bus)
        return cls(core, BridgeVehicle(core), CanNodeRunner(bus, core, on_event, clock))

    async def run(self) -> None:
        await self.runner.run()

    def close(self) -> None:
        self.runner.bus.shutdown()
