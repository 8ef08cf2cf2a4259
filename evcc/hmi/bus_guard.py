"""The service's side of the bus connection, hardened against slow and hostile peers (issue 15, SERVICE.md "D-Bus").

dbus-fast 5.2 (the current release on PyPI; its tracker has no fix, only dbus-next's open issue 153 and PR 154 for the
same writer) drops the whole connection when the socket to
the bus returns EAGAIN (``BlockingIOError`` from ``send`` while a partly written message is pending), and any local
user can cause that by calling without reading replies. Two parts here:

:class:`GuardedWriter` replaces dbus-fast's ``_MessageWriter`` of one connection:
    - back-pressure (EAGAIN, EINTR) is waited out (the loop's writer callback), never a reason to disconnect;
    - the outgoing queue is bounded (``QUEUE_BYTES``): past it the oldest *signals* are dropped first (a client
      re-reads properties; PropertiesChanged of SoC or power are superseded anyway); method replies and errors are
      kept, so every call still gets its one reply;
    - a send after the connection is gone is dropped quietly (no ``OSError(9)`` from ``send_reply``).

:class:`Gatekeeper` is the first message handler of the connection:
    - method calls are not dispatched as they are read (dbus-fast would run a whole burst in one loop turn: 20,000
      queued GetManagedObjects stalled a charging session for 0.76 s) but queued per sender and dispatched
      ``CALLS_PER_TURN`` per loop turn, one per sender in turn, each sender at most ``SENDER_RATE`` per second
      (bursts of ``SENDER_BURST``): a flood neither stalls the loop, nor eats the CPU the session needs, nor
      starves the other clients (a call of a sender within its rate gets a turn at once, even while the next turn
      waits for a flooding sender's refill); calls beyond ``SENDER_CALLS`` waiting ones of one sender are dropped unanswered (an error
      reply per call would cost the loop as much as the call);
    - every file descriptor that arrives with a message is closed at once, except the two that
      ``Manager.ImportContract(hhi)`` takes (the method closes those); an ImportContract in any other form is refused
      before dispatch, so no method ever sees a descriptor the gatekeeper closed;
    - per-sender fairness: a sender whose unread replies already fill ``SENDER_BYTES`` of the queue gets
      ``org.freedesktop.DBus.Error.LimitsExceeded`` instead of another reply (small), and past twice that nothing
      (the bus times its calls out), so one client's flood cannot push the others' replies back.

This module touches dbus-fast's private writer (``MessageBus._writer``): :func:`guard` checks its shape and
refuses with :class:`PlatformError` if a dbus-fast release changed it (pyproject pins the tested series).
"""

from __future__ import annotations

import array
import asyncio
import logging
import os
import socket
from collections import deque
from dataclasses import dataclass

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.aio.message_bus import _MessageWriter

from evcc.errors import PlatformError
from evcc.hmi.names import MANAGER_INTERFACE, ROOT_PATH

LOG = logging.getLogger(__name__)
QUEUE_BYTES = 4 * 1024 * 1024  # past this, queued signals are dropped (oldest first)
SENDER_BYTES = 256 * 1024  # unread replies one sender may have queued before its calls are refused
SENDER_CALLS = 256  # calls of one sender waiting for their turn; more are dropped unanswered (the system bus lets
#                    a connection have 128 calls pending, max_replies_per_connection, so only a laxer bus gets here)
CALLS_PER_TURN = 2  # calls dispatched per event-loop turn (the session's I/O and timers run in between)
SENDER_RATE = 200.0  # calls per second one sender gets dispatched (an HMI needs a few); more wait in its queue
SENDER_BURST = 50
LIMITS_EXCEEDED = "org.freedesktop.DBus.Error.LimitsExceeded"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
IMPORT = (ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi")


@dataclass
class GuardStats:
    """Counters of one connection (the benchmark and the tests read them)."""

    waits: int = 0  # EAGAIN/EINTR waited out
    signals_dropped: int = 0
    calls_refused: int = 0  # LimitsExceeded answers
    calls_ignored: int = 0  # no answer at all (the sender is far over its share)
    fds_closed: int = 0
    late_sends: int = 0  # sends after the connection was gone


@dataclass
class _Entry:
    buf: bytearray
    fds: list[int] | None
    fut: asyncio.Future[None] | None
    droppable: bool
    destination: str


def _settle(fut: asyncio.Future[None] | None, exc: Exception | None = None) -> None:
    if fut is not None and not fut.done():
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)
            fut.exception()  # retrieved: nobody may await a reply's send future


class GuardedWriter(_MessageWriter):
    """dbus-fast's writer with waited-out back-pressure and a bounded queue (see the module docstring)."""

    def __init__(self, bus: MessageBus, stats: GuardStats, queue_bytes: int = QUEUE_BYTES) -> None:
        super().__init__(bus)
        self.stats = stats
        self.queue_bytes = queue_bytes
        self.queued = 0
        self.per_destination: dict[str, int] = {}
        self.entries: deque[_Entry] = deque()  # instead of dbus-fast's ``messages`` (which stays empty)

    def queued_for(self, destination: str) -> int:
        return self.per_destination.get(destination, 0)

    def _account(self, entry: _Entry, sign: int) -> None:
        size = sign * len(entry.buf)
        self.queued += size
        left = self.per_destination.get(entry.destination, 0) + size
        if left > 0:
            self.per_destination[entry.destination] = left
        else:
            self.per_destination.pop(entry.destination, None)

    def buffer_message(self, msg: Message, future: asyncio.Future[None] | None = None) -> None:
        entry = _Entry(msg._marshall(self.negotiate_unix_fd), list(msg.unix_fds) if msg.unix_fds else None,
                       future, msg.message_type is MessageType.SIGNAL, msg.destination or "")
        self.entries.append(entry)
        self._account(entry, +1)
        if self.queued > self.queue_bytes:
            self._drop_signals()

    def _drop_signals(self) -> None:
        keep: deque[_Entry] = deque()
        while self.entries:
            entry = self.entries.popleft()
            if entry.droppable and self.queued > self.queue_bytes:
                self._account(entry, -1)
                self.stats.signals_dropped += 1
                _settle(entry.fut)
            else:
                keep.append(entry)
        self.entries.extend(keep)

    def schedule_write(self, msg: Message | None = None, future: asyncio.Future[None] | None = None) -> None:
        if self.bus._disconnected:
            self.stats.late_sends += 1
            _settle(future)
            return
        was_empty = not self.entries
        if msg is not None:
            self.buffer_message(msg, future)
        if self.bus.unique_name:  # after Hello: write now if nothing waits (dbus-fast's latency shortcut)
            if was_empty:
                self.write_callback(remove_writer=False)
            if (self.buf is not None or self.entries) and self.fd is not None:
                self.loop.add_writer(self.fd, self.write_callback)

    def write_callback(self, remove_writer: bool = True) -> None:
        sock, fd = self.sock, self.fd
        assert sock is not None and fd is not None
        try:
            while True:
                if self.buf is None:
                    if not self.entries:
                        if remove_writer:
                            self.loop.remove_writer(fd)
                        return
                    entry = self.entries.popleft()
                    self._account(entry, -1)
                    self.unix_fds, self.buf, self.offset, self.fut = entry.fds, memoryview(entry.buf), 0, entry.fut
                try:
                    if self.unix_fds and self.negotiate_unix_fd:
                        ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", self.unix_fds))]
                        self.offset += sock.sendmsg([self.buf[self.offset:]], ancdata)
                        self.unix_fds = None
                    else:
                        self.offset += sock.send(self.buf[self.offset:])
                except (BlockingIOError, InterruptedError):
                    self.stats.waits += 1
                    self.loop.add_writer(fd, self.write_callback)  # back-pressure: wait for writable
                    return
                if self.offset < len(self.buf):
                    self.loop.add_writer(fd, self.write_callback)
                    return
                self.buf = None
                _settle(self.fut)
        except Exception as exc:  # noqa: BLE001 - the connection is really gone (EPIPE, ECONNRESET, EBADF)
            _settle(self.fut, None if self.bus._user_disconnect else exc)
            for entry in self.entries:
                _settle(entry.fut)
            self.bus._finalize(exc)


def _close(fds: list[int], stats: GuardStats) -> None:
    for fd in fds:
        try:
            os.close(fd)
            stats.fds_closed += 1
        except OSError:
            pass


class Gatekeeper:
    """The first message handler: descriptor hygiene and per-sender fairness (see the module docstring)."""

    def __init__(self, bus: MessageBus, writer: GuardedWriter, stats: GuardStats,
                 sender_bytes: int = SENDER_BYTES) -> None:
        self.bus, self.writer, self.stats, self.sender_bytes = bus, writer, stats, sender_bytes
        self._queues: dict[str, deque[Message]] = {}  # sender -> calls waiting for their turn
        self._releasing: Message | None = None
        self._turn: asyncio.Handle | None = None
        self._buckets: dict[str, tuple[float, float]] = {}  # sender -> (tokens, loop time)
        self._kept: dict[int, list[int]] = {}  # id of a waiting ImportContract call -> its two descriptors

    def __call__(self, msg: Message) -> Message | bool | None:
        if msg is self._releasing:
            return None  # its turn: dbus-fast dispatches it now
        kept: list[int] = []  # ImportContract's two descriptors: the method closes them
        if msg.unix_fds:
            refused, kept = self._descriptors(msg)
            if refused is not None:
                return refused
        if msg.message_type is not MessageType.METHOD_CALL or not msg.sender:
            return None
        queued = self.writer.queued_for(msg.sender)
        waiting = self._queues.setdefault(msg.sender, deque())
        if queued <= self.sender_bytes and len(waiting) < SENDER_CALLS:
            waiting.append(msg)
            if kept:
                self._kept[id(msg)] = kept
            self._schedule(msg.sender)
            return True  # dispatched in its sender's turn
        if not waiting:
            del self._queues[msg.sender]
        _close(kept, self.stats)  # the method will not run
        if queued > 2 * self.sender_bytes or len(waiting) >= SENDER_CALLS:
            self.stats.calls_ignored += 1
            return True  # handled: no reply at all (cheap; the bus times the call out for its sender)
        self.stats.calls_refused += 1
        return Message.new_error(msg, LIMITS_EXCEEDED, f"{msg.sender} has {queued} bytes of unread replies")

    def _schedule(self, sender: str) -> None:
        """A turn at once for a sender that may be dispatched now, even when the next turn was put off for a
        flooding sender whose tokens ran out (a well-behaved client never waits for another's refill)."""
        loop = asyncio.get_running_loop()
        if self._turn is None:
            self._turn = loop.call_soon(self._next_turn)
        elif isinstance(self._turn, asyncio.TimerHandle) and self._tokens(sender, loop.time()) >= 1.0:
            self._turn.cancel()
            self._turn = loop.call_soon(self._next_turn)

    def _tokens(self, sender: str, now: float) -> float:
        """The sender's dispatch tokens now (a bucket of ``SENDER_BURST``, refilled at ``SENDER_RATE`` per s)."""
        tokens, stamp = self._buckets.get(sender, (float(SENDER_BURST), now))
        return min(float(SENDER_BURST), tokens + (now - stamp) * SENDER_RATE)

    def _next_turn(self) -> None:
        """Dispatch up to ``CALLS_PER_TURN`` waiting calls, one per sender in turn and only within the sender's
        rate, then let the loop run (timers, the session's sockets) before the next turn."""
        self._turn = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        budget = CALLS_PER_TURN
        ready = [sender for sender in self._queues if self._tokens(sender, now) >= 1.0]
        for sender in ready[:budget]:
            waiting = self._queues[sender]
            msg = waiting.popleft()
            if not waiting:
                del self._queues[sender]
            self._buckets[sender] = (self._tokens(sender, now) - 1.0, now)
            kept = self._kept.pop(id(msg), [])
            if self.bus._disconnected:  # no method runs on a connection that is gone: nobody else closes them
                _close(kept, self.stats)
                continue
            self._releasing = msg
            try:
                self.bus._process_message(msg)
            finally:
                self._releasing = None
        if len(self._buckets) > 4 * SENDER_BURST:  # forget senders whose buckets are full again
            self._buckets = {k: v for k, v in self._buckets.items()
                             if k in self._queues or self._tokens(k, now) < SENDER_BURST}
        if self._queues:
            wait = 0.0 if len(ready) > budget or any(self._tokens(k, now) >= 1.0 for k in self._queues) \
                else 1.0 / SENDER_RATE
            self._turn = loop.call_later(wait, self._next_turn) if wait else loop.call_soon(self._next_turn)

    def _descriptors(self, msg: Message) -> tuple[Message | None, list[int]]:
        """Close what no method takes; (a refusal or None, the descriptors left open for ImportContract)."""
        fds = list(msg.unix_fds)
        if msg.message_type is MessageType.METHOD_CALL and msg.member == "ImportContract":
            if (msg.path, msg.interface, msg.member, msg.signature) == IMPORT and self._in_range(msg.body, len(fds)):
                taken = {msg.body[0], msg.body[1]}
                _close([fd for i, fd in enumerate(fds) if i not in taken], self.stats)
                return None, [fds[i] for i in taken]
            _close(fds, self.stats)
            return Message.new_error(msg, INVALID_ARGS, "ImportContract takes (h chain, h key, i priority) on "
                                     f"{ROOT_PATH}, interface {MANAGER_INTERFACE}, with both descriptors attached"), []
        _close(fds, self.stats)
        return None, []

    @staticmethod
    def _in_range(body: list[object], count: int) -> bool:
        return all(isinstance(i, int) and 0 <= i < count for i in body[:2])


def guard(bus: MessageBus, stats: GuardStats | None = None) -> GuardStats:
    """Harden a freshly connected bus (call right after ``connect()``, before exporting anything)."""
    old = getattr(bus, "_writer", None)
    if type(old) is not _MessageWriter or old.messages or old.buf is not None \
            or not hasattr(bus, "_disconnected") or not hasattr(bus, "_user_disconnect"):
        raise PlatformError("dbus-fast's writer is not the one evcc.hmi.bus_guard was written for "
                            "(tested with dbus-fast 5.2)")
    stats = stats or GuardStats()
    writer = GuardedWriter(bus, stats)
    bus._writer = writer
    bus.add_message_handler(Gatekeeper(bus, writer, stats))
    return stats


__all__ = ["GuardStats", "GuardedWriter", "Gatekeeper", "guard", "QUEUE_BYTES", "SENDER_BYTES"]
