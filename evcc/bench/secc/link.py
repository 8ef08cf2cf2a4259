"""A point-to-point link for session tests and the bench: two network namespaces (EV, SECC) joined by one
veth pair, IPv6 DAD off so the link-local addresses are usable at once (INTEROP.md). Removed on close, also
after a failure half-way. Needs root. The namespace and veth commands are :mod:`evcc.bench.netns`'s.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field

from evcc.bench import netns
from evcc.bench.netns import in_netns

__all__ = ["VethLink", "in_netns"]


@dataclass
class VethLink:
    """Namespaces ``<prefix>-ev`` and ``<prefix>-secc`` with interfaces ``ev0`` and ``secc0``."""

    prefix: str = field(default_factory=lambda: "evs-" + secrets.token_hex(3))
    ev_ifname: str = "ev0"
    secc_ifname: str = "secc0"
    _made: list[str] = field(default_factory=list)

    @property
    def ev_netns(self) -> str:
        return f"{self.prefix}-ev"

    @property
    def secc_netns(self) -> str:
        return f"{self.prefix}-secc"

    def create(self) -> VethLink:
        try:
            for ns in (self.ev_netns, self.secc_netns):
                netns.add_netns(ns)
                self._made.append(ns)
            netns.add_veth(self.ev_ifname, self.ev_netns, self.secc_ifname, self.secc_netns)
            self.link_local(self.ev_netns, self.ev_ifname)
            self.link_local(self.secc_netns, self.secc_ifname)
        except BaseException:
            self.close()
            raise
        return self

    def link_local(self, netns_name: str, ifname: str, wait: float = 5.0) -> ipaddress.IPv6Address:
        """The interface's fe80:: address, waiting up to ``wait`` seconds for the kernel to assign it."""
        return netns.link_local(netns_name, ifname, wait)

    def close(self) -> None:
        for ns in reversed(self._made):
            netns.delete_netns(ns)
        self._made.clear()

    def __enter__(self) -> VethLink:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.close()
