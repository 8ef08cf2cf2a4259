"""Fixtures every test folder may use: a real SoftHSM2 token with a private SOFTHSM2_CONF (one token per test
process), a private swtpm (one per test process), and a real veth pair between two network namespaces, always
removed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from evcc.bench.secc.link import VethLink
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm, softhsm_available
from evcc.hsm.swtpm import Swtpm, swtpm_available


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


@pytest.fixture(scope="session")
def swtpm_tcti() -> Iterator[str]:
    """A private software TPM 2.0 (swtpm, no resource manager) for the whole test process: its TCTI string.
    Tests isolate by key-store folder; a test that power-cycles a TPM starts its own :class:`Swtpm`."""
    if not swtpm_available():
        pytest.fail("swtpm missing: scripts/setup installs the Debian packages swtpm, swtpm-tools")
    with Swtpm() as tpm:
        yield tpm.tcti


@pytest.fixture
def veth() -> Iterator[VethLink]:
    if os.geteuid() != 0:
        pytest.fail("the link tests need root (network namespaces)")
    link = VethLink().create()
    yield link
    link.close()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert link.prefix not in left, left
