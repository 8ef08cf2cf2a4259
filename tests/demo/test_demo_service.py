"""`evcc demo` end to end (issue 18): the real daemon against the simulated charger and BMS, on a private bus.

- A client made only from the shipped interface files by gdbus-codegen and gcc reads Session.State and
  Manager.Version, lists the contracts through ObjectManager, reverses their order with SetPriorities (the service
  then holds the new order), gets org.evcc.Evcc1.Error.UnknownContract for a stale path and receives StateChanged.
- The interface files equal the live demo's introspection (drift).
- Bad clients: calls during a session, in the wrong order, with stale paths and bad arguments get the documented
  org.evcc.Evcc1.Error.* errors; a client that leaves mid-call; the demo and its daemon live on.
- SIGTERM ends the demo cleanly (exit 0, the daemon's session ended in order, namespaces removed); Ctrl-C (SIGINT)
  too, on a second demo.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from evcc.demo.introspect import files_from_live
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, \
    SESSION_PATH, SessionState

from .conftest import LOOP, ROOT, Demo, netns_left

DBUS_DIR = ROOT / "dbus"
XML = [DBUS_DIR / f"org.evcc.Evcc1.{n}.xml" for n in ("Manager", "Contract", "Session")]
ERR = "org.evcc.Evcc1.Error."


class Client:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    @classmethod
    async def connect(cls, address: str) -> Client:
        return cls(await MessageBus(bus_address=address, negotiate_unix_fd=True).connect())

    async def raw(self, path: str, interface: str, member: str, signature: str = "", body: list[Any] | None = None,
                  unix_fds: list[int] | None = None) -> Message:
        reply = await self.bus.call(Message(destination=BUS_NAME, path=path, interface=interface, member=member,
                                            signature=signature, body=body or [], unix_fds=unix_fds or []))
        assert reply is not None
        return reply

    async def ok(self, *args: Any, **kw: Any) -> list[Any]:
        reply = await self.raw(*args, **kw)
        assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
        return list(reply.body)

    async def error(self, *args: Any, **kw: Any) -> str:
        reply = await self.raw(*args, **kw)
        assert reply.message_type is MessageType.ERROR, reply.body
        assert reply.error_name is not None
        return reply.error_name

    async def prop(self, name: str) -> Any:
        (v,) = await self.ok(SESSION_PATH, "org.freedesktop.DBus.Properties", "Get", "ss", [SESSION_INTERFACE, name])
        return v.value

    async def contracts(self) -> list[tuple[str, str, int]]:
        (objects,) = await self.ok(ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        out = [(p, i[CONTRACT_INTERFACE]["EMAID"].value, i[CONTRACT_INTERFACE]["Priority"].value)
               for p, i in objects.items() if CONTRACT_INTERFACE in i]
        return sorted(out, key=lambda c: -c[2])


@pytest.fixture(scope="module")
def c_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gdbus-codegen client, generated from the shipped files and compiled with gcc."""
    for tool in ("gdbus-codegen", "gcc", "pkg-config"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: scripts/setup.d/60-demo.sh installs it (libglib2.0-dev-bin, gcc, pkg-config)")
    out = tmp_path_factory.mktemp("gdbus")
    subprocess.run(["gdbus-codegen", "--interface-prefix", "org.evcc.Evcc1.", "--c-namespace", "Evcc",
                    "--c-generate-object-manager", "--generate-c-code", "evcc-generated", *map(str, XML)],
                   cwd=out, check=True, capture_output=True, timeout=60)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gio-2.0", "gio-unix-2.0"], check=True,
                           capture_output=True, text=True).stdout.split()
    build = subprocess.run(["gcc", "-Wall", "-Werror", "-Wno-unused-parameter", "-o", "client", "-I", str(out),
                            str(Path(__file__).parent / "client.c"), "evcc-generated.c", *flags],
                           cwd=out, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    return out / "client"


def test_gdbus_codegen_client_against_evcc_demo(demo: Demo, c_client: Path) -> None:
    async def before() -> list[tuple[str, str, int]]:
        client = await Client.connect(demo.address)
        try:
            return await client.contracts()
        finally:
            client.bus.disconnect()
    listed = asyncio.run(before())
    assert len(listed) >= 2
    run = subprocess.run([str(c_client), demo.address, "2", "90"], capture_output=True, text=True, timeout=120)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "version 1" in lines
    state = next(int(line.split()[1]) for line in lines if line.startswith("state "))
    assert state in {int(s) for s in SessionState}
    seen = [line.split()[1:] for line in lines if line.startswith("contract ")]
    assert [(p, e, int(prio)) for p, e, prio in seen] == listed  # ObjectManager through the generated code
    assert f"set_priorities {' '.join(p for p, _, _ in reversed(listed))}" in lines
    assert f"stale_error {ERR}UnknownContract" in lines
    changes = [line.split(maxsplit=3) for line in lines if line.startswith("state_changed ")]
    assert len(changes) >= 2 and all(int(c[1]) != int(c[2]) for c in changes)

    async def after() -> list[tuple[str, str, int]]:
        client = await Client.connect(demo.address)
        try:
            return await client.contracts()
        finally:
            client.bus.disconnect()
    assert [p for p, _, _ in asyncio.run(after())] == [p for p, _, _ in reversed(listed)]


def test_interface_files_equal_the_live_demo(demo: Demo) -> None:
    files = asyncio.run(files_from_live(demo.address))
    assert sorted(files) == sorted(p.name for p in XML)
    for name, text in files.items():
        assert (DBUS_DIR / name).read_text(encoding="utf-8") == text, (
            f"dbus/{name} differs from the running service: regenerate with "
            f"`python3 -m evcc.demo.introspect --write dbus/` (and document new members in evcc/demo/api_docs.py)")


def test_bad_clients_get_documented_errors_and_the_demo_lives_on(demo: Demo) -> None:
    async def body() -> None:
        client = await Client.connect(demo.address)
        try:
            for _ in range(600):  # during a session (the loop scenario charges most of the time)
                if await client.prop("State") == SessionState.CHARGING:
                    break
                await asyncio.sleep(0.1)
            assert await client.prop("State") == SessionState.CHARGING
            listed = await client.contracts()
            paths = [p for p, _, _ in listed]
            # during a session: allowed, takes effect at the next plug-in
            await client.ok(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [list(reversed(paths))])
            (pending,) = await client.ok(ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si",
                                         ["DE8AA0012345670", 0])
            await client.ok(ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o", [pending])
            # stale path, wrong order (select after remove)
            assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o", [pending]) == \
                ERR + "UnknownContract"
            assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "SelectContract", "o", [pending]) == \
                ERR + "UnknownContract"
            assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [paths + [pending]]) == \
                ERR + "UnknownContract"
            # bad arguments
            assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [paths[:1]]) == \
                ERR + "InvalidArguments"
            assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [[paths[0], paths[0]]]) == \
                ERR + "InvalidArguments"
            assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si",
                                      ["not an eMAID", 1]) == ERR + "InvalidArguments"
            r, w = os.pipe()
            os.write(w, b"-----BEGIN CERTIFICATE-----\nnot base64\n")
            os.close(w)
            try:
                assert await client.error(ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi", [0, 1, 1],
                                          unix_fds=[r, r]) in (ERR + "ImportFailed", ERR + "InvalidArguments")
            finally:
                os.close(r)
            # not the API at all: the bus's standard errors, the service unharmed
            assert (await client.error(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "s", ["x"])).startswith(
                "org.freedesktop.DBus.Error.")
            assert (await client.error(ROOT_PATH, MANAGER_INTERFACE, "Nope")).startswith("org.freedesktop.DBus.Error.")
            # a client that leaves in the middle of its calls
            rude = await MessageBus(bus_address=demo.address).connect()
            for _ in range(50):
                rude.send(Message(destination=BUS_NAME, path=ROOT_PATH, interface="org.freedesktop.DBus.ObjectManager",
                                  member="GetManagedObjects"))
            rude.disconnect()
            # priorities back, the service still answers
            await client.ok(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [paths])
            assert [p for p, _, _ in await client.contracts()] == paths
            (v,) = await client.ok(ROOT_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                                   [MANAGER_INTERFACE, "Version"])
            assert v.value == 1
        finally:
            client.bus.disconnect()
    asyncio.run(body())
    assert demo.proc.poll() is None, demo.output()
    assert "ended by itself" not in demo.output()


def test_sigterm_ends_the_demo_cleanly(demo: Demo) -> None:
    assert demo.proc.poll() is None, demo.output()
    assert demo.stop(signal.SIGTERM) == 0, demo.output()
    out = demo.output()
    assert "evcc demo: stopped" in out and "Traceback" not in out
    assert not netns_left(demo.prefix), netns_left(demo.prefix)


def test_ctrl_c_ends_the_demo_cleanly_on_the_policy_bus() -> None:
    """Also: --bus policy (system rules with systemd/org.evcc.Evcc1.conf) serves the API to root."""
    if os.geteuid() != 0:
        pytest.fail("evcc demo needs root (network namespaces)")
    d = Demo.start("--no-slac", "--scenario", str(LOOP), bus="policy")
    try:
        assert any("served by the real daemon" in line for line in d.lines)

        async def read() -> tuple[Any, list[tuple[str, str, int]]]:
            client = await Client.connect(d.address)
            try:
                (v,) = await client.ok(ROOT_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                                       [MANAGER_INTERFACE, "Version"])
                listed = await client.contracts()
                await client.ok(ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao", [[p for p, _, _ in listed]])
                return v.value, listed
            finally:
                client.bus.disconnect()
        version, listed = asyncio.run(read())
        assert version == 1 and len(listed) == 2
    finally:
        status = d.stop(signal.SIGINT)
    assert status == 0, d.output()
    assert "evcc demo: stopped" in d.output() and "Traceback" not in d.output()
    assert not netns_left(d.prefix), netns_left(d.prefix)
