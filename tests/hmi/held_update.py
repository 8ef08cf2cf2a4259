"""A session's CertificateUpdate step (ISO 15118-2 [V2G2-821]: ECDH with the contract key, import of the renewed
key, one atomic store swap, old key deleted) held between two of its key-store calls while a D-Bus client acts:
the set-up and the run shared by the interleaving tests of this package.

Real parts: SoftHSM2 token, contract store on disk, the CPS-signed CertificateUpdateRes of the provisioning
simulator, the step run on the session's key-store worker (evcc.hsm.aio.AsyncKeyStore, as evcc.app.attempt runs
it), the D-Bus service on the private bus with the shipped policy. The step is held by a wrapper of the token that
waits on a threading.Event (a stand-in only for timing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from evcc.contracts.install2 import install_contract_2, update_contract_2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import Contract, ContractStore
from evcc.errors import EvccError
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, ROOT_PATH
from evcc.hmi.service import HmiConfig, HmiService
from evcc.hsm.aio import AsyncKeyStore
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import build_pki
from evcc.pki.profiles import Suite
from tests.contracts.contracts_helpers import NOW, cps_verifier, oem_key_in_store

from .conftest import Client

HOLD_GUARD_S = 60.0  # a hang guard only
EMAID = "DE8AA0012345670"
WHERE = ("before ECDH", "after key import")


class HeldBetweenCalls:
    """The real token; the step is held at ``where``: before its first ``ecdh_kdf`` (nothing of the new contract
    exists yet) or after its first ``import_private`` (the renewed key is in the token, the store swap not done)."""

    def __init__(self, inner: Pkcs11KeyStore, where: str) -> None:
        assert where in WHERE, where
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


@dataclass
class HeldUpdate:
    """An installed contract (``old``) and its CertificateUpdate step, ready to run on the held token."""

    token: Pkcs11KeyStore
    store: ContractStore
    held: HeldBetweenCalls
    old: Contract
    oem_label: str
    step: Callable[[], Contract]


@dataclass
class Outcome:
    """What ``run_held`` saw: what ``during`` returned, the step's result or error, and the exported contracts
    (object path -> their properties) after the service synced with the store."""

    during: dict[str, Any]
    renewed: Contract | None = None
    error: EvccError | None = None
    exported: dict[str, dict[str, Any]] = field(default_factory=dict)


def held_update(tmp_path: Path, token: Pkcs11KeyStore, where: str, priority: int) -> HeldUpdate:
    """Install a contract for ``EMAID`` with ``priority`` through the provisioning simulator, and prepare its
    CertificateUpdate step on a token held at ``where``."""
    pki = build_pki(Suite.ISO2, NOW)
    sim = ProvisioningSimulator(pki)
    oem_label, oem_cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    store = ContractStore(tmp_path / "contracts")
    ctx = InstallContext(store=store, keystore=token, v2g_roots=(pki.certs["v2g_root"],), now=NOW,
                         mo_roots=(pki.certs["mo_root"],))
    res = sim.certificate_installation_2(oem_cert, EMAID, NOW)
    old = install_contract_2(res, cps_verifier(sim, res), oem_key_label=oem_label, ctx=ctx, priority=priority)
    held = HeldBetweenCalls(token, where)
    held_ctx = replace(ctx, keystore=held)
    update = sim.certificate_update_2(x509.load_der_x509_certificate(old.chain[0]), EMAID, NOW)
    verify = cps_verifier(sim, update)
    return HeldUpdate(token, store, held, old, oem_label,
                      lambda: update_contract_2(update, verify, old_contract_id=old.contract_id, ctx=held_ctx))


def run_held(bus_address: str, h: HeldUpdate,
             during: Callable[[Client], Awaitable[dict[str, Any]]]) -> Outcome:
    """Start the D-Bus service on the store, run the step on a key-store worker until it is held, run ``during``
    (the client's call and what it wants to see while the step is held), release the step and wait for it."""

    async def main() -> Outcome:
        service = HmiService(HmiConfig(bus_address), h.store, delete_key=h.token.delete,
                             wall_clock=lambda: NOW + timedelta(seconds=1))
        await service.start()
        client = await Client.connect(bus_address)
        try:
            async with AsyncKeyStore(h.held) as keys:
                step = asyncio.ensure_future(keys.call(h.step))
                while not h.held.reached.is_set():
                    await asyncio.sleep(0.01)
                    assert not step.done(), step.result()
                outcome = Outcome(await during(client))
                h.held.release.set()
                try:
                    outcome.renewed = await step
                except EvccError as exc:
                    outcome.error = exc
            service.sync_contracts()
            reply = await client.call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
            outcome.exported = {p: {k: v.value for k, v in ifaces[CONTRACT_INTERFACE].items()}
                                for p, ifaces in reply.body[0].items() if CONTRACT_INTERFACE in ifaces}
            return outcome
        finally:
            h.held.release.set()
            client.bus.disconnect()
            await service.close()

    return asyncio.run(main())
