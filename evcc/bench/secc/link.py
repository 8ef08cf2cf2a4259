"""A point-to-point link for session tests and the bench: two network namespaces (EV, SECC) joined by one
veth pair, IPv6 DAD off so the link-local addresses are usable at once (INTEROP.md). Removed on close, also
after a failure half-way. Needs root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyroute2.netns import popns, pushns  # type: ignore[import-untyped]

from evcc.errors import PlatformError


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Sockets created inside the block (this thread) belong to network namespace ``name``."""
    pushns(name)
    try:
        yield
    finally:
        popns()


def _run(*args: str) -> str:
    try:
        done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=20)
    except FileNotFoundError as exc:
        raise PlatformError(f"{args[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise PlatformError(f"{' '.join(args)} failed: {exc.stderr.strip()}") from exc
    return done.stdout


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
                _run("ip", "netns", "add", ns)
                self._made.append(ns)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "link", "add", self.ev_ifname, "netns", self.ev_netns, "type", "veth",
                 "peer", "name", self.secc_ifname, "netns", self.secc_netns)
            for ns, dev in ((self.ev_netns, self.ev_ifname), (self.secc_netns, self.secc_ifname)):
                _run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
                _run("ip", "-n", ns, "link", "set", dev, "up")
            self.link_local(self.ev_netns, self.ev_ifname)
            self.link_local(self.secc_netns, self.secc_ifname)
        except BaseException:
            self.close()
            raise
        return self

    def link_local(self, netns: str, ifname: str, wait: float = 5.0) -> ipaddress.IPv6Address:
        """The interface's fe80:: address, waiting up to ``wait`` seconds for the kernel to assign it."""
        end = time.monotonic() + wait
        while True:
            out = json.loads(_run("ip", "-j", "-n", netns, "-6", "addr", "show", "dev", ifname, "scope", "link"))
            for link in out:
                for info in link.get("addr_info", []):
                    if not info.get("tentative"):
                        return ipaddress.IPv6Address(info["local"])
            if time.monotonic() > end:
                raise PlatformError(f"{ifname} in {netns} got no link-local IPv6 address")
            time.sleep(0.01)

    def close(self) -> None:
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        self._made.clear()

    def __enter__(self) -> VethLink:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.close()
