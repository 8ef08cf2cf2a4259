"""PKCS#11 key store (python-pkcs11): keys stay in the token, sensitive and non-extractable.

Mechanisms (PKCS#11 v2.40; checked against the token's mechanism list at open, clear error if missing):

=========  ==========================  =====================================================================
algorithm  generate                    use
=========  ==========================  =====================================================================
P-256      CKM_EC_KEY_PAIR_GEN         CKM_ECDSA over a host SHA-256; CKM_ECDH1_DERIVE (CKD_NULL, raw point)
P-521      CKM_EC_KEY_PAIR_GEN         CKM_ECDSA over a host SHA-512; CKM_ECDH1_DERIVE
Ed448      CKM_EC_EDWARDS_KEY_PAIR_GEN CKM_EDDSA (pure)
X448       --                          not supported: python-pkcs11 has no CKK_EC_MONTGOMERY and Debian's
                                       SoftHSM 2.6.1 has no CKM_EC_MONTGOMERY_KEY_PAIR_GEN; use the software
                                       store or a TPM for the -20 X448 path
=========  ==========================  =====================================================================

Debian bookworm's SoftHSM 2.6.1 supports P-256, P-521 (generate, import, ECDSA, ECDH1_DERIVE) and Ed448
(generate, import, EdDSA); it has no CKM_ECDSA_SHA256 and no X448.

KDF choice (``ecdh_kdf``): Z is derived into a *session* generic-secret object that is sensitive and
non-extractable, then hashed inside the token with C_DigestInit/C_DigestUpdate(00000001)/C_DigestKey(Z)/
C_DigestUpdate(OtherInfo). Only K (16 or 32 bytes) reaches the host; Z never does. Set
``Pkcs11Config.kdf_in_token = False`` for tokens without C_DigestKey: Z is then extracted and hashed on the host.
The decrypted contract key still passes through host memory before C_CreateObject (no token here can unwrap
with AES-CBC/GCM): callers pass it as a bytearray and wipe it right after :meth:`import_private`.

Key pairs: every key is a private-key object and a public-key object with the same CKA_LABEL and the same CKA_ID
(16 random bytes, set in both templates at creation: no later attribute writes). PKCS#11 consumers that pair the
two halves by CKA_ID, such as OpenSSL's pkcs11-provider for the vehicle's TLS 1.3 key, find the public half.
Tokens written by earlier versions (generated pairs without CKA_ID, imported keys without a public object and the
EC point in the private key's CKA_ID) still work here; :meth:`Pkcs11KeyStore.pair` upgrades such a key once.

python-pkcs11's default templates add CKA_ENCRYPT/WRAP/VERIFY/... = False, which some tokens reject; every
template here is explicit (DEFAULT removes an attribute).

Honest about the token (issue 11; PKI.md §4):

- No ``pkcs11`` exception leaves this class: each becomes a :class:`KeyStoreError` (:class:`UnsupportedAlgorithm`
  for CKR_FUNCTION_NOT_SUPPORTED / CKR_MECHANISM_INVALID) naming the call, the mechanism and the CKR code.
- Public points read from the token are decoded and checked (length, uncompressed form, on the curve) before they
  are returned. tpm2-pkcs11 1.9 writes a P-521 CKA_EC_POINT with a short-form length byte 0x85 (``04 85 04 …``,
  invalid DER): the 133 bytes after it are taken when they are a point on P-521, anything else is refused
  naming the bytes; never a wrong key.
- What the token can do is measured once per token and process, when it is first opened (:meth:`capabilities`,
  through :func:`evcc.hsm.capabilities.probe`: a throwaway key per listed curve, signature checked on the host,
  ECDH compared with the host's K, a host key imported and used, all deleted again; the throwaway keys, labelled
  ``evcc-probe/...``, are never listed; ~0.5 s on SoftHSM2, before any session). A mechanism listed but failing
  is unsupported: :meth:`supports`, :meth:`generate`, :meth:`import_private` and :meth:`ecdh_kdf` refuse it up
  front with the probe's reason (tpm2-pkcs11: no ECDH, no EC import, no P-521 signature), so a token that cannot do
  CertificateInstallation says so at ``evcc run --check``, not in the middle of a session.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, ed448

import pkcs11
from pkcs11 import DEFAULT, KDF, Attribute, KeyType, Mechanism, ObjectClass

from evcc.hsm.capabilities import ALGORITHMS, PROBE_PREFIX, Operation, StoreCapabilities, probe
from evcc.hsm.hostcrypto import CURVES, HASHES, POINT_LENGTHS, encode_public, peer_public, private_from_raw
from evcc.hsm.keystore import (
    COUNTER_1,
    ConcatKdf,
    KeyAlgorithm,
    KeyExists,
    KeyInfo,
    KeyNotFound,
    KeyStoreError,
    UnsupportedAlgorithm,
    check_label,
)
from evcc.hsm.p11_session import close_session

log = logging.getLogger(__name__)

EC_PARAMS = {
    KeyAlgorithm.EC_P256: bytes.fromhex("06082a8648ce3d030107"),  # OID 1.2.840.10045.3.1.7
    KeyAlgorithm.EC_P521: bytes.fromhex("06052b81040023"),  # OID 1.3.132.0.35
    KeyAlgorithm.ED448: bytes.fromhex("06032b6571"),  # OID 1.3.101.113
}
_ED448_PRINTABLE = b"\x13\x0aedwards448"
_NEEDS = {
    KeyAlgorithm.EC_P256: (Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA),
    KeyAlgorithm.EC_P521: (Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA),
    KeyAlgorithm.ED448: (Mechanism.EC_EDWARDS_KEY_PAIR_GEN, Mechanism.EDDSA),
}
# Remove python-pkcs11's default capability attributes; set only what each object needs.
_NO_PUB_CAPS = {Attribute.ENCRYPT: DEFAULT, Attribute.WRAP: DEFAULT}
_NO_PRIV_CAPS = {Attribute.DECRYPT: DEFAULT, Attribute.UNWRAP: DEFAULT}
KEY_ID_BYTES = 16
_NO_SECRET_CAPS = {a: DEFAULT for a in (Attribute.ENCRYPT, Attribute.DECRYPT, Attribute.WRAP, Attribute.UNWRAP,
                                        Attribute.SIGN, Attribute.VERIFY, Attribute.DERIVE)}


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the token is: module path, token label and user PIN (the composition root reads the PIN file)."""

    module: str
    token_label: str
    user_pin: str
    kdf_in_token: bool = True


def _der_octets(point: bytes) -> bytes:
    """CKA_EC_POINT of a point: DER OCTET STRING (points here are at most 133 bytes: long form with one byte)."""
    n = len(point)
    return bytes([0x04, n]) + point if n < 0x80 else bytes([0x04, 0x81, n]) + point


def _octet_string_candidates(der: bytes) -> list[bytes]:
    """The points CKA_EC_POINT may hold (PKCS#11 v2.40 §2.3.3: a DER OCTET STRING around the point): the proper DER
    content; the content after a short-form length byte >= 0x80 that counts the rest (tpm2-pkcs11 1.9, P-521:
    ``04 85 04…``); the raw point itself (some tokens)."""
    out = []
    if len(der) >= 2 and der[0] == 0x04:
        if der[1] < 0x80 and len(der) == 2 + der[1]:
            out.append(der[2:])
        elif der[1] > 0x80:
            n = der[1] & 0x7F
            if len(der) >= 2 + n and len(der) == 2 + n + int.from_bytes(der[2:2 + n], "big"):
                out.append(der[2 + n:])
            if der[1] == len(der) - 2:
                out.append(der[2:])
    out.append(der)
    return out


def decode_point(der: bytes, algorithm: KeyAlgorithm) -> bytes:
    """The public key in a token's CKA_EC_POINT, checked: right length, uncompressed, on the curve (Ed448: a valid
    RFC 8032 key). Raises :class:`KeyStoreError` naming the bytes when no reading of them is a valid key."""
    for candidate in _octet_string_candidates(der):
        if len(candidate) != POINT_LENGTHS[algorithm]:
            continue
        try:
            if algorithm is KeyAlgorithm.ED448:
                ed448.Ed448PublicKey.from_public_bytes(candidate)
            elif algorithm in CURVES and candidate[0] == 0x04:
                ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], candidate)
            else:
                continue
        except ValueError:
            continue
        if candidate is not der and not der.startswith(_der_octets(candidate)):
            log.warning("PKCS#11 token returned a malformed CKA_EC_POINT for %s (%s...); the point after it is used",
                        algorithm.value, der[:4].hex(" "))
        return candidate
    shown = der[:8].hex(" ") + (" ..." if len(der) > 8 else "")
    raise KeyStoreError(f"the token returned CKA_EC_POINT {shown} ({len(der)} bytes): not a valid {algorithm.value} "
                        f"public key ({POINT_LENGTHS[algorithm]} bytes, on the curve)")


# python-pkcs11 raises one class per CKR code (PKCS#11 v2.40 §5.1; no code attribute): the codes, to name them.
_CKR = {
    "HostMemory": 0x02, "SlotIDInvalid": 0x03, "GeneralError": 0x05, "FunctionFailed": 0x06, "ArgumentsBad": 0x07,
    "AttributeReadOnly": 0x10, "AttributeSensitive": 0x11, "AttributeTypeInvalid": 0x12,
    "AttributeValueInvalid": 0x13, "DataInvalid": 0x20, "DataLenRange": 0x21, "DeviceError": 0x30,
    "DeviceMemory": 0x31, "DeviceRemoved": 0x32, "EncryptedDataInvalid": 0x40, "EncryptedDataLenRange": 0x41,
    "FunctionCancelled": 0x50, "FunctionNotSupported": 0x54, "KeyHandleInvalid": 0x60, "KeySizeRange": 0x62,
    "KeyTypeInconsistent": 0x63, "KeyNotNeeded": 0x64, "KeyNeeded": 0x66, "KeyIndigestible": 0x67,
    "KeyNotWrappable": 0x69, "KeyUnextractable": 0x6A, "MechanismInvalid": 0x70, "MechanismParamInvalid": 0x71,
    "ObjectHandleInvalid": 0x82, "OperationActive": 0x90, "OperationNotInitialized": 0x91, "PinIncorrect": 0xA0,
    "PinInvalid": 0xA1, "PinLenRange": 0xA2, "PinExpired": 0xA3, "PinLocked": 0xA4, "SessionClosed": 0xB0,
    "SessionCount": 0xB1, "SessionHandleInvalid": 0xB3, "SessionReadOnly": 0xB5, "SessionExists": 0xB6,
    "SessionReadOnlyExists": 0xB7, "SessionReadWriteSOExists": 0xB8, "SignatureInvalid": 0xC0,
    "SignatureLenRange": 0xC1, "TemplateIncomplete": 0xD0, "TemplateInconsistent": 0xD1, "TokenNotPresent": 0xE0,
    "TokenNotRecognised": 0xE1, "TokenWriteProtected": 0xE2, "UnwrappingKeyHandleInvalid": 0xF0,
    "UnwrappingKeySizeRange": 0xF1, "UnwrappingKeyTypeInconsistent": 0xF2, "UserAlreadyLoggedIn": 0x100,
    "UserNotLoggedIn": 0x101, "UserPinNotInitialized": 0x102, "AnotherUserAlreadyLoggedIn": 0x104,
    "UserTooManyTypes": 0x105, "WrappedKeyInvalid": 0x110, "WrappedKeyLenRange": 0x112,
    "WrappingKeyHandleInvalid": 0x113, "WrappingKeySizeRange": 0x114, "WrappingKeyTypeInconsistent": 0x115,
    "RandomSeedNotSupported": 0x120, "RandomNoRNG": 0x121, "DomainParamsInvalid": 0x130,
    "ExceededMaxIterations": 0x1B5, "PinTooWeak": 0x1B8, "PublicKeyInvalid": 0x1B9, "FunctionRejected": 0x200,
}
_CKR_NAMES = {"FunctionCancelled": "FUNCTION_CANCELED", "TokenNotRecognised": "TOKEN_NOT_RECOGNIZED",
              "AnotherUserAlreadyLoggedIn": "USER_ANOTHER_ALREADY_LOGGED_IN", "SlotIDInvalid": "SLOT_ID_INVALID",
              "RandomNoRNG": "RANDOM_NO_RNG", "SessionReadWriteSOExists": "SESSION_READ_WRITE_SO_EXISTS"}
_UNSUPPORTED = {"FunctionNotSupported", "MechanismInvalid", "MechanismParamInvalid"}


def ckr_text(exc: BaseException) -> str:
    """``CKR_HOST_MEMORY (0x2)`` for python-pkcs11's exception ``HostMemory`` (its message, if any, appended)."""
    name = type(exc).__name__
    code = _CKR.get(name)
    if code is None:
        text = f"{name}"
    else:
        words = _CKR_NAMES.get(name) or "".join(f"_{c}" if c.isupper() else c.upper() for c in name).lstrip("_")
        text = f"CKR_{words} ({code:#x})"
    detail = str(exc).strip()
    return f"{text}: {detail}" if detail else text


class Pkcs11KeyStore:
    """A :class:`evcc.hsm.keystore.KeyStore` on one PKCS#11 token; one session, calls serialised by a lock."""

    # What each token did when probed, per (module, token label, serial): a token's abilities do not change while
    # the process runs, and the probe makes and deletes keys (tens of ms on SoftHSM, more on a TPM).
    _probed: ClassVar[dict[tuple[str, str, str], StoreCapabilities]] = {}
    _probed_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, config: Pkcs11Config) -> None:
        try:
            lib = pkcs11.lib(config.module)
        except (RuntimeError, OSError) as exc:
            raise KeyStoreError(f"PKCS#11 module {config.module} cannot be loaded: {exc}") from exc
        try:
            token = lib.get_token(token_label=config.token_label)
        except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned) as exc:
            raise KeyStoreError(f"PKCS#11 token {config.token_label!r}: {type(exc).__name__}") from exc
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"PKCS#11 token {config.token_label!r}: C_GetSlotList/C_GetTokenInfo failed: "
                                f"{ckr_text(exc)}") from exc
        try:
            try:
                self._session = token.open(rw=True, user_pin=config.user_pin)
            except pkcs11.UserAlreadyLoggedIn:  # login is per process: another session of ours is open
                self._session = token.open(rw=True)
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"PKCS#11 login to {config.token_label!r} failed: {ckr_text(exc)}") from exc
        try:
            self._mechanisms = set(token.slot.get_mechanisms())
        except pkcs11.PKCS11Error as exc:
            close_session(config.module, self._session)
            raise KeyStoreError(f"PKCS#11 token {config.token_label!r}: C_GetMechanismList failed: "
                                f"{ckr_text(exc)}") from exc
        self._config = config
        self._token_id = (config.module, config.token_label, str(getattr(token, "serial", b"") or b""))
        self._lock = threading.Lock()
        try:
            self.capabilities()  # probed at open, once per token and process (module docstring)
        except BaseException:
            close_session(config.module, self._session)
            raise

    @property
    def description(self) -> str:
        return f"PKCS#11 token {self._config.token_label!r} ({self._config.module})"

    def close(self) -> None:
        """Close this store's session. Never logs out: the login is the process's, and OpenSSL's pkcs11-provider
        may be using it (:mod:`evcc.hsm.p11_session`); the module logs out when the process's last session closes."""
        with self._lock:
            close_session(self._config.module, self._session)

    @contextmanager
    def _p11(self, what: str, mechanism: str | None = None) -> Iterator[None]:
        """Turn python-pkcs11's exceptions into the key store's, naming the call, the mechanism and the CKR code."""
        try:
            yield
        except pkcs11.PKCS11Error as exc:
            via = f" with {mechanism}" if mechanism else ""
            error = UnsupportedAlgorithm if type(exc).__name__ in _UNSUPPORTED else KeyStoreError
            raise error(f"{what}{via} on {self.description} failed: {ckr_text(exc)}") from exc

    # -- what the token can do --------------------------------------------------------------------------------

    def capabilities(self) -> StoreCapabilities:
        """What this token did when tried (probed once per token and process; module docstring)."""
        with self._probed_lock:
            found = self._probed.get(self._token_id)
            if found is None:
                listed = tuple(a for a in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448)
                               if all(m in self._mechanisms for m in _NEEDS[a]))
                found = probe(UncheckedToken(self), listed, name=self.description)
                found = _not_listed(found, self, listed)
                self._probed[self._token_id] = found
            return found

    def supports(self, algorithm: KeyAlgorithm) -> bool:
        """Whether keys of ``algorithm`` can be made here and sign (measured, not read from the mechanism list)."""
        caps = self.capabilities()
        return algorithm in caps.keygen and algorithm in caps.sign

    def _require(self, algorithm: KeyAlgorithm, operation: Operation) -> None:
        if algorithm is KeyAlgorithm.X448:
            self._listed(algorithm)
        caps = self.capabilities()
        needed = [operation] if operation is not Operation.KEYGEN else [
            Operation.KEYGEN, Operation.SIGN]
        for op in needed:
            if not caps.can(op, algorithm):
                raise UnsupportedAlgorithm(f"{self.description} cannot {op.value} {algorithm.value} keys: "
                                           f"{caps.why_not(op, algorithm)}")

    def _listed(self, algorithm: KeyAlgorithm) -> None:
        if algorithm is KeyAlgorithm.X448:
            raise UnsupportedAlgorithm(
                "X448 keys are not supported through PKCS#11 here (no CKK_EC_MONTGOMERY in python-pkcs11, no "
                "CKM_EC_MONTGOMERY_KEY_PAIR_GEN in SoftHSM 2.6.1): use the software key store")
        if algorithm not in _NEEDS:
            raise UnsupportedAlgorithm(f"{algorithm.value} keys are not supported through PKCS#11 here")
        missing = [m.name for m in _NEEDS[algorithm] if m not in self._mechanisms]
        if missing:
            raise UnsupportedAlgorithm(f"token {self._config.token_label!r} lacks {', '.join(missing)} "
                                       f"needed for {algorithm.value}")

    # -- objects ----------------------------------------------------------------------------------------------

    def _find(self, cls: ObjectClass, label: str) -> Any | None:
        with self._p11(f"C_FindObjects for {label!r}"):
            objs = list(self._session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
        return objs[0] if objs else None

    def _private(self, label: str) -> Any:
        obj = self._find(ObjectClass.PRIVATE_KEY, label)
        if obj is None:
            raise KeyNotFound(f"no private key labelled {label!r} in {self.description}")
        return obj

    def _algorithm(self, obj: Any) -> KeyAlgorithm:
        with self._p11("C_GetAttributeValue(CKA_EC_PARAMS)"):
            params = bytes(obj[Attribute.EC_PARAMS])
            label = obj.label
        for alg, der in EC_PARAMS.items():
            if der == params:
                return alg
        if params == _ED448_PRINTABLE:  # SoftHSM stores Ed448 parameters as PrintableString "edwards448"
            return KeyAlgorithm.ED448
        raise KeyStoreError(f"key {label!r} has unsupported EC parameters {params.hex()}")

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        check_label(label)
        self._require(algorithm, Operation.KEYGEN)
        return self._generate(label, algorithm)

    def _generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        self._listed(algorithm)
        edwards = algorithm is KeyAlgorithm.ED448
        mechanism = Mechanism.EC_EDWARDS_KEY_PAIR_GEN if edwards else Mechanism.EC_KEY_PAIR_GEN
        with self._lock:
            if self._find(ObjectClass.PRIVATE_KEY, label) is not None:
                raise KeyExists(f"a key labelled {label!r} exists")
            key_id = secrets.token_bytes(KEY_ID_BYTES)  # the same CKA_ID on both halves (module docstring)
            with self._p11(f"C_GenerateKeyPair {algorithm.value} {label!r}", f"CKM_{mechanism.name}"):
                pub, priv = self._session.generate_keypair(
                    KeyType.EC_EDWARDS if edwards else KeyType.EC, store=True, label=label, mechanism=mechanism,
                    public_template={Attribute.EC_PARAMS: EC_PARAMS[algorithm], Attribute.VERIFY: True,
                                     Attribute.TOKEN: True, Attribute.ID: key_id, **_NO_PUB_CAPS},
                    private_template={Attribute.SIGN: True, Attribute.DERIVE: not edwards, Attribute.SENSITIVE: True,
                                      Attribute.EXTRACTABLE: False, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                                      Attribute.ID: key_id, **_NO_PRIV_CAPS})
            try:
                with self._p11(f"C_GetAttributeValue(CKA_EC_POINT) of {label!r}"):
                    point = bytes(pub[Attribute.EC_POINT])
                public = decode_point(point, algorithm)
            except KeyStoreError:
                with self._p11(f"C_DestroyObject of the new pair {label!r}"):
                    pub.destroy()
                    priv.destroy()
                raise
        return KeyInfo(label, algorithm, public)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        check_label(label)
        self._require(algorithm, Operation.IMPORT)
        return self._import(label, algorithm, private)

    def _import(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        self._listed(algorithm)
        public = encode_public(private_from_raw(algorithm, private).public_key())
        edwards = algorithm is KeyAlgorithm.ED448
        key_type = KeyType.EC_EDWARDS if edwards else KeyType.EC
        with self._lock:
            if self._find(ObjectClass.PRIVATE_KEY, label) is not None:
                raise KeyExists(f"a key labelled {label!r} exists")
            key_id = secrets.token_bytes(KEY_ID_BYTES)
            self._create_public(label, key_type, algorithm, public, key_id)
            try:
                with self._p11(f"C_CreateObject of the {algorithm.value} private key {label!r}"):
                    self._session.create_object({
                        Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: key_type,
                        Attribute.LABEL: label, Attribute.ID: key_id, Attribute.EC_PARAMS: EC_PARAMS[algorithm],
                        Attribute.VALUE: bytes(private), Attribute.TOKEN: True, Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                        Attribute.DERIVE: not edwards})
            except KeyStoreError:
                self._destroy_public(label)  # no half pair left behind
                raise
        return KeyInfo(label, algorithm, public)

    def _create_public(self, label: str, key_type: KeyType, algorithm: KeyAlgorithm, point: bytes,
                       key_id: bytes) -> None:
        with self._p11(f"C_CreateObject of the public key {label!r}"):
            self._session.create_object({
                Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: key_type, Attribute.LABEL: label,
                Attribute.ID: key_id, Attribute.EC_PARAMS: EC_PARAMS[algorithm],
                Attribute.EC_POINT: _der_octets(point), Attribute.TOKEN: True, Attribute.PRIVATE: False,
                Attribute.VERIFY: True})

    def _destroy_public(self, label: str) -> None:
        with self._p11(f"C_DestroyObject of the public key {label!r}"):
            for obj in list(self._session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                                                       Attribute.LABEL: label})):
                obj.destroy()

    def pair(self, label: str) -> bytes:
        """Give the key ``label`` a public object with the private key's CKA_ID, as keys made now have; for keys
        of tokens written by earlier versions. Returns the shared CKA_ID; writes nothing when already paired.

        Generated pair without CKA_ID (or with different ones): both get SHA-1(CKA_EC_POINT). Imported key
        without a public object (its EC point in CKA_ID): a public object with that point and that CKA_ID."""
        with self._lock:
            private = self._private(label)
            public = self._find(ObjectClass.PUBLIC_KEY, label)
            with self._p11(f"pairing key {label!r}"):
                private_id = bytes(private[Attribute.ID] or b"")
                if public is None:
                    if not private_id:
                        raise KeyStoreError(f"key {label!r} has neither a public object nor its point in CKA_ID")
                    self._create_public(label, private[Attribute.KEY_TYPE], self._algorithm(private), private_id,
                                        private_id)
                    return private_id
                if private_id and private_id == bytes(public[Attribute.ID] or b""):
                    return private_id
                key_id = hashlib.sha1(bytes(public[Attribute.EC_POINT])).digest()
                public[Attribute.ID] = key_id
                private[Attribute.ID] = key_id
                return key_id

    def _public_of(self, private: Any, label: str) -> bytes:
        """The public object's point, checked; keys imported by earlier versions have none and carry the point in
        CKA_ID."""
        algorithm = self._algorithm(private)
        pub = self._find(ObjectClass.PUBLIC_KEY, label)
        with self._p11(f"C_GetAttributeValue of key {label!r}"):
            der = bytes(pub[Attribute.EC_POINT]) if pub is not None else bytes(private[Attribute.ID])
        return decode_point(der, algorithm)

    def public_key(self, label: str) -> bytes:
        with self._lock:
            return self._public_of(self._private(label), label)

    def sign(self, label: str, message: bytes) -> bytes:
        with self._lock:
            algorithm = self._algorithm(self._private(label))
        self._require(algorithm, Operation.SIGN)
        return self._sign(label, message)

    def _sign(self, label: str, message: bytes) -> bytes:
        with self._lock:
            key = self._private(label)
            algorithm = self._algorithm(key)
            if not hasattr(key, "sign"):  # python-pkcs11 gives a key without CKA_SIGN no sign()
                raise KeyStoreError(f"key {label!r} in {self.description} may not sign (CKA_SIGN is false)")
            if algorithm is KeyAlgorithm.ED448:
                with self._p11(f"C_Sign with key {label!r}", "CKM_EDDSA"):
                    return bytes(key.sign(message, mechanism=Mechanism.EDDSA))
            digest = hashlib.new(HASHES[algorithm].name, message).digest()
            with self._p11(f"C_Sign with key {label!r}", "CKM_ECDSA"):
                signature = bytes(key.sign(digest, mechanism=Mechanism.ECDSA))
        if len(signature) != 2 * algorithm.private_length:
            raise KeyStoreError(f"C_Sign with key {label!r} on {self.description} returned {len(signature)} bytes, "
                                f"not a {algorithm.value} r||s of {2 * algorithm.private_length}")
        return signature

    def ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        with self._lock:
            algorithm = self._algorithm(self._private(label))
        if algorithm not in CURVES:
            raise UnsupportedAlgorithm(f"{algorithm.value} keys do not do ECDH")
        peer_public(algorithm, peer)  # length, form and on-curve check before anything else
        self._require(algorithm, Operation.ECDH)
        return self._ecdh_kdf(label, peer, kdf)

    def _ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        with self._lock:
            key = self._private(label)
            algorithm = self._algorithm(key)
            if algorithm not in CURVES or Mechanism.ECDH1_DERIVE not in self._mechanisms:
                raise UnsupportedAlgorithm(f"no CKM_ECDH1_DERIVE for {algorithm.value} on {self.description}")
            peer_public(algorithm, peer)  # length, form and on-curve check before the token sees it
            if not hasattr(key, "derive_key"):  # python-pkcs11 gives a key without CKA_DERIVE no derive_key()
                raise KeyStoreError(f"key {label!r} in {self.description} may not derive (CKA_DERIVE is false)")
            z_bits = 8 * ((CURVES[algorithm].key_size + 7) // 8)
            in_token = self._config.kdf_in_token
            with self._p11(f"C_DeriveKey with key {label!r}", "CKM_ECDH1_DERIVE (CKD_NULL)"):
                z = key.derive_key(
                    KeyType.GENERIC_SECRET, z_bits, mechanism=Mechanism.ECDH1_DERIVE,
                    mechanism_param=(KDF.NULL, None, bytes(peer)),
                    template={Attribute.TOKEN: False, Attribute.SENSITIVE: in_token,
                              Attribute.EXTRACTABLE: not in_token, **_NO_SECRET_CAPS})
            try:
                mech = Mechanism.SHA256 if kdf.hash_name == "sha256" else Mechanism.SHA512
                if in_token:
                    with self._p11("C_DigestKey of Z (in-token KDF)", f"CKM_{mech.name}"):
                        digest = bytearray(self._session.digest(iter([COUNTER_1, z, kdf.other_info]), mechanism=mech))
                else:
                    h = hashlib.new(kdf.hash_name)
                    with self._p11("C_GetAttributeValue(CKA_VALUE) of Z"):
                        h.update(COUNTER_1 + bytes(z[Attribute.VALUE]) + kdf.other_info)
                    digest = bytearray(h.digest())
            finally:
                with self._p11("C_DestroyObject of Z"):
                    z.destroy()
        out = digest[:kdf.length]
        digest[:] = bytes(len(digest))
        return out

    def delete(self, label: str) -> None:
        self._delete(label)

    def _delete(self, label: str) -> None:
        with self._lock, self._p11(f"deleting key {label!r}"):
            objs = [o for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
                    for o in self._session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label})]
            if not objs:
                raise KeyNotFound(f"no key labelled {label!r} in {self.description}")
            for o in objs:
                o.destroy()

    def _list(self, prefix: str, include_probes: bool = False) -> builtins.list[KeyInfo]:
        """The keys whose label starts with ``prefix`` (a probe's throwaway keys only when asked for)."""
        with self._lock:
            out = []
            with self._p11("C_FindObjects of the private keys"):
                objects = list(self._session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
            for obj in objects:
                with self._p11("C_GetAttributeValue(CKA_LABEL)"):
                    label = str(obj[Attribute.LABEL])
                if label.startswith(prefix) and (include_probes or not label.startswith(PROBE_PREFIX)):
                    out.append(KeyInfo(label, self._algorithm(obj), self._public_of(obj, label)))
            return sorted(out, key=lambda k: k.label)

    def list(self, prefix: str = "") -> builtins.list[KeyInfo]:
        return self._list(prefix)


class UncheckedToken:
    """The token's operations without the capability checks (a KeyStore): what a probe tries."""

    def __init__(self, store: Pkcs11KeyStore) -> None:
        self._store = store

    @property
    def description(self) -> str:
        return self._store.description

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        return self._store._generate(label, algorithm)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        return self._store._import(label, algorithm, private)

    def public_key(self, label: str) -> bytes:
        return self._store.public_key(label)

    def sign(self, label: str, message: bytes) -> bytes:
        return self._store._sign(label, message)

    def ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        return self._store._ecdh_kdf(label, peer, kdf)

    def delete(self, label: str) -> None:
        self._store._delete(label)

    def list(self, prefix: str = "") -> list[KeyInfo]:
        return self._store._list(prefix, include_probes=True)


def _not_listed(found: StoreCapabilities, store: Pkcs11KeyStore, listed: tuple[KeyAlgorithm, ...]) -> StoreCapabilities:
    """Reasons for the algorithms the probe skipped because the token does not list their mechanisms."""
    reasons = dict(found.reasons)
    for algorithm in ALGORITHMS:
        if algorithm in listed:
            continue
        try:
            store._listed(algorithm)
            why = "not offered"
        except UnsupportedAlgorithm as exc:
            why = str(exc)
        for op in Operation:
            reasons.setdefault((op, algorithm), why)
    return StoreCapabilities(found.store, found.keygen, found.sign, found.ecdh, found.contract_import,
                             found.tls12, found.tls13, reasons)
