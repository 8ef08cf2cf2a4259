"""The D-Bus service: connection, exported objects, contract actions, session publishing (SERVICE.md).

The only module here that touches the bus or the clock. Contract objects mirror the store: after every change
(and on :meth:`HmiService.sync_contracts`) new contracts are exported (ObjectManager sends InterfacesAdded),
removed ones unexported (InterfacesRemoved), changed ones emit PropertiesChanged. READY for systemd only after
:meth:`start` returned: the name is owned then.

Hostile or slow peers (issue 15): the connection is hardened by :mod:`evcc.hmi.bus_guard` (back-pressure waited out,
a bounded outgoing queue, per-sender fairness, every passed file descriptor closed unless ImportContract takes it);
ImportContract reads its descriptors without blocking the loop (:mod:`evcc.hmi.fd_read`); the work behind every
Manager method (contract-store writes with their fsyncs, the token import of ImportContract, key deletion) runs on
one worker thread of the service, in the order the calls came, so the loop keeps answering (Get, GetManagedObjects,
the session's timers) while the disk or the token is slow; the token's own lock serialises its calls with the
session's. If the connection is lost
anyway, the service reconnects and owns its name again within ``reconnect_s``; if it cannot, ``on_lost`` is called
(the daemon stops and exits non-zero, so that systemd restarts it): the service never lives on without its API.

Stopping in order (project rule: nothing may block the event loop; a PKCS#11 session or TPM context must not be
closed under a running call): :meth:`HmiService.close` refuses new Manager work at once (StoreFailed "the service
is stopping"; calls already queued behind the running one get the same answer when the worker reaches them), awaits
the running write (its worker-thread future wrapped for asyncio, shielded: the loop keeps turning), then
disconnects; only after that does :meth:`evcc.app.compose.Parts.aclose` close the key store. A write that never
ends keeps the stop waiting (logged; systemd's stop timeout is the limit), the store is never closed under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from dbus_fast import BusType, Message, MessageType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from evcc.contracts.errors import ContractNotFound, InvalidIdentifier
from evcc.contracts.store import Contract, ContractStore
from evcc.errors import EvccError, PlatformError, StoreError
from evcc.hsm.aio import wait_out
from evcc.hmi.bus_guard import GuardStats, guard
from evcc.hmi.errors import IMPORT_FAILED, INVALID_ARGUMENTS, NOT_SUPPORTED, STORE_FAILED, UNKNOWN_CONTRACT, HmiError
from evcc.hmi.fd_read import read_fd
from evcc.hmi.interfaces import ContractInterface, ContractValues, ManagerInterface, SessionInterface, SessionValues
from evcc.hmi.names import BUS_NAME, ROOT_PATH, SESSION_PATH, SessionState, contract_path
from evcc.hmi.ordering import priorities_for, selected_first
from evcc.hmi.throttle import PropertyThrottle

LOG = logging.getLogger(__name__)
MAX_IMPORT_BYTES = 64 * 1024
RECONNECT_POLL_S = 0.2
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
MANAGED_SIGNATURE = "a{oa{sa{sv}}}"
Importer = Callable[[Path, Path, int], Contract]
T = TypeVar("T")
STOPPING = "the service is stopping: no new contract or key-store changes (nothing changed)"


@dataclass(frozen=True)
class HmiConfig:
    bus_address: str | None = None  # None: the system bus
    expiry_window: timedelta = timedelta(days=30)
    throttle_interval: float = 0.1  # s between PropertiesChanged of fast values (SoC, power, energy)
    import_timeout_s: float = 5.0  # ImportContract: both descriptors must reach end of data within this
    reconnect_s: float = 2.0  # a lost bus connection must be back (name owned) within this, else on_lost


class HmiService:
    def __init__(self, config: HmiConfig, store: ContractStore, *, importer: Importer | None = None,
                 delete_key: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config, self.store = config, store
        self._importer, self._delete_key = importer, delete_key
        self._clock, self._wall = clock, wall_clock
        self._bus: MessageBus | None = None
        self.stats = GuardStats()  # of every connection this service had (the tests and the benchmark read them)
        self.connections = 0
        self.on_lost: Callable[[str], None] | None = None  # the API is gone for good (the daemon exits non-zero)
        self._manager = ManagerInterface(self)
        self._watch: asyncio.Task[None] | None = None
        self._stopped = False
        self._import_lock = asyncio.Lock()
        self._contracts: dict[str, ContractInterface] = {}  # object path -> interface
        self._ids: dict[str, str] = {}  # object path -> contract id
        self.session = SessionInterface()
        self._throttle = PropertyThrottle(config.throttle_interval, frozenset({"State", "Errors", "Reason"}))
        self._flush_handle: asyncio.TimerHandle | None = None
        self._worker: ThreadPoolExecutor | None = None  # store writes, token calls: off the event loop
        self._refuse = threading.Event()  # set when stopping: no new work; queued work answers StoreFailed
        self._jobs_lock = threading.Lock()
        self._jobs: dict[Future[Any], str] = {}  # work handed to the worker and not ended -> what it does
        self._callers: set[asyncio.Task[Any]] = set()  # Manager calls awaiting the worker (their replies)
        self._managed: list[object] | None = None  # GetManagedObjects' reply body until a value changes

    # --- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, export, own the bus name (:class:`PlatformError` if the bus or the name is not ours); then
        watch the connection (reconnect, or ``on_lost``)."""
        self._stopped = False
        self._refuse.clear()
        await self._connect()
        self._watch = asyncio.get_running_loop().create_task(self._watch_connection(), name="dbus-watch")

    async def _connect(self) -> None:
        try:
            if self.config.bus_address is None:
                bus = MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True)
            else:
                bus = MessageBus(bus_address=self.config.bus_address, negotiate_unix_fd=True)
            await bus.connect()
        except (OSError, DBusError, ValueError, EOFError) as exc:
            raise PlatformError(f"D-Bus: cannot connect to {self.config.bus_address or 'the system bus'}: {exc}") \
                from exc
        try:
            guard(bus, self.stats)
            bus.add_message_handler(self._managed_objects)  # after the gatekeeper: calls still take turns
            bus.export(ROOT_PATH, self._manager)
            bus.export(SESSION_PATH, self.session)
            for path, interface in self._contracts.items():
                bus.export(path, interface)
            try:
                reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
            except DBusError as exc:
                raise PlatformError(f"D-Bus: may not own {BUS_NAME}: {exc.text}") from exc
            except (OSError, EOFError) as exc:
                raise PlatformError(f"D-Bus: connection lost while owning {BUS_NAME}: {exc}") from exc
            if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
                raise PlatformError(f"D-Bus: {BUS_NAME} is owned by another process")
        except BaseException:
            bus.disconnect()
            raise
        self._bus = bus
        self.connections += 1
        self._managed = None
        self.sync_contracts()

    async def _watch_connection(self) -> None:
        while not self._stopped:
            bus = self._bus
            assert bus is not None
            why = "closed by the bus"
            try:
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            except Exception as exc:  # noqa: BLE001 - whatever ended the connection, it is reported, not raised
                why = f"{type(exc).__name__}: {exc}"
            if self._stopped:
                return
            self._bus = None
            LOG.error("D-Bus connection lost (%s): reconnecting", why)
            await self._reconnect(why)

    async def _reconnect(self, why: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.config.reconnect_s
        while True:
            try:
                await self._connect()
            except PlatformError as exc:
                if loop.time() + RECONNECT_POLL_S > end:
                    text = f"D-Bus connection lost ({why}) and not back within {self.config.reconnect_s:g} s: {exc}"
                    LOG.critical("%s", text)
                    self._stopped = True
                    if self.on_lost is not None:
                        self.on_lost(text)
                    return
                await asyncio.sleep(RECONNECT_POLL_S)
            else:
                LOG.warning("D-Bus connection back, %s owned again", BUS_NAME)
                return

    @property
    def work_pending(self) -> bool:
        """Whether a contract-store or key-store action handed to the worker has not ended yet."""
        with self._jobs_lock:
            return bool(self._jobs)

    def refuse_work(self) -> None:
        """From now on every Manager action answers StoreFailed (:data:`STOPPING`) without touching a store; the
        one running on the worker goes on to its end."""
        self._refuse.set()

    async def finish_work(self) -> None:
        """Refuse new work and await the end of what the worker has (without blocking the loop; a cancellation
        meanwhile is raised again once it ended), and of the Manager calls awaiting it (their replies are sent)."""
        self.refuse_work()
        with self._jobs_lock:
            jobs = dict(self._jobs)
        if jobs:
            LOG.warning("stopping: waiting for the running contract/key-store write to end before the key store "
                        "closes (it is never closed under a running call; systemd's stop timeout is the limit)",
                        extra={"fields": {"running": ", ".join(sorted(set(jobs.values())))}})
            await wait_out(asyncio.gather(*(asyncio.wrap_future(job) for job in jobs), return_exceptions=True))
        callers = [t for t in self._callers if t is not asyncio.current_task()]
        if callers:
            await wait_out(asyncio.gather(*callers, return_exceptions=True))

    def stop(self) -> None:
        """Refuse new work and disconnect at once, without waiting (see :meth:`close` for the ordered stop): a
        write under way ends on its thread (atomic), :attr:`work_pending` says whether it still runs."""
        self._stopped = True
        self.refuse_work()
        if self._worker is not None:  # queued work answers StoreFailed when the worker reaches it
            self._worker.shutdown(wait=False, cancel_futures=False)
            self._worker = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def close(self) -> None:
        """The ordered stop: :meth:`finish_work` (the bus stays connected meanwhile, so new calls get their
        StoreFailed reply and the running one its result), then :meth:`stop`, and wait until the connection watcher
        has ended. Only after this may the key store be closed (evcc.app.compose.Parts.aclose)."""
        await self.finish_work()
        watch = self._watch
        self.stop()
        if watch is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    def lose_connection_for_test(self) -> None:
        """Shut the socket to the bus down, as a bus restart or a kernel error would (tests of the reconnect)."""
        assert self._bus is not None and self._bus._sock is not None
        with contextlib.suppress(OSError):
            self._bus._sock.shutdown(2)

    def _managed_objects(self, msg: Message) -> Message | None:
        """ObjectManager.GetManagedObjects at the root from a cached reply body: built by dbus-fast's own handler
        once, dropped whenever an object or a value changes (:meth:`sync_contracts`, :meth:`_publish`). Under a
        flood of GetManagedObjects (issue 15) a call then costs the reply's marshalling, not 20 property getters."""
        if msg.message_type is not MessageType.METHOD_CALL or msg.member != "GetManagedObjects" \
                or msg.interface != OBJECT_MANAGER or msg.path != ROOT_PATH or self._bus is None:
            return None
        if self._managed is None:
            built = _Captured()
            self._bus._default_get_managed_objects_handler(msg, built)  # type: ignore[arg-type]
            if built.reply is None or built.reply.message_type is not MessageType.METHOD_RETURN:
                return None  # not complete at once (no such getter here) or an error: dbus-fast answers itself
            self._managed = built.reply.body
        return Message.new_method_return(msg, MANAGED_SIGNATURE, self._managed)

    # --- contracts ----------------------------------------------------------------------------------------
    def sync_contracts(self) -> None:
        """Make the exported Contract objects match the store (while disconnected: the objects that the next
        connection exports)."""
        now = self._wall()
        self._managed = None
        present = {contract_path(c.contract_id): c for c in self.store.list()}
        for path in [p for p in self._contracts if p not in present]:
            gone = self._contracts.pop(path)
            self._ids.pop(path, None)
            if self._bus is not None:
                self._bus.unexport(path, gone)
        for path, c in present.items():
            values = ContractValues.of(c, now, self.config.expiry_window)
            if path in self._contracts:
                self._contracts[path].update(values)
            else:
                self._contracts[path] = ContractInterface(values)
                self._ids[path] = c.contract_id
                if self._bus is not None:
                    self._bus.export(path, self._contracts[path])

    def _id_of(self, path: str) -> str:
        try:
            return self._ids[path]
        except KeyError:
            raise HmiError(UNKNOWN_CONTRACT, f"no contract at {path}") from None

    async def _off_loop(self, action: Callable[[], T], what: str) -> T:
        """``action`` on the service's worker thread (one thread: calls run one at a time, in order); StoreFailed
        once the service is stopping (:meth:`refuse_work`), also for work that was queued when the stop began."""
        if self._refuse.is_set():
            raise HmiError(STORE_FAILED, STOPPING)
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hmi-store")

        def guarded() -> T:
            if self._refuse.is_set():
                raise HmiError(STORE_FAILED, STOPPING)
            return action()

        job: Future[T] = self._worker.submit(guarded)
        with self._jobs_lock:
            self._jobs[job] = what
        job.add_done_callback(self._job_ended)
        caller = asyncio.current_task()
        if caller is not None:
            self._callers.add(caller)
        try:
            return await asyncio.wrap_future(job)
        finally:
            if caller is not None:
                self._callers.discard(caller)

    def _job_ended(self, job: Future[Any]) -> None:  # on the worker thread (or at once, if it already ended)
        with self._jobs_lock:
            self._jobs.pop(job, None)

    async def _apply_order(self, order: Callable[[], list[str]]) -> None:
        """The new priorities in one atomic store write (a crash never leaves half an order); the order is
        computed on the worker too, from the store as the writes before left it."""
        def write() -> None:
            wanted = order()
            changed = {cid: p for cid, p in priorities_for(wanted, self.store.list()).items()
                       if self.store.get(cid).priority != p}
            if changed:
                _store_call(lambda: self.store.set_priorities(changed)[0])
        try:
            await self._off_loop(write, "priorities")
        finally:
            self.sync_contracts()

    async def select(self, path: str) -> None:
        cid = self._id_of(path)
        await self._apply_order(lambda: selected_first(cid, self.store.list()))

    async def set_priorities(self, paths: list[str]) -> None:
        ids = [self._id_of(p) for p in paths]
        await self._apply_order(lambda: ids)

    async def request_installation(self, emaid: str, priority: int) -> str:
        contract = await self._off_loop(lambda: _store_call(lambda: self.store.add_pending(emaid, priority)),
                                        "RequestInstallation")
        self.sync_contracts()
        return contract_path(contract.contract_id)

    async def remove(self, path: str) -> None:
        cid = self._id_of(path)

        def remove() -> None:  # one action: a stop that begins between store write and key deletion waits for both
            contract = _store_call(lambda: self.store.remove(cid))
            if contract.key_label and self._delete_key is not None:
                self._delete_key_of(contract)
        try:
            await self._off_loop(remove, "RemoveContract")
        finally:
            self.sync_contracts()

    def _delete_key_of(self, contract: Contract) -> None:
        assert self._delete_key is not None and contract.key_label is not None
        try:
            self._delete_key(contract.key_label)
        except EvccError as exc:  # the store no longer references it: orphan clean-up will find it
            LOG.warning("contract %s removed, its key %s not deleted: %s", contract.contract_id,
                        contract.key_label, exc)

    async def import_files(self, chain_fd: int, key_fd: int, priority: int) -> str:
        """Read both descriptors without blocking the loop (limit ``MAX_IMPORT_BYTES`` each, both within
        ``import_timeout_s``), then import; the descriptors are closed in every case (bus_guard left them open for
        this method). One import at a time."""
        try:
            if self._importer is None:
                raise HmiError(NOT_SUPPORTED, "this service has no contract importer (no key store configured)")
            async with self._import_lock:
                loop = asyncio.get_running_loop()
                allowed = self.config.import_timeout_s
                deadline = loop.time() + allowed
                chain = await read_fd(chain_fd, "chain", MAX_IMPORT_BYTES, deadline, allowed)
                key = await read_fd(key_fd, "key", MAX_IMPORT_BYTES, deadline, allowed)
                contract = await self._off_loop(lambda: self._import(chain, key, priority), "ImportContract")
                self.sync_contracts()
                return contract_path(contract.contract_id)
        finally:
            for fd in {chain_fd, key_fd}:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _import(self, chain: bytearray, key: bytearray, priority: int) -> Contract:
        """On the worker thread: the token import and the store write (evcc.contracts.importer)."""
        assert self._importer is not None
        fds = [os.memfd_create("evcc-import-chain"), os.memfd_create("evcc-import-key")]
        try:
            for fd, data in zip(fds, (chain, key)):
                os.write(fd, data)
                os.lseek(fd, 0, os.SEEK_SET)
            paths = [Path(f"/proc/self/fd/{fd}") for fd in fds]
            try:
                contract = self._importer(paths[0], paths[1], priority)
            except EvccError as exc:
                text = str(exc).replace(str(paths[0]), "chain").replace(str(paths[1]), "key")
                raise HmiError(IMPORT_FAILED, f"{type(exc).__name__}: {text}") from None
        finally:
            key[:] = bytes(len(key))
            os.ftruncate(fds[1], 0)
            for fd in fds:
                os.close(fd)
        return contract

    # --- session ------------------------------------------------------------------------------------------
    def set_state(self, new: SessionState, reason: str) -> None:
        """A session state change: StateChanged(old, new, reason) and the properties at once."""
        old = self.session.values.state
        self.session.values = replace(self.session.values, state=new, reason=reason)
        if old != new:
            self.session.StateChanged(int(old), int(new), reason)
        self._publish()

    def update_session(self, *, protocol: str | None = None, soc: float | None = None, power: float | None = None,
                       energy: float | None = None, errors: tuple[str, ...] | None = None,
                       loop_lag_ms: float | None = None) -> None:
        """New session values; PropertiesChanged at most every ``throttle_interval`` (errors at once)."""
        v = self.session.values
        self.session.values = replace(
            v, protocol=v.protocol if protocol is None else protocol, soc=v.soc if soc is None else soc,
            power=v.power if power is None else power, energy=v.energy if energy is None else energy,
            errors=v.errors if errors is None else errors,
            loop_lag_ms=v.loop_lag_ms if loop_lag_ms is None else loop_lag_ms)
        self._publish()

    def set_limit(self, limit: str) -> None:
        """Session.Limit: what the EV may ask for now and what set it (evcc.session.limits, issue 19)."""
        if limit != self.session.values.limit:
            self.session.values = replace(self.session.values, limit=limit)
            self._publish()

    def _publish(self) -> None:
        self._managed = None  # a session value changed: GetManagedObjects builds its reply again
        out = self._throttle.update(self.session.values.properties(), self._clock())
        if out:
            self._emit(out)
        deadline = self._throttle.deadline()
        if deadline is not None and self._flush_handle is None and self._bus is not None:
            delay = max(0.0, deadline - self._clock())
            self._flush_handle = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        out = self._throttle.flush(self._clock())
        if out:
            self._emit(out)

    def _emit(self, changed: dict[str, object]) -> None:
        if self._bus is not None:
            self.session.emit_properties_changed(changed)


def _store_call(action: Callable[[], Contract]) -> Contract:
    """A contract-store action with its errors as the D-Bus errors the Manager answers."""
    try:
        return action()
    except ContractNotFound as exc:
        raise HmiError(UNKNOWN_CONTRACT, str(exc)) from None
    except InvalidIdentifier as exc:
        raise HmiError(INVALID_ARGUMENTS, str(exc)) from None
    except StoreError as exc:
        raise HmiError(STORE_FAILED, str(exc)) from None


class _Captured:
    """Stands in for dbus-fast's SendReply while :meth:`HmiService._managed_objects` builds its cached reply."""

    def __init__(self) -> None:
        self.reply: Message | None = None

    def __call__(self, reply: Message) -> None:
        self.reply = reply

    def send_error(self, exc: Exception) -> None:
        self.reply = None
