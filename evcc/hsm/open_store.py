"""Opening the EV's key store from options: the one place that turns "which store" into a :class:`KeyStore`.

Used by ``evcc keys``, ``evcc session`` and the daemon's composition root (:func:`evcc.app.compose.open_keystore`).
The kind follows from which options are given (or from the ``[hsm]`` section of the daemon's TOML, SERVICE.md):

==========  ================================================  ==================================================
kind        options (command line / ``[hsm]`` keys)           store
==========  ================================================  ==================================================
``pkcs11``  ``--token --pin-file [--pkcs11-module]``          :class:`~evcc.hsm.pkcs11_store.Pkcs11KeyStore`
            (``token``, ``pin_file``, ``module``)
``tpm``     ``--tcti --tpm-keys`` (``tcti``, ``directory``)   :class:`evcc.hsm.tpm_store.TpmKeyStore` (imported
                                                              only when asked for)
``soft``    ``--soft-keys --kek-file`` (``directory``,        :class:`~evcc.hsm.soft_store.SoftKeyStore` (bench
            ``kek_file``)                                     only)
==========  ================================================  ==================================================

Every failure is one :class:`~evcc.errors.ConfigError` (an option missing, a file unreadable, a store folder that
does not exist) or :class:`~evcc.hsm.keystore.KeyStoreError` (token absent, login refused) naming the option or
the store. Nothing is created here: a software or TPM key folder must exist (``mkdir`` it on the factory line).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evcc.errors import ConfigError, PlatformError
from evcc.hsm.keystore import KeyAlgorithm, KeyStore, KeyStoreError
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
MAX_PIN_BYTES = 256
KINDS = ("pkcs11", "tpm", "soft")


@dataclass(frozen=True)
class StoreOptions:
    """Which key store: the options of one kind (``kind`` None: inferred from which are set). ``names`` maps an
    option to how the user wrote it (``--pin-file`` or ``[hsm] pin_file``) for the error messages."""

    kind: str | None = None
    token: str | None = None
    pin_file: Path | None = None
    pkcs11_module: str | None = None
    tcti: str | None = None
    tpm_keys: Path | None = None
    soft_keys: Path | None = None
    kek_file: Path | None = None
    names: dict[str, str] = field(default_factory=dict)

    def name(self, option: str) -> str:
        return self.names.get(option, "--" + option.replace("_", "-"))


class HsmLike(Protocol):
    """The ``[hsm]`` settings of the daemon's configuration (evcc.app.config.HsmSettings) as read here."""

    @property
    def kind(self) -> str: ...

    @property
    def module(self) -> str: ...

    @property
    def token(self) -> str: ...

    @property
    def pin_file(self) -> Path | None: ...

    @property
    def directory(self) -> Path | None: ...

    @property
    def kek_file(self) -> Path | None: ...


def options_from_hsm(h: HsmLike) -> StoreOptions:
    """The options of an ``[hsm]`` section (a TPM's ``tcti`` is read when the section has one)."""
    names = {"pin_file": "[hsm] pin_file", "kek_file": "[hsm] kek_file", "soft_keys": "[hsm] directory",
             "tpm_keys": "[hsm] directory", "token": "[hsm] token", "tcti": "[hsm] tcti",
             "pkcs11_module": "[hsm] module"}
    if h.kind == "soft":
        return StoreOptions("soft", soft_keys=h.directory, kek_file=h.kek_file, names=names)
    if h.kind == "tpm":
        return StoreOptions("tpm", tcti=getattr(h, "tcti", None), tpm_keys=h.directory, names=names)
    return StoreOptions("pkcs11", token=h.token, pin_file=h.pin_file, pkcs11_module=h.module, names=names)


def infer_kind(o: StoreOptions) -> str:
    """The kind named by the options given (exactly one kind; ConfigError otherwise)."""
    if o.kind is not None:
        if o.kind not in KINDS:
            raise ConfigError(f"key store kind {o.kind!r} is not one of {', '.join(KINDS)}")
        return o.kind
    given = {"pkcs11": o.token is not None or o.pin_file is not None or o.pkcs11_module is not None,
             "tpm": o.tcti is not None or o.tpm_keys is not None,
             "soft": o.soft_keys is not None or o.kek_file is not None}
    kinds = [k for k, v in given.items() if v]
    if not kinds:
        raise ConfigError("no key store: give --config FILE, or --token/--pin-file (PKCS#11), --tcti/--tpm-keys "
                          "(TPM) or --soft-keys/--kek-file (software)")
    if len(kinds) > 1:
        raise ConfigError(f"options of more than one key store given ({' and '.join(kinds)}): give one")
    return kinds[0]


def read_pin(path: Path, name: str) -> str:
    """The user PIN: the first line of ``path`` (at most 256 bytes)."""
    try:
        data = path.read_bytes()[:MAX_PIN_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    pin = data.decode("utf-8", "replace").strip()
    if not pin or len(data) > MAX_PIN_BYTES:
        raise ConfigError(f"{name}: {path} holds no PIN")
    return pin


@dataclass
class OpenedStore:
    """An open key store, its kind, and what the TLS layer needs beyond the port: the token's configuration
    (pkcs11-provider), the TPM's TCTI (tpm2-openssl) and the key folder (software, TPM: certificates live beside
    the keys)."""

    store: KeyStore
    kind: str
    pkcs11: Pkcs11Config | None = None
    directory: Path | None = None
    tcti: str | None = None  # a TPM's (tpm2-openssl uses the TPM key files for TLS)

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if callable(close):
            close()


def _folder(path: Path | None, option: str, what: str) -> Path:
    if path is None:
        raise ConfigError(f"{option}: missing ({what})")
    if not path.is_dir():
        raise ConfigError(f"{option}: {what} {path} does not exist")
    return path


def open_store(o: StoreOptions) -> OpenedStore:
    """Open the store the options name (module docstring); the caller closes it (:meth:`OpenedStore.close`)."""
    kind = infer_kind(o)
    if kind == "pkcs11":
        if o.token is None:
            raise ConfigError(f"{o.name('token')}: missing (the PKCS#11 token label)")
        if o.pin_file is None:
            raise ConfigError(f"{o.name('pin_file')}: missing (the token's user PIN, one line)")
        config = Pkcs11Config(o.pkcs11_module or SOFTHSM_MODULE, o.token, read_pin(o.pin_file, o.name("pin_file")))
        return OpenedStore(Pkcs11KeyStore(config), kind, pkcs11=config)
    if kind == "soft":
        folder = _folder(o.soft_keys, o.name("soft_keys"), "software key store folder")
        if o.kek_file is None:
            raise ConfigError(f"{o.name('kek_file')}: missing (the 32-byte key-encryption key of the software store)")
        if not o.kek_file.is_file():
            raise ConfigError(f"{o.name('kek_file')}: {o.kek_file} does not exist")
        soft = SoftKeyStore(SoftKeyStoreConfig(folder, kek_file=o.kek_file))
        _check_kek(soft, o.name("kek_file"))
        return OpenedStore(soft, kind, directory=folder)
    if o.tcti is None:
        raise ConfigError(f"{o.name('tcti')}: missing (the TPM's TCTI, e.g. device:/dev/tpmrm0)")
    folder = _folder(o.tpm_keys, o.name("tpm_keys"), "TPM key folder")
    return OpenedStore(_tpm_store(o.tcti, folder), kind, directory=folder, tcti=o.tcti)


def _check_kek(store: SoftKeyStore, option: str) -> None:
    """A KEK file that does not open the folder's keys is a locked store: refused before anything is written
    (a key generated under another KEK would sit beside keys no one can use together)."""
    for info in store.list():
        if info.algorithm is not KeyAlgorithm.X448:  # X448 keys cannot sign; any other key proves the KEK
            try:
                store.sign(info.label, b"evcc key-encryption key check")
            except KeyStoreError:
                raise KeyStoreError(f"{option}: the key-encryption key does not open the keys of "
                                    f"{store.description} (locked: another KEK)") from None
            return


def _tpm_store(tcti: str, folder: Path) -> KeyStore:
    try:
        module: Any = importlib.import_module("evcc.hsm.tpm_store")
    except ImportError as exc:
        raise PlatformError(f"the TPM key store is not available here ({exc})") from None
    store: KeyStore = module.TpmKeyStore(module.TpmConfig(tcti=tcti, directory=folder))
    return store
