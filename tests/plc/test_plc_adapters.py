"""The plc adapters on real interfaces: AF_PACKET socket, local-modem operations against the simulated modem,
and pyroute2 interface set-up, in network namespaces created (and removed) by the test."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from evcc.bench.plc_sim.bridge import PowerlineSim, bench_ports
from evcc.bench.plc_sim.topology import Topology, in_netns
from evcc.errors import PeerTimeout, PlatformError
from evcc.plc import link
from evcc.plc.modem import LocalModem, ModemError
from evcc.plc.rawsock import RawSocket


@pytest.fixture
def topo() -> Iterator[Topology]:
    with Topology(n_evse=1) as t:
        yield t
    assert t.prefix not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_missing_interface_is_a_platform_error() -> None:
    with pytest.raises(PlatformError, match="'nosuchif0' does not exist"):
        RawSocket.open("nosuchif0")
    with pytest.raises(PlatformError, match="does not exist"):
        asyncio.run(link.bring_up("nosuchif0"))


def test_raw_socket_carries_frames_between_veth_ends(topo: Topology) -> None:
    assert topo.ev is not None

    async def main() -> bytes | None:
        with in_netns(topo.ev.netns):  # type: ignore[union-attr]
            a = RawSocket.open("ev0")
        with in_netns(topo.sim_netns):
            b = RawSocket.open("pl0")
        a.start()
        b.start()
        frame = b"\xff" * 6 + a.mac + b"\x88\xe1\x01\x64\x60" + bytes(45)
        a.send(frame)
        got = await b.recv(2.0)
        echo = await a.recv(0.2)  # our own frame is not looped back
        a.close()
        b.close()
        assert echo is None
        return got

    assert asyncio.run(main()) == b"\xff" * 6 + topo.ev.mac + b"\x88\xe1\x01\x64\x60" + bytes(45)


def test_send_on_down_interface_is_a_platform_error(topo: Topology) -> None:
    assert topo.ev is not None
    subprocess.run(["ip", "-n", topo.ev.netns, "link", "set", "ev0", "down"], check=True)
    with in_netns(topo.ev.netns):
        sock = RawSocket.open("ev0")
    with sock, pytest.raises(PlatformError, match="is down"):
        sock.send(b"\xff" * 12 + b"\x88\xe1" + bytes(46))


def test_local_modem_operations(topo: Topology) -> None:
    assert topo.ev is not None
    ports = bench_ports(topo.sim_ifnames, [20], restart_s=0.3)

    async def main() -> None:
        async with PowerlineSim(ports, topo.sim_netns):
            with in_netns(topo.ev.netns):  # type: ignore[union-attr]
                sock = RawSocket.open("ev0")
            sock.start()
            modem = LocalModem(sock)
            version = await modem.sw_version()
            assert version.modem_mac == ports[0].modem_mac and "QCA7000" in version.version
            assert await modem.link_status() is False
            assert await modem.set_key(b"\x11" * 16) == 1  # Qualcomm's "accepted"
            with pytest.raises(PeerTimeout):  # restarting: silent
                await modem.sw_version(timeout=0.1)
            await modem.wait_ready(2.0)
            ports[1].nmk = b"\x11" * 16
            assert await modem.link_status() is True
            ports[0].set_key_result = 2
            with pytest.raises(ModemError, match="Result=2"):
                await modem.set_key(b"\x22" * 16)
            ports[0].confirm_set_key = False
            await asyncio.sleep(0.35)
            with pytest.raises(PeerTimeout):
                await modem.set_key(b"\x33" * 16, timeout=0.2)
            modem.reset()
            sock.close()

    asyncio.run(main())


def test_link_up_link_local_and_carrier(topo: Topology) -> None:
    assert topo.ev is not None
    ev = topo.ev

    async def main() -> list[bool]:
        subprocess.run(["ip", "-n", ev.netns, "link", "set", "ev0", "down"], check=True)
        with in_netns(ev.netns):
            state = await link.link_state("ev0")
            assert not state.up
            with pytest.raises(PlatformError, match="is down"):
                await link.wait_link_local("ev0", 0.2)
            state, address = await link.prepare_interface("ev0", 5.0)
            assert state.up and address.startswith("fe80::")
            seen: list[bool] = []

            async def follow() -> None:
                async for carrier in link.carrier_changes("ev0", period=0.02):
                    seen.append(carrier)

            task = asyncio.create_task(follow())
            await asyncio.sleep(0.2)
            subprocess.run(["ip", "-n", topo.sim_netns, "link", "set", "pl0", "down"], check=True)
            await asyncio.sleep(0.3)
            subprocess.run(["ip", "-n", topo.sim_netns, "link", "set", "pl0", "up"], check=True)
            await asyncio.sleep(0.3)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return seen

    assert asyncio.run(main()) == [True, False, True]
