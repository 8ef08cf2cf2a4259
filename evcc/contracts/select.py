"""Contract selection for one charger (ISO 15118-2 §8.4.3.x PaymentServiceSelection / ISO 15118-20 Authorization).

Rule: among contracts that are usable now (installed, inside validity, not revoked; EXPIRING still counts) and,
where the charger's trusted roots are known, whose chain hangs from one of them, pick the highest priority;
ties go to the later notAfter, then the contract id (deterministic). The charger must offer "Contract" payment.
When nothing fits, :class:`Selection` says why for each contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from evcc.contracts.store import Contract, ContractState

PAYMENT_CONTRACT = "Contract"
USABLE = (ContractState.ACTIVE, ContractState.EXPIRING)


@dataclass(frozen=True)
class ChargerOffer:
    """What the charger offered: payment options (-2 PaymentOptionList values) and, where known, the key ids
    (hex SKI) of the roots it trusts for contract chains; ``None`` = unknown, do not filter."""

    payment_options: frozenset[str]
    root_key_ids: frozenset[str] | None = None


@dataclass(frozen=True)
class Selection:
    contract: Contract | None
    reason: str
    rejected: tuple[tuple[str, str], ...] = ()


def _why_not(c: Contract, offer: ChargerOffer, now: datetime, window: timedelta) -> str | None:
    state = c.state(now, window)
    if state not in USABLE:
        return f"state {state.value}"
    if offer.root_key_ids is not None and c.anchor_key_id not in offer.root_key_ids:
        return f"chain root {c.anchor_key_id or '(unknown)'} not trusted by this charger"
    return None


def select_contract(contracts: Iterable[Contract], offer: ChargerOffer, now: datetime,
                    expiry_window: timedelta) -> Selection:
    """The contract to use with this charger, or None with the reason."""
    if PAYMENT_CONTRACT not in offer.payment_options:
        return Selection(None, "charger does not offer Contract payment "
                               f"(offers {', '.join(sorted(offer.payment_options)) or 'nothing'})")
    usable: list[Contract] = []
    rejected: list[tuple[str, str]] = []
    for c in contracts:
        why = _why_not(c, offer, now, expiry_window)
        if why is None:
            usable.append(c)
        else:
            rejected.append((c.contract_id, why))
    if not usable:
        detail = "; ".join(f"{cid}: {why}" for cid, why in rejected) or "no contracts stored"
        return Selection(None, f"no usable contract ({detail})", tuple(rejected))
    far_future = datetime.max.replace(tzinfo=now.tzinfo)
    best = max(usable, key=lambda c: (c.priority, c.not_after or far_future, c.contract_id))
    return Selection(best, f"priority {best.priority} of {len(usable)} usable contract(s)", tuple(rejected))
