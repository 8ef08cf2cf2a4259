"""ISO 15118-2 CertificateInstallation/Update processed into the TPM 2.0 key store ([V2G2-818..823]): ECDH with
the OEM provisioning key in the TPM (TPM2_ECDH_ZGen), the contract key imported with TPM2_Import, GenChallenge
signed by it after a TPM power cycle; a contract key that does not match its certificate leaves nothing behind.
The CPS signature is the real one through EXI bytes (tests/contracts/contracts_helpers.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from evcc.contracts.errors import KeyMismatch
from evcc.contracts.install2 import install_contract_2, update_contract_2
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.swtpm import Swtpm
from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contracts_helpers import NOW, cps_verifier, make_context, oem_key_in_store  # noqa: E402

EMAID = "DE8AA0012345670"


@pytest.fixture(scope="module")
def pki2() -> TestPki:
    return build_pki(Suite.ISO2, NOW)


@pytest.fixture()
def tpm(tmp_path: Path) -> Iterator[Swtpm]:
    with Swtpm(tmp_path / "tpm-state") as t:
        yield t


def test_installation_update_and_restart_through_the_tpm(tpm: Swtpm, tmp_path: Path, pki2: TestPki) -> None:
    """[V2G2-820] ECDH with the OEM key, [V2G2-821] Update with the current contract key, [V2G2-823] checked,
    several contracts at once, each usable after the TPM and the store restart."""
    store = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    ctx = make_context(tmp_path, store, pki2)
    oem_label, oem_cert = oem_key_in_store(pki2, store, KeyAlgorithm.EC_P256)
    sim = ProvisioningSimulator(pki2)
    contracts = []
    for emaid in (EMAID, "FRXYZ1234567892"):
        res = sim.certificate_installation_2(oem_cert, emaid, NOW)
        contracts.append(install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx))
    old = contracts[1]
    res = sim.certificate_update_2(x509.load_der_x509_certificate(old.chain[0]), old.emaid, NOW)
    contracts[1] = update_contract_2(res, cps_verifier(sim, res), old_contract_id=old.contract_id, ctx=ctx)
    assert old.key_label not in {k.label for k in store.list()}
    for secret in sim.issued_keys:
        for path in (tmp_path / "keys").rglob("*.pem"):
            assert secret not in path.read_bytes() and secret.hex().encode() not in path.read_bytes()
    store.close()
    tpm.stop()
    tpm.start()
    again = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    try:
        for contract in contracts:
            challenge = os.urandom(16)  # GenChallenge
            leaf = x509.load_der_x509_certificate(contract.chain[0])
            assert verify_raw(leaf.public_key(), challenge, again.sign(contract.key_label, challenge))  # type: ignore[arg-type]
    finally:
        again.close()


def test_contract_key_not_matching_its_certificate_leaves_nothing(tpm: Swtpm, tmp_path: Path,
                                                                  pki2: TestPki) -> None:
    import dataclasses

    store = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    try:
        ctx = make_context(tmp_path, store, pki2)
        oem_label, oem_cert = oem_key_in_store(pki2, store, KeyAlgorithm.EC_P256)
        sim = ProvisioningSimulator(pki2)
        res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
        other = sim.certificate_installation_2(oem_cert, EMAID, NOW)
        bad = dataclasses.replace(res, contract_chain=other.contract_chain)
        before = store.list()
        with pytest.raises(KeyMismatch) as err:
            install_contract_2(bad, cps_verifier(sim, bad), oem_key_label=oem_label, ctx=ctx)
        assert str(err.value) and "\n" not in str(err.value)
        assert store.list() == before and ctx.store.list() == []
        install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx)
        assert len(store.list("contract/")) == 1
    finally:
        store.close()
