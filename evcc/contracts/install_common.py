"""Shared steps of CertificateInstallation/Update processing (ISO 15118-2 §7.9.2.x, ISO 15118-20 §7.9.2.5).

The EXI layer decodes the response and supplies ``verify_signature``: given the CPS leaf certificate (whose
chain has already been validated to an installed V2G root), it checks the XML signature (digests of the
referenced fragments and the ECDSA/EdDSA signature over SignedInfo) and returns True, or False / raises its own
:class:`evcc.errors.SecurityError` subclass. Nothing is decrypted before that returns True (CBC has no integrity).

All-or-nothing: every check runs before anything is written; the key goes into the key store under a fresh
label, then one atomic store write adds the contract; if that write fails the new key is deleted again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.chain import (
    ChainPolicy,
    ValidatedChain,
    anchor_key_id,
    common_name,
    parse_chain,
    validate_chain,
    validate_links,
)
from evcc.contracts.emaid import normalize_emaid
from evcc.contracts.errors import EmaidMismatch, SignatureRejected, UnknownRoot
from evcc.contracts.store import CONTRACT_KEY_PREFIX, Contract, ContractStore, Lifecycle, new_contract_id
from evcc.hsm.keystore import KeyAlgorithm, KeyNotFound, KeyStore, KeyStoreError, wipe

log = logging.getLogger(__name__)

VerifySignature = Callable[[x509.Certificate], bool]


@dataclass(frozen=True)
class InstallContext:
    """Where installation writes and what it trusts. ``now`` is the wall-clock time (UTC, aware)."""

    store: ContractStore
    keystore: KeyStore
    v2g_roots: tuple[x509.Certificate, ...]
    now: datetime
    mo_roots: tuple[x509.Certificate, ...] = ()


def verified_cps_leaf(cps_chain: Sequence[bytes], verify: VerifySignature, ctx: InstallContext,
                      policy: ChainPolicy) -> ValidatedChain:
    """Validate the CPS chain to an installed V2G root, then let the EXI layer verify the signature."""
    validated = validate_chain(parse_chain(cps_chain, policy), ctx.v2g_roots, ctx.now, policy)
    if verify(validated.leaf) is not True:
        raise SignatureRejected(f"signature by CPS {common_name(validated.leaf)!r} over the response does not verify")
    return validated


def checked_contract_chain(ders: Sequence[bytes], emaid: str | None, ctx: InstallContext,
                           policy: ChainPolicy) -> tuple[list[x509.Certificate], str]:
    """Parse and check the new contract chain; returns it and the normalised eMAID of its leaf.

    Against an installed MO (or V2G) root when one matches; otherwise every link inside the chain is checked
    (the EV need not hold MO roots). The leaf CN must be a valid eMAID equal to the message's eMAID (if any).
    """
    chain = parse_chain(ders, policy)
    try:
        validate_chain(chain, ctx.mo_roots + ctx.v2g_roots, ctx.now, policy)
    except UnknownRoot:
        validate_links(chain, ctx.now, policy)
    leaf_emaid = normalize_emaid(common_name(chain[0]))
    if emaid is not None and normalize_emaid(emaid) != leaf_emaid:
        raise EmaidMismatch(f"message eMAID {emaid!r} differs from the contract certificate's {leaf_emaid!r}")
    return chain, leaf_emaid


def new_key_label(emaid: str) -> str:
    return f"{CONTRACT_KEY_PREFIX}{emaid}/{uuid.uuid4().hex[:12]}"


def import_and_store(ctx: InstallContext, algorithm: KeyAlgorithm, private: bytearray,
                     chain: list[x509.Certificate], emaid: str, priority: int = 0,
                     replaces: str | None = None) -> Contract:
    """Import ``private`` (wiped here in every case), then one atomic store write; undo the import on failure.
    ``priority`` is for a new record; replacing ``replaces`` keeps that record's priority at the write."""
    label = new_key_label(emaid)
    try:
        ctx.keystore.import_private(label, algorithm, private)
    finally:
        wipe(private)
    return store_contract(ctx, label, chain, emaid, priority, replaces)


def store_contract(ctx: InstallContext, label: str, chain: list[x509.Certificate], emaid: str, priority: int = 0,
                   replaces: str | None = None) -> Contract:
    """One atomic store write for the key ``label`` already in the key store; the key is deleted on failure.
    Returns the stored record: replacing ``replaces`` it has that record's priority as of the write
    (:meth:`ContractStore.replace`), not ``priority``."""
    contract = Contract(
        contract_id=new_contract_id(), emaid=emaid, priority=priority, lifecycle=Lifecycle.INSTALLED,
        chain=tuple(c.public_bytes(Encoding.DER) for c in chain), key_label=label,
        not_before=chain[0].not_valid_before_utc, not_after=chain[0].not_valid_after_utc,
        anchor_key_id=anchor_key_id(chain))
    try:
        return ctx.store.add(contract) if replaces is None else ctx.store.replace(replaces, contract)
    except BaseException:
        _delete_quietly(ctx.keystore, label)
        raise


def _delete_quietly(keystore: KeyStore, label: str) -> None:
    try:
        keystore.delete(label)
    except (KeyNotFound, KeyStoreError) as exc:
        log.error("could not delete key %s after a failed store write (orphan, cleaned at next start): %s",
                  label, exc)


def retire_key(keystore: KeyStore, label: str | None) -> None:
    """Delete a superseded contract key after the new contract is stored (failure leaves an orphan only)."""
    if label is not None:
        _delete_quietly(keystore, label)
