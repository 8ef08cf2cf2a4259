"""The vehicle's TLS key in a TPM 2.0, used by OpenSSL through Debian's ``tpm2-openssl`` provider (ISO 15118-20
TLS 1.3 mutual authentication: the EVCC signs CertificateVerify with the key behind its vehicle certificate; an
ISO 15118-2 TLS 1.2 client key works the same way where a charger asks for one).

The key is a "TSS2 PRIVATE KEY" PEM (the TPM-wrapped blob and its public area, parent ``0x40000001``: the owner
hierarchy's primary, made again by the provider on load), as :class:`evcc.hsm.tpm_store.TpmKeyStore` stores it
and ``openssl genpkey -provider tpm2`` writes it. The blob can only be loaded into the TPM that made it, the
private part never leaves the TPM in plaintext; OpenSSL signs through TPM2_Sign.

Why ``tpm2-openssl`` and not pkcs11-provider over tpm2-pkcs11 (measured on Debian 12: tpm2-openssl 1.1.1,
tpm2-pkcs11 1.9.0, pkcs11-provider 1.0, swtpm 0.7.1; README "Key stores"):

- P-521: tpm2-openssl creates, loads and signs with P-521 keys (ecdsa_secp521r1_sha512, the -20 signature
  algorithm); tpm2-pkcs11 1.9 returns a P-521 key's CKA_EC_POINT as invalid DER, pkcs11-provider cannot load it
  and signing fails (CKR_HOST_MEMORY). -20 needs P-521 vehicle keys, so only tpm2-openssl serves -20.
- No extra daemon or database: tpm2-pkcs11 needs a resource manager (tpm2-abrmd on a bus, or ``/dev/tpmrm0``)
  and its own SQLite store of wrapped objects beside the TPM; tpm2-openssl takes the TCTI string the key store
  uses and the very key file the key store wrote (one source of truth).
- The same key serves the key store's own signatures (tpm2-pytss) and TLS (OpenSSL), with no PIN in a file.

How libssl signs with it: tpm2-openssl 1.1.1 (Debian 12) hands OpenSSL the public half of a TPM key when asked
to export the whole key (fixed upstream later: export refuses when the private part is asked for). libssl, which
fetches the signature in its own (default) library context first, then signs with the default provider's ECDSA
on that public-only copy: "missing private key" / "EVP lib" in every handshake (measured; also with
``openssl s_client -provider default -provider tpm2``). So the key given to libssl is an EC key of the default
library whose EC_KEY_METHOD signs through the TPM: its ``sign`` callback loads the TPM key in the provider's
context, signs the digest libssl hands it there (EVP_PKEY_sign with ``provider=tpm2`` and the digest named by
its length: SHA-256/384/512, i.e. TPM2_Sign with ECDSA), and frees the key again (the TPM object is flushed).
OpenSSL treats an EC key with its own method as "foreign" and signs it the classic way, through that method: the
private key is never in the process. Loading the TPM key per signature (CreatePrimary of the parent, Load, Sign,
flush) keeps no TPM object slot busy between handshakes: swtpm without a resource manager has three.

Connection: the provider is loaded, as pkcs11-provider is (:mod:`evcc.session.tls_openssl`), in an OpenSSL library
context of its own, one context per TCTI for the life of the process, made when the vehicle key is chosen
(:func:`evcc.session.tls13.choose_vehicle_key`): a TPM that cannot be reached is a start error. The TCTI string
goes in the provider parameter ``tcti`` and, for the load only, in ``TPM2OPENSSL_TCTI``: tpm2-openssl 1.1.1 reads
the environment variable first and hands OpenSSL the parameter's value instead of its address, so the parameter
alone is ignored there (the provider then tries /dev/tpmrm0, /dev/tpm0 and port 2321). The swtpm TCTI connects for
each command from the network namespace the calling thread is in: on a bench that moves the EV into a namespace,
give swtpm a UNIX socket (``swtpm:path=...``), which every namespace reaches; ``device:/dev/tpmrm0`` has no such
limit.
"""

from __future__ import annotations

import ctypes
import logging
import os
import ssl
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.errors import ConfigError, PlatformError
from evcc.session import tls_openssl

log = logging.getLogger(__name__)

PROVIDER = "tpm2"
TCTI_VARIABLE = "TPM2OPENSSL_TCTI"
PEM_BEGIN = b"-----BEGIN TSS2 PRIVATE KEY-----"
_PROPERTIES = b"provider=tpm2"
_EVP_PKEY_EC = 408  # NID_X9_62_id_ecPublicKey
_CURVE_NIDS = {"secp256r1": 415, "secp384r1": 715, "secp521r1": 716}
_DIGESTS = {32: b"SHA256", 48: b"SHA384", 64: b"SHA512"}  # the digest libssl hands the signer, by length

_P = ctypes.c_void_p
_SIGN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, _P, ctypes.c_int, _P, ctypes.POINTER(ctypes.c_uint), _P, _P, _P)
_FINISH = ctypes.CFUNCTYPE(None, _P)
_COPY = ctypes.CFUNCTYPE(ctypes.c_int, _P, _P)

_LOCK = threading.Lock()
_CONTEXTS: dict[str, int] = {}  # TCTI -> OSSL_LIB_CTX * (never freed: keys decoded there may be in use)


def tpm2_provider_installed() -> bool:
    """Whether Debian's ``tpm2-openssl`` (``tpm2.so``) is installed for the OpenSSL Python uses."""
    return (tls_openssl.modules_dir() / "tpm2.so").is_file()


def check_tcti(tcti: str) -> str:
    """A TCTI string that can go into the provider's configuration line (no line break, no ``#``, no ``$``)."""
    if not tcti or any(c in tcti for c in "\r\n#$\"'\\") or not tcti.isprintable():
        raise ConfigError(f"TCTI {tcti!r} cannot be given to tpm2-openssl (e.g. device:/dev/tpmrm0, "
                          "swtpm:host=127.0.0.1,port=2321, tabrmd:bus_type=session)")
    return tcti


def provider_context(tcti: str) -> int:
    """The library context holding OpenSSL's default and tpm2 providers for the TPM reached through ``tcti``; made
    on first use, then the same one for the life of the process."""
    check_tcti(tcti)
    with _LOCK:
        made = _CONTEXTS.get(tcti)
        if made is None:
            provider = tls_openssl.modules_dir() / "tpm2.so"
            if not provider.is_file():
                raise PlatformError(f"OpenSSL's tpm2 provider is not installed ({provider} missing; Debian package "
                                    "tpm2-openssl)")
            saved = os.environ.get(TCTI_VARIABLE)
            os.environ[TCTI_VARIABLE] = tcti  # read once, by the provider's init (module docstring)
            try:
                made = tls_openssl.load_provider(PROVIDER, f"module = {provider}\ntcti = {tcti}\n",
                                                 f"the tpm2 provider for TCTI {tcti} (TPM unreachable?)")
            finally:
                if saved is None:
                    del os.environ[TCTI_VARIABLE]
                else:
                    os.environ[TCTI_VARIABLE] = saved
            _CONTEXTS[tcti] = made
        return made


def read_key_pem(path: Path) -> bytes:
    """The TSS2 PRIVATE KEY PEM of a TPM key (a wrapped blob: no secret in plaintext)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"TPM key file {path}: {exc.strerror or exc}") from exc
    if PEM_BEGIN not in data:
        raise ConfigError(f"TPM key file {path} is not a TSS2 PRIVATE KEY PEM")
    return data


class _TpmSigner:
    """The EC_KEY_METHOD whose ``sign`` goes to the TPM (module docstring), and which TPM key each EC_KEY made
    here stands for. One per process (the method and its callbacks must outlive every key made with them)."""

    def __init__(self) -> None:
        lib = tls_openssl.library()
        for name, args, result in (
                ("EC_KEY_OpenSSL", [], _P), ("EC_KEY_METHOD_new", [_P], _P),
                ("EC_KEY_METHOD_set_sign", [_P, _P, _P, _P], None),
                ("EC_KEY_METHOD_set_init", [_P, _P, _P, _P, _P, _P, _P], None),
                ("EC_KEY_new_by_curve_name", [ctypes.c_int], _P), ("EC_KEY_free", [_P], None),
                ("EC_KEY_oct2key", [_P, ctypes.c_char_p, ctypes.c_size_t, _P], ctypes.c_int),
                ("EC_KEY_set_method", [_P, _P], ctypes.c_int), ("ECDSA_size", [_P], ctypes.c_int),
                ("EVP_PKEY_new", [], _P), ("EVP_PKEY_assign", [_P, ctypes.c_int, _P], ctypes.c_int),
                ("EVP_PKEY_CTX_new_from_pkey", [_P, _P, ctypes.c_char_p], _P), ("EVP_PKEY_CTX_free", [_P], None),
                ("EVP_PKEY_sign_init", [_P], ctypes.c_int),
                ("EVP_PKEY_sign", [_P, _P, ctypes.POINTER(ctypes.c_size_t), _P, ctypes.c_size_t], ctypes.c_int),
                ("EVP_get_digestbyname", [ctypes.c_char_p], _P),
                ("EVP_PKEY_CTX_set_signature_md", [_P, _P], ctypes.c_int),
                ("i2d_PUBKEY", [_P, ctypes.POINTER(ctypes.c_void_p)], ctypes.c_int),
                ("CRYPTO_free", [_P, ctypes.c_char_p, ctypes.c_int], None)):
            function = getattr(lib, name)
            function.argtypes = args
            function.restype = result
        self._lib = lib
        self._keys: dict[int, tuple[int, bytes, str]] = {}  # EC_KEY * -> (OSSL_LIB_CTX *, TSS2 PEM, TCTI)
        self._keys_lock = threading.Lock()
        self._callbacks = (_SIGN(self._sign), _FINISH(self._finish), _COPY(self._copy))  # kept alive here
        method = lib.EC_KEY_METHOD_new(lib.EC_KEY_OpenSSL())
        if not method:
            raise PlatformError("OpenSSL could not make an EC_KEY_METHOD")
        lib.EC_KEY_METHOD_set_sign(method, ctypes.cast(self._callbacks[0], _P), None, None)
        lib.EC_KEY_METHOD_set_init(method, None, ctypes.cast(self._callbacks[1], _P),
                                   ctypes.cast(self._callbacks[2], _P), None, None, None)
        self._method = int(method)

    def public_key(self, libctx: int, pem: bytes) -> ec.EllipticCurvePublicKey:
        """Load the TPM key once (proves the blob belongs to this TPM) and read its public key."""
        lib = self._lib
        lib.ERR_clear_error()
        pkey = tls_openssl.decode_private_key(pem, libctx)
        try:
            buffer = ctypes.c_void_p()
            length = lib.i2d_PUBKEY(pkey, ctypes.byref(buffer))
            if length <= 0 or not buffer.value:
                raise tls_openssl.ProviderKeyError(tls_openssl.last_reason())
            try:
                der = ctypes.string_at(buffer.value, length)
            finally:
                lib.CRYPTO_free(buffer, None, 0)
        finally:
            lib.EVP_PKEY_free(pkey)
        public = serialization.load_der_public_key(der)
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in _CURVE_NIDS:
            raise ConfigError("the TPM key is not an EC key on P-256, P-384 or P-521")
        return public

    def evp_key(self, libctx: int, pem: bytes, tcti: str) -> int:
        """A new ``EVP_PKEY *`` (the caller frees it) signing through the TPM key ``pem``."""
        public = self.public_key(libctx, pem)
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        lib = self._lib
        key = lib.EC_KEY_new_by_curve_name(_CURVE_NIDS[public.curve.name])
        if not key or lib.EC_KEY_oct2key(key, point, len(point), None) != 1:
            lib.EC_KEY_free(key)
            raise PlatformError(f"OpenSSL could not make an EC key: {tls_openssl.last_reason()}")
        with self._keys_lock:
            self._keys[int(key)] = (libctx, pem, tcti)
        if lib.EC_KEY_set_method(key, self._method) != 1:
            lib.EC_KEY_free(key)
            raise PlatformError("OpenSSL refused the TPM signing method")
        pkey = lib.EVP_PKEY_new()
        if not pkey or lib.EVP_PKEY_assign(pkey, _EVP_PKEY_EC, key) != 1:
            lib.EVP_PKEY_free(pkey)
            lib.EC_KEY_free(key)
            raise PlatformError("OpenSSL could not wrap the TPM key")
        return int(pkey)

    def _sign(self, _type: int, digest: int | None, length: int, signature: int | None,
              signature_length: ctypes._Pointer[ctypes.c_uint], _kinv: int | None, _r: int | None,
              key: int | None) -> int:
        """EC_KEY_METHOD sign: a DER ECDSA signature of ``digest`` by the TPM key; 0 (OpenSSL: failure) on error."""
        try:
            with self._keys_lock:
                libctx, pem, tcti = self._keys[int(key or 0)]
            md = _DIGESTS.get(length)
            if md is None or not digest or not signature:
                log.error("TPM signature for TLS: no digest of %d bytes is signed", length)
                return 0
            lib = self._lib
            pkey = tls_openssl.decode_private_key(pem, libctx)
            try:
                ctx = lib.EVP_PKEY_CTX_new_from_pkey(libctx, pkey, _PROPERTIES)
                written = ctypes.c_size_t(lib.ECDSA_size(key))
                ok = bool(ctx) and lib.EVP_PKEY_sign_init(ctx) == 1 and lib.EVP_PKEY_CTX_set_signature_md(
                    ctx, lib.EVP_get_digestbyname(md)) == 1 and lib.EVP_PKEY_sign(
                    ctx, signature, ctypes.byref(written), digest, length) == 1
                lib.EVP_PKEY_CTX_free(ctx)
            finally:
                lib.EVP_PKEY_free(pkey)  # the provider flushes the TPM object
            if not ok:
                log.error("TPM signature for TLS on %s failed: %s", tcti, tls_openssl.last_reason())
                return 0
            signature_length[0] = written.value
            return 1
        except Exception as exc:  # noqa: BLE001 - a ctypes callback must not raise into OpenSSL
            log.error("TPM signature for TLS failed: %s", exc)
            return 0

    def _finish(self, key: int | None) -> None:
        with self._keys_lock:
            self._keys.pop(int(key or 0), None)

    def _copy(self, dest: int | None, src: int | None) -> int:
        with self._keys_lock:
            found = self._keys.get(int(src or 0))
            if found is not None and dest:
                self._keys[int(dest)] = found
        return 1


_SIGNER: list[_TpmSigner] = []  # the process's one signer (made on first use; see _TpmSigner)


def _signer() -> _TpmSigner:
    with _LOCK:
        if not _SIGNER:
            _SIGNER.append(_TpmSigner())
        return _SIGNER[0]


def use_tpm_key(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes, tcti: str) -> None:
    """Put the certificate chain (PEM, leaf first) and the TPM key (TSS2 PRIVATE KEY PEM) on the context
    ``ctx`` (TLS 1.3 or 1.2); the key is used in the TPM through tpm2-openssl, never exported. Raises
    :class:`tls_openssl.ProviderKeyError` with OpenSSL's reason (the key does not match the certificate, the blob
    belongs to another TPM, the TPM is unreachable)."""
    libctx = provider_context(tcti)
    signer = _signer()
    pkey = signer.evp_key(libctx, key_pem, tcti)
    try:
        tls_openssl.use_key(ctx, chain_pem, pkey)
    finally:
        signer._lib.EVP_PKEY_free(pkey)  # the SSL_CTX holds its own reference


def tpm_public_key(key_pem: bytes, tcti: str) -> ec.EllipticCurvePublicKey:
    """The public key of a TPM key file, read by loading it into the TPM at ``tcti`` through tpm2-openssl."""
    return _signer().public_key(provider_context(tcti), key_pem)
