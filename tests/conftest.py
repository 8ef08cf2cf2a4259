"""Fixtures every test folder may use: a real SoftHSM2 token with a private SOFTHSM2_CONF (one token per test
process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm, softhsm_available


@pytest.fixture(scope="session")
def softhsm_config(tmp_path_factory: pytest.TempPathFactory) -> Pkcs11Config:
    if not softhsm_available():
        pytest.fail("SoftHSM2 missing: scripts/setup installs the Debian package softhsm2")
    return init_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture()
def token(softhsm_config: Pkcs11Config) -> Iterator[Pkcs11KeyStore]:
    store = Pkcs11KeyStore(softhsm_config)
    yield store
    store.close()
