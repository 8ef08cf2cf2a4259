"""evcc/bench/netns.py: a namespace pair joined by a veth, its link-local address and MAC, a socket made inside
a namespace stays there, failures name the command, clean-up leaves nothing behind."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess

import pytest

from evcc.bench.netns import add_netns, add_veth, delete_netns, in_netns, link_local, mac_address, run
from evcc.errors import PlatformError


def test_veth_pair_between_two_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces)")
    prefix = "evnt-" + secrets.token_hex(3)
    a, b = f"{prefix}-a", f"{prefix}-b"
    try:
        add_netns(a)
        add_netns(b)
        add_veth("x0", a, "y0", b, tx_offload=False)
        address = link_local(a, "x0")
        assert link_local(b, "y0") != address
        assert address.is_link_local and len(mac_address(a, "x0")) == 6
        with in_netns(b):
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            index = socket.if_nametoindex("y0")
        with sock:
            sock.sendto(b"ping", (str(address), 9, 0, index))  # y0 exists only in b: the socket lives there
        with pytest.raises(PlatformError, match="ip -n .* link show nope0 failed"):
            mac_address(a, "nope0")
    finally:
        delete_netns(b)
        delete_netns(a)
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in listing


def test_missing_command_is_named() -> None:
    with pytest.raises(PlatformError, match="no-such-tool-xyz is not installed"):
        run("no-such-tool-xyz")
