"""Bench topology on Linux network namespaces: one namespace per host (EV, each EVSE) and one for the powerline
simulator, joined by veth pairs (host end <-> simulator end). Used by the bench and by the tests.

Set-up goes through evcc/bench/netns.py (``ip``, ``ethtool``): IPv6 DAD off so link-local addresses are
usable at once, TX checksum offload off so frames relayed by the user-space bridge carry finished checksums
(SLAC.md §5).
Everything created is removed again by :meth:`Topology.close`, also after a failure half-way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from evcc.bench.netns import add_netns, add_veth, delete_netns, in_netns, mac_address

__all__ = ["Endpoint", "Topology", "in_netns"]  # in_netns: evcc.bench.netns, re-exported for older imports


@dataclass
class Endpoint:
    """A host's interface ``ifname`` in namespace ``netns``; ``sim_ifname`` is its end in the simulator's."""

    role: str
    netns: str
    ifname: str
    sim_ifname: str
    mac: bytes = b""


@dataclass
class Topology:
    """Namespaces ``<prefix>-sim``, ``<prefix>-ev``, ``<prefix>-evseN`` with one veth pair each."""

    n_evse: int = 1
    prefix: str = field(default_factory=lambda: "evcc-" + secrets.token_hex(3))
    sim_netns: str = ""
    ev: Endpoint | None = None
    evses: list[Endpoint] = field(default_factory=list)
    _created: list[str] = field(default_factory=list)

    def create(self) -> Topology:
        try:
            self.sim_netns = self._netns("sim")
            self.ev = self._pair("ev", "ev0", "pl0")
            for i in range(self.n_evse):
                self.evses.append(self._pair(f"evse{i}", "evse0", f"pl{i + 1}"))
        except BaseException:
            self.close()
            raise
        return self

    def _netns(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        self._created.append(name)  # before: a half-made namespace is removed too
        add_netns(name)
        return name

    def _pair(self, role: str, ifname: str, sim_ifname: str) -> Endpoint:
        ns = self._netns(role)
        add_veth(ifname, ns, sim_ifname, self.sim_netns, tx_offload=False)
        return Endpoint(role, ns, ifname, sim_ifname, mac_address(ns, ifname))

    @property
    def sim_ifnames(self) -> list[str]:
        assert self.ev is not None
        return [self.ev.sim_ifname] + [e.sim_ifname for e in self.evses]

    def close(self) -> None:
        for name in reversed(self._created):
            delete_netns(name)
        self._created.clear()

    def __enter__(self) -> Topology:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.close()
