"""Fixtures: a real SoftHSM2 token (private SOFTHSM2_CONF, one token per process) and the test PKIs."""

from __future__ import annotations

import pytest

from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm, softhsm_available
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite

from contracts_helpers import NOW


@pytest.fixture(scope="session")
def softhsm_config(tmp_path_factory: pytest.TempPathFactory) -> Pkcs11Config:
    if not softhsm_available():
        pytest.fail("SoftHSM2 missing: scripts/setup installs the Debian package softhsm2")
    return init_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture()
def token(softhsm_config: Pkcs11Config):  # type: ignore[no-untyped-def]
    store = Pkcs11KeyStore(softhsm_config)
    yield store
    store.close()



@pytest.fixture(scope="session")
def pki2() -> TestPki:
    return build_pki(Suite.ISO2, NOW)


@pytest.fixture(scope="session")
def pki20() -> TestPki:
    return build_pki(Suite.ISO20_P521, NOW)


@pytest.fixture(scope="session")
def pki448() -> TestPki:
    return build_pki(Suite.ISO20_ED448, NOW)
