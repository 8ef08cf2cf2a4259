"""What a flood of calls costs the service (issue 15 benchmark "Get latency for a well-behaved client while another
floods"): GetManagedObjects answered from a cached body that is dropped whenever an object or a value changes, and
a well-behaved sender's call gets a turn at once while the next turn waits for a flooding sender's refill
(evcc.hmi.bus_guard.Gatekeeper). Counts and states only; the latencies are in benchmarks/service_bench.py."""

from __future__ import annotations

import asyncio

from dbus_fast import Message, MessageType

from evcc.contracts.store import ContractStore
from evcc.hmi.bus_guard import SENDER_BURST, Gatekeeper
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, SESSION_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService

from .conftest import NOW, Client

OM = "org.freedesktop.DBus.ObjectManager"


async def _managed(client: Client) -> dict[str, dict[str, dict[str, object]]]:
    reply = await client.call(BUS_NAME, ROOT_PATH, OM, "GetManagedObjects")
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    return {path: {iface: {k: v.value for k, v in props.items()} for iface, props in ifaces.items()}
            for path, ifaces in reply.body[0].items()}


def test_get_managed_objects_is_cached_until_a_value_or_an_object_changes(private_bus: PrivateBus,
                                                                          store: ContractStore) -> None:
    async def scenario() -> None:
        service = HmiService(HmiConfig(private_bus.address), store, wall_clock=lambda: NOW)
        await service.start()
        client = await Client.connect(private_bus.address)
        try:
            first = await _managed(client)
            cached = service._managed
            assert cached is not None
            assert await _managed(client) == first and service._managed is cached  # served from the cache
            # the cached body is what dbus-fast itself builds: every object, every property as GetAll gives it
            for path, ifaces in first.items():
                for iface, props in ifaces.items():
                    reply = await client.call(BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [iface])
                    assert {k: v.value for k, v in reply.body[0].items()} == props, (path, iface)
            service.update_session(soc=55.5)
            assert (await _managed(client))[SESSION_PATH][SESSION_INTERFACE]["SoC"] == 55.5
            reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                      [[contract_path("bbbb"), contract_path("aaaa")]])
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            after = await _managed(client)
            priorities = {p: after[p]["org.evcc.Evcc1.Contract"]["Priority"] for p in (contract_path("aaaa"),
                                                                                     contract_path("bbbb"))}
            assert priorities[contract_path("bbbb")] > priorities[contract_path("aaaa")]  # type: ignore[operator]
            reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o",
                                      [contract_path("aaaa")])
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
            assert contract_path("aaaa") not in await _managed(client)
        finally:
            client.bus.disconnect()
            await service.close()

    asyncio.run(scenario())


class _Bus:
    """What the gatekeeper uses of a bus: dispatch (recorded) and the disconnected flag."""

    _disconnected = False

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def _process_message(self, msg: Message) -> None:
        self.dispatched.append(str(msg.sender))


class _Writer:
    def queued_for(self, destination: str) -> int:
        return 0


def _call(sender: str, serial: int) -> Message:
    return Message(destination=BUS_NAME, path=ROOT_PATH, interface=OM, member="GetManagedObjects", serial=serial,
                   sender=sender)


def test_a_polite_sender_is_not_made_to_wait_for_a_flooders_refill() -> None:
    async def scenario() -> None:
        bus = _Bus()
        gate = Gatekeeper(bus, _Writer(), stats=None)  # type: ignore[arg-type]
        for serial in range(1, 4 * SENDER_BURST):  # the flooder's burst and then some (fewer than SENDER_CALLS)
            assert gate(_call(":1.66", serial)) is True
        while not isinstance(gate._turn, asyncio.TimerHandle):  # the flooder's tokens ran out: the next turn
            await asyncio.sleep(0)                                # waits for its refill
        before = len(bus.dispatched)
        assert SENDER_BURST <= before < 4 * SENDER_BURST - 1
        assert gate(_call(":1.7", 1)) is True
        assert not isinstance(gate._turn, asyncio.TimerHandle)  # the polite call's turn comes at once
        await asyncio.sleep(0)
        assert ":1.7" in bus.dispatched[before:]

    asyncio.run(scenario())
