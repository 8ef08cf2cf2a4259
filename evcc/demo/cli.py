"""`evcc demo`: the real onboard service for HMI developers, without a car (issue 18).

The daemon of `evcc run` (the same composition, a subprocess `python3 -m evcc.app run` in the EV's network
namespace) against the simulated charger (the bench's ISO 15118-20 DC SECC over TLS 1.3, or -2, with Plug & Charge,
behind the simulated powerline with SLAC) and the bench BMS on udp_multicast CAN, serving org.evcc.Evcc1 on a D-Bus bus, while a
scenario cycles through the situations an HMI must show. Runs until Ctrl-C or SIGTERM.

Root: network namespaces. Without root, or with --in-process, the daemon's own composition runs inside this
process with a demo-only link (evcc.demo.inprocess: SLAC and SDP skipped, the SECC on the loopback, the BMS on
python-can's virtual bus); the first lines say which. Buses: --bus private (default: a private dbus-daemon with session rules, its
address printed), policy (a private dbus-daemon with the system bus's default-deny rules and the shipped policy
systemd/org.evcc.Evcc1.conf: reading for everyone, changes for root and the group evcc), session (the user's DBUS_SESSION_BUS_ADDRESS; a unix:path= address: abstract sockets are not
reachable from the EV's namespace), system (the system bus: install systemd/org.evcc.Evcc1.conf first).

Exit status: 0 after Ctrl-C/SIGTERM and an orderly stop; 2 bad scenario or option; 3 the platform refused (no
dbus-daemon, the bus); 1 the daemon ended by itself.
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
from collections.abc import Callable
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
    p.add_argument("--in-process", action="store_true",
                   help="the daemon's composition inside this process even as root (the default without root)")
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
        if not args.in_process and os.geteuid() != 0:
            say("not root: in-process mode (no network namespaces)")
            args.in_process = True
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
    if args.in_process:
        return await _demo_in_process(args, scenario, folder, stop)
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
        if not await _wait_for_name(bus, lambda: daemon.poll() is None, stop):
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


async def _demo_in_process(args: argparse.Namespace, scenario: "Scenario", folder: Path, stop: asyncio.Event) -> int:
    """The daemon's composition in this process (evcc.demo.inprocess); its own SIGINT/SIGTERM handlers take over
    once it runs, and its orderly stop ends the demo."""
    from evcc.demo.inprocess import compose
    from evcc.demo.runner import Runner
    from evcc.demo.world import World

    world = World(folder, slac=False, protocol=scenario.protocol, local=True)
    status = EXIT_OK
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(lambda: None if args.keep else shutil.rmtree(folder, ignore_errors=True))
        address = _bus_address(args.bus, stack, in_process=True)
        world.create()
        stack.push_async_callback(world.stop)
        await world.start()
        say("in-process mode: the daemon's own composition (contract store, key store, machines, D-Bus service, "
            "BMS bridge) runs in this process; SLAC and SDP are skipped (the SECC's address is given directly), "
            f"the simulated charger listens on {world.secc()[0]} ("
            + ("ISO 15118-20 DC SECC over TLS 1.3 mutual" if world.iso20 else "ISO 15118-2 DC SECC")
            + " with Plug & Charge), BMS on python-can's virtual bus")
        if scenario.slac and not args.no_slac:
            say("the scenario's SLAC is skipped in process (the Slac state is not shown)")
        log = folder / "daemon.log"
        parts, daemon = compose(world, world.config(address or "system"), log)
        stack.callback(parts.close)
        bus = await _connect(address)
        stack.callback(bus.disconnect)
        daemon_task = asyncio.create_task(daemon.run(), name="daemon")
        stop_task = asyncio.create_task(stop.wait(), name="stop")  # a signal before the daemon's handlers are in
        try:
            if not await _wait_for_name(bus, lambda: not daemon_task.done(), stop):
                daemon.request_stop("demo: no bus name")
                await asyncio.gather(daemon_task, return_exceptions=True)
                if stop.is_set():
                    return EXIT_OK
                say(f"the daemon did not come up; its log:\n{log.read_text(errors='replace')[-3000:]}")
                return EXIT_DAEMON
            where = f"--address={address}" if address else "--system"
            say(f"org.evcc.Evcc1 is served by the daemon's code in this process (pid {os.getpid()}, log {log})")
            say(f"D-Bus address {address or 'system bus'}")
            say(f"try: busctl {where} tree org.evcc.Evcc1   |   gdbus monitor "
                f"{'--address ' + address if address else '--system'} --dest org.evcc.Evcc1")
            runner = Runner(scenario, world, bus, args.speed, say)
            await runner.subscribe()
            scenario_task = asyncio.create_task(runner.run(args.cycles), name="scenario")
            await asyncio.wait((scenario_task, daemon_task, stop_task), return_when=asyncio.FIRST_COMPLETED)
            if scenario_task.done() and scenario_task.exception() is not None:
                status = EXIT_DAEMON
                say(f"the scenario ended with an error: {scenario_task.exception()!r}")
            elif scenario_task.done():
                say(f"{args.cycles} cycle(s) done ({runner.failed_steps} step(s) did not come true); stopping")
            elif not daemon.stopping.is_set() and not stop.is_set():
                status = EXIT_DAEMON
                say(f"the daemon ended by itself; its log:\n{log.read_text(errors='replace')[-3000:]}")
            else:
                say("stopping: the daemon ends its session in order")
            scenario_task.cancel()
            await asyncio.gather(scenario_task, return_exceptions=True)
            daemon.request_stop("demo ends")
            code = (await asyncio.gather(daemon_task, return_exceptions=True))[0]
            if status == EXIT_OK and code != 0:
                say(f"the daemon ended with {code!r}")
                status = EXIT_DAEMON
        finally:
            stop_task.cancel()
            if not daemon_task.done():
                daemon.request_stop("demo ends")
                await asyncio.gather(daemon_task, return_exceptions=True)
    say("stopped")
    return status


def _bus_address(kind: str, stack: contextlib.AsyncExitStack, in_process: bool = False) -> str | None:
    from evcc.demo.buses import SessionBus

    if kind == "system":
        return None
    if kind == "session":
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        if not address:
            raise PlatformError("--bus session: DBUS_SESSION_BUS_ADDRESS is not set (sudo drops it: sudo -E, "
                                "or --bus private)")
        if "abstract=" in address and not in_process:
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


async def _wait_for_name(bus: MessageBus, alive: Callable[[], bool], stop: asyncio.Event) -> bool:
    from evcc.hmi.names import BUS_NAME

    from dbus_fast import Message, MessageType

    end = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < end and alive() and not stop.is_set():
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
