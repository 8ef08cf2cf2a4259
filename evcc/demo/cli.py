"""`evcc demo`: the real onboard service for HMI developers, without a car (issue 18).

The daemon of `evcc run` (the same composition, a subprocess `python3 -m evcc.app run` in the EV's network
namespace) against the simulated charger (the bench's ISO 15118-20 DC SECC over TLS 1.3, or -2, with Plug & Charge,
behind the simulated powerline with SLAC) and the bench BMS on udp_multicast CAN, serving org.evcc.Evcc1 on a D-Bus bus, while a
scenario cycles through the situations an HMI must show. Runs until Ctrl-C or SIGTERM.

Needs root (network namespaces). Buses: --bus private (default: a private dbus-daemon with session rules, its
address printed), policy (a private dbus-daemon with the system bus's default-deny rules and the shipped policy
systemd/org.evcc.Evcc1.conf: reading for everyone, changes for root and the group evcc), session (the user's DBUS_SESSION_BUS_ADDRESS; a unix:path= address: abstract sockets are not
reachable from the EV's namespace), system (the system bus: install systemd/org.evcc.Evcc1.conf first).

Exit status: 0 after Ctrl-C/SIGTERM and an orderly stop; 2 bad scenario or option; 3 the platform refused (not
root, no dbus-daemon, the bus); 1 the daemon ended by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from evcc.errors import ConfigError, EvccError, PlatformError

if TYPE_CHECKING:
    from evcc.demo.scenario import Scenario
    from evcc.demo.world import World

EXIT_OK, EXIT_DAEMON, EXIT_CONFIG, EXIT_PLATFORM = 0, 1, 2, 3
ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("demo", help="the real D-Bus service against a simulated charger and BMS (HMI development)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="tour",
                   help="built-in scenario name (evcc/demo/scenarios) or a .toml file (default: tour)")
    p.add_argument("--speed", type=float, default=1.0, help="divides the scenario's waits (default 1)")
    p.add_argument("--bus", choices=("private", "policy", "session", "system"), default="private")
    p.add_argument("--cycles", type=int, default=0, help="stop after this many cycles (default 0: until Ctrl-C)")
    p.add_argument("--no-slac", action="store_true", help="a direct link instead of the powerline with SLAC")
    p.add_argument("--keep", action="store_true", help="keep the working folder (daemon log, config, keys)")
    p.set_defaults(func=run)


def say(line: str) -> None:
    print(f"evcc demo: {line}", flush=True)


def run(args: argparse.Namespace) -> int:
    from evcc.demo.scenario import load_scenario

    try:
        if not 0.01 <= args.speed <= 1000:
            raise ConfigError(f"--speed must be from 0.01 to 1000, not {args.speed:g}")
        if args.cycles < 0:
            raise ConfigError("--cycles must be 0 or more")
        scenario = load_scenario(args.scenario)
        if os.geteuid() != 0:
            raise PlatformError("needs root: the simulated charger and BMS live in network namespaces (the daemon's "
                                "SLAC, SDP and TCP need an interface of their own); in-process mode is not available")
        return asyncio.run(_demo(args, scenario))
    except ConfigError as exc:
        print(f"evcc demo: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except EvccError as exc:
        print(f"evcc demo: {exc}", file=sys.stderr)
        return EXIT_PLATFORM
    except KeyboardInterrupt:
        return EXIT_OK


async def _demo(args: argparse.Namespace, scenario: "Scenario") -> int:
    from evcc.demo.runner import Runner
    from evcc.demo.world import World

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    folder = Path(tempfile.mkdtemp(prefix="evcc-demo-"))
    world = World(folder, slac=scenario.slac and not args.no_slac, protocol=scenario.protocol)
    daemon: subprocess.Popen[bytes] | None = None
    status = EXIT_OK
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(lambda: None if args.keep else shutil.rmtree(folder, ignore_errors=True))
        address = _bus_address(args.bus, stack)
        stack.callback(world.close)
        world.create()
        stack.push_async_callback(world.stop)
        await world.start()
        say(f"simulated charger and BMS in network namespaces {world.prefix}-* (root): "
            + ("powerline with SLAC, " if world.slac else "direct link, ")
            + ("ISO 15118-20 DC SECC over TLS 1.3 mutual" if world.iso20 else "ISO 15118-2 DC SECC")
            + " with Plug & Charge, BMS on udp_multicast CAN")
        log = folder / "daemon.log"
        daemon = _start_daemon(world, world.config(address or "system"), log)
        stack.callback(_stop_daemon, daemon)
        bus = await _connect(address)
        stack.callback(bus.disconnect)
        if not await _wait_for_name(bus, daemon, stop):
            if stop.is_set():
                return EXIT_OK
            say(f"the daemon did not come up; its log:\n{log.read_text(errors='replace')[-3000:]}")
            return EXIT_DAEMON
        where = f"--address={address}" if address else "--system"
        say(f"org.evcc.Evcc1 is served by the real daemon (pid {daemon.pid}, log {log})")
        say(f"D-Bus address {address or 'system bus'}")
        say(f"try: busctl {where} tree org.evcc.Evcc1   |   gdbus monitor "
            f"{'--address ' + address if address else '--system'} --dest org.evcc.Evcc1")
        runner = Runner(scenario, world, bus, args.speed, say)
        await runner.subscribe()
        tasks = [asyncio.create_task(runner.run(args.cycles), name="scenario"),
                 asyncio.create_task(stop.wait(), name="stop"),
                 asyncio.create_task(_daemon_exit(daemon), name="daemon")]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if tasks[2] in done:
            status = EXIT_DAEMON
            say(f"the daemon ended by itself (status {daemon.returncode}); its log:\n"
                f"{log.read_text(errors='replace')[-3000:]}")
        elif tasks[0] in done and tasks[0].exception() is not None:
            status = EXIT_DAEMON
            say(f"the scenario ended with an error: {tasks[0].exception()!r}")
        else:
            say("stopping: the daemon ends its session in order" if stop.is_set() else
                f"{args.cycles} cycle(s) done ({runner.failed_steps} step(s) did not come true); stopping")
    if daemon is not None and status == EXIT_OK and daemon.returncode not in (0, None):
        say(f"the daemon exited with status {daemon.returncode}")
        status = EXIT_DAEMON
    say("stopped")
    return status


def _bus_address(kind: str, stack: contextlib.AsyncExitStack) -> str | None:
    from evcc.demo.buses import SessionBus

    if kind == "system":
        return None
    if kind == "session":
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        if not address:
            raise PlatformError("--bus session: DBUS_SESSION_BUS_ADDRESS is not set (sudo drops it: sudo -E, "
                                "or --bus private)")
        if "abstract=" in address:
            raise PlatformError("--bus session: the session bus has an abstract socket address, which the daemon "
                                "cannot reach from the EV's network namespace (use --bus private)")
        return address
    bus = SessionBus(policy=kind == "policy").start()
    stack.callback(bus.stop)
    return bus.address


async def _connect(address: str | None) -> MessageBus:
    try:
        if address is None:
            return await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
        return await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()
    except (OSError, EOFError, ValueError) as exc:
        raise PlatformError(f"cannot connect to the bus {address or 'system'}: {exc}") from exc


def _start_daemon(world: "World", config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    with log.open("wb") as out:
        return subprocess.Popen(["ip", "netns", "exec", world.ev_netns, sys.executable, "-m", "evcc.app", "run",
                                 "--config", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _stop_daemon(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)


async def _daemon_exit(daemon: subprocess.Popen[bytes]) -> None:
    while daemon.poll() is None:
        await asyncio.sleep(0.2)


async def _wait_for_name(bus: MessageBus, daemon: subprocess.Popen[bytes], stop: asyncio.Event) -> bool:
    from evcc.hmi.names import BUS_NAME

    from dbus_fast import Message, MessageType

    end = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < end and daemon.poll() is None and not stop.is_set():
        reply = await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                       interface="org.freedesktop.DBus", member="NameHasOwner", signature="s",
                                       body=[BUS_NAME]))
        if reply is not None and reply.message_type is MessageType.METHOD_RETURN and reply.body[0]:
            return True
        await asyncio.sleep(0.1)
    return False


if __name__ == "__main__":
    from evcc.entry import standalone_main

    sys.exit(standalone_main(register, None))
