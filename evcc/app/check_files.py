"""``evcc run --check``: the files the service will open (issue 15), checked before the service starts
(the unit's ``ExecStartPre``): each configured file exists, is a regular file, is readable by the service user, and
parses as what it is meant to be:

    [hsm] pin_file         the token's user PIN (one line)        [hsm] module     the PKCS#11 module (a file)
    [hsm] kek_file         the software store's 32-byte key       [hsm] directory  a folder (software, TPM stores)
    [session] v2g_roots    PEM or DER certificates                [session] vehicle_chain, [contracts] oem_cert: same
    [bms] dbc              a CAN database with the BMS frames     [contracts] directory: a folder if it exists

"Readable by the service user": the process's own uid and groups (``ExecStartPre`` runs as the unit's ``User=``),
or those of ``user`` (``--user``, when an administrator checks as root for the service account): owner, group and
other permission bits of the file and search permission on every folder above it (ACLs are not evaluated). Each
problem is one line naming the key; the key labels in the store are checked afterwards by
:func:`evcc.keys.check.check_keys`.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from evcc.app.config import AppConfig
from evcc.errors import ConfigError, EvccError

MAX_PARSED_BYTES = 4 * 1024 * 1024  # a certificate file, a PIN or a DBC larger than this is not what we expect
KEK_BYTES = 32


@dataclass(frozen=True)
class Identity:
    """Who must be able to read the files: a uid and its groups (root reads everything)."""

    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def process(cls) -> Identity:
        return cls(str(os.getuid()), os.getuid(), frozenset({os.getgid(), *os.getgroups()}))

    @classmethod
    def user(cls, name: str) -> Identity:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ConfigError(f"--user {name}: no such user") from None
        gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
        return cls(name, entry.pw_uid, frozenset(gids))

    def may(self, info: os.stat_result, want: int) -> bool:
        """Whether the mode bits give this identity ``want`` (4 read, 1 search/execute)."""
        if self.uid == 0:
            return want != 1 or bool(info.st_mode & 0o111) or stat.S_ISDIR(info.st_mode)
        if info.st_uid == self.uid:
            return bool((info.st_mode >> 6) & want)
        if info.st_gid in self.gids:
            return bool((info.st_mode >> 3) & want)
        return bool(info.st_mode & want)


def _unreadable(path: Path, who: Identity) -> str | None:
    """Why ``who`` cannot reach and read ``path`` (None: it can)."""
    for folder in reversed(path.parents):
        try:
            info = folder.stat()
        except OSError as exc:
            return f"{folder}: {exc.strerror}"
        if not who.may(info, 1):
            return f"folder {folder} is not searchable by {who.name}"
    info = path.stat()
    if not who.may(info, 4):
        return f"not readable by {who.name} (mode {stat.filemode(info.st_mode)}, uid {info.st_uid}, gid {info.st_gid})"
    return None


def _file(key: str, path: Path, who: Identity) -> str | None:
    """The common part: the path exists, is a regular file, and ``who`` may read it."""
    try:
        info = path.stat()
    except ValueError:
        return f"{key}: {str(path)!r} is not a usable path"
    except OSError as exc:
        return f"{key}: {path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return f"{key}: {path} is {kind}"
    why = _unreadable(path, who)
    if why is not None:
        return f"{key}: {path}: {why}"
    if info.st_size > MAX_PARSED_BYTES:
        return f"{key}: {path} is larger than {MAX_PARSED_BYTES} bytes"
    return None


def _read(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(MAX_PARSED_BYTES + 1)


def _pin(data: bytes) -> str | None:
    text = data.decode("utf-8", "replace").strip()
    return None if text and len(data) <= 256 else "holds no PIN (one line, at most 256 bytes)"


def _kek(data: bytes) -> str | None:
    return None if len(data) == KEK_BYTES else f"holds {len(data)} bytes, expected a {KEK_BYTES}-byte key"


def _certificates(data: bytes) -> str | None:
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        return f"not a PEM or DER certificate ({exc})"
    return None if certs else "holds no certificate"


def _dbc(path: Path) -> str | None:
    from evcc.bms_bridge.codec import load_codec  # cantools: only when a DBC is configured and checked

    try:
        load_codec(path)
    except EvccError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


def _parsed(key: str, path: Path, who: Identity, parse: Callable[[bytes], str | None]) -> str | None:
    problem = _file(key, path, who)
    if problem is not None:
        return problem
    try:
        why = parse(_read(path))
    except OSError as exc:
        return f"{key}: cannot read {path}: {exc.strerror}"
    return None if why is None else f"{key}: {path} {why}"


def _folder(key: str, path: Path, must_exist: bool) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{key}: {path}: no such folder" if must_exist else None
    except (OSError, ValueError) as exc:
        return f"{key}: {path}: {getattr(exc, 'strerror', None) or exc}"
    return None if stat.S_ISDIR(info.st_mode) else f"{key}: {path} is not a folder"


def check_files(cfg: AppConfig, who: Identity | None = None) -> list[str]:
    """One line per problem (empty: every configured file is there, readable and parses)."""
    who = who or Identity.process()
    problems: list[str | None] = []
    h = cfg.hsm
    if h.pin_file is not None:
        problems.append(_parsed("[hsm] pin_file", h.pin_file, who, _pin))
    if h.kind == "pkcs11":
        problems.append(_file("[hsm] module", Path(h.module), who))
    if h.kek_file is not None:
        problems.append(_parsed("[hsm] kek_file", h.kek_file, who, _kek))
    if h.directory is not None:
        problems.append(_folder("[hsm] directory", h.directory, must_exist=True))
    for root in cfg.session.v2g_roots:
        problems.append(_parsed("[session] v2g_roots", root, who, _certificates))
    if cfg.session.vehicle_chain is not None:
        problems.append(_parsed("[session] vehicle_chain", cfg.session.vehicle_chain, who, _certificates))
    if cfg.contracts.oem_cert is not None:
        problems.append(_parsed("[contracts] oem_cert", cfg.contracts.oem_cert, who, _certificates))
    problems.append(_folder("[contracts] directory", cfg.contracts.directory, must_exist=False))
    dbc = _file("[bms] dbc", cfg.bms.dbc, who)
    if dbc is None:
        why = _dbc(cfg.bms.dbc)
        dbc = None if why is None else f"[bms] dbc: {why}"
    problems.append(dbc)
    return [p for p in problems if p is not None]
