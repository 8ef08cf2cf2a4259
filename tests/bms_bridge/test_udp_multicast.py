"""The bridge and the bench battery as two asyncio nodes on real sockets: python-can udp_multicast inside a
network namespace (BMS.md "testing without a CAN kernel module"), with the real clock and short deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import can

from evcc.bms_bridge.aio import BmsBridge, CanNodeRunner
from evcc.bms_bridge.battery_bms import BenchBms, BmsFault
from evcc.bms_bridge.bus import open_bus
from evcc.bms_bridge.codec import load_codec
from evcc.bms_bridge.config import BridgeConfig, CanBusConfig
from evcc.bms_bridge.state import BridgeEvent, SessionStage, SessionStatus, StopReason, StopRequested
from evcc.session.battery_model import BatteryModel

from .conftest import GROUP, in_netns

BUS = CanBusConfig("udp_multicast", GROUP)


@dataclass
class Bench:
    bridge: BmsBridge
    battery: BenchBms
    battery_runner: CanNodeRunner
    events: list[tuple[float, BridgeEvent]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def bench(netns: str, freshness: float) -> AsyncIterator[Bench]:
    events: list[tuple[float, BridgeEvent]] = []
    with in_netns(netns):
        bridge = BmsBridge.open(BridgeConfig(bus=BUS, freshness=freshness),
                                on_event=lambda e: events.append((time.monotonic(), e)))
        battery = BenchBms(load_codec(), BatteryModel(soc=50.0))
        battery_runner = CanNodeRunner(open_bus(BUS), battery)
    tasks = [asyncio.create_task(bridge.run()), asyncio.create_task(battery_runner.run())]
    try:
        yield Bench(bridge, battery, battery_runner, events)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bridge.close()
        battery_runner.bus.shutdown()


async def _until(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_bridge_and_battery_exchange_frames_and_close_the_contactors(can_netns: str) -> None:
    async def scenario() -> None:
        async with bench(can_netns, freshness=1.0) as b:
            core, vehicle = b.bridge.core, b.bridge.vehicle
            await _until(lambda: core.is_fresh(), 1.0)
            assert vehicle.dc_status(time.monotonic()).ready and vehicle.dc_status(time.monotonic()).soc == 50
            core.set_session(SessionStatus(stage=SessionStage.CHARGING, contactors_wanted=True))
            vehicle.evse_output(vehicle.battery_voltage(time.monotonic()) + 3.0, 0.0, time.monotonic())
            await _until(lambda: b.battery.contactors_closed, 1.0)
            assert b.battery.evcc_status["EVCC_SessionStage"] == SessionStage.CHARGING
            assert b.events == []

    asyncio.run(scenario())


def test_bms_silence_stops_within_the_deadline_on_the_real_clock(can_netns: str) -> None:
    freshness = 0.3

    async def scenario() -> None:
        async with bench(can_netns, freshness=freshness) as b:
            core = b.bridge.core
            await _until(lambda: core.is_fresh(), 1.0)
            core.set_session(SessionStatus(stage=SessionStage.CHARGING, contactors_wanted=True))
            b.bridge.vehicle.evse_output(b.bridge.vehicle.battery_voltage(time.monotonic()), 0.0, time.monotonic())
            await _until(lambda: b.battery.contactors_closed, 1.0)
            silenced = time.monotonic()
            b.battery.faults.add(BmsFault.SILENCE)
            await _until(lambda: any(isinstance(e, StopRequested) for _, e in b.events), 2.0)
            (at, stop), = [(t, e) for t, e in b.events if isinstance(e, StopRequested)]
            assert stop.reason is StopReason.BMS_TIMEOUT
            # the last frame left at most one cycle before the silence; the deadline runs from it
            assert freshness - 0.1 - 0.02 <= at - silenced <= freshness + 0.3, at - silenced
            await _until(lambda: not b.battery.contactors_closed, 0.5)  # the next EVCC_Status releases them

    asyncio.run(scenario())


def test_garbage_on_the_group_and_unknown_frames_never_stop_the_bridge(can_netns: str) -> None:
    async def scenario() -> None:
        async with bench(can_netns, freshness=0.5) as b:
            with in_netns(can_netns):
                raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                other = open_bus(CanBusConfig("udp_multicast", GROUP, fd=True))
            try:
                await _until(lambda: b.bridge.core.is_fresh(), 1.0)
                for i in range(50):
                    raw.sendto(bytes([i]) * i, (GROUP, 43113))
                    other.send(can.Message(arbitration_id=0x6A0 + i % 8, data=bytes([0xFF] * (i % 9)),
                                           is_extended_id=False))
                    other.send(can.Message(arbitration_id=0x1ABCDE00 + i, data=b"\x00", is_extended_id=True))
                    other.send(can.Message(arbitration_id=0x6A1, data=bytes(range(i % 64)), is_fd=True))
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0.3)
                assert b.bridge.runner.errors.unreadable >= 40
                assert b.bridge.core.counters.rejected_frames > 0
                assert b.bridge.core.is_fresh() and b.bridge.core.stop is None
            finally:
                raw.close()
                other.shutdown()

    asyncio.run(scenario())
