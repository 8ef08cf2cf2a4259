"""Multi-contract store: several contract certificates per vehicle, crash-safe on disk.

One JSON file (``contracts.json``) holds every contract; each change rewrites it atomically (temp file, fsync,
rename, fsync folder: :func:`evcc.hsm.files.atomic_write`), so after a crash the file is the complete old or the
complete new state. A SHA-256 over the canonical body detects a damaged file (:class:`ContractStoreError`).
The in-memory view changes only after the write succeeded.

Private keys are not here: ``key_label`` names the key in the key store (:mod:`evcc.hsm`). Installing is
"key into the token, then one store write"; a crash in between leaves an unreferenced key, which
:meth:`ContractStore.orphan_key_labels` finds for clean-up, never a half-installed contract.

Stable interface: ``list()``, ``get(id)``, ``add(contract)``, ``add_pending(emaid, priority)``,
``set_priority(id, p)``, ``set_priorities({id: p})``, ``revoke(id)``, ``remove(id)``, ``replace(old_id, new)``, ``orphan_key_labels(labels)``.
Effective states (active, expiring, expired, revoked, pending installation) come from :meth:`Contract.state`.
"""

from __future__ import annotations

import builtins
import enum
import hashlib
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from evcc.contracts.emaid import normalize_emaid
from evcc.contracts.errors import ContractNotFound, ContractStoreError, InvalidIdentifier
from evcc.hsm.files import atomic_write, remove_stale_temps

FORMAT = 1
FILE_NAME = "contracts.json"
CONTRACT_KEY_PREFIX = "contract/"


class Lifecycle(enum.Enum):
    """What is stored; time-dependent states are derived by :meth:`Contract.state`."""

    PENDING_INSTALLATION = "pending_installation"
    INSTALLED = "installed"
    REVOKED = "revoked"


class ContractState(enum.Enum):
    ACTIVE = "active"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    PENDING_INSTALLATION = "pending_installation"


@dataclass(frozen=True)
class Contract:
    """One contract. ``chain`` is DER, leaf first, Sub-CAs after (no root). Higher ``priority`` wins."""

    contract_id: str
    emaid: str
    priority: int
    lifecycle: Lifecycle
    chain: tuple[bytes, ...] = ()
    key_label: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    anchor_key_id: str = ""

    def state(self, now: datetime, expiry_window: timedelta) -> ContractState:
        """Effective state at ``now``; EXPIRING within ``expiry_window`` of notAfter (update at next session)."""
        if self.lifecycle is Lifecycle.REVOKED:
            return ContractState.REVOKED
        if self.lifecycle is Lifecycle.PENDING_INSTALLATION or self.not_after is None or self.not_before is None:
            return ContractState.PENDING_INSTALLATION
        if now >= self.not_after:
            return ContractState.EXPIRED
        if now < self.not_before:
            return ContractState.NOT_YET_VALID
        if now >= self.not_after - expiry_window:
            return ContractState.EXPIRING
        return ContractState.ACTIVE


def new_contract_id() -> str:
    return uuid.uuid4().hex


def _to_json(c: Contract) -> dict[str, Any]:
    return {
        "contract_id": c.contract_id, "emaid": c.emaid, "priority": c.priority, "lifecycle": c.lifecycle.value,
        "chain": [d.hex() for d in c.chain], "key_label": c.key_label,
        "not_before": c.not_before.isoformat() if c.not_before else None,
        "not_after": c.not_after.isoformat() if c.not_after else None, "anchor_key_id": c.anchor_key_id,
    }


def _from_json(d: dict[str, Any]) -> Contract:
    c = Contract(
        contract_id=str(d["contract_id"]), emaid=str(d["emaid"]), priority=int(d["priority"]),
        lifecycle=Lifecycle(d["lifecycle"]), chain=tuple(bytes.fromhex(x) for x in d["chain"]),
        key_label=d["key_label"], anchor_key_id=str(d.get("anchor_key_id", "")),
        not_before=datetime.fromisoformat(d["not_before"]) if d["not_before"] else None,
        not_after=datetime.fromisoformat(d["not_after"]) if d["not_after"] else None,
    )
    _check_record(c)
    return c


def _check_record(c: Contract) -> None:
    if c.lifecycle is Lifecycle.INSTALLED and (not c.chain or not c.key_label or c.not_after is None):
        raise ContractStoreError(f"installed contract {c.contract_id} lacks chain, key or validity")
    normalize_emaid(c.emaid)


def _serialise(contracts: Iterable[Contract]) -> bytes:
    body = {"format": FORMAT, "contracts": [_to_json(c) for c in contracts]}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    doc = {"body": body, "sha256": hashlib.sha256(canonical.encode()).hexdigest()}
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def _deserialise(data: bytes, path: Path) -> dict[str, Contract]:
    try:
        doc = json.loads(data)
        body = doc["body"]
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        if hashlib.sha256(canonical.encode()).hexdigest() != doc["sha256"]:
            raise ContractStoreError(f"{path}: checksum mismatch (damaged file)")
        if body["format"] != FORMAT:
            raise ContractStoreError(f"{path}: unknown format {body['format']!r}")
        contracts = [_from_json(c) for c in body["contracts"]]
    except ContractStoreError:
        raise
    except (ValueError, KeyError, TypeError, InvalidIdentifier) as exc:
        raise ContractStoreError(f"{path}: unreadable contract store: {type(exc).__name__}: {exc}") from exc
    return {c.contract_id: c for c in contracts}


class ContractStore:
    """The contracts of one vehicle in ``directory/contracts.json``. Single writer per folder (one process); within
    it the changes are serialised by a lock (the D-Bus service writes on its worker thread, a session on the event
    loop), so no read-modify-write loses another's change. Readers see the last committed dict."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_stale_temps(directory)
        self._path = directory / FILE_NAME
        self._lock = threading.RLock()
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            self._contracts: dict[str, Contract] = {}
        else:
            self._contracts = _deserialise(data, self._path)

    def _commit(self, contracts: dict[str, Contract]) -> None:
        try:
            atomic_write(self._path, _serialise(contracts.values()))
        except OSError as exc:
            raise ContractStoreError(f"{self._path}: write failed: {exc}") from exc
        self._contracts = contracts

    def list(self) -> list[Contract]:
        """All contracts, highest priority first."""
        return sorted(self._contracts.values(), key=lambda c: (-c.priority, c.contract_id))

    def get(self, contract_id: str) -> Contract:
        try:
            return self._contracts[contract_id]
        except KeyError:
            raise ContractNotFound(f"no contract {contract_id!r}") from None

    def add(self, contract: Contract) -> Contract:
        with self._lock:
            _check_record(contract)
            if contract.contract_id in self._contracts:
                raise ContractStoreError(f"contract {contract.contract_id} already stored")
            self._commit({**self._contracts, contract.contract_id: contract})
            return contract

    def add_pending(self, emaid: str, priority: int = 0) -> Contract:
        """Record a contract that awaits CertificateInstallation (no chain or key yet)."""
        c = Contract(new_contract_id(), normalize_emaid(emaid), priority, Lifecycle.PENDING_INSTALLATION)
        return self.add(c)

    def replace(self, old_id: str, new: Contract) -> Contract:
        """Swap ``old_id`` for ``new`` in one atomic write (CertificateUpdate; pending -> installed); returns the
        stored record. It takes the priority ``old_id`` has at this moment (``new.priority`` is ignored), so a
        reordering (``set_priorities``) made while the session ran is kept and the order keeps no gap or twin."""
        with self._lock:
            stored = replace(new, priority=self.get(old_id).priority)
            _check_record(stored)
            if stored.contract_id != old_id and stored.contract_id in self._contracts:
                raise ContractStoreError(f"contract {stored.contract_id} already stored")
            contracts = {k: v for k, v in self._contracts.items() if k != old_id}
            contracts[stored.contract_id] = stored
            self._commit(contracts)
            return stored

    def set_priority(self, contract_id: str, priority: int) -> Contract:
        with self._lock:
            c = replace(self.get(contract_id), priority=priority)
            self._commit({**self._contracts, contract_id: c})
            return c

    def set_priorities(self, priorities: dict[str, int]) -> builtins.list[Contract]:
        """Several priorities in one atomic write (a reordering is never half applied after a crash)."""
        with self._lock:
            changed = {cid: replace(self.get(cid), priority=p) for cid, p in priorities.items()}
            self._commit({**self._contracts, **changed})
            return [self._contracts[cid] for cid in changed]

    def revoke(self, contract_id: str) -> Contract:
        with self._lock:
            c = replace(self.get(contract_id), lifecycle=Lifecycle.REVOKED)
            self._commit({**self._contracts, contract_id: c})
            return c

    def remove(self, contract_id: str) -> Contract:
        """Remove a contract; the caller deletes its key (``key_label``) from the key store afterwards."""
        with self._lock:
            c = self.get(contract_id)
            self._commit({k: v for k, v in self._contracts.items() if k != contract_id})
            return c

    def orphan_key_labels(self, key_labels: Iterable[str]) -> builtins.list[str]:
        """Contract key labels present in the key store but referenced by no contract (crash left-overs)."""
        used = {c.key_label for c in self._contracts.values()}
        return sorted(lbl for lbl in key_labels if lbl.startswith(CONTRACT_KEY_PREFIX) and lbl not in used)

    def needing_update(self, now: datetime, expiry_window: timedelta) -> builtins.list[Contract]:
        """Installed contracts within ``expiry_window`` of expiry: CertificateUpdate at the next session."""
        return [c for c in self.list() if c.state(now, expiry_window) is ContractState.EXPIRING]


def utc(ts: datetime) -> datetime:
    """Normalise an aware datetime to UTC (naive input is rejected)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime; pass an aware UTC time")
    return ts.astimezone(timezone.utc)
