"""The key-store options shared by ``evcc keys`` and ``evcc session`` (they take the store the same way):
``--config evcc.toml`` (its ``[hsm]`` section) or the store's own options, the kind following from which are given
(evcc.hsm.open_store)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from evcc.errors import ConfigError
from evcc.hsm.open_store import SOFTHSM_MODULE, StoreOptions, options_from_hsm

if TYPE_CHECKING:
    from evcc.app.config import AppConfig

STORE_OPTIONS = ("token", "pin_file", "pkcs11_module", "tcti", "tpm_keys", "soft_keys", "kek_file")


def add_store_arguments(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    group.add_argument("--config", type=Path, help="the daemon's TOML: the key store of its [hsm] section (and the "
                                                   "key roles and expiry window of [session] and [contracts])")
    group.add_argument("--token", help="PKCS#11 token label of the key store")
    group.add_argument("--pin-file", type=Path, help="user PIN of --token (one line)")
    group.add_argument("--pkcs11-module", default=None, help=f"PKCS#11 module (default {SOFTHSM_MODULE})")
    group.add_argument("--tcti", help="TPM 2.0 key store: the TCTI (e.g. device:/dev/tpmrm0), with --tpm-keys")
    group.add_argument("--tpm-keys", type=Path, help="TPM 2.0 key store: folder of the TPM-wrapped key files")
    group.add_argument("--soft-keys", type=Path, help="software key store folder (bench only)")
    group.add_argument("--kek-file", type=Path, help="KEK of --soft-keys (32 bytes)")


def load_app_config(path: Path) -> AppConfig:
    from evcc.app.config import load_config  # only when --config is given

    return load_config(path)


def store_options(args: argparse.Namespace) -> tuple[StoreOptions, AppConfig | None]:
    """The store named on the command line, and the daemon's configuration when ``--config`` named it."""
    given = [name for name in STORE_OPTIONS if getattr(args, name, None) is not None]
    if args.config is not None:
        if given:
            raise ConfigError(f"--config and --{given[0].replace('_', '-')}: give the configuration or the key "
                              "store's options, not both")
        cfg = load_app_config(args.config)
        return options_from_hsm(cfg.hsm), cfg
    return StoreOptions(token=args.token, pin_file=args.pin_file, pkcs11_module=args.pkcs11_module, tcti=args.tcti,
                        tpm_keys=args.tpm_keys, soft_keys=args.soft_keys, kek_file=args.kek_file), None
