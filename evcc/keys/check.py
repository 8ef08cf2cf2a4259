"""The key checks of ``evcc run --check``: every key the configuration names is in the ``[hsm]`` store, and its
certificate (the configured chain file, and the chain stored with the key by ``evcc keys import-cert``) carries
that key's public key and is valid now. The OEM provisioning certificate ([contracts] oem_key_label/oem_cert;
ISO 15118-2 [V2G2-820], -20 CertificateInstallation) and the vehicle certificate ([session]
vehicle_key_label/vehicle_chain; ISO 15118-20 TLS 1.3) expiring within [contracts] expiry_window_days are warnings.
A certificate naming an ISO 15118-20 TPM storage key (subjectAltPublicKeyInfo, evcc.keys.storage) that the store
does not have is a problem: the CPS would wrap the contract key for a key the EV cannot use.

The key store is opened only when the configuration names a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from evcc.errors import EvccError
from evcc.hsm.open_store import OpenedStore, open_store, options_from_hsm
from evcc.keys import commands, storage
from evcc.keys.certs import cert_store
from evcc.keys.chain import leaf_matches, load_chain, name_of

if TYPE_CHECKING:
    from evcc.app.config import AppConfig
    from evcc.hsm.keystore import KeyInfo


@dataclass
class KeyCheck:
    """``problems``: the configuration cannot work (exit 2); ``warnings``: certificates expiring soon."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Key:
    role: str
    label: str
    label_key: str  # how the configuration names the label, e.g. "[session] vehicle_key_label"
    chain: Path | None
    chain_key: str


def _configured(cfg: AppConfig) -> list[_Key]:
    keys = []
    if cfg.session.vehicle_key_label:
        keys.append(_Key("vehicle certificate", cfg.session.vehicle_key_label, "[session] vehicle_key_label",
                         cfg.session.vehicle_chain, "[session] vehicle_chain"))
    if cfg.contracts.oem_key_label:
        keys.append(_Key("OEM provisioning certificate", cfg.contracts.oem_key_label, "[contracts] oem_key_label",
                         cfg.contracts.oem_cert, "[contracts] oem_cert"))
    return keys


def _leaf(path: Path, what: str) -> tuple[x509.Certificate | None, str | None]:
    try:
        return load_chain(path.read_bytes(), f"{what} {path}")[0], None
    except OSError as exc:
        return None, f"{what}: cannot read {path}: {exc.strerror or exc}"
    except EvccError as exc:
        return None, str(exc)


def check_keys(cfg: AppConfig, now: datetime) -> KeyCheck:
    """The checks of the module docstring; a store that does not open raises (the caller reports it)."""
    result = KeyCheck()
    wanted = _configured(cfg)
    if not wanted:
        return result
    window = timedelta(days=cfg.contracts.expiry_window_days)
    opened = open_store(options_from_hsm(cfg.hsm))
    try:
        certs = cert_store(opened)
        try:
            for key in wanted:
                try:
                    info = commands.key_info(opened, key.label)
                except EvccError:
                    result.problems.append(f"{key.label_key} {key.label!r}: no such key in {opened.store.description}")
                    continue
                sources = []
                if key.chain is not None:
                    leaf, error = _leaf(key.chain, key.chain_key)
                    if error:
                        result.problems.append(error)
                    elif leaf is not None:
                        sources.append((f"{key.chain_key} {key.chain}", leaf))
                stored = certs.load(key.label)
                if stored:
                    sources.append((f"the certificate stored with key {key.label!r}", stored[0]))
                if not sources and key.chain is None:
                    result.problems.append(f"{key.label_key} {key.label!r}: no certificate (neither {key.chain_key} "
                                           "nor one stored with the key: evcc keys import-cert)")
                for where, leaf in sources:
                    _check_leaf(result, opened, key, info, where, leaf, now, window)
        finally:
            certs.close()
    finally:
        opened.close()
    return result


def _check_leaf(result: KeyCheck, opened: OpenedStore, key: _Key, info: KeyInfo, where: str,
                leaf: x509.Certificate, now: datetime, window: timedelta) -> None:
    if not leaf_matches(leaf, info.public):
        result.problems.append(f"{where}: {key.role} {name_of(leaf)!r} does not match key {key.label!r}")
        return
    try:
        storage.named_label(opened, leaf)
    except EvccError as exc:
        result.problems.append(f"{where}: {exc}")
    mark = commands.expiry_mark(leaf.not_valid_after_utc, now, window)
    if mark == "EXPIRED" or leaf.not_valid_before_utc > now:
        result.problems.append(f"{where}: {key.role} {name_of(leaf)!r} is not valid now (valid "
                               f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})")
    elif mark:
        result.warnings.append(f"{where}: {key.role} {name_of(leaf)!r} (key {key.label!r}) expires "
                               f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M}Z, within the {window.days}-day window")
