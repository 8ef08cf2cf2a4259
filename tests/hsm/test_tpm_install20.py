"""ISO 15118-20 TPM_EncryptedPrivateKey (PKI.md §1): the test provisioning service wraps a P-521 contract key for
the EV's TPM storage key (duplication blob, outer wrapper only, 206 bytes), the CPS signs it, the EV imports it
with TPM2_Import through the real EXI message path; the key signs after a TPM power cycle. Blobs for another
storage key, damaged blobs, a swapped certificate and key stores without TPM2_Import are refused, nothing stored."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from evcc.contracts.errors import DecryptionFailed
from evcc.contracts.install20 import SignedInstallationData20
from evcc.contracts.messages20 import install_from_message_20
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.hsm.swtpm import Swtpm
from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contracts_helpers import NOW, make_context, response_message  # noqa: E402

EMAID = "DE8AA0012345670"
PCID = "WMIV1234567890ABC1"
STORAGE = "tpm-storage-20"


@pytest.fixture(scope="module")
def pki20() -> TestPki:
    return build_pki(Suite.ISO20_P521, NOW)


@pytest.fixture()
def tpm(tmp_path: Path) -> Iterator[Swtpm]:
    with Swtpm(tmp_path / "tpm-state") as t:
        yield t


def _install(keystore: KeyStore, tmp: Path, pki: TestPki, sim: ProvisioningSimulator,
             values: SignedInstallationData20, storage: str | None = STORAGE) -> Any:
    ctx = make_context(tmp, keystore, pki)
    message = response_message(sim, values)
    assert message.SignedInstallationData.TPM_EncryptedPrivateKey == values.encrypted_private_key
    return ctx, install_from_message_20(message, pcid=PCID, ecdh_key_label="unused-for-tpm", ctx=ctx,
                                        tpm_storage_key_label=storage)


def test_tpm_encrypted_private_key_imported_and_usable_after_restart(tpm: Swtpm, tmp_path: Path,
                                                                     pki20: TestPki) -> None:
    store = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    store.create_storage_key(STORAGE)
    sim = ProvisioningSimulator(pki20)
    values = sim.certificate_installation_20_tpm(EMAID, NOW, store.storage_parent(STORAGE))
    assert len(values.encrypted_private_key) == 206 and len(values.dh_public_key) == 133
    ctx, contract = _install(store, tmp_path, pki20, sim, values)
    assert ctx.store.list() == [contract]
    secret = sim.issued_keys[-1]
    for path in tmp_path.rglob("*"):
        if path.is_file() and "tpm-state" not in path.parts:
            assert secret not in path.read_bytes() and secret.hex().encode() not in path.read_bytes()
    store.close()
    tpm.stop()
    tpm.start()
    again = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    try:
        leaf = x509.load_der_x509_certificate(contract.chain[0])
        challenge = os.urandom(16)
        signature = again.sign(contract.key_label, challenge)
        assert len(signature) == 132 and verify_raw(leaf.public_key(), challenge, signature)  # type: ignore[arg-type]
    finally:
        again.close()


def test_refused_blobs_leave_nothing(tpm: Swtpm, tmp_path: Path, pki20: TestPki) -> None:
    store = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    try:
        store.create_storage_key(STORAGE)
        store.create_storage_key("other-storage")
        sim = ProvisioningSimulator(pki20)
        good = sim.certificate_installation_20_tpm(EMAID, NOW, store.storage_parent(STORAGE))
        for_other = sim.certificate_installation_20_tpm(EMAID, NOW, store.storage_parent("other-storage"))
        blob = bytearray(good.encrypted_private_key)
        blob[100] ^= 0x04
        damaged = dataclasses.replace(good, encrypted_private_key=bytes(blob))
        other_cert = sim.certificate_installation_20_tpm(EMAID, NOW, store.storage_parent(STORAGE))
        swapped = dataclasses.replace(good, contract_chain=other_cert.contract_chain)
        before = store.list()
        for values in (for_other, damaged, swapped):
            with pytest.raises(DecryptionFailed) as err:
                _install(store, tmp_path, pki20, sim, values)
            text = str(err.value)
            assert "\n" not in text and "TPM_RC_" in text and "Import" in text
            assert store.list() == before
        with pytest.raises(DecryptionFailed, match="no TPM storage key"):
            _install(store, tmp_path, pki20, sim, good, storage=None)
        _, contract = _install(store, tmp_path, pki20, sim, good)
        assert [k.label for k in store.list("contract/")] == [contract.key_label]
    finally:
        store.close()


def test_key_store_without_tpm_import_refuses(tmp_path: Path, pki20: TestPki) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from evcc.hsm.tpm_wrap import StorageParent

    key_file = tmp_path / "kek"
    key_file.write_bytes(os.urandom(32))
    soft = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "soft", kek_file=key_file))
    n = ec.generate_private_key(ec.SECP521R1()).public_key().public_numbers()
    parent = StorageParent(ec.SECP521R1(), n.x.to_bytes(66, "big"), n.y.to_bytes(66, "big"), 0x000D, 256)
    sim = ProvisioningSimulator(pki20)
    values = sim.certificate_installation_20_tpm(EMAID, NOW, parent)
    with pytest.raises(DecryptionFailed, match="TPM2_Import"):
        _install(soft, tmp_path, pki20, sim, values)
    assert soft.list() == []
