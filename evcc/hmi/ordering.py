"""Contract priority order (sans-IO). The HMI gives an order, first = preferred; the store keeps integer
priorities, higher wins (:mod:`evcc.contracts.select`). ISO 15118-20 carries the same order to the charger
(CertificateInstallationReq ``PrioritizedEMAIDs``), so the order here is the one to send there."""

from __future__ import annotations

from collections.abc import Sequence

from evcc.contracts.store import Contract
from evcc.hmi.errors import INVALID_ARGUMENTS, HmiError


def priorities_for(order: Sequence[str], contracts: Sequence[Contract]) -> dict[str, int]:
    """Priority per contract id for ``order`` (ids, first = highest); it must name every contract once."""
    ids = [c.contract_id for c in contracts]
    if len(set(order)) != len(order):
        raise HmiError(INVALID_ARGUMENTS, "the priority list names a contract twice")
    if set(order) != set(ids):
        missing, extra = sorted(set(ids) - set(order)), sorted(set(order) - set(ids))
        raise HmiError(INVALID_ARGUMENTS, f"the priority list must name every contract once "
                                          f"(missing {missing or 'none'}, unknown {extra or 'none'})")
    return {cid: len(order) - i for i, cid in enumerate(order)}


def selected_first(selected: str, contracts: Sequence[Contract]) -> list[str]:
    """The order with ``selected`` first and the others in their present order (``contracts`` sorted)."""
    return [selected] + [c.contract_id for c in contracts if c.contract_id != selected]


def prioritized_emaids(contracts: Sequence[Contract]) -> list[str]:
    """eMAIDs in priority order (``contracts`` as ContractStore.list() returns them), without duplicates."""
    seen: list[str] = []
    for c in contracts:
        if c.emaid not in seen:
            seen.append(c.emaid)
    return seen
