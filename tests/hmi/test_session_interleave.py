"""A D-Bus RemoveContract between two key-store calls of a session's CertificateUpdate step (ISO 15118-2
[V2G2-821]: ECDH with the contract key, import of the renewed key, one atomic store swap, old key deleted) only
makes the step fail with a clear error; nothing is half stored and no key is left behind (project rule: bad
input never loses data; atomic writes).

Why no lock is needed: every single key-store call is serialised by the token's lock; the contract store's
``replace`` checks the old contract under its own lock in the same atomic write; the step undoes its key import
when that write fails (evcc.contracts.install_common.store_contract). ImportContract only adds contracts under
fresh key labels, so it cannot collide with a session's step.

Real parts: SoftHSM2 token, contract store on disk, the CPS-signed CertificateUpdateRes of the provisioning
simulator through EXI bytes, the step run on the session's key-store worker (evcc.hsm.aio.AsyncKeyStore, as
evcc.app.attempt runs it), the D-Bus service on the private bus with the shipped policy. The step is held
between two of its token calls by a wrapper that waits on a threading.Event (a stand-in only for timing)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from dbus_fast import MessageType

from evcc.contracts.errors import ContractNotFound
from evcc.contracts.install2 import install_contract_2, update_contract_2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import CONTRACT_KEY_PREFIX, ContractStore
from evcc.errors import EvccError
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, ROOT_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService
from evcc.hsm.aio import AsyncKeyStore
from evcc.hsm.keystore import KeyAlgorithm, KeyNotFound
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import build_pki
from evcc.pki.profiles import Suite
from tests.contracts.contracts_helpers import NOW, cps_verifier, oem_key_in_store

from .conftest import Client

HOLD_GUARD_S = 60.0  # a hang guard only
EMAID = "DE8AA0012345670"


class HeldBetweenCalls:
    """The real token; the step is held at ``where``: before its first ``ecdh_kdf`` (nothing of the new contract
    exists yet) or after its first ``import_private`` (the renewed key is in the token, the store swap not done)."""

    def __init__(self, inner: Pkcs11KeyStore, where: str) -> None:
        self.inner, self.where = inner, where
        self.reached = threading.Event()
        self.release = threading.Event()
        self.imported: list[str] = []

    def _hold(self) -> None:
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(HOLD_GUARD_S), "not released"

    def ecdh_kdf(self, label: str, peer: bytes, kdf: Any) -> bytearray:
        if self.where == "before ECDH":
            self._hold()
        return self.inner.ecdh_kdf(label, peer, kdf)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> Any:
        info = self.inner.import_private(label, algorithm, private)
        self.imported.append(label)
        if self.where == "after key import":
            self._hold()
        return info

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("where,error", [("before ECDH", KeyNotFound), ("after key import", ContractNotFound)])
def test_remove_during_a_session_update_step_fails_the_step_cleanly(private_bus: PrivateBus, tmp_path: Path,
                                                                    token: Pkcs11KeyStore, where: str,
                                                                    error: type[EvccError]) -> None:
    pki = build_pki(Suite.ISO2, NOW)
    sim = ProvisioningSimulator(pki)
    oem_label, oem_cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    store = ContractStore(tmp_path / "contracts")
    others = {k.label for k in token.list(CONTRACT_KEY_PREFIX)}  # the token is shared by the test process
    held = HeldBetweenCalls(token, where)
    ctx = InstallContext(store=store, keystore=token, v2g_roots=(pki.certs["v2g_root"],), now=NOW,
                         mo_roots=(pki.certs["mo_root"],))
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    old = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=7)
    ctx = replace(ctx, keystore=held)  # the update step: held between its token calls
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
                reply = await client.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RemoveContract", "o",
                                          [contract_path(old.contract_id)])
                seen["remove"] = (reply.message_type, reply.body)
                seen["keys while held"] = {k.label for k in token.list(CONTRACT_KEY_PREFIX)} - others
                held.release.set()
                try:
                    await step
                except EvccError as exc:
                    seen["step"] = exc
            service.sync_contracts()
            reply = await client.call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
            seen["objects"] = [p for p, ifaces in reply.body[0].items() if CONTRACT_INTERFACE in ifaces]
        finally:
            held.release.set()
            client.bus.disconnect()
            await service.close()

    asyncio.run(main())
    print(f"{where}: the step failed with {type(seen.get('step')).__name__}: {seen.get('step')}")
    assert seen["remove"][0] is MessageType.METHOD_RETURN, seen
    assert old.key_label not in seen["keys while held"]  # the HMI deleted the old key while the step was held
    assert isinstance(seen.get("step"), error) and str(seen["step"]), seen  # one clear error, no crash
    assert ContractStore(store.directory).list() == []  # on disk: removed by the user, the renewal not stored
    assert {k.label for k in token.list(CONTRACT_KEY_PREFIX)} - others == set()  # no half-installed key left
    if where == "after key import":
        assert len(held.imported) == 1  # the renewed key had been in the token: the step deleted it again
    else:
        assert held.imported == []
    assert seen["objects"] == [], seen
    token.delete(oem_label)
