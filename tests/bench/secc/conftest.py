"""Fixtures for the session tests: a real veth pair between two network namespaces, always removed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from evcc.bench.secc.link import VethLink


@pytest.fixture
def veth() -> Iterator[VethLink]:
    if os.geteuid() != 0:
        pytest.fail("the session link tests need root (network namespaces)")
    link = VethLink().create()
    yield link
    link.close()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert link.prefix not in left, left
