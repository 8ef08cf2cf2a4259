"""A D-Bus RemoveContract between two key-store calls of a session's CertificateUpdate step (ISO 15118-2
[V2G2-821]: ECDH with the contract key, import of the renewed key, one atomic store swap, old key deleted) only
makes the step fail with a clear error; nothing is half stored and no key is left behind (project rule: bad
input never loses data; atomic writes).

Why no lock is needed: every single key-store call is serialised by the token's lock; the contract store's
``replace`` checks the old contract under its own lock in the same atomic write; the step undoes its key import
when that write fails (evcc.contracts.install_common.store_contract). ImportContract only adds contracts under
fresh key labels, so it cannot collide with a session's step.

Real parts and the held step: tests/hmi/held_update.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dbus_fast import MessageType

from evcc.contracts.errors import ContractNotFound
from evcc.contracts.store import CONTRACT_KEY_PREFIX, ContractStore
from evcc.errors import EvccError
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hsm.keystore import KeyNotFound
from evcc.hsm.pkcs11_store import Pkcs11KeyStore

from .conftest import Client
from .held_update import held_update, run_held


@pytest.mark.parametrize("where,error", [("before ECDH", KeyNotFound), ("after key import", ContractNotFound)])
def test_remove_during_a_session_update_step_fails_the_step_cleanly(private_bus: PrivateBus, tmp_path: Path,
                                                                    token: Pkcs11KeyStore, where: str,
                                                                    error: type[EvccError]) -> None:
    others = {k.label for k in token.list(CONTRACT_KEY_PREFIX)}  # the token is shared by the test process
    h = held_update(tmp_path, token, where, priority=7)

    async def remove(client: Client) -> dict[str, Any]:
        reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o",
                                  [contract_path(h.old.contract_id)])
        return {"remove": (reply.message_type, reply.body),
                "keys while held": {k.label for k in token.list(CONTRACT_KEY_PREFIX)} - others}

    seen = run_held(private_bus.address, h, remove)
    print(f"{where}: the step failed with {type(seen.error).__name__}: {seen.error}")
    assert seen.during["remove"][0] is MessageType.METHOD_RETURN, seen
    assert h.old.key_label not in seen.during["keys while held"]  # the HMI deleted the old key while held
    assert seen.renewed is None and isinstance(seen.error, error) and str(seen.error), seen  # one clear error
    assert ContractStore(h.store.directory).list() == []  # on disk: removed by the user, the renewal not stored
    assert {k.label for k in token.list(CONTRACT_KEY_PREFIX)} - others == set()  # no half-installed key left
    if where == "after key import":
        assert len(h.held.imported) == 1  # the renewed key had been in the token: the step deleted it again
    else:
        assert h.held.imported == []
    assert seen.exported == {}, seen
    token.delete(h.oem_label)
