"""A D-Bus SetPriorities made while a session's CertificateUpdate step runs (ISO 15118-2 [V2G2-821]: ECDH with
the contract key, import of the renewed key, one atomic store swap) is kept: the renewed contract has the
priority the user set, not the one the step read when it began (project rule: bad input never loses data).

The store swap (ContractStore.replace) takes the replaced contract's priority inside its lock and atomic write.

Real parts as in test_session_interleave.py (whose held key store this reuses): SoftHSM2 token, contract store on
disk, the CPS-signed CertificateUpdateRes of the provisioning simulator, the step on the session's key-store
worker, the D-Bus service on the private bus with the shipped policy. The step is held between two of its token
calls by a threading.Event (a stand-in only for timing)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from dbus_fast import MessageType

from evcc.contracts.install2 import install_contract_2, update_contract_2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService
from evcc.hsm.aio import AsyncKeyStore
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import build_pki
from evcc.pki.profiles import Suite
from tests.contracts.contracts_helpers import NOW, cps_verifier, oem_key_in_store

from .conftest import Client
from .test_session_interleave import EMAID, HeldBetweenCalls

OTHER_EMAID = "DE8AA0012345686"


@pytest.mark.parametrize("where", ["before ECDH", "after key import"])
def test_set_priorities_during_a_session_update_step_is_kept(private_bus: PrivateBus, tmp_path: Path,
                                                            token: Pkcs11KeyStore, where: str) -> None:
    pki = build_pki(Suite.ISO2, NOW)
    sim = ProvisioningSimulator(pki)
    oem_label, oem_cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    store = ContractStore(tmp_path / "contracts")
    ctx = InstallContext(store=store, keystore=token, v2g_roots=(pki.certs["v2g_root"],), now=NOW,
                         mo_roots=(pki.certs["mo_root"],))
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    old = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=2)
    other = store.add_pending(OTHER_EMAID, priority=1)
    held = HeldBetweenCalls(token, where)
    ctx = replace(ctx, keystore=held)
    update = sim.certificate_update_2(x509.load_der_x509_certificate(old.chain[0]), EMAID, NOW)
    verify = cps_verifier(sim, update)
    seen: dict[str, Any] = {}

    async def main() -> None:
        service = HmiService(HmiConfig(private_bus.address), store, delete_key=token.delete,
                             wall_clock=lambda: NOW + timedelta(seconds=1))
        await service.start()
        client = await Client.connect(private_bus.address)
        try:
            async with AsyncKeyStore(held) as keys:  # the session's key-store worker (evcc.app.attempt)
                step = asyncio.ensure_future(keys.call(
                    lambda: update_contract_2(update, verify, old_contract_id=old.contract_id, ctx=ctx)))
                while not held.reached.is_set():
                    await asyncio.sleep(0.01)
                    assert not step.done(), step.result()
                reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "SetPriorities", "ao",
                                          [[contract_path(other.contract_id), contract_path(old.contract_id)]])
                seen["set"] = (reply.message_type, reply.body)
                seen["while held"] = {c.contract_id: c.priority for c in store.list()}
                held.release.set()
                seen["renewed"] = await step
            service.sync_contracts()
            reply = await client.call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
            seen["exported"] = {p: ifaces[CONTRACT_INTERFACE]["Priority"].value
                                for p, ifaces in reply.body[0].items() if CONTRACT_INTERFACE in ifaces}
        finally:
            held.release.set()
            client.bus.disconnect()
            await service.close()

    asyncio.run(main())
    renewed = seen["renewed"]
    print(f"{where}: renewed contract priority {renewed.priority}, other {store.get(other.contract_id).priority}")
    assert seen["set"][0] is MessageType.METHOD_RETURN, seen
    assert seen["while held"] == {old.contract_id: 1, other.contract_id: 2}, seen
    assert renewed.priority == 1 and renewed.key_label != old.key_label
    on_disk = {c.contract_id: c.priority for c in ContractStore(store.directory).list()}
    assert on_disk == {renewed.contract_id: 1, other.contract_id: 2}  # the user's order, no twin priority
    assert seen["exported"] == {contract_path(renewed.contract_id): 1, contract_path(other.contract_id): 2}, seen
    token.delete(renewed.key_label or "")
    token.delete(oem_label)
