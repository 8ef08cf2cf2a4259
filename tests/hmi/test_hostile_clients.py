"""Untrusted neighbours on the bus (issue 15): the service on a private dbus-daemon with system rules and the
shipped policy, attacked by a raw client running as uid ``nobody`` (tests/hmi/hostile.py). The service runs in its
own thread and loop, as in test_policy, so that the test can watch it while it is attacked."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Coroutine

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.contracts.store import Contract, ContractStore
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, SESSION_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService

from .conftest import NOW, running
from .hostile import BUS, Call, Step, attacker

T = TypeVar("T")
PROPS = "org.freedesktop.DBus.Properties"
OM = "org.freedesktop.DBus.ObjectManager"
FLOOD = 20_000


@dataclass
class Served:
    bus: PrivateBus
    service: HmiService
    loop: asyncio.AbstractEventLoop
    imported: list[tuple[bytes, bytes]]

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def _importer(imported: list[tuple[bytes, bytes]]) -> Any:
    def importer(chain: Path, key: Path, priority: int) -> Contract:
        imported.append((chain.read_bytes(), key.read_bytes()))
        from evcc.errors import SecurityError
        raise SecurityError("test importer: not a real chain")
    return importer


@pytest.fixture
def served(private_bus: PrivateBus, store: ContractStore) -> Iterator[Served]:
    imported: list[tuple[bytes, bytes]] = []
    service = HmiService(HmiConfig(private_bus.address, import_timeout_s=1.0), store,
                         importer=_importer(imported), wall_clock=lambda: NOW)
    with running(service) as loop:
        yield Served(private_bus, service, loop, imported)


async def _client(address: str) -> MessageBus:
    return await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()


async def _get_version(bus: MessageBus) -> Message:
    return await bus.call(Message(destination=BUS_NAME, path=ROOT_PATH, interface=PROPS, member="Get",
                                  signature="ss", body=[MANAGER_INTERFACE, "Version"]))


async def _has_owner(bus: MessageBus) -> bool:
    reply = await bus.call(Message(destination=BUS[0], path=BUS[1], interface=BUS[2], member="NameHasOwner",
                                   signature="s", body=[BUS_NAME]))
    return bool(reply.body[0])


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_flood_with_unread_replies_does_not_take_the_api_down(served: Served) -> None:
    """20,000 GetManagedObjects from uid nobody, written without reading a reply: the service's socket sees
    back-pressure, which is waited out; the name stays owned on the same connection and others are answered."""
    flood = Step(Call(BUS_NAME, ROOT_PATH, OM, "GetManagedObjects"), FLOOD, read_replies=False)

    async def well_behaved() -> tuple[bool, int, int]:
        bus = await _client(served.bus.address)
        try:
            answered = 0
            for _ in range(20):
                reply = await _get_version(bus)
                answered += reply.message_type is MessageType.METHOD_RETURN
            return await _has_owner(bus), answered, 20
        finally:
            bus.disconnect()

    with attacker(served.bus.address, [flood]) as a:
        report = a.result()
        assert report["uid"] != 0 and report["sent"] == FLOOD
        owned, answered, asked = served.run(well_behaved())  # while the flood's replies still sit unread
    assert owned and answered == asked
    assert served.service.connections == 1, "the service had to reconnect: the flood cut its connection"
    owned_after, answered_after, _ = served.run(well_behaved())
    assert owned_after and answered_after == 20
    # dbus-daemon logged a line per refused call (max_replies_per_connection): far more than a pipe holds (~64 KB),
    # and the bus still serves (evcc.hmi.private_bus reads its stderr)
    assert served.bus.stderr_chars > 64 * 1024, list(served.bus.log)[-3:]
    stats = served.service.stats
    print(f"flood: {stats}")


def test_descriptors_attached_to_every_method_are_closed(served: Served) -> None:
    """uid nobody (and a member of group evcc for the mutating methods) attaches 16 descriptors to every method
    and form the service answers; afterwards the process holds as many descriptors as before."""
    c1 = contract_path("aaaa")
    calls = [
        Call(BUS_NAME, ROOT_PATH, PROPS, "Get", "ss", [MANAGER_INTERFACE, "Version"], fds=16),
        Call(BUS_NAME, ROOT_PATH, PROPS, "GetAll", "s", [MANAGER_INTERFACE], fds=16),
        Call(BUS_NAME, SESSION_PATH, PROPS, "Get", "ss", [SESSION_INTERFACE, "State"], fds=16),
        Call(BUS_NAME, ROOT_PATH, PROPS, "Set", "ssv", [MANAGER_INTERFACE, "Version", _variant()], fds=16),
        Call(BUS_NAME, ROOT_PATH, OM, "GetManagedObjects", fds=16),
        Call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", fds=16),
        Call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.Peer", "Ping", fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "NoSuchMethod", fds=16),
        Call(BUS_NAME, "/no/such/object", PROPS, "Get", "ss", ["x", "y"], fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SelectContract", "o", [contract_path("zzzz")], fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [[c1]], fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si", ["bad emaid", 1], fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o", [contract_path("zzzz")], fds=16),
        # ImportContract: its two descriptors plus 14 others; out-of-range indexes; the wrong signature
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi", [0, 1, 1], fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi", [20, 30, 1], fds=16),
        Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hh", [0, 1], fds=16),
        Call(BUS_NAME, ROOT_PATH, None, "ImportContract", "hhi", [0, 1, 1], fds=16),
    ]
    before = _open_fds()
    for evcc_group in (False, True):
        with attacker(served.bus.address, [Step(c, 10) for c in calls], evcc_group=evcc_group) as a:
            report = a.result()
        assert report["returns"] + report["errors"] == 1 + 10 * len(calls)  # Hello + one reply per call
    after = _open_fds()
    assert after <= before, f"{after - before} descriptors more than before the attack"
    assert served.service.stats.fds_closed > 10 * 16 * 5, served.service.stats
    assert served.imported == []  # /dev/null is neither a regular file nor a pipe: refused before the importer


def _variant() -> object:
    from dbus_fast import Variant
    return Variant("u", 7)


def test_a_held_pipe_is_refused_without_blocking_the_loop(served: Served) -> None:
    """A workshop client (group evcc) passes pipes whose write ends it keeps open: the service keeps answering
    others meanwhile, and the import is refused with InvalidArguments naming the limit."""
    held = Step(Call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi", [0, 1, 1], pipes=2), 1,
                read_replies=False)

    async def meanwhile() -> tuple[int, bool]:
        bus = await _client(served.bus.address)
        try:
            answered = 0
            for _ in range(5):
                answered += (await _get_version(bus)).message_type is MessageType.METHOD_RETURN
            return answered, await _has_owner(bus)
        finally:
            bus.disconnect()

    with attacker(served.bus.address, [held], evcc_group=True) as a:
        a.result()
        answered, owned = served.run(meanwhile())
        assert (answered, owned) == (5, True)
        pending = served.service._import_lock.locked()  # the import still waits for the held pipe
    assert pending, "the import ended before the other client was served: the loop was not free meanwhile"


def test_the_held_pipe_answer_names_the_limit(served: Served) -> None:
    async def scenario() -> Message:
        bus = await _client(served.bus.address)
        r_chain, w_chain = os.pipe()
        r_key, w_key = os.pipe()
        try:
            return await bus.call(Message(destination=BUS_NAME, path=ROOT_PATH, interface=MANAGER_INTERFACE,
                                          member="ImportContract", signature="hhi", body=[0, 1, 1],
                                          unix_fds=[r_chain, r_key]))
        finally:
            for fd in (r_chain, w_chain, r_key, w_key):
                os.close(fd)
            bus.disconnect()

    reply = served.run(scenario())
    assert reply.message_type is MessageType.ERROR
    assert reply.error_name == "org.evcc.Evcc1.Error.InvalidArguments"
    assert "chain: the pipe was not closed within 1 s" in str(reply.body[0]), reply.body


def test_a_lost_connection_is_back_with_the_name_owned(served: Served) -> None:
    served.loop.call_soon_threadsafe(served.service.lose_connection_for_test)

    async def back() -> bool:
        bus = await _client(served.bus.address)
        try:
            for _ in range(200):
                if served.service.connections == 2 and await _has_owner(bus):
                    return (await _get_version(bus)).message_type is MessageType.METHOD_RETURN
                await asyncio.sleep(0.05)
            return False
        finally:
            bus.disconnect()

    assert served.run(back())


def test_a_bus_gone_for_good_is_reported_not_lived_with(private_bus: PrivateBus, store: ContractStore) -> None:
    lost: list[str] = []

    async def scenario() -> None:
        service = HmiService(HmiConfig(private_bus.address, reconnect_s=0.5), store, wall_clock=lambda: NOW)
        service.on_lost = lost.append
        await service.start()
        try:
            private_bus.stop()
            for _ in range(200):
                if lost:
                    return
                await asyncio.sleep(0.05)
        finally:
            service.stop()

    asyncio.run(scenario())
    assert lost and "not back within 0.5 s" in lost[0], lost
