"""A D-Bus SetPriorities made while a session's CertificateUpdate step runs (ISO 15118-2 [V2G2-821]: ECDH with
the contract key, import of the renewed key, one atomic store swap) is kept: the renewed contract has the
priority the user set, not the one the step read when it began (project rule: bad input never loses data).

The store swap (ContractStore.replace) takes the replaced contract's priority inside its lock and atomic write.

Real parts and the held step: tests/hmi/held_update.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dbus_fast import MessageType

from evcc.contracts.store import ContractStore
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hsm.pkcs11_store import Pkcs11KeyStore

from .conftest import Client
from .held_update import WHERE, held_update, run_held

OTHER_EMAID = "DE8AA0012345686"


@pytest.mark.parametrize("where", WHERE)
def test_set_priorities_during_a_session_update_step_is_kept(private_bus: PrivateBus, tmp_path: Path,
                                                            token: Pkcs11KeyStore, where: str) -> None:
    h = held_update(tmp_path, token, where, priority=2)
    other = h.store.add_pending(OTHER_EMAID, priority=1)

    async def reorder(client: Client) -> dict[str, Any]:
        reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                  [[contract_path(other.contract_id), contract_path(h.old.contract_id)]])
        return {"set": (reply.message_type, reply.body),
                "while held": {c.contract_id: c.priority for c in h.store.list()}}

    seen = run_held(private_bus.address, h, reorder)
    renewed = seen.renewed
    assert renewed is not None, seen.error
    print(f"{where}: renewed contract priority {renewed.priority}, other {h.store.get(other.contract_id).priority}")
    assert seen.during["set"][0] is MessageType.METHOD_RETURN, seen
    assert seen.during["while held"] == {h.old.contract_id: 1, other.contract_id: 2}, seen
    assert renewed.priority == 1 and renewed.key_label != h.old.key_label
    on_disk = {c.contract_id: c.priority for c in ContractStore(h.store.directory).list()}
    assert on_disk == {renewed.contract_id: 1, other.contract_id: 2}  # the user's order, no twin priority
    assert {p: props["Priority"] for p, props in seen.exported.items()} == {
        contract_path(renewed.contract_id): 1, contract_path(other.contract_id): 2}, seen
    token.delete(renewed.key_label or "")
    token.delete(h.oem_label)
