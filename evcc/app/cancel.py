"""Ending an asyncio task for certain (the daemon's stop, SERVICE.md "systemd": SIGTERM -> exit 0).

``task.cancel()`` is a request that code under the task can lose: ``asyncio.wait_for`` of Python < 3.12
returns its inner result when the cancellation arrives in the same loop iteration as that result (a frame or
a datagram handed over just then), and the task runs on as if nothing was asked. A daemon that cancels once
and awaits the task then waits for ever. :func:`cancel_and_wait` asks again until the task has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

CANCEL_RETRY_S = 0.1  # how long a cancelled task may take to end before it is asked again


async def cancel_and_wait(task: asyncio.Future[Any], retry_s: float = CANCEL_RETRY_S) -> None:
    """Cancel ``task`` and wait until it is done, repeating the request every ``retry_s`` while it runs
    (its own clean-up may await; a lost request is renewed). The task's result or exception is left on it."""
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=retry_s)
