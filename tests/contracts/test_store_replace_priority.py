"""A reordering made while a session step runs is not undone by the step's store swap (project rule: bad input
never loses data). ContractStore.replace (ISO 15118-2 CertificateUpdate [V2G2-821]; a pending record completed
by CertificateInstallation [V2G2-820]; ISO 15118-20 §8.3.5.3.2) gives the stored record the priority the replaced
record has at the moment of the atomic write, not the one a caller read when its step began, so the priorities
stay the order the user set (no twin, no gap).

Real parts: the contract store on disk in tmp_path, reopened to see what was written; for the installation
paths the SoftHSM2 token and the provisioning simulator's CPS-signed responses."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.chain import anchor_key_id
from evcc.contracts.install2 import install_contract_2, update_contract_2
from evcc.contracts.install20 import install_contract_20
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import Contract, ContractStore, Lifecycle, new_contract_id
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki
from evcc.pki.profiles import TEST_PCID

from contracts_helpers import NOW, cps_verifier, make_context, oem_key_in_store

EMAID = "DE8AA0012345670"
EMAID_20 = "NN123ABCDEFGHIT"


def installed(pki: TestPki, leaf: str, priority: int) -> Contract:
    chain = pki.chain(leaf)
    emaid = chain[0].subject.rfc4514_string().split("CN=")[1].split(",")[0]
    return Contract(new_contract_id(), emaid, priority, Lifecycle.INSTALLED,
                    tuple(c.public_bytes(Encoding.DER) for c in chain), f"contract/{leaf}/{new_contract_id()[:8]}",
                    chain[0].not_valid_before_utc, chain[0].not_valid_after_utc, anchor_key_id(chain))


def priorities(directory: Path) -> dict[str, int]:
    return {c.contract_id: c.priority for c in ContractStore(directory).list()}


def test_replace_keeps_a_priority_set_after_the_caller_read_it(tmp_path: Path, pki2: TestPki) -> None:
    store = ContractStore(tmp_path)
    old = store.add(installed(pki2, "contract_1", 2))
    other = store.add(installed(pki2, "contract_2", 1))
    renewed = installed(pki2, "contract_1", old.priority)  # the step read priority 2 when it began
    store.set_priorities({old.contract_id: 1, other.contract_id: 2})  # D-Bus SetPriorities meanwhile
    stored = store.replace(old.contract_id, renewed)
    assert stored.priority == 1 and store.get(renewed.contract_id) == stored
    assert priorities(tmp_path) == {renewed.contract_id: 1, other.contract_id: 2}  # on disk: the user's order


def test_replace_of_a_pending_record_takes_its_current_priority(tmp_path: Path, pki2: TestPki) -> None:
    store = ContractStore(tmp_path)
    other = store.add(installed(pki2, "contract_2", 2))
    pending = store.add_pending(EMAID, priority=1)
    store.set_priorities({pending.contract_id: 2, other.contract_id: 1})
    done = installed(pki2, "contract_1", pending.priority)  # the stale priority 1 read at session start
    store.replace(pending.contract_id, done)
    assert priorities(tmp_path) == {done.contract_id: 2, other.contract_id: 1}


def test_update_step_keeps_the_priority_set_during_it(tmp_path: Path, token: Pkcs11KeyStore,
                                                     pki2: TestPki) -> None:
    """[V2G2-821] through the real token: the update's store swap after a reordering keeps the new order."""
    ctx = make_context(tmp_path, token, pki2)
    oem_label, oem_cert = oem_key_in_store(pki2, token, KeyAlgorithm.EC_P256)
    sim = ProvisioningSimulator(pki2)
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    old = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=2)
    other = ctx.store.add(installed(pki2, "contract_2", 1))
    upd = sim.certificate_update_2(x509.load_der_x509_certificate(old.chain[0]), EMAID, NOW)
    verify = cps_verifier(sim, upd)

    def reorder_then_verify(leaf: x509.Certificate) -> bool:  # runs inside the step, after it read the old record
        ctx.store.set_priorities({old.contract_id: 1, other.contract_id: 2})
        return bool(verify(leaf))

    new = update_contract_2(upd, reorder_then_verify, old_contract_id=old.contract_id, ctx=ctx)
    assert new.priority == 1
    assert priorities(ctx.store.directory) == {new.contract_id: 1, other.contract_id: 2}
    token.delete(new.key_label or "")
    token.delete(oem_label)


def test_pending_installation_keeps_the_priority_set_during_it(tmp_path: Path, token: Pkcs11KeyStore,
                                                               pki2: TestPki) -> None:
    """[V2G2-820]: the caller passes the pending record's priority read at session start; a SetPriorities made
    before the store write wins."""
    ctx = make_context(tmp_path, token, pki2)
    oem_label, oem_cert = oem_key_in_store(pki2, token, KeyAlgorithm.EC_P256)
    sim = ProvisioningSimulator(pki2)
    other = ctx.store.add(installed(pki2, "contract_2", 2))
    pending = ctx.store.add_pending(EMAID, priority=1)
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    verify = cps_verifier(sim, res)

    def reorder_then_verify(leaf: x509.Certificate) -> bool:
        ctx.store.set_priorities({pending.contract_id: 2, other.contract_id: 1})
        return bool(verify(leaf))

    c = install_contract_2(res, reorder_then_verify, oem_key_label=oem_label, ctx=ctx, priority=pending.priority,
                           pending_id=pending.contract_id)
    assert priorities(ctx.store.directory) == {c.contract_id: 2, other.contract_id: 1}
    token.delete(c.key_label or "")
    token.delete(oem_label)


def test_iso20_pending_installation_replaces_the_record_with_its_current_priority(
        tmp_path: Path, token: Pkcs11KeyStore, pki20: TestPki) -> None:
    """ISO 15118-20 §8.3.5.3.2: the installed contract takes the pending record's place in one write (no moment
    with both, so no twin priority) and with the priority the user set while the step ran."""
    ctx = make_context(tmp_path, token, pki20)
    label, oem_cert = oem_key_in_store(pki20, token, KeyAlgorithm.EC_P521)
    sim = ProvisioningSimulator(pki20)
    other = ctx.store.add_pending(EMAID, priority=2)
    pending = ctx.store.add_pending(EMAID_20, priority=1)
    data = sim.certificate_installation_20(oem_cert, TEST_PCID, EMAID_20, NOW)
    verify = cps_verifier(sim, data)

    def reorder_then_verify(leaf: x509.Certificate) -> bool:
        ctx.store.set_priorities({pending.contract_id: 2, other.contract_id: 1})
        return bool(verify(leaf))

    c = install_contract_20(data, reorder_then_verify, pcid=TEST_PCID, ecdh_key_label=label, ctx=ctx,
                            priority=pending.priority, replaces=pending.contract_id)
    assert c.lifecycle is Lifecycle.INSTALLED and c.emaid == EMAID_20
    assert priorities(ctx.store.directory) == {c.contract_id: 2, other.contract_id: 1}
    token.delete(c.key_label or "")
    token.delete(label)
