"""`evcc keys`: the key lifecycle on the EV's key store, for the factory line and the workshop.

  generate LABEL --curve p256|p521|ed448|x448   a key pair made inside the store
  generate LABEL --storage-key                  the ISO 15118-20 TPM storage key (TPM 2.0 store only): the parent
                                                a CPS wraps the contract key for (TPM_EncryptedPrivateKey)
  csr LABEL --subject DN --role ROLE [--out F]  a PKCS#10 request signed inside the store (ROLE oem-provisioning:
      [--storage-key S]                         CN = PCID; vehicle: the TLS 1.3 vehicle name); --storage-key: the
                                                OEM provisioning request names storage key S (evcc.keys.storage)
  import-cert LABEL CHAIN.pem [--root R]...     the issued certificate and its Sub-CAs, stored with the key
  list [--window-days N]                        keys, curve, certificate, notAfter, role, expiry marks
  delete LABEL [--yes]                          the key and its certificates (asks on a terminal)
  export-public LABEL [--out F]                 the public key (PEM SubjectPublicKeyInfo)

The store: ``--config evcc.toml`` ([hsm]) or ``--token/--pin-file [--pkcs11-module]`` (PKCS#11),
``--tcti/--tpm-keys`` (TPM 2.0), ``--soft-keys/--kek-file`` (software, bench only). Certificates live in the
store (PKCS#11 certificate objects) or beside the keys (evcc.keys.certs).

Exit status: 0 done; 2 refused (bad input, key or store error: one line naming the key and the cause, nothing
written); 1 a deletion not confirmed, or an internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import pkcs11

from evcc.errors import ConfigError, EvccError
from evcc.hsm.files import atomic_write
from evcc.hsm.open_store import OpenedStore, open_store
from evcc.keys import commands, storage
from evcc.keys.certs import CertStore, cert_store
from evcc.keys.chain import load_chain
from evcc.keys.names import CONTRACT, CSR_ROLES, OEM_PROVISIONING, VEHICLE
from evcc.keys.options import add_store_arguments, store_options

if TYPE_CHECKING:
    from evcc.app.config import AppConfig

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
DEFAULT_WINDOW_DAYS = 30


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    store = argparse.ArgumentParser(add_help=False)
    add_store_arguments(store.add_argument_group("key store"))
    keys = sub.add_parser("keys", help="key lifecycle: generate, csr, import-cert, list, delete, export-public",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = keys.add_subparsers(dest="keys_command", required=True)
    p = cmds.add_parser("generate", parents=[store], help="a key pair made inside the store")
    p.add_argument("label")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--curve", choices=sorted(commands.CURVES))
    kind.add_argument("--storage-key", action="store_true",
                      help="the ISO 15118-20 TPM storage key (P-521 restricted decryption primary; TPM store only)")
    p = cmds.add_parser("csr", parents=[store], help="a PKCS#10 request signed inside the store")
    p.add_argument("label")
    p.add_argument("--subject", required=True, help="RFC 4514, e.g. CN=WMIEVCCTEST0000017,O=OEM,C=DE,DC=OEM")
    p.add_argument("--role", choices=CSR_ROLES, help="what the certificate is for (default: from --config)")
    p.add_argument("--out", type=Path, help="write the request here (default: standard output)")
    p.add_argument("--storage-key", metavar="LABEL", help="oem-provisioning: request subjectAltPublicKeyInfo "
                                                           "naming this -20 TPM storage key")
    p = cmds.add_parser("import-cert", parents=[store], help="store the issued certificate chain with its key")
    p.add_argument("label")
    p.add_argument("chain", type=Path, help="leaf first, then its Sub-CAs (PEM; or one DER certificate)")
    p.add_argument("--root", type=Path, action="append", default=[], help="trusted root (repeatable): the chain "
                                                                           "must verify to one of them")
    p.add_argument("--role", choices=CSR_ROLES, help="check the leaf's subject for this role")
    p = cmds.add_parser("list", parents=[store], help="keys, certificates, roles and expiry")
    p.add_argument("--window-days", type=int, default=None,
                   help=f"mark certificates expiring within N days (default [contracts] expiry_window_days or "
                        f"{DEFAULT_WINDOW_DAYS})")
    p = cmds.add_parser("delete", parents=[store], help="delete a key and its certificates")
    p.add_argument("label")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p = cmds.add_parser("export-public", parents=[store], help="the public key as PEM SubjectPublicKeyInfo")
    p.add_argument("label")
    p.add_argument("--out", type=Path, help="write it here (default: standard output)")
    keys.set_defaults(func=run)


def roles_of(cfg: AppConfig | None) -> dict[str, str]:
    """Key label -> role, from the daemon's configuration (vehicle TLS key, OEM provisioning key, contract keys)."""
    if cfg is None:
        return {}
    roles: dict[str, str] = {}
    if cfg.contracts.directory.is_dir():
        from evcc.contracts.store import ContractStore

        roles.update({c.key_label: CONTRACT for c in ContractStore(cfg.contracts.directory).list() if c.key_label})
    if cfg.session.vehicle_key_label:
        roles[cfg.session.vehicle_key_label] = VEHICLE
    if cfg.contracts.oem_key_label:
        roles[cfg.contracts.oem_key_label] = OEM_PROVISIONING
    return roles


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[OpenedStore, CertStore, AppConfig | None]]:
    options, cfg = store_options(args)
    opened = open_store(options)
    try:
        certs = cert_store(opened)
        try:
            yield opened, certs, cfg
        finally:
            certs.close()
    finally:
        opened.close()


def _write(path: Path | None, data: bytes, out: TextIO) -> None:
    if path is None:
        out.write(data.decode())
        return
    if not path.parent.resolve().is_dir():
        raise ConfigError(f"--out {path}: folder {path.parent} does not exist")
    atomic_write(path, data, mode=0o644)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None


def _confirm(label: str, opened: OpenedStore, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask: give --yes to delete without asking")
    answer = input(f"delete key {label!r} and its certificates from {opened.store.description}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    cmd = args.keys_command
    with _opened(args) as (opened, certs, cfg):
        now = datetime.now(timezone.utc)
        roles = roles_of(cfg)
        if cmd == "generate" and args.storage_key:
            storage.create(opened, args.label)
            print(f"ISO 15118-20 TPM storage key {args.label!r} (p521) generated in {opened.store.description}",
                  file=out)
        elif cmd == "generate":
            info = commands.generate(opened, args.label, args.curve)
            print(f"key {info.label!r} ({args.curve}) generated in {opened.store.description}", file=out)
        elif cmd == "csr":
            role = args.role or roles.get(args.label)
            if role not in CSR_ROLES:
                raise ConfigError("give --role oem-provisioning or vehicle (or --config naming the key's role)")
            _write(args.out, commands.csr_pem(opened, args.label, args.subject, role, args.storage_key), out)
        elif cmd == "import-cert":
            chain = load_chain(_read(args.chain, "certificate file"), f"certificate file {args.chain}")
            roots = tuple(c for r in args.root for c in load_chain(_read(r, "--root"), f"--root {r}"))
            stored = commands.import_cert(opened, certs, args.label, chain, roots, now,
                                          args.role or roles.get(args.label))
            checked = "verified to the given roots" if roots else "not checked against a root (no --root)"
            print(f"certificate {stored[0].subject.rfc4514_string()!r} and {len(stored) - 1} Sub-CA(s) stored with "
                  f"key {args.label!r}; chain {checked}", file=out)
        elif cmd == "list":
            days = args.window_days if args.window_days is not None else (
                cfg.contracts.expiry_window_days if cfg is not None else DEFAULT_WINDOW_DAYS)
            _print_rows(commands.rows(opened, certs, roles, now, timedelta(days=days)), out)
        elif cmd == "delete":
            if not _confirm(args.label, opened, args):
                print(f"key {args.label!r} not deleted", file=out)
                return EXIT_FAILED
            commands.delete(opened, certs, args.label)
            print(f"key {args.label!r} and its certificates deleted from {opened.store.description}", file=out)
        else:
            _write(args.out, commands.public_pem(opened, args.label), out)
    return EXIT_OK


def _print_rows(rows: list[commands.KeyRow], out: TextIO) -> None:
    header = ("LABEL", "STORE", "CURVE", "ROLE", "NOT AFTER", "SUBJECT", "ISSUER", "")
    lines = [header] + [(r.label, r.store, r.curve, r.role or "-",
                         f"{r.not_after:%Y-%m-%d %H:%M}Z" if r.not_after else "-", r.subject or "(no certificate)",
                         r.issuer or "-", r.mark) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip(), file=out)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    label = getattr(args, "label", None)
    where = f"evcc keys {args.keys_command}" + (f" {label}" if label else "")
    try:
        return _dispatch(args, out)
    except EvccError as exc:
        print(f"{where}: {exc}", file=err)
        return EXIT_REFUSED
    except pkcs11.PKCS11Error as exc:
        print(f"{where}: the PKCS#11 token refused: {type(exc).__name__}", file=err)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=err)
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    from evcc.entry import standalone_main

    return standalone_main(register, ["keys", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
