"""Manager.RequestInstallation taking effect (SERVICE.md): a contract the HMI asked for (a store record in
PENDING_INSTALLATION, eMAID and priority only) makes the next Plug & Charge session ask the charger for it with
CertificateInstallationReq (ISO 15118-2 §8.4.3.11 [V2G2-820], ISO 15118-20 §8.3.5.3.2) before authorising; the
installed contract takes the pending record's place in one atomic store write, with the priority the record has
at that write (a D-Bus SetPriorities made during the session is kept), and the daemon re-exports the contracts on
D-Bus after the session.

One try per pending record and daemon run: if that session cannot install (the charger does not offer it, the
backend refuses), the record stays pending and the next sessions charge with the stored contracts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evcc.contracts.response2 import install_from_message
from evcc.contracts.store import Contract, ContractStore, Lifecycle
from evcc.errors import ConfigError
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.iso20.pnc import KeyStoreContracts20


def first_pending(store: ContractStore, tried: set[str]) -> Contract | None:
    """The pending record with the highest priority not tried yet in this run, or None."""
    waiting = [c for c in store.list() if c.lifecycle is Lifecycle.PENDING_INSTALLATION and c.contract_id not in tried]
    return max(waiting, key=lambda c: c.priority) if waiting else None


def _still_pending(store: ContractStore, pending_id: str) -> bool:
    return any(c.contract_id == pending_id for c in store.list())


@dataclass
class InstallPending(KeyStoreContracts):
    """ISO 15118-2: no contract to use while ``pending_id`` is pending (so the machine sends
    CertificateInstallationReq); the response's contract replaces the pending record."""

    pending_id: str = ""

    def contract(self) -> Contract | None:
        return None if _still_pending(self.ctx.store, self.pending_id) else super().contract()

    def install(self, response: Any) -> Contract:
        if self.oem_key_label is None:
            raise ConfigError("CertificateInstallationRes without an OEM provisioning key")
        return install_from_message(response, oem_key_label=self.oem_key_label, ctx=self.ctx,
                                    pending_id=self.pending_id)


@dataclass
class InstallPending20(KeyStoreContracts20):
    """ISO 15118-20: no contracts to try while ``pending_id`` is pending (the machine installs when the charger
    offers it); the installed contract takes the pending record's place and the installed contracts are tried.
    If the record was removed meanwhile (D-Bus RemoveContract), the contract is added with ``installed_priority``."""

    pending_id: str = ""

    def contracts(self) -> list[Contract]:
        return [] if _still_pending(self.ctx.store, self.pending_id) else super().contracts()

    def install(self, response: Any) -> Contract:
        return self._install(response, self.pending_id if _still_pending(self.ctx.store, self.pending_id) else None)
