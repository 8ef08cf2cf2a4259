"""The end-to-end bench's link with SLAC: the simulated powerline of evcc.bench.plc_sim between the daemon's
interface and one EVSE, instead of the direct veth pair (ISO 15118-3 matching before SDP, as in a car).

    EV netns <prefix>-ev        sim netns <prefix>-sim              EVSE netns <prefix>-evse0
    daemon on ev0 ──veth── pl0 ─ PowerlineSim (modems) ─ pl1 ──veth── evse0: EVSE SLAC, SDP, SECC

Same face as :class:`evcc.bench.secc.link.VethLink` (``ev_netns``, ``ev_ifname``, ``secc_netns``,
``secc_ifname``, ``prefix``, ``link_local``), so the bench of harness.py runs on either. IPv6 frames cross the
simulated powerline only between modems that share an NMK: SDP reaches the SECC only after the EV matched.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
from dataclasses import dataclass, field

from evcc.bench.netns import link_local
from evcc.bench.plc_sim.bridge import PowerlineSim, bench_ports, run_evse
from evcc.bench.plc_sim.evse import EvseSlac
from evcc.bench.plc_sim.topology import Topology

EVSE_ATTENUATION_DB = 20
MODEM_RESTART_S = 0.3  # the EV modem drops frames this long after CM_SET_KEY (a QCA modem takes seconds)


@dataclass
class PowerlineLink:
    prefix: str = field(default_factory=lambda: "evp-" + secrets.token_hex(3))
    topology: Topology | None = None
    sim: PowerlineSim | None = None
    evse_task: asyncio.Task[EvseSlac] | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def ev_netns(self) -> str:
        return f"{self.prefix}-ev"

    @property
    def secc_netns(self) -> str:
        return f"{self.prefix}-evse0"

    ev_ifname = "ev0"
    secc_ifname = "evse0"

    def create(self) -> PowerlineLink:
        self.topology = Topology(n_evse=1, prefix=self.prefix).create()
        link_local(self.ev_netns, self.ev_ifname)
        link_local(self.secc_netns, self.secc_ifname)
        return self

    def link_local(self, netns: str, ifname: str) -> ipaddress.IPv6Address:
        return link_local(netns, ifname)

    async def start(self) -> None:
        """The modems and the EVSE's SLAC simulator (on the caller's loop, until :meth:`stop`)."""
        assert self.topology is not None
        ports = bench_ports(self.topology.sim_ifnames, [EVSE_ATTENUATION_DB], MODEM_RESTART_S)
        self.sim = await self._stack.enter_async_context(PowerlineSim(ports, self.topology.sim_netns))
        self.evse_task = asyncio.get_running_loop().create_task(run_evse(self.secc_ifname, self.secc_netns))

    def ev_joined(self) -> bool:
        """The EV's modem holds the EVSE modem's NMK (the SLAC match set it with CM_SET_KEY)."""
        if self.sim is None:
            return False
        ev, evse = self.sim.line.ports[0], self.sim.line.ports[1]
        return ev.nmk is not None and ev.nmk == evse.nmk

    @property
    def ip_frames(self) -> int:
        """IPv6 frames the powerline carried between keyed modems (SDP, TCP)."""
        return 0 if self.sim is None else self.sim.line.delivered_ip

    async def stop(self) -> None:
        if self.evse_task is not None:
            self.evse_task.cancel()
            await asyncio.gather(self.evse_task, return_exceptions=True)
        await self._stack.aclose()

    def close(self) -> None:
        if self.topology is not None:
            self.topology.close()
