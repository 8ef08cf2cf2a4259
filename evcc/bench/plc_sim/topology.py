"""Bench topology on Linux network namespaces: one namespace per host (EV, each EVSE) and one for the powerline
simulator, joined by veth pairs (host end <-> simulator end). Used by the bench and by the tests.

Set-up uses ``ip`` (iproute2) and ``ethtool``: IPv6 DAD off so link-local addresses are usable at once, TX
checksum offload off so frames relayed by the user-space bridge carry finished checksums (SLAC.md §5).
Everything created is removed again by :meth:`Topology.close`, also after a failure half-way.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyroute2.netns import popns, pushns  # type: ignore[import-untyped]

from evcc.errors import PlatformError


def _run(*args: str) -> str:
    try:
        done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=20)
    except FileNotFoundError as exc:
        raise PlatformError(f"{args[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise PlatformError(f"{' '.join(args)} failed: {exc.stderr.strip()}") from exc
    return done.stdout


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the block (this thread only) inside network namespace ``name``; sockets made here stay there."""
    if name is None:
        yield
        return
    pushns(name)
    try:
        yield
    finally:
        popns()


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
        _run("ip", "netns", "add", name)
        self._created.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def _pair(self, role: str, ifname: str, sim_ifname: str) -> Endpoint:
        ns = self._netns(role)
        _run("ip", "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", sim_ifname,
             "netns", self.sim_netns)
        for netns, dev in ((ns, ifname), (self.sim_netns, sim_ifname)):
            _run("ip", "netns", "exec", netns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
            if shutil.which("ethtool"):
                _run("ip", "netns", "exec", netns, "ethtool", "-K", dev, "tx", "off")
            _run("ip", "-n", netns, "link", "set", dev, "up")
        mac = _run("ip", "-n", ns, "-br", "link", "show", ifname).split()[2]
        return Endpoint(role, ns, ifname, sim_ifname, bytes.fromhex(mac.replace(":", "")))

    @property
    def sim_ifnames(self) -> list[str]:
        assert self.ev is not None
        return [self.ev.sim_ifname] + [e.sim_ifname for e in self.evses]

    def close(self) -> None:
        for name in reversed(self._created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self._created.clear()

    def __enter__(self) -> Topology:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.close()
