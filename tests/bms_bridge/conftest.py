"""A network namespace for CAN over python-can's udp_multicast (this kernel has no vcan; BMS.md): loopback up
with multicast on and a route for 224.0.0.0/4 on lo, so the IPv4 group stays inside the namespace. Unique name
per test, always removed."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator

import pytest
from pyroute2.netns import popns, pushns  # type: ignore[import-untyped]

GROUP = "239.74.163.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@pytest.fixture
def can_netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("the CAN-over-udp_multicast tests need root (network namespaces)")
    name = "evcan-" + secrets.token_hex(3)
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up", "multicast", "on")
        _ip("-n", name, "route", "add", "224.0.0.0/4", "dev", "lo")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Sockets opened in the block (this thread) belong to namespace ``name``."""
    pushns(name)
    try:
        yield
    finally:
        popns()
