"""ISO 15118-2 CertificateInstallation/Update processing into a real SoftHSM2 token ([V2G2-818..823]).

The CPS signature is the real one: the values travel in a CPS-signed CertificateInstallationRes through EXI
bytes (contracts_helpers.cps_verifier) and are checked over the four references with the validated CPS leaf.
Message-level tests (requests, responses from EXI bytes) are in test_exi_installation.py.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography import x509

from evcc.contracts.install2 import install_contract_2
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import Lifecycle
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki

from contracts_helpers import NOW, cps_verifier, make_context, oem_key_in_store

EMAID = "DE8AA0012345670"


@pytest.fixture()
def setup(tmp_path: Path, token: Pkcs11KeyStore, pki2: TestPki):  # type: ignore[no-untyped-def]
    ctx = make_context(tmp_path, token, pki2)
    oem_label, oem_cert = oem_key_in_store(pki2, token, KeyAlgorithm.EC_P256)
    return ctx, ProvisioningSimulator(pki2), oem_label, oem_cert


def plaintext_forms(raw: bytes) -> list[bytes]:
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]


def softhsm_token_dir() -> Path:
    conf = Path(os.environ["SOFTHSM2_CONF"]).read_text()
    line = next(x for x in conf.splitlines() if x.startswith("directories.tokendir"))
    return Path(line.split("=", 1)[1].strip())


def test_installed_contract_signs_a_challenge_and_no_plaintext_key_on_disk(setup) -> None:  # type: ignore[no-untyped-def]
    """Acceptance: install through the provisioning service, sign GenChallenge in SoftHSM2, verify; the key
    is nowhere in plaintext under the store directory (nor in the token's files)."""
    ctx, sim, oem_label, oem_cert = setup
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    contract = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=5)
    assert contract.emaid == EMAID and contract.lifecycle is Lifecycle.INSTALLED
    assert ctx.store.list() == [contract]
    challenge = os.urandom(16)  # GenChallenge
    sig = ctx.keystore.sign(contract.key_label, challenge)
    leaf = x509.load_der_x509_certificate(contract.chain[0])
    assert len(sig) == 64 and verify_raw(leaf.public_key(), challenge, sig)  # type: ignore[arg-type]
    secret = sim.issued_keys[-1]
    files = [p for d in (ctx.store.directory, softhsm_token_dir()) for p in d.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for form in plaintext_forms(secret):
            assert form not in data, f"contract private key in plaintext in {path}"


def _rogue_chain(pki: TestPki) -> tuple[bytes, ...]:
    from cryptography.hazmat.primitives.serialization import Encoding
    return tuple(c.public_bytes(Encoding.DER) for c in pki.chain("broken_rogue_cps_leaf"))


REJECTIONS = {
    # name: (how to break the response / verifier, expected error)
    "tampered_signature": "SignatureValueInvalid",
    "tampered_content": "DigestMismatch",
    "cps_unknown_root": "UnknownRoot",
    "cps_leaf_expired": "CertificateExpired",
    "cps_leaf_wrong_usage": "WrongKeyUsage",
    "dh_wrong_length": "DhPublicKeyInvalid",
    "dh_not_on_curve": "DhPublicKeyInvalid",
    "dh_compressed": "DhPublicKeyInvalid",
    "key_not_matching_certificate": "KeyMismatch",
    "encrypted_key_wrong_length": "DecryptionFailed",
    "chain_10kB": "ChainTooLarge",
    "emaid_non_ascii": "InvalidIdentifier",
    "emaid_malformed": "InvalidIdentifier",
    "emaid_mismatch": "EmaidMismatch",
    "contract_chain_garbage": "MalformedCertificate",
}


def broken(case: str, sim: ProvisioningSimulator, oem_cert: x509.Certificate):  # type: ignore[no-untyped-def]
    import dataclasses

    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    r = dataclasses.replace
    if case == "tampered_signature":
        sig = bytearray(sim.sign(b"anything"))
        sig[10] ^= 0x01
        return res, cps_verifier(sim, res, signature_value=bytes(sig))
    if case == "tampered_content":  # signed, then changed in transit (a digest mismatch for the EXI layer)
        ct = bytearray(res.encrypted_private_key)
        ct[20] ^= 0x80
        received = r(res, encrypted_private_key=bytes(ct))
        return received, cps_verifier(sim, received, signed=res)
    if case == "cps_unknown_root":
        rogue = ProvisioningSimulator(sim.pki, cps_leaf="broken_rogue_cps_leaf")
        res = r(res, cps_chain=_rogue_chain(sim.pki))
        return res, cps_verifier(rogue, res)
    if case == "cps_leaf_expired":
        s2 = ProvisioningSimulator(sim.pki, cps_leaf="broken_cps_leaf_expired")
        res = r(res, cps_chain=s2.cps_chain())
        return res, cps_verifier(s2, res)
    if case == "cps_leaf_wrong_usage":
        s2 = ProvisioningSimulator(sim.pki, cps_leaf="broken_cps_leaf_wrong_usage")
        res = r(res, cps_chain=s2.cps_chain())
        return res, cps_verifier(s2, res)
    if case == "dh_wrong_length":
        res = r(res, dh_public_key=res.dh_public_key[:64])
    elif case == "dh_not_on_curve":
        res = r(res, dh_public_key=res.dh_public_key[:-1] + bytes([res.dh_public_key[-1] ^ 1]))
    elif case == "dh_compressed":
        res = r(res, dh_public_key=b"\x02" + res.dh_public_key[1:])
    elif case == "key_not_matching_certificate":  # the CPS signed a chain of another key (backend fault)
        other = sim.certificate_installation_2(oem_cert, EMAID, NOW)
        res = r(res, contract_chain=other.contract_chain)
    elif case == "encrypted_key_wrong_length":
        res = r(res, encrypted_private_key=res.encrypted_private_key + bytes(16))
    elif case == "chain_10kB":
        res = r(res, contract_chain=res.contract_chain[:1] + (os.urandom(10 * 1024),))
    elif case == "emaid_non_ascii":
        res = r(res, emaid="DE8AA00123456\u00e70")
    elif case == "emaid_malformed":
        res = r(res, emaid="DE8AA00123456")
    elif case == "emaid_mismatch":
        res = r(res, emaid="NN123ABCDEFGHIT")
    elif case == "contract_chain_garbage":
        res = r(res, contract_chain=(b"\x30\x82\x01\x00" + bytes(100),))
    return res, cps_verifier(sim, res)


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_each_rejection_has_its_error_and_leaves_the_store_unchanged(setup, case: str) -> None:  # type: ignore[no-untyped-def]
    from evcc.contracts import errors

    ctx, sim, oem_label, oem_cert = setup
    first = sim.certificate_installation_2(oem_cert, "FRXYZ1234567892", NOW)
    install_contract_2(first, cps_verifier(sim, first), oem_key_label=oem_label, ctx=ctx)
    before_file = (ctx.store.directory / "contracts.json").read_bytes()
    before_keys = ctx.keystore.list("contract/")
    res, verify = broken(case, sim, oem_cert)
    with pytest.raises(getattr(errors, REJECTIONS[case])) as info:
        install_contract_2(res, verify, oem_key_label=oem_label, ctx=ctx)
    assert str(info.value)  # a message that names what was wrong
    assert (ctx.store.directory / "contracts.json").read_bytes() == before_file
    assert ctx.keystore.list("contract/") == before_keys
    assert len(ctx.store.list()) == 1


def test_update_keeps_old_contract_until_the_new_one_is_stored(setup) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, oem_label, oem_cert = setup
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    others = {k.label for k in ctx.keystore.list("contract/")}  # the token is shared by the test session

    def contract_keys() -> list[str]:
        return sorted({k.label for k in ctx.keystore.list("contract/")} - others)

    old = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=7)
    old_leaf = x509.load_der_x509_certificate(old.chain[0])
    upd = sim.certificate_update_2(old_leaf, EMAID, NOW)
    # 1. A rejected update leaves the old contract in place and usable.
    bad = cps_verifier(sim, upd, signature_value=bytes(64))
    from evcc.contracts.errors import SignatureRejected
    from evcc.contracts.install2 import update_contract_2
    with pytest.raises(SignatureRejected):
        update_contract_2(upd, bad, old_contract_id=old.contract_id, ctx=ctx)
    assert ctx.store.list() == [old] and ctx.keystore.sign(old.key_label, b"c")
    # 2. The store write fails (its temp file path is occupied): the new key is removed again, old unchanged.
    blocker = ctx.store.directory / f".contracts.json.{os.getpid()}.tmp"
    blocker.mkdir()
    from evcc.contracts.errors import ContractStoreError
    with pytest.raises(ContractStoreError):
        update_contract_2(upd, cps_verifier(sim, upd), old_contract_id=old.contract_id, ctx=ctx)
    blocker.rmdir()
    assert ctx.store.list() == [old]
    assert contract_keys() == [old.key_label]
    assert verify_raw(old_leaf.public_key(), b"c", ctx.keystore.sign(old.key_label, b"c"))  # type: ignore[arg-type]
    # 3. A good update swaps atomically, keeps the priority, and retires the old key afterwards.
    new = update_contract_2(upd, cps_verifier(sim, upd), old_contract_id=old.contract_id, ctx=ctx)
    assert ctx.store.list() == [new] and new.priority == 7 and new.key_label != old.key_label
    assert contract_keys() == [new.key_label]
    new_leaf = x509.load_der_x509_certificate(new.chain[0])
    assert verify_raw(new_leaf.public_key(), b"c", ctx.keystore.sign(new.key_label, b"c"))  # type: ignore[arg-type]


def test_pending_contract_completed_by_installation(setup) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, oem_label, oem_cert = setup
    pending = ctx.store.add_pending(EMAID, priority=3)
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    c = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=3,
                           pending_id=pending.contract_id)
    assert ctx.store.list() == [c]
