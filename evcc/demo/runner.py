"""The scenario runner of ``evcc demo`` (asyncio adapter): performs the steps of a :class:`Scenario` against the
simulated world and, like an HMI, over D-Bus (Properties.Get, ObjectManager, Manager methods), cycling until
cancelled. A step that does not come true (a state not reached in time, a refused call) is reported and the cycle
goes on: the demo never stops because of what the service or a client did.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.demo.scenario import Scenario, Step
from evcc.demo.world import World
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, \
    SESSION_PATH, SessionState
from evcc.session.battery_model import BatteryModel

LOG = logging.getLogger(__name__)
POLL_S = 0.1
MAX_CHANGES = 1000
FAIL_PAUSE_S = 1.0


class StepFailed(Exception):
    """A step did not come true; the runner reports it and goes on."""


class Runner:
    def __init__(self, scenario: Scenario, world: World, bus: MessageBus, speed: float,
                 say: Callable[[str], None]) -> None:
        self.scenario, self.world, self.bus, self.speed, self.say = scenario, world, bus, speed, say
        self.cycles = 0
        self.failed_steps = 0
        self.changes: list[SessionState] = []  # new states of StateChanged, as received
        self._mark = 0  # index into changes at the last plug/unplug: wait_state looks from there
        self._shown = 0.0

    async def subscribe(self) -> None:
        """Receive Session.StateChanged (wait_state acts on the changes since the last plug-in or unplug)."""
        await self.bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                    interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                                    body=[f"type='signal',interface='{SESSION_INTERFACE}',member='StateChanged'"]))
        self.bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> None:
        if msg.message_type is MessageType.SIGNAL and msg.member == "StateChanged" and len(msg.body) == 3:
            try:
                self.changes.append(SessionState(int(msg.body[1])))
            except ValueError:
                LOG.warning("StateChanged with an unknown state %r", msg.body[1])
            if len(self.changes) > MAX_CHANGES:  # the demo runs for days: keep the recent ones
                drop = len(self.changes) - MAX_CHANGES // 2
                del self.changes[:drop]
                self._mark = max(0, self._mark - drop)

    async def run(self, cycles: int = 0) -> None:
        """Cycle the steps (``cycles`` times; 0 = until cancelled)."""
        while cycles == 0 or self.cycles < cycles:
            self.cycles += 1
            self.say(f"--- cycle {self.cycles} of {self.scenario.name!r} ---")
            for i, step in enumerate(self.scenario.steps, start=1):
                try:
                    if step.action in ("plug", "unplug"):
                        self._mark = len(self.changes)
                    await self.step(step)
                except StepFailed as exc:
                    self.failed_steps += 1
                    self.say(f"step {i} ({step.action}) did not come true: {exc}")
                    await asyncio.sleep(FAIL_PAUSE_S)  # a service that is gone is not asked in a tight loop

    # --- D-Bus, as an HMI uses it ---------------------------------------------------------------------------
    async def call(self, path: str, interface: str, member: str, signature: str = "", body: list[Any] | None = None,
                   unix_fds: list[int] | None = None) -> list[Any]:
        reply = await self.bus.call(Message(destination=BUS_NAME, path=path, interface=interface, member=member,
                                            signature=signature, body=body or [], unix_fds=unix_fds or []))
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            name = reply.error_name if reply is not None else "no reply"
            text = reply.body[0] if reply is not None and reply.body else ""
            raise StepFailed(f"{interface}.{member}: {name}: {text}")
        return list(reply.body)

    async def state(self) -> SessionState:
        (value,) = await self.call(SESSION_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                                   [SESSION_INTERFACE, "State"])
        return SessionState(int(value.value))

    async def contracts(self) -> dict[str, tuple[str, int, int]]:
        """eMAID -> (object path, priority, state) from ObjectManager.GetManagedObjects."""
        (objects,) = await self.call(ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        out = {}
        for path, ifaces in objects.items():
            c = ifaces.get(CONTRACT_INTERFACE)
            if c is not None:
                out[c["EMAID"].value] = (path, c["Priority"].value, c["State"].value)
        return out

    async def path_of(self, name: str) -> str:
        emaid = self.world.emaids[name]
        found = (await self.contracts()).get(emaid)
        if found is None:
            raise StepFailed(f"{name} ({emaid}) is not among the service's contracts")
        return found[0]

    async def show_contracts(self) -> None:
        names = {e: n for n, e in self.world.emaids.items()}
        listed = sorted((await self.contracts()).items(), key=lambda kv: -kv[1][1])
        self.say("contracts (by priority): " + ", ".join(
            f"{names.get(e, e)} prio {p} state {s}" for e, (_, p, s) in listed))

    # --- steps ----------------------------------------------------------------------------------------------
    async def step(self, s: Step) -> None:
        action = s.action
        if action == "say":
            self.say(s.text)
        elif action == "plug":
            self.world.plug(BatteryModel(capacity_wh=s.capacity_wh, soc=s.soc, target_soc=s.target_soc,
                                         max_power=s.max_power_w))
            self.say(f"plug-in: battery at {s.soc:g} %, target {s.target_soc:g} %"
                     + (" (SLAC over the simulated powerline first)" if self.world.slac else ""))
        elif action == "unplug":
            self.world.unplug()
            self._report_charger()
            self.say("unplugged")
        elif action == "wait":
            await self._wait(s.seconds / self.speed)
        elif action == "wait_state":
            await self._wait_state(s)
        elif action == "select":
            await self.call(ROOT_PATH, MANAGER_INTERFACE, "SelectContract", "o", [await self.path_of(s.contract)])
            self.say(f"SelectContract({s.contract}): takes effect at the next plug-in")
            await self.show_contracts()
        elif action == "set_priorities":
            paths = [await self.path_of(n) for n in s.order]
            await self.call(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [paths])
            self.say(f"SetPriorities({', '.join(s.order)})")
            await self.show_contracts()
        elif action == "import":
            await self._import(s)
        elif action == "remove":
            await self.show_contracts()
            await self.call(ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o", [await self.path_of(s.contract)])
            self.say(f"RemoveContract({s.contract})")
        elif action == "charger":
            self.world.charger(fault=s.fault, refuse=s.refuse)
            refusal = "AuthorizationRes WARNING_eMSPUnknown: the EV tries its next contract" if self.world.iso20 \
                else "PaymentDetailsRes FAILED_CertificateRevoked: the -2 session ends"
            self.say("charger for the next sessions: " + (f"fault {self.world.fault}" if s.fault else "works") +
                     (f", refuses {', '.join(s.refuse)} ({refusal})" if s.refuse else ""))
        elif action == "ev_stop":
            self.world.ev_stop()
            self.say("the EV asks to stop (BMS stop request on CAN)")
        elif action == "request_installation":
            emaid = self.world.emaids["contract_4"]
            self.world.install_emaid = emaid  # what the charger's provisioning backend will issue
            (path,) = await self.call(ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si", [emaid, s.priority])
            self.say(f"RequestInstallation(contract_4 = {emaid}, priority {s.priority}) -> {path}")
            await self.show_contracts()
        elif action == "ev_pause":
            self.world.ev_pause(True)
            self.say("the EV asks to pause (BMS_PauseRequest on CAN): SessionStop Pause")
        elif action == "ev_resume":
            self.world.ev_pause(False)
            self._report_charger()
            self.say("the EV asks to resume (BMS_PauseRequest cleared): the paused session continues")

    async def _wait_state(self, s: Step) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + s.timeout_s
        while True:
            state = await self.state()
            reached = next((c for c in self.changes[self._mark:] if c in s.states), None)
            if reached is not None:
                self._mark = self.changes.index(reached, self._mark) + 1
                self.say(f"Session.State -> {reached.name.title()} (now {state.name.title()})")
                return
            if state is SessionState.CHARGING and loop.time() - self._shown >= 2.0:
                self._shown = loop.time()
                await self._show_values()
            if loop.time() > end:
                raise StepFailed(f"Session.State still {state.name.title()} after {s.timeout_s:g} s "
                                 f"(waited for {', '.join(x.name.title() for x in s.states)})")
            await asyncio.sleep(POLL_S)

    async def _wait(self, seconds: float) -> None:
        """Sleep, showing the live values every 2 s while charging."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                if await self.state() is SessionState.CHARGING and loop.time() - self._shown >= 2.0:
                    self._shown = loop.time()
                    await self._show_values()
            except StepFailed:
                pass  # the values are a courtesy; a wait does not fail
            await asyncio.sleep(min(POLL_S, left))

    async def _show_values(self) -> None:
        values = {}
        for name in ("SoC", "Power", "Energy"):
            (v,) = await self.call(SESSION_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                                   [SESSION_INTERFACE, name])
            values[name] = float(v.value)
        (errors,) = await self.call(SESSION_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                                    [SESSION_INTERFACE, "Errors"])
        self.say(f"charging: SoC {values['SoC']:.1f} %, Power {values['Power'] / 1000:.1f} kW, "
                 f"Energy {values['Energy']:.1f} Wh, Errors {list(errors.value) or 'none'}")

    async def _import(self, s: Step) -> None:
        chain, key = self.world.contract_files(s.contract)
        fds = [os.open(chain, os.O_RDONLY), os.open(key, os.O_RDONLY)]
        try:
            (path,) = await self.call(ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi", [0, 1, s.priority],
                                      unix_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)
        self.say(f"ImportContract({s.contract}, priority {s.priority}) -> {path}")
        await self.show_contracts()

    def _report_charger(self) -> None:
        if not self.world.sessions:
            return
        last = self.world.sessions[-1]
        names = {e: n for n, e in self.world.emaids.items()}
        seen = names.get(last.emaid or "", last.emaid or "none")
        refused = f"; refused: {', '.join(last.pnc.refusals)}" if last.pnc.refusals else ""
        self.say(f"the charger's last session: contract {seen}{refused}" + (" (faulty charger)" if last.faulty else "")
                 + (" (paused)" if last.paused else "") + (" (resumed session)" if last.resumed else ""))
        if len(self.world.sessions) > 50:  # the demo runs for days: keep the recent ones
            del self.world.sessions[:-10]
