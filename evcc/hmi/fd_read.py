"""Reading a file descriptor a D-Bus client passed (``Manager.ImportContract``) without ever blocking the event loop.

The client opens the files, so the service never reads a path on a client's behalf; but the descriptor is the
client's: a pipe it keeps open, a FIFO nobody writes, a huge file. So: only a regular file or a pipe; at most
``limit`` bytes; a pipe is read non-blocking through the loop's reader callbacks and must reach end-of-file before
``deadline`` (a loop time), else :class:`HmiError` ``InvalidArguments`` names the limit. A regular file is read with
``pread`` (no shared offset, never blocks on local storage) after its size is checked.
"""

from __future__ import annotations

import asyncio
import os
import stat

from evcc.hmi.errors import INVALID_ARGUMENTS, HmiError

CHUNK = 16384


async def read_fd(fd: int, what: str, limit: int, deadline: float, allowed_s: float) -> bytearray:
    """All bytes of ``fd`` (not closed here); see the module docstring. ``allowed_s``: the deadline as the
    client sees it (for the message)."""
    try:
        info = os.fstat(fd)
    except OSError as exc:
        raise HmiError(INVALID_ARGUMENTS, f"{what}: unusable file descriptor ({exc.strerror})") from None
    if stat.S_ISREG(info.st_mode):
        return _read_file(fd, what, limit, info.st_size)
    if stat.S_ISFIFO(info.st_mode):
        return await _read_pipe(fd, what, limit, deadline, allowed_s)
    raise HmiError(INVALID_ARGUMENTS, f"{what}: not a regular file or pipe")


def _too_big(what: str, limit: int) -> HmiError:
    return HmiError(INVALID_ARGUMENTS, f"{what}: more than {limit} bytes (the limit)")


def _read_file(fd: int, what: str, limit: int, size: int) -> bytearray:
    if size > limit:
        raise _too_big(what, limit)
    data = bytearray()
    while len(data) <= limit:
        try:
            chunk = os.pread(fd, CHUNK, len(data))
        except OSError as exc:
            raise HmiError(INVALID_ARGUMENTS, f"{what}: cannot read ({exc.strerror})") from None
        if not chunk:
            return data
        data += chunk
    raise _too_big(what, limit)


async def _read_pipe(fd: int, what: str, limit: int, deadline: float, allowed_s: float) -> bytearray:
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = bytearray()
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    await ready.wait()
            except TimeoutError:
                raise HmiError(INVALID_ARGUMENTS, f"{what}: the pipe was not closed within {allowed_s:g} s (the "
                               f"limit for ImportContract; {len(data)} bytes read)") from None
            ready.clear()
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise HmiError(INVALID_ARGUMENTS, f"{what}: cannot read ({exc.strerror})") from None
            if not chunk:
                return data
            data += chunk
            if len(data) > limit:
                raise _too_big(what, limit)
    finally:
        loop.remove_reader(fd)
