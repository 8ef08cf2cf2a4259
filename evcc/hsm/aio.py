"""asyncio face of a blocking :class:`evcc.hsm.keystore.KeyStore`.

Token calls (C_Sign, C_DeriveKey, C_CreateObject) block for 0.05..20 ms, a whole CertificateInstallation on a
TPM much longer; they run on one dedicated worker thread so that the event loop (and the session timers) never
waits on the token, and token calls stay serialised (one PKCS#11 session / TPM context is not safe for
concurrent use, and a step of several calls must not interleave with another's).

Closing never holds the loop either (project rule: nothing may block the event loop). :meth:`AsyncKeyStore.aclose`

- refuses new calls at once (:class:`KeyStoreClosed`),
- fails the calls still queued with :class:`KeyStoreClosed` without running them,
- awaits the end of the running call without blocking the loop (a cancelled session's step still runs on the
  token: a thread cannot be interrupted inside C_Sign), and returns only after it ended, even when the closing
  task is cancelled meanwhile (the cancellation is raised again then).

So a caller that awaits ``aclose()`` before it hands the same store to a new :class:`AsyncKeyStore` (evcc.app.attempt:
one per session around the daemon's store) never lets a new step overlap a cancelled session's running one::

    loop thread                      worker thread
    call(f) ── job ──► queue ──────► f() on the token ── result ──► call_soon_threadsafe ──► awaiting caller
    aclose(): queued jobs fail KeyStoreClosed; stop marker ──► queue ──► (after the running f) ──► aclose returns
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from evcc.hsm.keystore import ConcatKdf, KeyAlgorithm, KeyInfo, KeyStore, KeyStoreError

T = TypeVar("T")
LOG = logging.getLogger(__name__)


class KeyStoreClosed(KeyStoreError):
    """A key-store call reached an :class:`AsyncKeyStore` that is closed (or was still queued when it closed)."""


class _State(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DROPPED = "dropped"  # refused by aclose() or given up by its caller before the worker took it


@dataclass(eq=False)
class _Job:
    fn: Callable[[], Any] | None  # None: the stop marker
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    name: str = ""
    state: _State = _State.QUEUED


class _Jobs:
    """What the loop and the worker share: the queue and, under one lock, which jobs wait or run."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.waiting: set[_Job] = set()
        self.running: _Job | None = None

    def stop(self) -> None:
        """Ends the worker after what it runs (the AsyncKeyStore was dropped without aclose())."""
        self.queue.put(_Job(None, None, None))


def _settle(job: _Job, result: object, error: BaseException | None) -> None:
    """Hand a job's outcome to its caller on the caller's loop (from any thread)."""
    fut, loop = job.future, job.loop
    if fut is None or loop is None:
        return

    def settle() -> None:
        if fut.done():  # the caller was cancelled meanwhile: nobody reads it
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)
    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


def _work(jobs: _Jobs) -> None:
    """The worker thread: the jobs in order, one at a time, until the stop marker. Holds no reference to the
    AsyncKeyStore (a dropped one stops its worker, weakref.finalize)."""
    while True:
        job = jobs.queue.get()
        with jobs.lock:
            jobs.waiting.discard(job)
            if job.state is not _State.QUEUED:
                continue
            job.state = _State.RUNNING
            jobs.running = job
        if job.fn is None:
            with jobs.lock:
                jobs.running = None
            _settle(job, None, None)
            return
        try:
            result = job.fn()
        except BaseException as exc:  # handed to the awaiting caller, as run_in_executor does
            outcome: tuple[object, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        with jobs.lock:
            jobs.running = None
        _settle(job, *outcome)


async def wait_out(fut: asyncio.Future[Any]) -> None:
    """Await ``fut`` to its end; a cancellation meanwhile is raised again once it ended (not before). Shared with
    the D-Bus service's ordered stop (evcc.hmi.service)."""
    cancelled: asyncio.CancelledError | None = None
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled


class AsyncKeyStore:
    """Awaitable wrapper; :meth:`aclose` stops the worker thread (the wrapped store stays open). Also an async
    context manager (``async with AsyncKeyStore(store) as keys``)."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._jobs = _Jobs()
        self._thread: threading.Thread | None = None
        self._closed: asyncio.Future[None] | None = None  # set by aclose(): resolved when the worker ended

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=_work, args=(self._jobs,), name="keystore", daemon=True)
            self._thread.start()
            weakref.finalize(self, self._jobs.stop)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        name = getattr(fn, "__name__", type(fn).__name__)
        if self._closed is not None:
            raise KeyStoreClosed(f"key store call {name}: the key store's worker is closed (its session ended)")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        job = _Job(functools.partial(fn, *args), loop, fut, name)
        with self._jobs.lock:
            self._jobs.waiting.add(job)
        self._start()
        self._jobs.queue.put(job)
        try:
            return await fut
        except asyncio.CancelledError:
            with self._jobs.lock:
                if job.state is _State.QUEUED:  # the caller gave up before the worker took it: never runs
                    job.state = _State.DROPPED
                    self._jobs.waiting.discard(job)
            raise

    async def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        return await self._run(self.store.generate, label, algorithm)

    async def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        return await self._run(self.store.import_private, label, algorithm, private)

    async def public_key(self, label: str) -> bytes:
        return await self._run(self.store.public_key, label)

    async def sign(self, label: str, message: bytes) -> bytes:
        return await self._run(self.store.sign, label, message)

    async def ecdh_kdf(self, label: str, peer_public: bytes, kdf: ConcatKdf) -> bytearray:
        return await self._run(self.store.ecdh_kdf, label, peer_public, kdf)

    async def delete(self, label: str) -> None:
        await self._run(self.store.delete, label)

    async def list(self, prefix: str = "") -> list[KeyInfo]:
        return await self._run(self.store.list, prefix)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run any blocking function that uses the store (e.g. a whole installation) on the store's worker."""
        return await self._run(fn, *args)

    async def aclose(self) -> None:
        """Refuse new calls, fail the queued ones with :class:`KeyStoreClosed`, and await (without blocking the
        loop) the end of the running one; see the module. Idempotent; every caller returns after the worker
        ended."""
        if self._closed is None:
            loop = asyncio.get_running_loop()
            self._closed = loop.create_future()
            with self._jobs.lock:
                dropped = [job for job in self._jobs.waiting if job.state is _State.QUEUED]
                for job in dropped:
                    job.state = _State.DROPPED
                self._jobs.waiting.clear()
                running = self._jobs.running
            for job in dropped:
                _settle(job, None, KeyStoreClosed(
                    f"key store call {job.name}: cancelled before it started, the key store's worker closed"))
            if self._thread is None:
                self._closed.set_result(None)
            else:
                if running is not None:
                    LOG.info("closing the key store's worker: waiting for its running call to end",
                             extra={"fields": {"call": running.name}})
                self._jobs.queue.put(_Job(None, loop, self._closed, "stop"))
        await wait_out(self._closed)

    async def __aenter__(self) -> AsyncKeyStore:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
