"""The event loop's lag on the STATUS= line (issue 15 point 3: "a loop-lag metric (max lag over the last minute)
... to the STATUS= line"): evcc.app.notify's Notifier and LagWindow on a real AF_UNIX datagram socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from evcc.app.notify import LagWindow, Notifier


def _next(server: socket.socket) -> bytes:
    return server.recv(200)


def _nothing(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        server.recv(200, socket.MSG_DONTWAIT)


def test_status_line_carries_loop_lag_p99_and_max(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        n.loop_lag(0.001, 0.002)  # figures before any status: nothing to re-send yet
        _nothing(server)
        n.ready("opening the BMS bridge")
        assert _next(server) == b"READY=1\nSTATUS=opening the BMS bridge; loop lag p99 1 ms, max 2 ms"
        window = LagWindow(60.0)
        for i in range(100):  # 99 punctual turns and one 250 ms stall in the last minute
            window.add(i * 0.5, 0.25 if i == 50 else 0.0004)
        n.loop_lag(window.quantile(0.99), window.max())
        assert _next(server) == b"STATUS=opening the BMS bridge; loop lag p99 0 ms, max 250 ms"
        n.loop_lag(window.quantile(0.99), window.max())  # unchanged figures: no datagram
        _nothing(server)
        n.status("waiting for BMS data")
        assert _next(server) == b"STATUS=waiting for BMS data; loop lag p99 0 ms, max 250 ms"
        window.add(200.0, 0.003)  # the stall left the minute
        n.loop_lag(window.quantile(0.99), window.max())
        assert _next(server) == b"STATUS=waiting for BMS data; loop lag p99 3 ms, max 3 ms"
        n.stopping("stopping (SIGTERM)")
        assert _next(server) == b"STOPPING=1\nSTATUS=stopping (SIGTERM); loop lag p99 3 ms, max 3 ms"
        n.close()
