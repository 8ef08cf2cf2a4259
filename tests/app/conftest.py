"""Fixtures of the daemon tests: the shared end-to-end bench (netns, simulators, token, private bus) and a
D-Bus client that runs on the bench's peer loop."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, SESSION_PATH
from evcc.hmi.private_bus import PrivateBus
from evcc.hsm.softhsm import init_softhsm, softhsm_available

from evcc.session import tls_openssl

from .harness import Bench, PeerLoop
from .powerline import PowerlineLink


@pytest.fixture(scope="module")
def private_bus() -> Iterator[PrivateBus]:
    with PrivateBus() as bus:
        yield bus


def _bench(tmp_path_factory: pytest.TempPathFactory, private_bus: PrivateBus, **options: Any) -> Iterator[Bench]:
    if os.geteuid() != 0:
        pytest.fail("the daemon end-to-end tests need root (network namespaces)")
    if not softhsm_available():
        pytest.fail("SoftHSM2 missing: scripts/setup installs the Debian package softhsm2")
    tmp = tmp_path_factory.mktemp("e2e")
    b = Bench(tmp, init_softhsm(tmp_path_factory.mktemp("softhsm")), private_bus.address, **options)
    try:
        b.create()
        yield b
    finally:
        b.close()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert b.link.prefix not in left, left


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, private_bus: PrivateBus) -> Iterator[Bench]:
    """ISO 15118-2 SECC on a direct veth link (no SLAC)."""
    yield from _bench(tmp_path_factory, private_bus)


@pytest.fixture(scope="module")
def slac_bench(tmp_path_factory: pytest.TempPathFactory, private_bus: PrivateBus) -> Iterator[Bench]:
    """ISO 15118-2 SECC behind the simulated powerline: the daemon runs SLAC first."""
    yield from _bench(tmp_path_factory, private_bus, link=PowerlineLink())


@pytest.fixture(scope="module")
def bench20(tmp_path_factory: pytest.TempPathFactory, private_bus: PrivateBus) -> Iterator[Bench]:
    """ISO 15118-20 DC SECC with Plug & Charge over TLS 1.3 mutual (direct veth link)."""
    if not tls_openssl.pkcs11_provider_installed():
        pytest.skip("OpenSSL pkcs11-provider not installed (scripts/setup.d/35-tls.sh; as the TLS 1.3 tests)")
    yield from _bench(tmp_path_factory, private_bus, iso20=True)


@dataclass
class DbusClient:
    """Calls and signals of the HMI side, on the bench's loop (sync API for the tests)."""

    peer: PeerLoop
    bus: MessageBus
    signals: list[Message]

    @classmethod
    def connect(cls, peer: PeerLoop, address: str) -> DbusClient:
        signals: list[Message] = []

        async def connect() -> MessageBus:
            bus = await MessageBus(bus_address=address).connect()
            await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                   interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                                   body=[f"type='signal',sender='{BUS_NAME}'"]))
            bus.add_message_handler(lambda m: signals.append(m) if m.message_type is MessageType.SIGNAL else None)
            return bus

        return cls(peer, peer.call(connect()), signals)

    def call(self, path: str, interface: str, member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        reply = self.peer.call(self.bus.call(Message(destination=BUS_NAME, path=path, interface=interface,
                                                     member=member, signature=signature, body=body or [])))
        assert reply is not None
        assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
        return reply.body

    def contracts(self) -> list[tuple[str, str, int]]:
        """(object path, eMAID, priority) of every contract, highest priority first."""
        (objects,) = self.call(ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        out = [(path, ifaces[CONTRACT_INTERFACE]["EMAID"].value, ifaces[CONTRACT_INTERFACE]["Priority"].value)
               for path, ifaces in objects.items() if CONTRACT_INTERFACE in ifaces]
        return sorted(out, key=lambda c: -c[2])

    def set_priorities(self, paths: list[str]) -> None:
        self.call(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [paths])

    def session(self, name: str) -> Any:
        (value,) = self.call(SESSION_PATH, "org.freedesktop.DBus.Properties", "Get", "ss", [SESSION_INTERFACE, name])
        return value.value

    def close(self) -> None:
        self.peer.do(self.bus.disconnect)


@pytest.fixture
def dbus_client(bench: Bench) -> Iterator[DbusClient]:
    client = DbusClient.connect(bench.peer, bench.bus_address)
    yield client
    client.close()


def state_changes(client: DbusClient) -> list[tuple[int, int, str]]:
    """(old, new, reason) of every Session.StateChanged signal the client received."""
    return [(int(m.body[0]), int(m.body[1]), str(m.body[2])) for m in list(client.signals)
            if m.member == "StateChanged" and m.interface == SESSION_INTERFACE]
