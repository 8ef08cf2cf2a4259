"""The D-Bus service on a private dbus-daemon: contracts through ObjectManager, priorities, errors, session
properties and signals (SERVICE.md "D-Bus")."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from dbus_fast import Message, MessageType

from evcc.contracts.emaid import parse_emaid
from evcc.contracts.errors import MalformedCertificate
from evcc.contracts.store import Contract, ContractStore
from evcc.hmi.names import (
    BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, SESSION_PATH, SessionState,
    contract_path,
)
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService, Importer

from .conftest import EMAID_A, EMAID_B, NOW, Client, installed

OM = "org.freedesktop.DBus.ObjectManager"
EMAID_C = parse_emaid("NL-XYZ-C00000003", require_check=False).display
PROPS = "org.freedesktop.DBus.Properties"


@asynccontextmanager
async def running(bus: PrivateBus, store: ContractStore, importer: Importer | None = None,
                  delete_key: Callable[[str], None] | None = None,
                  throttle: float = 0.1) -> AsyncIterator[tuple[HmiService, Client]]:
    service = HmiService(HmiConfig(bus.address, throttle_interval=throttle), store, importer=importer,
                         delete_key=delete_key, wall_clock=lambda: NOW)
    await service.start()
    client = await Client.connect(bus.address)
    try:
        yield service, client
    finally:
        client.bus.disconnect()
        service.stop()


async def _managed(client: Client) -> dict[str, dict[str, dict[str, object]]]:
    reply = await client.call(BUS_NAME, ROOT_PATH, OM, "GetManagedObjects")
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    return {path: {iface: {k: v.value for k, v in props.items()} for iface, props in ifaces.items()}
            for path, ifaces in reply.body[0].items()}


def _contracts(managed: dict[str, dict[str, dict[str, object]]]) -> dict[str, dict[str, object]]:
    return {p: i[CONTRACT_INTERFACE] for p, i in managed.items() if CONTRACT_INTERFACE in i}


def _error(reply: Message) -> str:
    assert reply.message_type is MessageType.ERROR, reply.body
    return str(reply.error_name)


def test_a_client_lists_two_contracts_and_swaps_their_priority(private_bus: PrivateBus, store: ContractStore) -> None:
    async def scenario() -> None:
        async with running(private_bus, store) as (_service, client):
            contracts = _contracts(await _managed(client))
            assert set(contracts) == {contract_path("aaaa"), contract_path("bbbb")}
            a = contracts[contract_path("aaaa")]
            assert (a["EMAID"], a["Provider"], a["Priority"], a["State"]) == (EMAID_A, "DE-ABC", 2, 1)
            assert a["NotAfter"] == int(installed("aaaa", EMAID_A, 0).not_after.timestamp())  # type: ignore[union-attr]
            reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                      [[contract_path("bbbb"), contract_path("aaaa")]])
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            after = _contracts(await _managed(client))
            assert int(after[contract_path("bbbb")]["Priority"]) > int(after[contract_path("aaaa")]["Priority"])  # type: ignore[call-overload]
            changed = await client.wait_for(lambda m: m.member == "PropertiesChanged" and m.path == contract_path("bbbb"))
            assert changed[0].body[0] == CONTRACT_INTERFACE and "Priority" in changed[0].body[1]
        reloaded = ContractStore(store.directory)
        assert [c.contract_id for c in reloaded.list()] == ["bbbb", "aaaa"]

    asyncio.run(scenario())


def test_select_contract_puts_it_first_and_keeps_the_others_in_order(private_bus: PrivateBus,
                                                                     store: ContractStore) -> None:
    store.add(installed("cccc", EMAID_A, 0))

    async def scenario() -> None:
        async with running(private_bus, store) as (_service, client):
            reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SelectContract", "o",
                                      [contract_path("cccc")])
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        assert [c.contract_id for c in ContractStore(store.directory).list()] == ["cccc", "aaaa", "bbbb"]

    asyncio.run(scenario())


def test_errors_carry_the_service_error_names(private_bus: PrivateBus, store: ContractStore) -> None:
    async def scenario() -> None:
        async with running(private_bus, store) as (_service, client):
            half = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                     [[contract_path("aaaa")]])
            assert _error(half) == "org.evcc.Evcc1.Error.InvalidArguments"
            assert "missing ['bbbb']" in str(half.body[0])
            twice = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                      [[contract_path("aaaa"), contract_path("aaaa")]])
            assert _error(twice) == "org.evcc.Evcc1.Error.InvalidArguments"
            unknown = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SelectContract", "o",
                                        [contract_path("nope")])
            assert _error(unknown) == "org.evcc.Evcc1.Error.UnknownContract"
            bad = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si",
                                    ["DE-ABC-123", 5])
            assert _error(bad) == "org.evcc.Evcc1.Error.InvalidArguments"
            r, w = os.pipe()
            os.close(w)
            no_importer = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi",
                                            [0, 0, 1], unix_fds=[r])
            os.close(r)
            assert _error(no_importer) == "org.evcc.Evcc1.Error.NotSupported"
        assert [c.priority for c in ContractStore(store.directory).list()] == [2, 1]

    asyncio.run(scenario())


def test_request_installation_and_remove_announce_the_objects(private_bus: PrivateBus, store: ContractStore) -> None:
    deleted: list[str] = []

    async def scenario() -> None:
        async with running(private_bus, store, delete_key=deleted.append) as (_service, client):
            reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si",
                                      [EMAID_C, 7])
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            path = reply.body[0]
            added = await client.wait_for(lambda m: m.member == "InterfacesAdded" and m.body[0] == path)
            props = {k: v.value for k, v in added[0].body[1][CONTRACT_INTERFACE].items()}
            assert (props["Priority"], props["State"], props["NotAfter"]) == (7, 6, 0)  # PendingInstallation
            reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o",
                                      [contract_path("aaaa")])
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            await client.wait_for(lambda m: m.member == "InterfacesRemoved" and m.body[0] == contract_path("aaaa"))
            assert contract_path("aaaa") not in await _managed(client)
        assert deleted == ["contract/aaaa"]
        ids = {c.contract_id for c in ContractStore(store.directory).list()}
        assert "aaaa" not in ids and len(ids) == 2

    asyncio.run(scenario())


def test_import_reads_the_files_the_client_opened(private_bus: PrivateBus, store: ContractStore,
                                                  tmp_path: Path) -> None:
    seen: list[tuple[bytes, bytes, int]] = []

    def importer(chain: Path, key: Path, priority: int) -> Contract:
        seen.append((chain.read_bytes(), key.read_bytes(), priority))
        if b"BAD" in seen[-1][0]:
            raise MalformedCertificate(f"{chain}: not a PEM certificate chain")
        return store.add(installed("dddd", EMAID_B, priority))

    chain_file, key_file = tmp_path / "chain.pem", tmp_path / "key.pem"
    key_file.write_bytes(b"-----KEY-----")

    async def scenario() -> None:
        async with running(private_bus, store, importer=importer) as (_service, client):
            for content in (b"BAD", b"-----CHAIN-----"):
                chain_file.write_bytes(content)
                with chain_file.open("rb") as chain, key_file.open("rb") as key:
                    reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi",
                                              [0, 1, 3], unix_fds=[chain.fileno(), key.fileno()])
                if content == b"BAD":
                    assert _error(reply) == "org.evcc.Evcc1.Error.ImportFailed"
                    assert str(reply.body[0]) == "MalformedCertificate: chain: not a PEM certificate chain"
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            assert reply.body[0] == contract_path("dddd")
            assert contract_path("dddd") in await _managed(client)
        assert seen[-1] == (b"-----CHAIN-----", b"-----KEY-----", 3)

    asyncio.run(scenario())


def test_session_state_change_signal_and_throttled_properties(private_bus: PrivateBus, store: ContractStore) -> None:
    async def scenario() -> None:
        async with running(private_bus, store, throttle=0.2) as (service, client):
            service.update_session(protocol="DIN70121", soc=40.0)
            service.set_state(SessionState.CHARGING, "CurrentDemand loop")
            changed = await client.wait_for(lambda m: m.member == "StateChanged")
            assert changed[0].path == SESSION_PATH and changed[0].body == [1, 8, "CurrentDemand loop"]
            await client.wait_for(lambda m: m.member == "PropertiesChanged" and m.path == SESSION_PATH
                                  and m.body[1].get("State") is not None and m.body[1]["State"].value == 8)
            client.signals.clear()
            for i in range(50):
                service.update_session(soc=40.0 + i * 0.1, power=50_000.0 + i)
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.45)
            updates = [m for m in client.signals if m.member == "PropertiesChanged" and m.path == SESSION_PATH]
            assert 1 <= len(updates) <= 3, len(updates)  # ~0.1 s of updates at one per 0.2 s
            assert updates[-1].body[1]["SoC"].value == 44.9 and updates[-1].body[1]["Power"].value == 50_049.0
            reply = await client.call(BUS_NAME, SESSION_PATH, PROPS, "GetAll", "s", [SESSION_INTERFACE])
            values = {k: v.value for k, v in reply.body[0].items()}
            assert (values["State"], values["Protocol"], values["SoC"], values["Reason"]) == \
                (8, "DIN70121", 44.9, "CurrentDemand loop")

    asyncio.run(scenario())


def test_a_second_instance_cannot_take_the_name(private_bus: PrivateBus, store: ContractStore) -> None:
    from evcc.errors import PlatformError

    async def scenario() -> None:
        async with running(private_bus, store):
            second = HmiService(HmiConfig(private_bus.address), store)
            try:
                await second.start()
            except PlatformError as exc:
                assert "owned by another process" in str(exc)
            else:
                raise AssertionError("the second instance owned the name")
            finally:
                second.stop()

    asyncio.run(scenario())


def test_set_priorities_is_one_atomic_store_write(store: ContractStore) -> None:
    """The reordering the Manager applies is one write: the file holds the old or the new order, never a mix."""
    writes: list[bytes] = []
    original = store._commit

    def counting(contracts: dict[str, object]) -> None:
        original(contracts)  # type: ignore[arg-type]
        writes.append((store.directory / "contracts.json").read_bytes())

    store._commit = counting  # type: ignore[method-assign,assignment]
    ids = [c.contract_id for c in store.list()]
    store.set_priorities({ids[0]: 1, ids[1]: 2})
    assert len(writes) == 1 and [c.contract_id for c in ContractStore(store.directory).list()] == ids[::-1]
