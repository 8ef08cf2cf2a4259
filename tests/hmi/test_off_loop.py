"""Nothing behind the Manager's methods blocks the event loop (issue 15 "nothing blocks the event loop"): the
contract-store write (fsync) of SetPriorities/SelectContract/RequestInstallation/RemoveContract, the token import of
ImportContract and the key deletion of RemoveContract run on the service's worker thread.

No timing: each slow part is held at a gate (a threading.Event) that only the test opens, after a second client's
Properties.Get calls were answered and a loop timer fired while the part was held. Were the part on the event loop,
neither could happen: the gate would time out (10 s) and the test fail."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from dbus_fast import Message, MessageType

from evcc.app.notify import LagWindow
from evcc.contracts.emaid import parse_emaid
from evcc.contracts.store import Contract, ContractStore
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, SESSION_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService

from .conftest import EMAID_A, EMAID_B, NOW, Client, installed

PROPS = "org.freedesktop.DBus.Properties"
EMAID_C = parse_emaid("NL-XYZ-C00000003", require_check=False).display
GATE_S = 10.0  # the gate opens by itself after this (then the test fails): the loop was blocked


class Gate:
    """Holds the thread that reaches it until the test opens it; records whether the test did (and which thread
    was held)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()
        self.opened_by_test: bool | None = None
        self.threads: list[str] = []

    def hold(self) -> None:
        self.threads.append(threading.current_thread().name)
        self.reached.set()
        self.opened_by_test = self._open.wait(GATE_S)

    def open(self) -> None:
        self._open.set()


class GatedStore(ContractStore):
    """A contract store whose writes wait at a gate (a disk whose fsync takes as long as the test wants)."""

    gate: Gate | None = None

    def _commit(self, contracts: dict[str, Contract]) -> None:
        if self.gate is not None:
            self.gate.hold()
        super()._commit(contracts)


async def _answered_while_held(client: Client, gate: Gate, call: Awaitable[Message]) -> tuple[Message, int, float]:
    """Start ``call``; once its slow part is held: 5 Get calls and a loop timer; then open the gate. Returns the
    call's reply, how many Gets were answered while held, and the largest loop lag seen meanwhile."""
    task = asyncio.ensure_future(call)
    loop = asyncio.get_running_loop()
    while not gate.reached.is_set():
        await asyncio.sleep(0.01)  # the loop turns while the worker goes to the gate
        assert not task.done(), task.result()
    lag = LagWindow()
    answered = 0
    for _ in range(5):
        before = loop.time()
        await asyncio.sleep(0.01)
        lag.add(loop.time(), loop.time() - before - 0.01)
        reply = await client.call(BUS_NAME, SESSION_PATH, PROPS, "Get", "ss", [SESSION_INTERFACE, "State"])
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        answered += 0 if task.done() else 1
    gate.open()
    return await task, answered, lag.max()


def _run(bus: PrivateBus, store: ContractStore, scenario: Callable[[HmiService, Client], Awaitable[None]],
         **kwargs: object) -> None:
    async def main() -> None:
        service = HmiService(HmiConfig(bus.address), store, wall_clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]
        await service.start()
        client = await Client.connect(bus.address)
        try:
            await scenario(service, client)
        finally:
            client.bus.disconnect()
            await service.close()

    asyncio.run(main())


def _gated_store(tmp_path: Path) -> tuple[GatedStore, Gate]:
    store = GatedStore(tmp_path / "contracts")
    store.add(installed("aaaa", EMAID_A, 2))
    store.add(installed("bbbb", EMAID_B, 1))
    gate = Gate()
    store.gate = gate
    return store, gate


def test_set_priorities_store_write_is_off_the_loop(private_bus: PrivateBus, tmp_path: Path) -> None:
    store, gate = _gated_store(tmp_path)

    async def scenario(_service: HmiService, client: Client) -> None:
        call = client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                           [[contract_path("bbbb"), contract_path("aaaa")]])
        reply, answered, lag = await _answered_while_held(client, gate, call)
        print(f"SetPriorities held at its fsync: {answered} Gets answered meanwhile, loop lag max {lag * 1000:.1f} ms")
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        assert gate.opened_by_test is True and answered == 5
        assert gate.threads == ["hmi-store_0"]

    _run(private_bus, store, scenario)
    assert [c.contract_id for c in ContractStore(store.directory).list()] == ["bbbb", "aaaa"]


def test_select_and_request_installation_writes_are_off_the_loop(private_bus: PrivateBus, tmp_path: Path) -> None:
    store, _ = _gated_store(tmp_path)

    async def scenario(_service: HmiService, client: Client) -> None:
        calls: list[tuple[str, str, list[object]]] = [("SelectContract", "o", [contract_path("bbbb")]),
                                                      ("RequestInstallation", "si", [EMAID_C, 5])]
        for member, signature, body in calls:
            gate = store.gate = Gate()
            call = client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, member, signature, body)
            reply, answered, _lag = await _answered_while_held(client, gate, call)
            assert reply.message_type is MessageType.METHOD_RETURN, (member, reply.body)
            assert gate.opened_by_test is True and answered == 5, member

    _run(private_bus, store, scenario)
    stored = ContractStore(store.directory).list()
    assert stored[0].priority == 5 and stored[1].contract_id == "bbbb"


def test_import_token_call_and_remove_key_deletion_are_off_the_loop(private_bus: PrivateBus, tmp_path: Path) -> None:
    store = ContractStore(tmp_path / "contracts")
    store.add(installed("aaaa", EMAID_A, 2))
    gates = {"import": Gate(), "delete": Gate()}
    deleted: list[str] = []

    def importer(chain: Path, key: Path, priority: int) -> Contract:  # the token's C_CreateObject, held
        assert chain.read_bytes() == b"CHAIN" and key.read_bytes() == b"KEY"
        gates["import"].hold()
        return store.add(installed("cccc", EMAID_B, priority))

    def delete_key(label: str) -> None:  # the token's C_DestroyObject, held
        gates["delete"].hold()
        deleted.append(label)

    async def scenario(_service: HmiService, client: Client) -> None:
        fds: list[int] = []
        for data in (b"CHAIN", b"KEY"):
            r, w = os.pipe()
            os.write(w, data)
            os.close(w)
            fds.append(r)
        call = client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi", [0, 1, 3], unix_fds=fds)
        reply, answered, _lag = await _answered_while_held(client, gates["import"], call)
        for fd in fds:  # after the reply: the client's writer sends them when the loop turns
            os.close(fd)
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        assert reply.body[0] == contract_path("cccc")
        assert gates["import"].opened_by_test is True and answered == 5
        call = client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o", [contract_path("cccc")])
        reply, answered, _lag = await _answered_while_held(client, gates["delete"], call)
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        assert gates["delete"].opened_by_test is True and answered == 5
        assert gates["import"].threads == gates["delete"].threads == ["hmi-store_0"]

    _run(private_bus, store, scenario, importer=importer, delete_key=delete_key)
    assert deleted == ["contract/cccc"]
    assert [c.contract_id for c in ContractStore(store.directory).list()] == ["aaaa"]


def test_concurrent_priority_changes_lose_nothing(private_bus: PrivateBus, tmp_path: Path) -> None:
    """Calls queue on the one worker in the order they came: the last order wins, each write whole."""
    store, _ = _gated_store(tmp_path)
    store.gate = None

    async def scenario(_service: HmiService, client: Client) -> None:
        orders = [[contract_path("bbbb"), contract_path("aaaa")], [contract_path("aaaa"), contract_path("bbbb")]] * 5
        replies = await asyncio.gather(*(client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                                     [order]) for order in orders))
        assert all(r.message_type is MessageType.METHOD_RETURN for r in replies), [r.body for r in replies]

    _run(private_bus, store, scenario)
    assert [c.contract_id for c in ContractStore(store.directory).list()] == ["aaaa", "bbbb"]
