"""TPM 2.0 key store: the EV's keys inside a TPM, talking to it through the TSS ESAPI (ISO 15118-2 [V2G2-818..823],
ISO 15118-20 §7.9.2.5 / [V2G20-2535]; PKI.md §1; TPM 2.0 Library Part 3 for the commands named below).

TSS binding: tpm2-pytss 2.3.0 from PyPI (scripts/setup.d/32-tpm.sh). Debian's python3-tpm2-pytss is built for
Debian's python3 and cannot be imported by the interpreter this project runs on (pyenv 3.11); the PyPI release
builds against Debian 12's libtss2 3.2.1 and gives ESAPI, the TCTI loader and the TSS2 PRIVATE KEY codec.

Connection: one ESAPI context per store from a TCTI string (``device:/dev/tpmrm0`` in the car, ``swtpm:...`` or
``tabrmd:...`` on a bench). No resource manager is needed: every transient object this store loads (the storage
primary key, a key, a -20 storage key) is flushed before the call returns, so at most three slots are in use for
the length of one call. The ESAPI context is used under a lock (one call at a time).

Keys (templates and file format: :mod:`evcc.hsm.tpm_objects`):

    owner seed --TPM2_CreatePrimary(fixed template)--> SRK (P-256, transient, same key every time; the template
                                                        tpm2-openssl uses for parent 0x40000001)
    SRK --TPM2_Create--> generated key    (file: TSS2 PRIVATE KEY; OpenSSL -provider tpm2 loads it for TLS)
    SRK --TPM2_Import--> imported key     (-2 contract key, wrapped for the SRK in the host: evcc.hsm.tpm_wrap)
    owner seed --TPM2_CreatePrimary--> -20 storage key (P-521, SHA-512) --TPM2_Import--> -20 contract key
                                                        (TPM_EncryptedPrivateKey made by the CPS)

The SRK (and a -20 storage primary) is re-created from its template when needed (TPM2_CreatePrimary) and kept
between calls only as a saved context (TPM2_ContextSave/ContextLoad), re-created if the TPM was reset. Nothing is persisted in TPM NV memory: a
key is its file, written atomically (temp file, fsync, rename): a lost file is a lost key, never a half key. A
file from another TPM or a damaged one fails at TPM2_Load (integrity) with the key's label in the error.

Operations: ECDSA with a host-computed SHA-256 (P-256) / SHA-512 (P-521) digest, TPM2_Sign with the scheme given
per call, raw r||s; ECDH as TPM2_ECDH_ZGen with the key in the TPM, the concatenation KDF and AES in the host as
the standards require (Z passes through host memory: ESAPI returns it; it is copied to a bytearray and wiped, the
binding's own copy cannot be wiped). Curves: those the TPM lists (TPM2_GetCapability ECC_CURVES) among P-256 and
P-521; Ed448/X448 exist on no TPM 2.0 (:class:`UnsupportedAlgorithm`). Authorisation: the owner hierarchy and
every key with an empty password (keys are noDA, so a TPM in dictionary-attack lockout still serves them); an
owner password is not supported (TPM_RC_BAD_AUTH at the first CreatePrimary). A busy TPM (TPM_RC_RETRY,
TPM_RC_YIELDED, TPM_RC_TESTING) is resubmitted by ESAPI a bounded number of times (tss2-esys 3.2: 5 submissions in
all), then reported. Every TPM or TSS error becomes a :class:`TpmError` naming the response code (hex and name) and
what was tried (tests/hsm/test_tpm_bad_input.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from tpm2_pytss import ESAPI  # type: ignore[import-untyped]
from tpm2_pytss.constants import (  # type: ignore[import-untyped]
    ESYS_TR,
    TPM2_ALG,
    TPM2_CAP,
    TPM2_RC,
    TPM2_RH,
    TPM2_ST,
)
from tpm2_pytss.TSS2_Exception import TSS2_Exception  # type: ignore[import-untyped]
from tpm2_pytss.types import (  # type: ignore[import-untyped]
    TPM2B_DATA,
    TPM2B_ECC_POINT,
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_PRIVATE,
    TPM2B_SENSITIVE_CREATE,
    TPMS_ECC_POINT,
    TPMT_SIG_SCHEME,
    TPMT_SYM_DEF_OBJECT,
    TPMT_TK_HASHCHECK,
)

from evcc.hsm.files import atomic_delete, atomic_write, remove_stale_temps
from evcc.hsm.hostcrypto import CURVES, ORDERS, encode_public, peer_public
from evcc.hsm.keystore import (
    ConcatKdf,
    KeyAlgorithm,
    KeyExists,
    KeyInfo,
    KeyNotFound,
    KeyStoreError,
    UnsupportedAlgorithm,
    check_label,
    wipe,
)
from evcc.hsm.tpm_objects import (
    CURVE_IDS,
    WIDTH,
    PRIMARY_STORAGE20,
    KeyFile,
    contract_public_20,
    imported_public,
    key_template,
    point_of,
    srk_template,
    storage20_template,
)
from evcc.hsm.tpm_wrap import StorageParent, WrappedKeyRejected, ecc_point_marshal, ecc_sensitive, outer_wrap

log = logging.getLogger(__name__)
_DIGEST = {KeyAlgorithm.EC_P256: ("sha256", TPM2_ALG.SHA256), KeyAlgorithm.EC_P521: ("sha512", TPM2_ALG.SHA512)}


@dataclass(frozen=True)
class TpmConfig:
    """Where the TPM is (TCTI string) and the folder of the key files."""

    tcti: str
    directory: Path


class TpmError(KeyStoreError):
    """A TPM command (or the TSS below it) failed; ``rc`` is the TPM/TSS response code."""

    def __init__(self, message: str, rc: int) -> None:
        super().__init__(message)
        self.rc = rc


def _rc_names() -> dict[int, str]:
    names: dict[int, str] = {}
    for name in dir(TPM2_RC):
        value = getattr(TPM2_RC, name)
        if name.isupper() and isinstance(value, int) and not name.startswith(("RC_", "FMT1", "VER1", "WARN")):
            names.setdefault(int(value), f"TPM_RC_{name}")
    return names


_RC_NAMES = _rc_names()


def rc_text(exc: TSS2_Exception) -> str:
    """``0x0000099f TPM_RC_INTEGRITY (tpm:parameter(1):integrity check failed)`` style text."""
    rc = int(exc.rc)
    name = ""
    if rc < 0x10000:  # a TPM response code (TSS layer 0): name the error without handle/parameter number
        name = _RC_NAMES.get(int(exc.error), "")
    return f"0x{rc:08x} {name + ' ' if name else ''}({exc})"


def _tss(what: str, exc: TSS2_Exception) -> TpmError:
    return TpmError(f"TPM {what} failed: {rc_text(exc)}", int(exc.rc))


class TpmKeyStore:
    """A :class:`evcc.hsm.keystore.KeyStore` in a TPM 2.0 (module docstring)."""

    def __init__(self, config: TpmConfig) -> None:
        self._config = config
        self._keys = config.directory / "keys"
        self._keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_stale_temps(self._keys)
        self._lock = threading.Lock()
        self._srk_context: Any = None
        self._srk_public: Any = None
        self._storage_contexts: dict[str, Any] = {}  # -20 storage primaries: label -> saved context
        try:
            self._esys = ESAPI(config.tcti)
        except TSS2_Exception as exc:
            raise _tss(f"connection to {config.tcti!r}", exc) from None
        except Exception as exc:  # the TCTI loader raises ValueError etc. for a malformed string
            raise KeyStoreError(f"TPM connection to {config.tcti!r} failed: {exc}") from None
        try:
            self._curves = self._ecc_curves()
        except BaseException:
            self._esys.close()
            raise

    @property
    def description(self) -> str:
        return f"TPM 2.0 at {self._config.tcti} (key files in {self._keys})"

    @property
    def tcti(self) -> str:
        """The TCTI string of the TPM (OpenSSL's tpm2 provider uses the same TPM for TLS with a key file)."""
        return self._config.tcti

    def close(self) -> None:
        with self._lock:
            self._esys.close()

    def _ecc_curves(self) -> frozenset[int]:
        curves: set[int] = set()
        more, start = True, 0
        with self._tpm(f"GetCapability(ECC_CURVES) at {self._config.tcti}"):
            while more:
                more, data = self._esys.get_capability(TPM2_CAP.ECC_CURVES, start, 64)
                listed = [int(c) for c in data.data.eccCurves]
                curves.update(listed)
                start = max(listed, default=start) + 1
        return frozenset(curves)

    def supports(self, algorithm: KeyAlgorithm) -> bool:
        """True for P-256 / P-521 when the TPM lists the curve; never Ed448 / X448 (no TPM 2.0 has them)."""
        return algorithm in CURVE_IDS and CURVE_IDS[algorithm] in self._curves

    def _require(self, algorithm: KeyAlgorithm) -> None:
        if not self.supports(algorithm):
            why = "no TPM 2.0 offers it" if algorithm not in CURVE_IDS else "the TPM does not list this curve"
            raise UnsupportedAlgorithm(f"{algorithm.value} not supported by {self.description}: {why}")

    @contextmanager
    def _tpm(self, what: str) -> Iterator[None]:
        try:
            yield
        except TSS2_Exception as exc:
            raise _tss(what, exc) from None

    # -- files ------------------------------------------------------------------------------------------------

    def _path(self, label: str) -> Path:
        return self._keys / f"{hashlib.sha256(label.encode()).hexdigest()[:32]}.pem"

    def _read(self, label: str) -> KeyFile:
        try:
            data = self._path(label).read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(f"no key labelled {label!r} in {self.description}") from None
        try:
            key = KeyFile.decode(data)
        except ValueError as exc:
            raise KeyStoreError(f"key file of {label!r} ({self._path(label)}) is damaged: {exc}") from None
        if key.label != label:
            raise KeyStoreError(f"key file {self._path(label)} holds {key.label!r}, not {label!r}")
        return key

    def _write(self, key: KeyFile) -> None:
        atomic_write(self._path(key.label), key.encode())

    def _new(self, label: str) -> None:
        check_label(label)
        if self._path(label).exists():
            raise KeyExists(f"a key labelled {label!r} exists in {self.description}")

    def key_file(self, label: str) -> Path:
        """The TSS2 PRIVATE KEY file of ``label`` (for OpenSSL's tpm2 provider: TLS with the key in the TPM)."""
        self._read(label)
        return self._path(label)

    # -- loaded objects, always flushed -----------------------------------------------------------------------

    def _flush(self, handle: Any) -> None:
        try:
            self._esys.flush_context(handle)
        except TSS2_Exception as exc:
            log.error("TPM FlushContext failed: %s", rc_text(exc))

    @contextmanager
    def _srk(self, what: str = "") -> Iterator[Any]:
        handle = None
        if self._srk_context is not None:
            try:
                handle = self._esys.context_load(self._srk_context)
            except TSS2_Exception:
                self._srk_context = None  # TPM reset since: derive it again
        if handle is None:
            with self._tpm("CreatePrimary of the storage key (owner hierarchy)" + (f" for {what}" if what else "")):
                handle, public, *_ = self._esys.create_primary(TPM2B_SENSITIVE_CREATE(), srk_template(),
                                                               ESYS_TR.RH_OWNER)
                self._srk_public = public
                try:
                    self._srk_context = self._esys.context_save(handle)
                except TSS2_Exception:
                    self._srk_context = None
        try:
            yield handle
        finally:
            self._flush(handle)

    @contextmanager
    def _loaded(self, key: KeyFile, what: str) -> Iterator[Any]:
        """``key`` loaded in the TPM (its parent chain loaded and flushed again on the way)."""
        if key.primary is not None:
            with self._storage20(key, what) as primary:
                yield primary
            return
        with self._loaded_parent(key.parent, f"{what} with key {key.label!r}") as parent:
            with self._tpm(f"Load of key {key.label!r} for {what} (a key file from another TPM or a damaged one "
                           f"fails here)"):
                handle = self._esys.load(parent, key.private, key.public)
        try:
            yield handle
        finally:
            self._flush(handle)

    @contextmanager
    def _storage20(self, key: KeyFile, what: str) -> Iterator[Any]:
        """The -20 storage primary: from its saved context when the TPM still has it, else derived again."""
        handle, public = None, key.public
        saved = self._storage_contexts.get(key.label)
        if saved is not None:
            try:
                handle = self._esys.context_load(saved)
            except TSS2_Exception:
                del self._storage_contexts[key.label]
        if handle is None:
            with self._tpm(f"CreatePrimary of the -20 storage key {key.label!r} for {what}"):
                handle, public, *_ = self._esys.create_primary(TPM2B_SENSITIVE_CREATE(),
                                                               storage20_template(key.label), ESYS_TR.RH_OWNER)
            if public.marshal() == key.public.marshal():
                try:
                    self._storage_contexts[key.label] = self._esys.context_save(handle)
                except TSS2_Exception:
                    pass
        try:
            if public.marshal() != key.public.marshal():
                raise KeyStoreError(f"-20 storage key {key.label!r} derives differently on this TPM (its file comes "
                                    f"from another TPM, or the owner hierarchy was cleared)")
            yield handle
        finally:
            self._flush(handle)

    @contextmanager
    def _loaded_parent(self, parent: str | None, what: str) -> Iterator[Any]:
        if parent is None:
            with self._srk(what) as srk:
                yield srk
        else:
            with self._loaded(self._read(parent), what) as handle:
                yield handle

    # -- the KeyStore port -------------------------------------------------------------------------------------

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        self._require(algorithm)
        with self._lock:
            self._new(label)
            with self._srk() as srk, self._tpm(f"Create of {algorithm.value} key {label!r}"):
                private, public, *_ = self._esys.create(srk, TPM2B_SENSITIVE_CREATE(), key_template(algorithm))
            return self._finish(KeyFile(label, None, public, private))

    def _finish(self, key: KeyFile) -> KeyInfo:
        self._write(key)
        algorithm, point = point_of(key.public)
        return KeyInfo(key.label, algorithm, point)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        """TPM2_Import of ``private`` wrapped for the SRK in the host (the caller wipes ``private``).

        The marshalled sensitive area is a bytearray wiped after wrapping; the range check and the public point
        need the scalar as a Python int, which cannot be wiped (as in the other stores' import)."""
        self._require(algorithm)
        width = WIDTH[algorithm]
        if len(private) != width:
            raise ValueError(f"{algorithm.value} private key must be {width} bytes")
        d = int.from_bytes(private, "big")
        if not 0 < d < ORDERS[algorithm]:
            raise ValueError("EC private scalar out of range")
        point = encode_public(ec.derive_private_key(d, CURVES[algorithm]).public_key())
        del d
        public = imported_public(algorithm, point)
        with self._lock:
            self._new(label)
            with self._srk() as srk:
                parent = self._storage_parent(self._srk_public)
                sensitive = ecc_sensitive(private, width, os.urandom(32))
                try:
                    dup = outer_wrap(parent, bytes(public.get_name()), sensitive)
                finally:
                    wipe(sensitive)
                with self._tpm(f"Import of {algorithm.value} key {label!r}"):
                    wrapped = self._esys.import_(srk, TPM2B_DATA(), public, TPM2B_PRIVATE(dup.duplicate),
                                                 TPM2B_ENCRYPTED_SECRET(secret=dup.in_sym_seed),
                                                 TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL))
            key = KeyFile(label, None, public, wrapped)
            with self._loaded(key, "the check after import"):
                pass
            return self._finish(key)

    @staticmethod
    def _storage_parent(public: Any) -> StorageParent:
        area = public.publicArea
        curve_alg, point = point_of(public)
        width = WIDTH[curve_alg]
        return StorageParent(CURVES[curve_alg], point[1:1 + width], point[1 + width:], int(area.nameAlg),
                             int(area.parameters.eccDetail.symmetric.keyBits.aes))

    def public_key(self, label: str) -> bytes:
        return point_of(self._read(label).public)[1]

    def sign(self, label: str, message: bytes) -> bytes:
        with self._lock:
            key = self._read(label)
            algorithm, _ = point_of(key.public)
            hash_name, hash_alg = _DIGEST[algorithm]
            digest = hashlib.new(hash_name, message).digest()
            scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
            scheme.details.ecdsa.hashAlg = hash_alg
            ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
            with self._loaded(key, "signing") as handle, self._tpm(f"Sign (ECDSA) with key {label!r}"):
                signature = self._esys.sign(handle, digest, scheme, ticket)
        width = WIDTH[algorithm]
        r, s = bytes(signature.signature.ecdsa.signatureR), bytes(signature.signature.ecdsa.signatureS)
        return r.rjust(width, b"\0") + s.rjust(width, b"\0")

    def ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        with self._lock:
            key = self._read(label)
            algorithm, _ = point_of(key.public)
            peer_public(algorithm, peer)  # InvalidPeerKey for a malformed point or one off the curve
            width = WIDTH[algorithm]
            point = TPM2B_ECC_POINT(point=TPMS_ECC_POINT(x=peer[1:1 + width], y=peer[1 + width:]))
            with self._loaded(key, "key agreement") as handle, self._tpm(f"ECDH_ZGen with key {label!r}"):
                out = self._esys.ecdh_zgen(handle, point)
        return kdf.derive(bytearray(bytes(out.point.x).rjust(width, b"\0")))

    def delete(self, label: str) -> None:
        with self._lock:
            path = self._path(label)
            if not path.exists():
                raise KeyNotFound(f"no key labelled {label!r} in {self.description}")
            atomic_delete(path)
            self._storage_contexts.pop(label, None)

    def list(self, prefix: str = "") -> list[KeyInfo]:
        out = []
        for path in self._keys.glob("*.pem"):
            try:
                key = KeyFile.decode(path.read_bytes())
                algorithm, point = point_of(key.public)
            except (OSError, ValueError):
                continue  # a damaged file is reported when its label is used
            if key.label.startswith(prefix):
                out.append(KeyInfo(key.label, algorithm, point))
        return sorted(out, key=lambda k: k.label)

    # -- ISO 15118-20 TPM_EncryptedPrivateKey ------------------------------------------------------------------

    def create_storage_key(self, label: str) -> KeyInfo:
        """The -20 TPM storage key (P-521, SHA-512, AES-256-CFB; a primary of the owner hierarchy, see
        :mod:`evcc.hsm.tpm_objects`): the parent a CPS wraps a contract key for (``TPM_EncryptedPrivateKey``).
        Its public key is what the OEM certificate names."""
        self._require(KeyAlgorithm.EC_P521)
        with self._lock:
            self._new(label)
            with self._tpm(f"CreatePrimary of the -20 storage key {label!r}"):
                handle, public, *_ = self._esys.create_primary(TPM2B_SENSITIVE_CREATE(), storage20_template(label),
                                                               ESYS_TR.RH_OWNER)
            self._flush(handle)
            return self._finish(KeyFile(label, None, public, TPM2B_PRIVATE(), PRIMARY_STORAGE20))

    def storage_parent(self, label: str) -> StorageParent:
        """Public values of a storage key a sender needs to wrap a key for it (evcc.hsm.tpm_wrap.outer_wrap)."""
        return self._storage_parent(self._read(label).public)

    def import_wrapped(self, label: str, parent_label: str, algorithm: KeyAlgorithm, public: bytes,
                       duplicate: bytes, seed_point: bytes) -> KeyInfo:
        """TPM2_Import of an ISO 15118-20 ``TPM_EncryptedPrivateKey`` (duplication blob, outer wrapper only) made
        for the storage key ``parent_label`` (PKI.md §1).

        ``public``: the contract certificate's key (04||X||Y), from which the public area is built
        (:func:`evcc.hsm.tpm_objects.contract_public_20`); ``duplicate``: the TPM2B_PRIVATE buffer;
        ``seed_point``: the sender's ephemeral point (DHPublicKey, 04||X||Y), TPM2_Import's inSymSeed. The key
        is loaded once before its file is written. A blob the TPM refuses: :class:`WrappedKeyRejected`.
        """
        if algorithm is not KeyAlgorithm.EC_P521:
            raise UnsupportedAlgorithm(f"TPM_EncryptedPrivateKey carries a P-521 key, not {algorithm.value}")
        self._require(algorithm)
        area = contract_public_20(public)
        with self._lock:
            self._new(label)
            parent = self._read(parent_label)
            with self._loaded(parent, f"import of {label!r}") as handle:
                try:
                    wrapped = self._esys.import_(handle, TPM2B_DATA(), area, TPM2B_PRIVATE(duplicate),
                                                 TPM2B_ENCRYPTED_SECRET(secret=ecc_point_marshal(seed_point)),
                                                 TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL))
                except TSS2_Exception as exc:
                    raise WrappedKeyRejected(f"TPM Import of {label!r} under storage key {parent_label!r} failed: "
                                             f"{rc_text(exc)}") from None
            key = KeyFile(label, parent_label, area, wrapped)
            with self._loaded(key, "the check after import"):
                pass
            return self._finish(key)
