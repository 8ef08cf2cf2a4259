"""Fixtures: the test PKIs (the SoftHSM2 token fixtures are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite

from contracts_helpers import NOW


@pytest.fixture(scope="session")
def pki2() -> TestPki:
    return build_pki(Suite.ISO2, NOW)


@pytest.fixture(scope="session")
def pki20() -> TestPki:
    return build_pki(Suite.ISO20_P521, NOW)


@pytest.fixture(scope="session")
def pki448() -> TestPki:
    return build_pki(Suite.ISO20_ED448, NOW)
