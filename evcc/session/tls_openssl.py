"""What Python's ``ssl`` module cannot set, set through the OpenSSL library it is linked with (ctypes).

Python 3.11 has no API for the TLS 1.3 cipher suites, for a list of key-exchange groups (``set_ecdh_curve`` sets
one group) or for the signature algorithms, and cannot load an OpenSSL provider. ISO 15118-20's TLS 1.3 profile
needs all four (PKI.md §5), so this module calls, on the very ``libssl``/``libcrypto`` that ``_ssl`` uses:

==============================  =====================================================================
SSL_CTX_set_ciphersuites        TLS 1.3 suites (``TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256``)
SSL_CTX_ctrl(SET_GROUPS_LIST)   supported_groups / key shares (``secp521r1:x448``)
SSL_CTX_ctrl(SET_SIGALGS_LIST)  signature_algorithms (``ecdsa_secp521r1_sha512:ed448``)
OSSL_LIB_CTX_new/_load_config   OpenSSL 3's ``pkcs11`` provider (Debian package ``pkcs11-provider``) in a
                                library context of its own
PEM_read_bio_PrivateKey_ex,     the vehicle key (a PKCS#11 URI PEM) decoded in that context and put on the
SSL_CTX_use_PrivateKey          ``ssl.SSLContext`` with its chain (SSL_CTX_use_certificate_chain_file)
==============================  =====================================================================

The ``SSL_CTX *`` of an ``ssl.SSLContext`` is the first field after the object header in CPython's
``PySSLContext``; :func:`_ssl_ctx` reads it there and proves it by comparing ``SSL_CTX_get_options`` with
``SSLContext.options`` before anything is set. On another interpreter the functions raise ``PlatformError``.

Why a library context of its own: libssl signs CertificateVerify in the SSL_CTX's (default) context; for a key
of another provider OpenSSL fetches the signature "from the key's provider". OpenSSL 3.0's method cache then
answers every later plain fetch of that algorithm in that context with the provider's implementation: after
the first token signature, all ECDSA of the process (verifying the SECC's chain, an in-process SECC signing with
its software key) went to pkcs11-provider, which copied those keys into the token as session objects (and failed
with them after a logout). With the provider in its own context, only the token key's own operations reach it;
the default context (Python's ssl, everything else) never sees it.

The provider configuration is the equivalent of this openssl.cnf (given to OpenSSL through a memfd)::

    openssl_conf = evcc_init
    [evcc_init]       providers = evcc_providers
    [evcc_providers]  default = evcc_default / pkcs11 = evcc_pkcs11
    [evcc_default]    activate = 1
    [evcc_pkcs11]     module = <MODULESDIR>/pkcs11.so, pkcs11-module-path = <PKCS#11 module>,
                      pkcs11-module-token-pin = file:<memfd holding the user PIN>,
                      pkcs11-module-cache-keys = false, pkcs11-module-quirks = no-deinit, activate = 1

``no-deinit``: SoftHSM (and python-pkcs11 in the same process) must not see C_Finalize from the provider.

``pkcs11-module-token-pin``: a PKCS#11 login belongs to the whole process (the application), not to a session.
Whenever the token is logged out (another user of the module logs out, or its last session closes), the provider
logs in again with this PIN: it never prompts on the terminal (OpenSSL's UI would wait on /dev/tty, e.g. when it
releases the key at exit). The PIN is read once, at load, from an anonymous memory file (never on disk).

``pkcs11-module-cache-keys = false``: by default the provider copies a token key into a session object
(C_CopyObject, same CKA_LABEL and CKA_ID, CKA_TOKEN false) when it first uses it, and destroys the copy when that
EVP_PKEY is freed. A key loaded again by URI while the copy exists (a new ``SSLContext`` per connection) matches the
copy instead of the token object; when the first context is freed, the copy is destroyed under the second one,
whose CertificateVerify then fails (C_SignInit: CKR_KEY_HANDLE_INVALID; OpenSSL: "EVP lib"): every other
session failed. Without the cache every load refers to the token object itself.

The provider's library context is made once per PKCS#11 module and kept for the life of the process (with the
PIN it was first given): SSL_CTXs hold keys of it, and freeing it under one of them would crash. This module keeps
that one mapping, as OpenSSL keeps its default context.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from evcc.errors import ConfigError, PlatformError
from evcc.hsm.pkcs11_store import Pkcs11Config

_SSL_CTRL_SET_GROUPS_LIST = 92  # openssl/ssl.h
_SSL_CTRL_SET_SIGALGS_LIST = 98
_OPENSSL_MODULES_DIR = 8  # OpenSSL_version() selector OPENSSL_MODULES_DIR: "MODULESDIR: \"...\""
PROVIDER_NAME = b"pkcs11"
MAX_PROVIDER_PIN = 31  # pkcs11-provider reads a PIN file with BIO_gets into 32 bytes


def _library() -> ctypes.CDLL:
    """The ``_ssl`` extension itself: dlsym through its handle resolves to the libssl/libcrypto it links."""
    import _ssl

    path = getattr(_ssl, "__file__", None)
    lib = ctypes.CDLL(path) if path else ctypes.pythonapi
    lib.OpenSSL_version_num.restype = ctypes.c_ulong
    if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise PlatformError("the OpenSSL found through ctypes is not the one Python's ssl module uses")
    lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
    lib.OSSL_LIB_CTX_load_config.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.OSSL_LIB_CTX_load_config.restype = ctypes.c_int
    lib.OSSL_PROVIDER_available.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.OSSL_PROVIDER_available.restype = ctypes.c_int
    lib.OpenSSL_version.argtypes = [ctypes.c_int]
    lib.OpenSSL_version.restype = ctypes.c_char_p
    lib.ERR_clear_error.restype = None
    lib.ERR_peek_last_error.restype = ctypes.c_ulong
    lib.ERR_reason_error_string.argtypes = [ctypes.c_ulong]
    lib.ERR_reason_error_string.restype = ctypes.c_char_p
    lib.OSSL_LIB_CTX_new.restype = ctypes.c_void_p
    lib.OSSL_LIB_CTX_free.argtypes = [ctypes.c_void_p]
    lib.OSSL_LIB_CTX_free.restype = None
    lib.BIO_new_mem_buf.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.BIO_new_mem_buf.restype = ctypes.c_void_p
    lib.BIO_free.argtypes = [ctypes.c_void_p]
    lib.PEM_read_bio_PrivateKey_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                               ctypes.c_void_p, ctypes.c_char_p]
    lib.PEM_read_bio_PrivateKey_ex.restype = ctypes.c_void_p
    lib.EVP_PKEY_free.argtypes = [ctypes.c_void_p]
    lib.EVP_PKEY_free.restype = None
    lib.SSL_CTX_use_certificate_chain_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.SSL_CTX_use_PrivateKey.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.SSL_CTX_check_private_key.argtypes = [ctypes.c_void_p]
    return lib


def _ssl_ctx(lib: ctypes.CDLL, ctx: ssl.SSLContext) -> int:
    if platform.python_implementation() != "CPython" or hasattr(sys, "getobjects"):  # trace-refs: other header
        raise PlatformError("TLS 1.3 profile settings need CPython's ssl.SSLContext layout")
    pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not pointer or lib.SSL_CTX_get_options(pointer) != ctx.options:
        raise PlatformError("cannot reach the SSL_CTX of an ssl.SSLContext on this Python build")
    return int(pointer)


def restrict_tls13(ctx: ssl.SSLContext, suites: tuple[str, ...], groups: tuple[str, ...],
                   signature_algorithms: tuple[str, ...]) -> None:
    """Offer/accept only ``suites`` (TLS 1.3), ``groups`` and ``signature_algorithms`` on ``ctx``.

    Raises :class:`ConfigError` naming the list OpenSSL refused (an unknown or unsupported name).
    """
    lib = _library()
    pointer = _ssl_ctx(lib, ctx)
    _check(lib, "TLS 1.3 cipher suites", suites, lib.SSL_CTX_set_ciphersuites(pointer, _joined(suites)))
    _check(lib, "TLS groups", groups, lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, _joined(groups)))
    _check(lib, "TLS signature algorithms", signature_algorithms,
           lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_SIGALGS_LIST, 0, _joined(signature_algorithms)))


def _joined(names: tuple[str, ...]) -> bytes:
    return ":".join(names).encode()


def _check(lib: ctypes.CDLL, what: str, names: tuple[str, ...], result: int) -> None:
    if not names or result != 1:
        lib.ERR_clear_error()
        raise ConfigError(f"{what} {':'.join(names)!r} refused by {ssl.OPENSSL_VERSION}")


def modules_dir() -> Path:
    """OpenSSL's provider folder (MODULESDIR), where Debian's ``pkcs11-provider`` puts ``pkcs11.so``."""
    text = (_library().OpenSSL_version(_OPENSSL_MODULES_DIR) or b"").decode()
    return Path(text.partition('"')[2].rstrip('"')) if '"' in text else Path("/nonexistent")


def pkcs11_provider_installed() -> bool:
    """Whether OpenSSL 3's pkcs11-provider is installed for the OpenSSL Python uses."""
    return (modules_dir() / "pkcs11.so").is_file()


class ProviderKeyError(ConfigError):
    """OpenSSL refused the vehicle certificate or its token key; ``reason`` is OpenSSL's (``KEY_VALUES_MISMATCH``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_CONTEXTS_LOCK = threading.Lock()
_PROVIDER_CONTEXTS: dict[str, int] = {}  # PKCS#11 module -> OSSL_LIB_CTX * (module docstring: never freed)


def provider_context(token: Pkcs11Config) -> int:
    """The library context (``OSSL_LIB_CTX *``) holding OpenSSL's default and pkcs11 providers for ``token``'s
    PKCS#11 module and user PIN; made on first use, then the same one for the life of the process."""
    with _CONTEXTS_LOCK:
        made = _PROVIDER_CONTEXTS.get(token.module)
        if made is None:
            made = _PROVIDER_CONTEXTS[token.module] = _new_provider_context(token)
        return made


def _new_provider_context(token: Pkcs11Config) -> int:
    provider = modules_dir() / "pkcs11.so"
    if not provider.is_file():
        raise PlatformError(f"OpenSSL's pkcs11-provider is not installed ({provider} missing; Debian package "
                            "pkcs11-provider from bookworm-backports)")
    if not Path(token.module).is_file():
        raise ConfigError(f"PKCS#11 module {token.module} does not exist")
    pin = token.user_pin.encode()
    if not 0 < len(pin) <= MAX_PROVIDER_PIN or any(b < 0x20 or b == 0x7F for b in pin):
        raise ConfigError(f"the user PIN of token {token.token_label!r} cannot be given to pkcs11-provider: it takes "
                          f"1 to {MAX_PROVIDER_PIN} bytes without control characters")
    with _memory_file("evcc-token-pin", pin) as pin_path:
        section = (f"module = {provider}\npkcs11-module-path = {token.module}\n"
                   f"pkcs11-module-token-pin = file:{pin_path}\npkcs11-module-cache-keys = false\n"
                   "pkcs11-module-quirks = no-deinit\n")
        return load_provider(PROVIDER_NAME.decode(), section, f"the pkcs11 provider {provider} for {token.module}")


def load_provider(name: str, section: str, what: str) -> int:
    """A new library context (``OSSL_LIB_CTX *``) with OpenSSL's default provider and the provider ``name``
    configured by the lines of ``section`` (``module = ...`` and the provider's own parameters; ``activate = 1``
    is added). The caller keeps it for the life of the process (module docstring)."""
    lib = _library()
    libctx = lib.OSSL_LIB_CTX_new()
    if not libctx:
        raise PlatformError(f"OpenSSL could not make a library context for {what}")
    config = ("openssl_conf = evcc_init\n[evcc_init]\nproviders = evcc_providers\n"
              f"[evcc_providers]\ndefault = evcc_default\n{name} = evcc_{name}\n[evcc_default]\nactivate = 1\n"
              f"[evcc_{name}]\n{section}activate = 1\n")
    with _memory_file("evcc-openssl-cnf", config.encode()) as config_path:
        ok = lib.OSSL_LIB_CTX_load_config(libctx, config_path.encode())
    if ok != 1 or not lib.OSSL_PROVIDER_available(libctx, name.encode()):
        reason = _reason(lib)
        lib.OSSL_LIB_CTX_free(libctx)
        raise PlatformError(f"OpenSSL could not load {what}: {reason}")
    return int(libctx)


def use_token_key(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes, token: Pkcs11Config) -> None:
    """Put the certificate chain (PEM, leaf first) and the token key on ``ctx``: ``key_pem`` is the PKCS#11 URI
    PEM that pkcs11-provider decodes, in its own library context (module docstring). Raises
    :class:`ProviderKeyError` with OpenSSL's reason (e.g. the key does not match the certificate)."""
    use_provider_key(ctx, chain_pem, key_pem, provider_context(token))


def use_provider_key(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes, libctx: int) -> None:
    """Put the certificate chain (PEM, leaf first) and the key ``key_pem`` on ``ctx``, the key decoded in the
    provider library context ``libctx`` (:func:`load_provider`): a reference to a key that stays in its token.
    Works for any TLS version the context allows. Raises :class:`ProviderKeyError` with OpenSSL's reason."""
    lib = _library()
    lib.ERR_clear_error()
    pkey = decode_private_key(key_pem, libctx)
    try:
        use_key(ctx, chain_pem, pkey)
    finally:
        lib.EVP_PKEY_free(pkey)  # the SSL_CTX holds its own reference


def decode_private_key(key_pem: bytes, libctx: int) -> int:
    """``EVP_PKEY *`` of a private-key PEM decoded in ``libctx`` (the caller frees it with EVP_PKEY_free);
    :class:`ProviderKeyError` with OpenSSL's reason if no provider there can decode it."""
    lib = _library()
    bio = lib.BIO_new_mem_buf(key_pem, len(key_pem))
    if not bio:
        raise ProviderKeyError("BIO_new_mem_buf failed")
    try:
        pkey = lib.PEM_read_bio_PrivateKey_ex(bio, None, None, None, libctx, None)
    finally:
        lib.BIO_free(bio)
    if not pkey:
        raise ProviderKeyError(_reason(lib))
    return int(pkey)


def use_key(ctx: ssl.SSLContext, chain_pem: bytes, pkey: int) -> None:
    """Put the certificate chain (PEM, leaf first) and the ``EVP_PKEY *`` ``pkey`` (up-referenced by the
    SSL_CTX) on ``ctx``; :class:`ProviderKeyError` with OpenSSL's reason (``KEY_VALUES_MISMATCH``)."""
    lib = _library()
    pointer = _ssl_ctx(lib, ctx)
    lib.ERR_clear_error()
    with _memory_file("evcc-tls-chain", chain_pem) as chain_path:
        if lib.SSL_CTX_use_certificate_chain_file(pointer, chain_path.encode()) != 1:
            raise ProviderKeyError(_reason(lib))
    if lib.SSL_CTX_use_PrivateKey(pointer, pkey) != 1 or lib.SSL_CTX_check_private_key(pointer) != 1:
        raise ProviderKeyError(_reason(lib))
    lib.ERR_clear_error()  # the provider queues errors it recovered from; a later SSL_get_error must not see them


def library() -> ctypes.CDLL:
    """The libssl/libcrypto of Python's ``ssl`` module (for modules that add functions of their own)."""
    return _library()


def last_reason() -> str:
    """OpenSSL's last error reason of this thread (queue cleared)."""
    return _reason(_library())


def _reason(lib: ctypes.CDLL) -> str:
    """OpenSSL's last error reason in the form Python's ssl reports it (``KEY_VALUES_MISMATCH``); queue cleared."""
    code = lib.ERR_peek_last_error()
    text = lib.ERR_reason_error_string(code) if code else None
    lib.ERR_clear_error()
    return text.decode().upper().replace(" ", "_") if text else "unknown OpenSSL error"


@contextlib.contextmanager
def _memory_file(name: str, data: bytes) -> Iterator[str]:
    """An anonymous memory file holding ``data``, as a path OpenSSL can open; closed on exit."""
    fd = os.memfd_create(name)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)
