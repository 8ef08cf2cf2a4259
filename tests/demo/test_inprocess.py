"""`evcc demo` in process (issue 18 item 1: "in network namespaces when root, in process otherwise, saying which"):
the daemon's own composition (evcc.app.compose.build + evcc.app.daemon.Daemon) inside the demo process, SLAC and SDP
skipped through the demo-only link seam (evcc.demo.inprocess), the SECC simulator on the loopback, the bench BMS on
python-can's virtual bus. Forced with --in-process (the tests run as root); the choice without root is covered by
running the CLI with geteuid reporting a user id. An HMI on the private bus sees live Session State, SoC and Power,
and its SetPriorities decides the contract of the next plug-in; SIGTERM and Ctrl-C end the demo with status 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, \
    SESSION_PATH

from .conftest import LOOP, ROOT, Demo

ISO20_LOOP = Path(__file__).resolve().parent / "inprocess_iso20.toml"
CHARGER_LINE = re.compile(r"the charger's last session: contract (\w+)")


def charger_contracts(demo: Demo) -> list[str]:
    return [m.group(1) for line in list(demo.lines) if (m := CHARGER_LINE.search(line))]


async def until(predicate: Any, what: str, demo: Demo, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if demo.proc.poll() is not None or time.monotonic() > end:
            pytest.fail(f"{what} did not happen:\n{demo.output()[-4000:]}")
        await asyncio.sleep(0.1)


def test_in_process_demo_serves_live_session_values_and_priorities_take_effect() -> None:
    demo = Demo.start("--in-process", "--scenario", str(ISO20_LOOP))
    seen: list[tuple[str, Any]] = []

    async def hmi() -> tuple[list[tuple[str, str, int]], int]:
        bus = await MessageBus(bus_address=demo.address, negotiate_unix_fd=True).connect()
        try:
            def on_message(msg: Message) -> None:
                if msg.member == "PropertiesChanged" and msg.path == SESSION_PATH and msg.body[0] == SESSION_INTERFACE:
                    seen.extend((k, v.value) for k, v in msg.body[1].items())
            bus.add_message_handler(on_message)
            await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                   interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                                   body=[f"type='signal',sender='{BUS_NAME}',path='{SESSION_PATH}'"]))
            await until(lambda: len(charger_contracts(demo)) >= 1, "a first session", demo)
            reply = await bus.call(Message(destination=BUS_NAME, path=ROOT_PATH,
                                           interface="org.freedesktop.DBus.ObjectManager", member="GetManagedObjects"))
            assert reply is not None and reply.message_type is MessageType.METHOD_RETURN
            listed = sorted(((p, i[CONTRACT_INTERFACE]["EMAID"].value, i[CONTRACT_INTERFACE]["Priority"].value)
                             for p, i in reply.body[0].items() if CONTRACT_INTERFACE in i), key=lambda c: -c[2])
            # the HMI puts the lower-priority contract first; during a session the service may refuse: retry
            order = [p for p, _, _ in reversed(listed)]
            end = time.monotonic() + 60
            while True:
                reply = await bus.call(Message(destination=BUS_NAME, path=ROOT_PATH, interface=MANAGER_INTERFACE,
                                               member="SetPriorities", signature="ao", body=[order]))
                assert reply is not None
                if reply.message_type is MessageType.METHOD_RETURN:
                    break
                assert reply.error_name is not None and reply.error_name.startswith("org.evcc.Evcc1.Error."), \
                    (reply.error_name, reply.body)
                assert time.monotonic() < end, reply.body
                await asyncio.sleep(0.2)
            after_call = len(charger_contracts(demo))
            # a session that began before the call may end after it: the second one after it decides
            await until(lambda: len(charger_contracts(demo)) >= after_call + 2, "two sessions after SetPriorities",
                        demo)
            return listed, after_call
        finally:
            bus.disconnect()

    try:
        listed, after_call = asyncio.run(hmi())
    finally:
        status = demo.stop(signal.SIGTERM)
    out = demo.output()
    print(out[-4000:])
    assert status == 0, out
    assert "in-process mode: the daemon's own composition" in out and "SLAC and SDP are skipped" in out
    assert "ISO 15118-20 DC SECC over TLS 1.3 mutual" in out and "served by the daemon's code in this process" in out
    assert "network namespaces" not in out
    assert "evcc demo: stopped" in out and "Traceback" not in out
    names = charger_contracts(demo)
    assert len(listed) == 2 and listed[0][2] > listed[1][2], listed
    assert names[0] == "contract_1"  # the world's prestored priorities: contract_1 2, contract_2 1
    assert names[after_call + 1] == "contract_2", names  # SetPriorities took effect at the next plug-in
    states = [v for k, v in seen if k == "State"]
    assert states and len(set(states)) >= 3, states  # Setup, Charging, Stopped at least
    socs = [v for k, v in seen if k == "SoC"]
    powers = [v for k, v in seen if k == "Power"]
    energies = [v for k, v in seen if k == "Energy"]
    assert len(set(socs)) >= 2 and max(socs) > 40 and max(powers) > 0 and max(energies) > 0, (socs, powers, energies)


def test_without_root_the_demo_runs_in_process_and_ctrl_c_ends_it() -> None:
    """The CLI's choice: geteuid() != 0 -> in process, said on the first line; SIGINT while charging -> status 0."""
    code = ("import os, runpy, sys; os.geteuid = lambda: 1000; "
            f"sys.argv = ['evcc', 'demo', '--bus', 'private', '--scenario', {str(LOOP)!r}]; "
            "runpy.run_module('evcc', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    demo = Demo(proc)
    threading.Thread(target=demo._read, daemon=True).start()

    async def charging() -> None:
        await until(lambda: any("Session.State -> Charging" in line for line in demo.lines), "charging", demo)
    try:
        asyncio.run(charging())
    finally:
        status = demo.stop(signal.SIGINT)
    out = demo.output()
    print(out[-3000:])
    assert status == 0, out
    assert demo.lines[0] == "evcc demo: not root: in-process mode (no network namespaces)", out
    assert "ISO 15118-2 DC SECC with Plug & Charge" in out
    assert "stopping: the daemon ends its session in order" in out and "evcc demo: stopped" in out
    assert "Traceback" not in out
