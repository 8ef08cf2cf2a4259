"""Network-namespace helpers for the bench and the tests (one copy): run ``ip``, make and remove namespaces
and veth pairs (IPv6 DAD off so link-local addresses are usable at once, SLAC.md §5 / INTEROP.md), enter a
namespace for the current thread (sockets made there stay there), read an interface's link-local address and
MAC. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); every failure is a :class:`~evcc.errors.PlatformError` that
names the command.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import subprocess
import time
from collections.abc import Iterator

from pyroute2.netns import popns, pushns  # type: ignore[import-untyped]

from evcc.errors import PlatformError


def run(*args: str) -> str:
    """Run a command (``ip``, ``sysctl`` ...), its stdout; a PlatformError naming it when it fails."""
    try:
        done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=20)
    except FileNotFoundError as exc:
        raise PlatformError(f"{args[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise PlatformError(f"{' '.join(args)} failed: {exc.stderr.strip()}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"{' '.join(args)} did not finish within {exc.timeout} s") from exc
    return done.stdout


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the block (this thread only) inside network namespace ``name`` (None: where we are)."""
    if name is None:
        yield
        return
    pushns(name)
    try:
        yield
    finally:
        popns()


def add_netns(name: str) -> None:
    run("ip", "netns", "add", name)
    run("ip", "-n", name, "link", "set", "lo", "up")


def delete_netns(name: str) -> None:
    """Best effort (clean-up paths): never raises."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)


def add_veth(ifname: str, netns: str, peer: str, peer_netns: str, tx_offload: bool = True) -> None:
    """A veth pair ``ifname``@``netns`` <-> ``peer``@``peer_netns``, both up, DAD off. ``tx_offload=False``:
    TX checksum offload off (frames relayed by a user-space bridge must carry finished checksums)."""
    run("ip", "link", "add", ifname, "netns", netns, "type", "veth", "peer", "name", peer, "netns", peer_netns)
    for ns, dev in ((netns, ifname), (peer_netns, peer)):
        run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
        if not tx_offload and shutil.which("ethtool"):
            run("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off")
        run("ip", "-n", ns, "link", "set", dev, "up")


def mac_address(netns: str, ifname: str) -> bytes:
    fields = run("ip", "-n", netns, "-br", "link", "show", ifname).split()
    if len(fields) < 3:
        raise PlatformError(f"ip link show {ifname} in {netns}: no MAC address in {fields}")
    return bytes.fromhex(fields[2].replace(":", ""))


def link_local(netns: str, ifname: str, wait: float = 5.0) -> ipaddress.IPv6Address:
    """The interface's fe80:: address, waiting up to ``wait`` seconds for the kernel to assign it."""
    end = time.monotonic() + wait
    while True:
        try:
            out = json.loads(run("ip", "-j", "-n", netns, "-6", "addr", "show", "dev", ifname, "scope", "link")
                             or "[]")
        except ValueError as exc:
            raise PlatformError(f"ip -j addr show {ifname} in {netns}: not JSON ({exc})") from exc
        for link in out:
            for info in link.get("addr_info", []):
                if not info.get("tentative"):
                    return ipaddress.IPv6Address(info["local"])
        if time.monotonic() > end:
            raise PlatformError(f"{ifname} in {netns} has no link-local IPv6 address")
        time.sleep(0.01)
