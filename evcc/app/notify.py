"""systemd's notification protocol (sd_notify(3)): one datagram per message to ``$NOTIFY_SOCKET``.

``READY=1`` once the D-Bus name is owned, ``STATUS=...`` lines, ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC``,
``STOPPING=1`` on SIGTERM. Without ``$NOTIFY_SOCKET`` (not started by systemd) every call does nothing.
An abstract socket is written ``@name``. A send that fails is logged once and otherwise ignored: the
service must not stop or block because its supervisor went away or reads slowly (sends never wait).

:class:`LagWindow` holds the event loop's lag (how late a timer fired) over the last minute: the daemon's health
figure for "nothing blocks the loop" (issue 15); its maximum goes to D-Bus (Session.LoopLag), p99 and maximum
to every STATUS= line (``...; loop lag p99 1 ms, max 4 ms``, re-sent when the whole-ms figures change, see
:meth:`Notifier.loop_lag`); the watchdog is only as punctual as the loop.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections import deque
from collections.abc import Mapping

LOG = logging.getLogger(__name__)


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds (sd_watchdog_enabled(3)), or None when there is no watchdog or
    ``WATCHDOG_PID`` names another process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2


class Notifier:
    def __init__(self, env: Mapping[str, str]) -> None:
        path = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + path[1:] if path.startswith("@") else path
        self._sock: socket.socket | None = None
        self._warned = False
        self.dropped = 0
        self._status: str | None = None  # the last STATUS= text, without the loop-lag figures
        self._lag = ""  # "; loop lag p99 .. ms, max .. ms" once the daemon has figures
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self._address)
        except BlockingIOError:
            self.dropped += 1  # the supervisor is not reading: never block the service for it
        except OSError as exc:
            if not self._warned:
                LOG.warning("sd_notify to %s failed: %s", self._address.lstrip("\0"), exc)
                self._warned = True

    def _status_field(self, text: str) -> str:
        self._status = text
        return f"STATUS={text}{self._lag}"

    def ready(self, status: str) -> None:
        self.send("READY=1", self._status_field(status))

    def status(self, text: str) -> None:
        self.send(self._status_field(text))

    def loop_lag(self, p99_s: float, max_s: float) -> None:
        """The event loop's lag over the last minute (:class:`LagWindow`) on the STATUS= line: the last status is
        sent again when the figures, in whole milliseconds, changed."""
        lag = f"; loop lag p99 {p99_s * 1000:.0f} ms, max {max_s * 1000:.0f} ms"
        if lag != self._lag:
            self._lag = lag
            if self._status is not None:
                self.status(self._status)

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", self._status_field(status))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class LagWindow:
    """Event-loop lag samples (seconds) of the last ``window_s`` seconds; sans-IO, the probe passes ``now``."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, lag: float) -> None:
        self._samples.append((now, max(0.0, lag)))
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()

    def max(self) -> float:
        return max((lag for _, lag in self._samples), default=0.0)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (nearest rank) of the samples in the window, 0 without samples."""
        lags = sorted(lag for _, lag in self._samples)
        if not lags:
            return 0.0
        return lags[min(len(lags) - 1, max(0, math.ceil(q * len(lags)) - 1))]
