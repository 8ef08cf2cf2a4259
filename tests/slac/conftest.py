"""Fixtures for the SLAC tests: real network namespaces and veth pairs, always removed afterwards."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator

import pytest

from evcc.bench.plc_sim.topology import Topology


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop: runs against an independent peer implementation (pyslac)")


@pytest.fixture
def topology() -> Iterator[Callable[[int], Topology]]:
    """``topology(n_evse)`` creates namespaces and veth pairs; all of them are deleted after the test."""
    if os.geteuid() != 0:
        pytest.fail("the SLAC integration tests need root (network namespaces, raw sockets)")
    made: list[Topology] = []

    def make(n_evse: int) -> Topology:
        topo = Topology(n_evse=n_evse).create()
        made.append(topo)
        return topo

    yield make
    for topo in made:
        topo.close()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(t.prefix in left for t in made), left
