"""A private dbus-daemon with system-bus rules and the real policy file (evcc.hmi.private_bus), a contract store
with two contracts, and a client that records the service's signals."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.contracts.emaid import parse_emaid
from evcc.contracts.store import Contract, ContractStore, Lifecycle
from evcc.hmi.names import BUS_NAME
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiService

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
EMAID_A = parse_emaid("DEABCA00000001", require_check=False).normalized
EMAID_B = parse_emaid("NLXYZB00000002", require_check=False).normalized


@pytest.fixture
def private_bus() -> Iterator[PrivateBus]:
    with PrivateBus() as bus:
        yield bus


@contextlib.contextmanager
def running(service: HmiService) -> Iterator[asyncio.AbstractEventLoop]:
    """``service`` started on a loop of its own in a thread, so that blocking clients can talk to it; closed on
    exit. The group "evcc" that the policy grants must exist (scripts/setup.d/50-service.sh creates it)."""
    try:
        grp.getgrnam("evcc")
    except KeyError:
        pytest.fail('group "evcc" missing: scripts/setup creates it (scripts/setup.d/50-service.sh)')
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(service.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield loop
    finally:
        asyncio.run_coroutine_threadsafe(service.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def installed(contract_id: str, emaid: str, priority: int) -> Contract:
    return Contract(contract_id, emaid, priority, Lifecycle.INSTALLED, chain=(b"der",), key_label=f"contract/{contract_id}",
                    not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=365))


@pytest.fixture
def store(tmp_path: Path) -> ContractStore:
    s = ContractStore(tmp_path / "contracts")
    s.add(installed("aaaa", EMAID_A, 2))
    s.add(installed("bbbb", EMAID_B, 1))
    return s


@dataclass
class Client:
    bus: MessageBus
    signals: list[Message] = field(default_factory=list)

    @classmethod
    async def connect(cls, address: str) -> Client:
        bus = await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()
        client = cls(bus)
        await client.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                          [f"type='signal',sender='{BUS_NAME}'"])

        def record(msg: Message) -> bool:
            if msg.message_type is MessageType.SIGNAL:
                client.signals.append(msg)
            return False

        bus.add_message_handler(record)
        return client

    async def call(self, dest: str, path: str, interface: str, member: str, signature: str = "",
                   body: list[object] | None = None, unix_fds: list[int] | None = None) -> Message:
        return await self.bus.call(Message(destination=dest, path=path, interface=interface, member=member,
                                           signature=signature, body=body or [], unix_fds=unix_fds or []))

    async def wait_for(self, predicate: object, timeout: float = 2.0) -> list[Message]:
        assert callable(predicate)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            found = [m for m in self.signals if predicate(m)]
            if found:
                return found
            assert loop.time() < end, [(m.member, m.body) for m in self.signals]
            await asyncio.sleep(0.005)
