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
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import DEFAULT, KDF, Attribute, KeyType, Mechanism, ObjectClass

from evcc.hsm.hostcrypto import CURVES, HASHES, encode_public, peer_public, private_from_raw
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


def _unwrap_octet_string(der: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 v2.40 §2.3.3)."""
    if len(der) < 2 or der[0] != 0x04:
        return der  # some tokens return the raw point
    if der[1] < 0x80:
        return der[2:2 + der[1]]
    n = der[1] & 0x7F
    length = int.from_bytes(der[2:2 + n], "big")
    return der[2 + n:2 + n + length]


class Pkcs11KeyStore:
    """A :class:`evcc.hsm.keystore.KeyStore` on one PKCS#11 token; one session, calls serialised by a lock."""

    def __init__(self, config: Pkcs11Config) -> None:
        try:
            lib = pkcs11.lib(config.module)
        except (RuntimeError, OSError) as exc:
            raise KeyStoreError(f"PKCS#11 module {config.module} cannot be loaded: {exc}") from exc
        try:
            token = lib.get_token(token_label=config.token_label)
        except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned) as exc:
            raise KeyStoreError(f"PKCS#11 token {config.token_label!r}: {type(exc).__name__}") from exc
        try:
            try:
                self._session = token.open(rw=True, user_pin=config.user_pin)
            except pkcs11.UserAlreadyLoggedIn:  # login is per process: another session of ours is open
                self._session = token.open(rw=True)
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"PKCS#11 login to {config.token_label!r} failed: {type(exc).__name__}") from exc
        self._mechanisms = set(token.slot.get_mechanisms())
        self._config = config
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"PKCS#11 token {self._config.token_label!r} ({self._config.module})"

    def close(self) -> None:
        """Close this store's session. Never logs out: the login is the process's, and OpenSSL's pkcs11-provider
        may be using it (:mod:`evcc.hsm.p11_session`); the module logs out when the process's last session closes."""
        with self._lock:
            close_session(self._config.module, self._session)

    def supports(self, algorithm: KeyAlgorithm) -> bool:
        """Whether the token has the mechanisms ``algorithm`` needs (runtime detection)."""
        return algorithm in _NEEDS and all(m in self._mechanisms for m in _NEEDS[algorithm])

    def _require(self, algorithm: KeyAlgorithm) -> None:
        if algorithm is KeyAlgorithm.X448:
            raise UnsupportedAlgorithm(
                "X448 keys are not supported through PKCS#11 here (no CKK_EC_MONTGOMERY in python-pkcs11, no "
                "CKM_EC_MONTGOMERY_KEY_PAIR_GEN in SoftHSM 2.6.1): use the software key store or a TPM")
        if not self.supports(algorithm):
            missing = [m.name for m in _NEEDS[algorithm] if m not in self._mechanisms]
            raise UnsupportedAlgorithm(f"token {self._config.token_label!r} lacks {', '.join(missing)} "
                                       f"needed for {algorithm.value}")

    def _find(self, cls: ObjectClass, label: str) -> Any | None:
        objs = list(self._session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
        return objs[0] if objs else None

    def _private(self, label: str) -> Any:
        obj = self._find(ObjectClass.PRIVATE_KEY, label)
        if obj is None:
            raise KeyNotFound(f"no private key labelled {label!r} in {self.description}")
        return obj

    def _algorithm(self, obj: Any) -> KeyAlgorithm:
        params = bytes(obj[Attribute.EC_PARAMS])
        for alg, der in EC_PARAMS.items():
            if der == params:
                return alg
        if params == _ED448_PRINTABLE:  # SoftHSM stores Ed448 parameters as PrintableString "edwards448"
            return KeyAlgorithm.ED448
        raise KeyStoreError(f"key {obj.label!r} has unsupported EC parameters {params.hex()}")

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        check_label(label)
        self._require(algorithm)
        edwards = algorithm is KeyAlgorithm.ED448
        with self._lock:
            if self._find(ObjectClass.PRIVATE_KEY, label) is not None:
                raise KeyExists(f"a key labelled {label!r} exists")
            key_id = secrets.token_bytes(KEY_ID_BYTES)  # the same CKA_ID on both halves (module docstring)
            pub, _ = self._session.generate_keypair(
                KeyType.EC_EDWARDS if edwards else KeyType.EC, store=True, label=label,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN if edwards else Mechanism.EC_KEY_PAIR_GEN,
                public_template={Attribute.EC_PARAMS: EC_PARAMS[algorithm], Attribute.VERIFY: True,
                                 Attribute.TOKEN: True, Attribute.ID: key_id, **_NO_PUB_CAPS},
                private_template={Attribute.SIGN: True, Attribute.DERIVE: not edwards, Attribute.SENSITIVE: True,
                                  Attribute.EXTRACTABLE: False, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                                  Attribute.ID: key_id, **_NO_PRIV_CAPS})
            public = _unwrap_octet_string(bytes(pub[Attribute.EC_POINT]))
        return KeyInfo(label, algorithm, public)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        check_label(label)
        self._require(algorithm)
        public = encode_public(private_from_raw(algorithm, private).public_key())
        edwards = algorithm is KeyAlgorithm.ED448
        key_type = KeyType.EC_EDWARDS if edwards else KeyType.EC
        with self._lock:
            if self._find(ObjectClass.PRIVATE_KEY, label) is not None:
                raise KeyExists(f"a key labelled {label!r} exists")
            key_id = secrets.token_bytes(KEY_ID_BYTES)
            self._create_public(label, key_type, algorithm, public, key_id)
            try:
                self._session.create_object({
                    Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: key_type, Attribute.LABEL: label,
                    Attribute.ID: key_id, Attribute.EC_PARAMS: EC_PARAMS[algorithm], Attribute.VALUE: bytes(private),
                    Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False, Attribute.SIGN: True, Attribute.DERIVE: not edwards})
            except pkcs11.PKCS11Error:
                self._destroy_public(label)  # no half pair left behind
                raise
        return KeyInfo(label, algorithm, public)

    def _create_public(self, label: str, key_type: KeyType, algorithm: KeyAlgorithm, point: bytes,
                       key_id: bytes) -> None:
        self._session.create_object({
            Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: key_type, Attribute.LABEL: label,
            Attribute.ID: key_id, Attribute.EC_PARAMS: EC_PARAMS[algorithm], Attribute.EC_POINT: _der_octets(point),
            Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.VERIFY: True})

    def _destroy_public(self, label: str) -> None:
        for obj in list(self._session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})):
            obj.destroy()

    def pair(self, label: str) -> bytes:
        """Give the key ``label`` a public object with the private key's CKA_ID, as keys made now have; for keys
        of tokens written by earlier versions. Returns the shared CKA_ID; writes nothing when already paired.

        Generated pair without CKA_ID (or with different ones): both get SHA-1(CKA_EC_POINT). Imported key
        without a public object (its EC point in CKA_ID): a public object with that point and that CKA_ID."""
        with self._lock:
            private = self._private(label)
            public = self._find(ObjectClass.PUBLIC_KEY, label)
            private_id = bytes(private[Attribute.ID] or b"")
            try:
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
            except pkcs11.PKCS11Error as exc:
                raise KeyStoreError(f"pairing key {label!r} in {self.description} failed: "
                                    f"{type(exc).__name__}") from exc

    def _public_of(self, private: Any, label: str) -> bytes:
        """The public object's point; keys imported by earlier versions have none and carry the point in CKA_ID."""
        pub = self._find(ObjectClass.PUBLIC_KEY, label)
        if pub is not None:
            return _unwrap_octet_string(bytes(pub[Attribute.EC_POINT]))
        return bytes(private[Attribute.ID])

    def public_key(self, label: str) -> bytes:
        with self._lock:
            return self._public_of(self._private(label), label)

    def sign(self, label: str, message: bytes) -> bytes:
        with self._lock:
            key = self._private(label)
            algorithm = self._algorithm(key)
            if algorithm is KeyAlgorithm.ED448:
                return bytes(key.sign(message, mechanism=Mechanism.EDDSA))
            digest = hashlib.new(HASHES[algorithm].name, message).digest()
            return bytes(key.sign(digest, mechanism=Mechanism.ECDSA))

    def ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        with self._lock:
            key = self._private(label)
            algorithm = self._algorithm(key)
            if algorithm not in CURVES or Mechanism.ECDH1_DERIVE not in self._mechanisms:
                raise UnsupportedAlgorithm(f"no CKM_ECDH1_DERIVE for {algorithm.value} on {self.description}")
            peer_public(algorithm, peer)  # length, form and on-curve check before the token sees it
            z_bits = 8 * ((CURVES[algorithm].key_size + 7) // 8)
            in_token = self._config.kdf_in_token
            z = key.derive_key(
                KeyType.GENERIC_SECRET, z_bits, mechanism=Mechanism.ECDH1_DERIVE,
                mechanism_param=(KDF.NULL, None, bytes(peer)),
                template={Attribute.TOKEN: False, Attribute.SENSITIVE: in_token,
                          Attribute.EXTRACTABLE: not in_token, **_NO_SECRET_CAPS})
            try:
                mech = Mechanism.SHA256 if kdf.hash_name == "sha256" else Mechanism.SHA512
                if in_token:
                    digest = bytearray(self._session.digest(iter([COUNTER_1, z, kdf.other_info]), mechanism=mech))
                else:
                    h = hashlib.new(kdf.hash_name)
                    h.update(COUNTER_1 + bytes(z[Attribute.VALUE]) + kdf.other_info)
                    digest = bytearray(h.digest())
            finally:
                z.destroy()
        out = digest[:kdf.length]
        digest[:] = bytes(len(digest))
        return out

    def delete(self, label: str) -> None:
        with self._lock:
            objs = [o for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
                    for o in self._session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label})]
            if not objs:
                raise KeyNotFound(f"no key labelled {label!r} in {self.description}")
            for o in objs:
                o.destroy()

    def list(self, prefix: str = "") -> list[KeyInfo]:
        with self._lock:
            out = []
            for obj in list(self._session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
                label = str(obj[Attribute.LABEL])
                if label.startswith(prefix):
                    out.append(KeyInfo(label, self._algorithm(obj), self._public_of(obj, label)))
            return sorted(out, key=lambda k: k.label)
