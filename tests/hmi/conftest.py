"""A private dbus-daemon with system-bus rules and the real policy file (evcc.hmi.private_bus), a contract store
with two contracts, and a client that records the service's signals."""

from __future__ import annotations

import asyncio
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

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
EMAID_A = parse_emaid("DEABCA00000001", require_check=False).normalized
EMAID_B = parse_emaid("NLXYZB00000002", require_check=False).normalized


@pytest.fixture
def private_bus() -> Iterator[PrivateBus]:
    with PrivateBus() as bus:
        yield bus


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
