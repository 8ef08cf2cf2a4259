"""Fixtures of the `evcc keys` tests: a key store of each kind with the command-line options that name it (a
SoftHSM2 token, a TPM 2.0 on swtpm, the software store) and a snapshot of everything it holds (to prove that a
refused command wrote nothing), the test PKI of `evcc pki init`, and the CLI run as its own process."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from evcc.hsm.p11_session import close_session
from evcc.hsm.pkcs11_store import Pkcs11Config

ROOT = Path(__file__).resolve().parents[2]
VEHICLE_SUBJECT = "CN=WMIEVCCTESTVEHICLE,O=evcc test OEM,C=DE,DC=OEM"
PCID_SUBJECT = "CN=WMIEVCCTEST0000017,O=evcc test OEM,C=DE,DC=OEM"


@dataclass
class Done:
    status: int
    out: str
    err: str

    def error_lines(self) -> list[str]:
        """The command's own error lines (the software store also logs that it is bench only)."""
        return [line for line in self.err.splitlines() if line.startswith("evcc ")]


def evcc(*args: str | Path, stdin: str | None = None) -> Done:
    done = subprocess.run([sys.executable, "-m", "evcc", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, input=stdin if stdin is not None else "", timeout=120, check=False)
    return Done(done.returncode, done.stdout, done.stderr)


@dataclass
class Store:
    """One key store: its kind, the options naming it, a unique label prefix, and a snapshot of its content."""

    kind: str
    options: list[str]
    snapshot: Callable[[], object]
    tag: str

    def label(self, name: str) -> str:
        return f"{name}-{self.tag}"


def _files(folder: Path) -> Callable[[], object]:
    def snap() -> object:
        return sorted((str(p.relative_to(folder)), hashlib.sha256(p.read_bytes()).hexdigest())
                      for p in folder.rglob("*") if p.is_file())
    return snap


def _token_objects(config: Pkcs11Config) -> Callable[[], object]:
    def snap() -> object:
        token = pkcs11.lib(config.module).get_token(token_label=config.token_label)
        try:
            session = token.open(rw=False, user_pin=config.user_pin)
        except pkcs11.UserAlreadyLoggedIn:
            session = token.open(rw=False)
        try:
            objs = []
            for obj in session.get_objects({}):
                cls = str(obj.object_class)
                value = obj[Attribute.VALUE] if obj.object_class is ObjectClass.CERTIFICATE else b""
                objs.append((cls, str(obj[Attribute.LABEL]), bytes(obj[Attribute.ID] or b"").hex(),
                             hashlib.sha256(bytes(value)).hexdigest()))
            return sorted(objs)
        finally:
            close_session(config.module, session)
    return snap


@pytest.fixture(params=["pkcs11", "tpm", "soft"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    tag = uuid.uuid4().hex[:8]
    if request.param == "pkcs11":
        config: Pkcs11Config = request.getfixturevalue("softhsm_config")
        pin = tmp_path / "pin"
        pin.write_text(config.user_pin + "\n")
        yield Store("pkcs11", ["--token", config.token_label, "--pin-file", str(pin)], _token_objects(config), tag)
    elif request.param == "tpm":
        tcti: str = request.getfixturevalue("swtpm_tcti")
        folder = tmp_path / "tpm-keys"
        folder.mkdir()
        yield Store("tpm", ["--tcti", tcti, "--tpm-keys", str(folder)], _files(folder), tag)
    else:
        folder = tmp_path / "soft-keys"
        folder.mkdir()
        kek = tmp_path / "kek.bin"
        kek.write_bytes(secrets.token_bytes(32))
        yield Store("soft", ["--soft-keys", str(folder), "--kek-file", str(kek)], _files(folder), tag)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test PKI (evcc pki init), suites iso2 (P-256) and iso20-p521."""
    folder = tmp_path_factory.mktemp("pki")
    done = evcc("pki", "init", folder, "--suite", "iso2", "--suite", "iso20-p521")
    assert done.status == 0, done.err
    return folder
