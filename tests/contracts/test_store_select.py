"""Contract store (persistence, states, expiry, corruption) and selection with priorities and charger roots."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.chain import anchor_key_id
from evcc.contracts.errors import ContractNotFound, ContractStoreError, InvalidIdentifier
from evcc.contracts.select import ChargerOffer, select_contract
from evcc.contracts.store import Contract, ContractState, ContractStore, Lifecycle, new_contract_id
from evcc.pki.generator import TestPki

from contracts_helpers import NOW

WINDOW = timedelta(days=30)
PNC = frozenset({"Contract", "ExternalPayment"})


def contract(pki: TestPki, leaf: str, priority: int, key: str = "contract/x") -> Contract:
    chain = pki.chain(leaf)
    return Contract(new_contract_id(), str(chain[0].subject.rfc4514_string()).split("CN=")[1].split(",")[0],
                    priority, Lifecycle.INSTALLED, tuple(c.public_bytes(Encoding.DER) for c in chain),
                    f"{key}/{leaf}", chain[0].not_valid_before_utc, chain[0].not_valid_after_utc,
                    anchor_key_id(chain))


def test_store_round_trip_and_operations(tmp_path: Path, pki2: TestPki) -> None:
    store = ContractStore(tmp_path)
    a = store.add(contract(pki2, "contract_1", 1))
    b = store.add(contract(pki2, "contract_2", 2))
    p = store.add_pending("fr-xyz-123456789-2", priority=0)
    assert p.emaid == "FRXYZ1234567892" and p.state(NOW, WINDOW) is ContractState.PENDING_INSTALLATION
    assert [c.contract_id for c in store.list()] == [b.contract_id, a.contract_id, p.contract_id]
    store.set_priority(a.contract_id, 9)
    store.revoke(b.contract_id)
    reopened = ContractStore(tmp_path)
    assert reopened.list() == store.list()
    assert reopened.get(a.contract_id).priority == 9
    assert reopened.get(b.contract_id).state(NOW, WINDOW) is ContractState.REVOKED
    assert reopened.remove(p.contract_id) == p
    with pytest.raises(ContractNotFound):
        reopened.get(p.contract_id)
    assert reopened.orphan_key_labels(["contract/x/contract_1", "contract/zzz", "oem/1"]) == ["contract/zzz"]
    with pytest.raises(InvalidIdentifier):
        reopened.add_pending("DE8AA0012345679")


def test_states_and_expiry_window(pki2: TestPki) -> None:
    c = contract(pki2, "contract_3", 0)  # 28 days of validity
    assert c.state(NOW, timedelta(days=7)) is ContractState.ACTIVE
    assert c.state(NOW, WINDOW) is ContractState.EXPIRING
    assert c.state(NOW + timedelta(days=29), WINDOW) is ContractState.EXPIRED
    assert c.state(NOW - timedelta(days=2), WINDOW) is ContractState.NOT_YET_VALID


def test_needing_update(tmp_path: Path, pki2: TestPki) -> None:
    store = ContractStore(tmp_path)
    store.add(contract(pki2, "contract_1", 0))
    soon = store.add(contract(pki2, "contract_3", 0))
    assert store.needing_update(NOW, WINDOW) == [soon]
    assert store.needing_update(NOW, timedelta(days=1)) == []


def test_damaged_file_is_detected(tmp_path: Path, pki2: TestPki) -> None:
    store = ContractStore(tmp_path)
    store.add(contract(pki2, "contract_1", 0))
    path = tmp_path / "contracts.json"
    data = bytearray(path.read_bytes())
    i = data.index(b'"priority": 0') + len(b'"priority": ')
    data[i] = ord("5")
    path.write_bytes(bytes(data))
    with pytest.raises(ContractStoreError, match="checksum"):
        ContractStore(tmp_path)
    path.write_bytes(b"{not json")
    with pytest.raises(ContractStoreError, match="unreadable"):
        ContractStore(tmp_path)


def test_selection_by_priority_then_validity(pki2: TestPki) -> None:
    low, high = contract(pki2, "contract_1", 1), contract(pki2, "contract_2", 5)
    sel = select_contract([low, high], ChargerOffer(PNC), NOW, WINDOW)
    assert sel.contract == high and "priority 5" in sel.reason
    expired = contract(pki2, "broken_contract_expired", 10)
    sel = select_contract([low, expired], ChargerOffer(PNC), NOW, WINDOW)
    assert sel.contract == low and sel.rejected == ((expired.contract_id, "state expired"),)
    tie = contract(pki2, "contract_2", 1)  # same priority as low, earlier notAfter
    assert select_contract([tie, low], ChargerOffer(PNC), NOW, WINDOW).contract == low


def test_selection_with_charger_roots_and_reasons(pki2: TestPki, pki20: TestPki) -> None:
    ours = contract(pki2, "contract_1", 1)
    foreign = contract(pki20, "contract_1", 9)
    offer = ChargerOffer(PNC, frozenset({anchor_key_id(pki2.chain("contract_1"))}))
    assert select_contract([ours, foreign], offer, NOW, WINDOW).contract == ours
    none = select_contract([foreign], offer, NOW, WINDOW)
    assert none.contract is None and "not trusted by this charger" in none.reason
    eim = select_contract([ours], ChargerOffer(frozenset({"ExternalPayment"})), NOW, WINDOW)
    assert eim.contract is None and "does not offer Contract payment" in eim.reason
    empty = select_contract([], ChargerOffer(PNC), NOW, WINDOW)
    assert empty.contract is None and "no contracts stored" in empty.reason
