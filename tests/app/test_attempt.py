"""evcc.app.attempt closes the Plug & Charge key-store worker without holding the daemon's loop (project rule:
nothing may block the event loop), and a cancelled attempt ends only after its running token call, so the next
attempt's calls on the same key store never overlap it.

Real parts: the daemon's composition (evcc.app.compose.build from the demo world's TOML: soft key store with the
contracts, contract store, the -2 Plug & Charge machine), the in-process demo link (evcc.demo.inprocess: SECC
simulator on the loopback, SLAC and SDP skipped), the BMS bridge on python-can's virtual bus fed by the bench BMS.
The key store's first C_Sign (AuthorizationReq's GenChallenge) is held on the worker until the test releases it
(tests/hsm/held_store.py): a slow token, the signature itself is the real store's."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import cast

from evcc.app.attempt import Attempt, Outcome
from evcc.app.cancel import cancel_and_wait
from evcc.app.compose import build
from evcc.app.config import load_config
from evcc.demo.inprocess import DEMO_MAC, loopback_attempt
from evcc.demo.world import World
from evcc.hsm.keystore import KeyStore
from evcc.session.battery_model import BatteryModel
from tests.hsm.held_store import HOLD_GUARD_S, HeldSign

EARLY_START_WAIT_S = 0.5  # how long the next attempt gets to sign too early (it must not; no timed assertion)
READY_GUARD_S = 60.0  # a hang guard for fresh BMS data, not a timed assertion


async def _until(event: threading.Event, timeout: float = HOLD_GUARD_S) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)


def _no_overlap(events: list[str]) -> bool:
    kinds = [e.split(":")[0] for e in events]
    return len(kinds) % 2 == 0 and all(k == ("sign start" if i % 2 == 0 else "sign end") for i, k in enumerate(kinds))


def test_cancelled_pnc_attempt_frees_the_loop_and_the_next_attempt_waits_for_its_token_call(tmp_path: Path) -> None:
    world = World(tmp_path, protocol="iso2", local=True)
    world.create()
    parts = build(load_config(world.config("unix:path=/nonexistent/bus")))  # D-Bus is not started here
    parts.mac = DEMO_MAC
    held = HeldSign(parts.keystore)
    parts.keystore = cast(KeyStore, held)
    attempt_class = loopback_attempt(world)
    seen: list[str] = []
    states: list[tuple[str, str]] = []

    def attempt() -> Attempt:
        return attempt_class(parts, lambda _phase: None, lambda protocol, state: states.append((protocol, state)))

    async def main() -> Outcome:
        await world.start()
        bridge = parts.open_bridge(lambda _event: None)
        bridge_task = asyncio.create_task(bridge.run())
        world.plug(BatteryModel(soc=40.0, target_soc=80.0))
        try:
            async with asyncio.timeout(READY_GUARD_S):
                while not bridge.core.is_fresh():  # the daemon starts an attempt on fresh BMS data
                    await asyncio.sleep(0.01)
            first = asyncio.create_task(attempt().run(), name="session A")
            assert await _until(held.started), f"no C_Sign in the first attempt; states: {states}"

            async def daemon() -> Outcome:  # the daemon's stop path (cancel_and_wait), then its next attempt
                await cancel_and_wait(first)
                seen.append(f"first attempt ended after {held.events()}")
                second = asyncio.create_task(attempt().run(), name="session B")
                assert await _until(held.later), f"no C_Sign in the second attempt; states: {states}"
                await cancel_and_wait(second)
                return Outcome(None, "cut", "session")

            d = asyncio.create_task(daemon())
            for i in range(3):  # the loop serves other work while the cancelled attempt's C_Sign runs
                await asyncio.sleep(0)
                seen.append(f"other work {i}; first done: {first.done()}; {held.events()}")
            early = await _until(held.later, EARLY_START_WAIT_S)  # the next attempt gets every chance to sign early
            seen.append(f"next attempt signed early: {early}")
            held.release.set()
            return await d
        finally:
            await cancel_and_wait(bridge_task)
            await world.stop()

    try:
        asyncio.run(main())
    finally:
        parts.close()
    events = held.events()
    assert seen[:3] == [f"other work {i}; first done: False; {events[:1]}" for i in range(3)], seen
    assert seen[3:] == ["next attempt signed early: False", f"first attempt ended after {events[:2]}"], seen
    assert events[0].startswith("sign start") and events[1].startswith("sign end") and len(events) >= 4, events
    assert _no_overlap(events), events  # every C_Sign of the second attempt after the first's ended
    assert "not released" not in events
