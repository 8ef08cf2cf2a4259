"""asyncio adapters of the bench: the powerline simulator bridging veth ends over AF_PACKET, and the EVSE SLAC
simulator on an EVSE host interface (ISO 15118-3 Annex A; modem behaviour per shared docs SLAC.md §5).

    async with PowerlineSim(ports, netns=topo.sim_netns) as sim:
        evse_task = asyncio.create_task(run_evse("evse0", netns=...))
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from types import TracebackType

from evcc.bench.plc_sim.evse import EvseConfig, EvseSlac
from evcc.bench.plc_sim.powerline import ModemPort, Powerline
from evcc.bench.plc_sim.topology import in_netns
from evcc.plc.mme import ETH_P_HOMEPLUG_AV
from evcc.plc.rawsock import ETH_P_ALL, RawSocket


class PowerlineSim:
    """Bridges the simulator-side veth ends ``ports[i].name`` (in namespace ``netns``) through :class:`Powerline`."""

    def __init__(self, ports: list[ModemPort], netns: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.line = Powerline(ports)
        self._netns = netns
        self._clock = clock
        self._socks: list[RawSocket] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> PowerlineSim:
        with in_netns(self._netns):
            self._socks = [RawSocket.open(p.name, ETH_P_ALL) for p in self.line.ports]
        for index, sock in enumerate(self._socks):
            sock.start()
            self._tasks.append(asyncio.create_task(self._pump(index, sock)))
        return self

    async def _pump(self, index: int, sock: RawSocket) -> None:
        while True:
            frame = await sock.recv()
            while frame is not None:
                for port, out in self.line.receive(index, frame, self._clock()):
                    self._socks[port].send(out)
                frame = sock.pop()

    def port(self, name: str) -> ModemPort:
        return next(p for p in self.line.ports if p.name == name)

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in self._socks:
            sock.close()


async def run_evse(ifname: str, netns: str | None = None, *, stop_after_match: bool = False,
                   rng: Callable[[int], bytes] = os.urandom, evse_id: bytes = b"\x00" * 17,
                   clock: Callable[[], float] = time.monotonic) -> EvseSlac:
    """Run the EVSE SLAC simulator on ``ifname`` until cancelled (or until matched if ``stop_after_match``)."""
    with in_netns(netns):
        sock = RawSocket.open(ifname, ETH_P_HOMEPLUG_AV)
    sock.start()
    evse = EvseSlac(EvseConfig(sock.mac, evse_id), rng)
    try:
        evse.start()
        while True:
            for out in evse.frames_to_send():
                sock.send(out)
            if stop_after_match and evse.matched_ev is not None:
                return evse
            deadline = evse.get_timer()
            frame = await sock.recv(None if deadline is None else max(0.0, deadline - clock()))
            while frame is not None:
                evse.receive_frame(frame, clock())
                frame = sock.pop()
            evse.handle_timer(clock())
    finally:
        sock.close()


def bench_ports(sim_ifnames: list[str], attenuations: list[int], restart_s: float = 0.5) -> list[ModemPort]:
    """Port 0 is the EV's modem, ports 1.. the EVSEs' with the given attenuations (dB)."""
    ports = [ModemPort(sim_ifnames[0], bytes.fromhex("00b052ee0000"), restart_s=restart_s)]
    for i, (name, att) in enumerate(zip(sim_ifnames[1:], attenuations, strict=True), start=1):
        ports.append(ModemPort(name, bytes.fromhex(f"00b052ee00{i:02x}"), evse=True, attenuation_db=att,
                               restart_s=restart_s))
    return ports
