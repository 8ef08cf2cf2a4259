"""evcc.hmi.bus_guard's writer on a real socket pair whose far end does not read (issue 15): back-pressure (EAGAIN)
is waited out, the queue stays bounded by dropping the oldest signals, method replies all arrive in order once the
peer reads; and the loop-lag window of the daemon (evcc.app.notify.LagWindow)."""

from __future__ import annotations

import asyncio
import socket

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.app.notify import LagWindow
from evcc.hmi.bus_guard import GuardedWriter, GuardStats

from .hostile import _message_length


def _fake_connected_bus(sock: socket.socket) -> MessageBus:
    bus = MessageBus(bus_address="unix:path=/nonexistent")
    bus._sock, bus._fd, bus.unique_name = sock, sock.fileno(), ":1.1"
    return bus


def _reply(serial: int) -> Message:
    return Message(message_type=MessageType.METHOD_RETURN, reply_serial=serial, destination=":1.2", serial=serial,
                   signature="s", body=["r" * 2000])


def _signal(serial: int) -> Message:
    return Message(message_type=MessageType.SIGNAL, path="/org/evcc/Evcc1/Session", interface="org.evcc.Evcc1.Session",
                   member="StateChanged", serial=serial, signature="s", body=["s" * 2000])


def _read_all(peer: socket.socket) -> list[tuple[int, int]]:
    """(message type, serial) of everything the writer put on the socket."""
    data = b""
    peer.setblocking(False)
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    out = []
    while data:
        size = _message_length(data[:16])
        out.append((data[1], int.from_bytes(data[8:12], "little")))
        data = data[size:]
    return out


def test_back_pressure_is_waited_out_and_the_oldest_signals_go_first() -> None:
    async def scenario() -> tuple[GuardStats, list[tuple[int, int]], bool]:
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        bus = _fake_connected_bus(ours)
        stats = GuardStats()
        writer = GuardedWriter(bus, stats, queue_bytes=64 * 1024)
        for serial in range(1, 401):  # ~800 KB: far beyond the socket buffer and the queue bound
            writer.schedule_write(_reply(serial) if serial % 20 == 0 else _signal(serial))
        bounded = writer.queued <= 64 * 1024
        received: list[tuple[int, int]] = []
        for _ in range(2000):  # the peer starts reading; the writer's callbacks drain the queue
            received += _read_all(peer)
            if writer.buf is None and not writer.entries:
                break
            await asyncio.sleep(0)
        received += _read_all(peer)
        assert not bus._disconnected
        ours.close()
        peer.close()
        return stats, received, bounded

    stats, received, bounded = asyncio.run(scenario())
    replies = [s for t, s in received if t == 2]
    signals = [s for t, s in received if t == 4]
    assert replies == list(range(20, 401, 20))  # every reply, in order
    assert stats.waits > 0 and stats.signals_dropped > 0 and bounded
    assert len(signals) == 380 - stats.signals_dropped
    assert signals == sorted(signals) and signals[-1] == 399  # the newest survive, the oldest were dropped


def test_the_lag_window_keeps_one_minute() -> None:
    w = LagWindow(60.0)
    assert (w.max(), w.quantile(0.99)) == (0.0, 0.0)
    for i in range(100):
        w.add(float(i), 0.001 * (i % 10))
    w.add(100.0, 0.5)
    assert w.max() == 0.5 and w.quantile(0.5) == 0.005  # samples of t >= 40 only
    w.add(200.0, -0.01)  # a timer that fired early counts as no lag
    assert w.max() == 0.0 and w.quantile(0.99) == 0.0
