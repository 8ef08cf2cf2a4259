"""EV SLAC over real AF_PACKET sockets on veth pairs in network namespaces, through the powerline simulator,
against the EVSE SLAC simulator (ISO 15118-3 Annex A; modem behaviour per SLAC.md §5)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from evcc.bench.plc_sim.bridge import PowerlineSim, bench_ports, run_evse
from evcc.bench.plc_sim.topology import Topology, in_netns
from evcc.plc.link import wait_link_local
from evcc.plc.rawsock import RawSocket
from evcc.slac.config import SlacConfig
from evcc.slac.events import Matched, Phase
from evcc.slac.machine import EvSlac
from evcc.slac.runner import SlacFailed, SlacRunner, system_rng
from evcc.slac.timers import SlacTimers

RESTART = 0.3


async def _match(topo: Topology, config_kw: dict[str, object] | None = None) -> Matched:
    assert topo.ev is not None
    with in_netns(topo.ev.netns):
        sock = RawSocket.open(topo.ev.ifname)
    sock.start()
    try:
        config = SlacConfig(sock.mac, **(config_kw or {}))  # type: ignore[arg-type]
        return await SlacRunner(EvSlac(config, system_rng), sock).match()
    finally:
        sock.close()


def _evse_tasks(topo: Topology, delay: float = 0.0) -> list[asyncio.Task[object]]:
    async def one(ifname: str, netns: str) -> object:
        await asyncio.sleep(delay)
        return await run_evse(ifname, netns)

    return [asyncio.create_task(one(e.ifname, e.netns)) for e in topo.evses]


async def _cancel(tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_match_against_evse_simulator(topology: Callable[[int], Topology]) -> None:
    topo = topology(1)

    async def main() -> Matched:
        async with PowerlineSim(bench_ports(topo.sim_ifnames, [24], RESTART), topo.sim_netns):
            tasks = _evse_tasks(topo)
            try:
                return await _match(topo)
            finally:
                await _cancel(tasks)

    matched = asyncio.run(main())
    assert matched.evse_mac == topo.evses[0].mac and matched.attenuation_db == 24.0
    assert matched.link_up > matched.started


def test_two_evses_lower_attenuation_chosen(topology: Callable[[int], Topology]) -> None:
    topo = topology(2)

    async def main() -> Matched:
        async with PowerlineSim(bench_ports(topo.sim_ifnames, [22, 35], RESTART), topo.sim_netns):
            tasks = _evse_tasks(topo)
            try:
                return await _match(topo)
            finally:
                await _cancel(tasks)

    matched = asyncio.run(main())
    assert matched.evse_mac == topo.evses[0].mac and matched.attenuation_db == 22.0


def test_no_evse_fails_in_parm_phase(topology: Callable[[int], Topology]) -> None:
    topo = topology(0)

    async def main() -> None:
        async with PowerlineSim(bench_ports(topo.sim_ifnames, [], RESTART), topo.sim_netns):
            await _match(topo)

    started = time.monotonic()
    with pytest.raises(SlacFailed) as info:
        asyncio.run(main())
    assert info.value.phase is Phase.PARM
    assert time.monotonic() - started >= 3 * SlacTimers().TT_match_response


def test_late_evse_matched_by_parm_retries(topology: Callable[[int], Topology]) -> None:
    topo = topology(1)

    async def main() -> Matched:
        async with PowerlineSim(bench_ports(topo.sim_ifnames, [24], RESTART), topo.sim_netns):
            tasks = _evse_tasks(topo, delay=RESTART + 1.0)  # up after the EV started CM_SLAC_PARM.REQ
            try:
                return await _match(topo, {"parm_retries": 30})
            finally:
                await _cancel(tasks)

    matched = asyncio.run(main())
    assert matched.evse_mac == topo.evses[0].mac


def test_modem_never_confirming_key(topology: Callable[[int], Topology]) -> None:
    topo = topology(1)
    timers = dataclasses.replace(SlacTimers(), TT_match_join=1.0)

    async def main() -> None:
        ports = bench_ports(topo.sim_ifnames, [24], RESTART)
        async with PowerlineSim(ports, topo.sim_netns):
            tasks = _evse_tasks(topo)
            try:
                assert topo.ev is not None
                with in_netns(topo.ev.netns):
                    sock = RawSocket.open(topo.ev.ifname)
                sock.start()
                runner = SlacRunner(EvSlac(SlacConfig(sock.mac, timers=timers), system_rng), sock)
                await runner.leave()  # the modem still confirms the fresh key ...
                ports[0].confirm_set_key = False  # ... but never the EVSE's
                try:
                    await runner.match()
                finally:
                    sock.close()
            finally:
                await _cancel(tasks)

    with pytest.raises(SlacFailed) as info:
        asyncio.run(main())
    assert info.value.phase is Phase.SET_KEY


def _udp_in(netns: str, ifname: str) -> socket.socket:
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.bind(("::", 15118))
        index = socket.if_nametoindex(ifname)
        mreq = socket.inet_pton(socket.AF_INET6, "ff02::1") + index.to_bytes(4, sys.byteorder)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    sock.setblocking(False)
    return sock


def _udp_out(netns: str, ifname: str) -> tuple[socket.socket, int]:
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        index = socket.if_nametoindex(ifname)
    return sock, index


async def _probe(tx: socket.socket, index: int, rx: socket.socket, wait: float) -> bool:
    """One SDP-like datagram EV -> ff02::1 port 15118; did the EVSE host receive it?"""
    tx.sendto(b"SDP probe", ("ff02::1", 15118, 0, index))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            data = rx.recv(100)
            if data == b"SDP probe":
                return True
        except BlockingIOError:
            await asyncio.sleep(0.02)
    return False


def test_sdp_gets_through_only_after_the_match(topology: Callable[[int], Topology]) -> None:
    topo = topology(1)
    assert topo.ev is not None
    ev, evse = topo.ev, topo.evses[0]

    async def main() -> tuple[bool, bool, str]:
        with in_netns(ev.netns):
            await wait_link_local(ev.ifname, 5.0)
        rx = _udp_in(evse.netns, evse.ifname)
        tx, index = _udp_out(ev.netns, ev.ifname)
        try:
            async with PowerlineSim(bench_ports(topo.sim_ifnames, [24], RESTART), topo.sim_netns) as sim:
                tasks = _evse_tasks(topo)
                await asyncio.sleep(RESTART + 0.1)
                before = await _probe(tx, index, rx, 0.5)
                try:
                    await _match(topo)
                finally:
                    await _cancel(tasks)
                after = await _probe(tx, index, rx, 1.0)
                return before, after, str(sim.line.delivered_ip)
        finally:
            rx.close()
            tx.close()

    before, after, delivered = asyncio.run(main())
    assert before is False, "an IPv6 frame crossed the powerline before the NMKs matched"
    assert after is True, f"SDP datagram did not arrive after the match (delivered {delivered})"


def test_cli_matches_and_reports(topology: Callable[[int], Topology]) -> None:
    topo = topology(1)
    assert topo.ev is not None
    ev = topo.ev

    async def main() -> subprocess.CompletedProcess[str]:
        async with PowerlineSim(bench_ports(topo.sim_ifnames, [27], RESTART), topo.sim_netns):
            tasks = _evse_tasks(topo)
            try:
                env = dict(os.environ, PYTHONPATH=os.getcwd())
                proc = await asyncio.create_subprocess_exec(
                    "ip", "netns", "exec", ev.netns, sys.executable, "-m", "evcc.slac.cli", "slac",
                    "--iface", ev.ifname, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
                out, err = await asyncio.wait_for(proc.communicate(), 30)
                return subprocess.CompletedProcess([], proc.returncode or 0, out.decode(), err.decode())
            finally:
                await _cancel(tasks)

    done = asyncio.run(main())
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"evse_mac={topo.evses[0].mac.hex(':')}" in done.stdout
    assert "attenuation_db=27.0" in done.stdout and "nid=" in done.stdout and "time_s=" in done.stdout
    assert "ipv6_link_local=fe80::" in done.stdout
    assert "deviation=" not in done.stdout  # the simulated EVSE keeps to ISO 15118-3


def test_cli_missing_interface_is_a_platform_error() -> None:
    from evcc.slac import cli

    assert cli.main(["slac", "--iface", "nosuchif0"]) == cli.EXIT_PLATFORM


def test_cli_failure_prints_phase(topology: Callable[[int], Topology]) -> None:
    topo = topology(0)
    assert topo.ev is not None
    env = dict(os.environ, PYTHONPATH=os.getcwd())

    async def main() -> subprocess.CompletedProcess[str]:
        async with PowerlineSim(bench_ports(topo.sim_ifnames, [], RESTART), topo.sim_netns):
            assert topo.ev is not None
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", topo.ev.netns, sys.executable, "-m", "evcc.slac.cli", "slac",
                "--iface", topo.ev.ifname, stdout=asyncio.subprocess.PIPE, env=env)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return subprocess.CompletedProcess([], proc.returncode or 0, out.decode(), "")

    done = asyncio.run(main())
    assert done.returncode == 1 and "phase=PARM" in done.stdout
