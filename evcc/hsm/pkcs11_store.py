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

python-pkcs11's default templates add CKA_ENCRYPT/WRAP/VERIFY/... = False, which some tokens reject; every
template here is explicit (DEFAULT removes an attribute).
"""

from __future__ import annotations

import hashlib
import logging
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
_NO_SECRET_CAPS = {a: DEFAULT for a in (Attribute.ENCRYPT, Attribute.DECRYPT, Attribute.WRAP, Attribute.UNWRAP,
                                        Attribute.SIGN, Attribute.VERIFY, Attribute.DERIVE)}


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the token is: module path, token label and user PIN (the composition root reads the PIN file)."""

    module: str
    token_label: str
    user_pin: str
    kdf_in_token: bool = True


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
        with self._lock:
            self._session.close()

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
            pub, _ = self._session.generate_keypair(
                KeyType.EC_EDWARDS if edwards else KeyType.EC, store=True, label=label,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN if edwards else Mechanism.EC_KEY_PAIR_GEN,
                public_template={Attribute.EC_PARAMS: EC_PARAMS[algorithm], Attribute.VERIFY: True,
                                 Attribute.TOKEN: True, **_NO_PUB_CAPS},
                private_template={Attribute.SIGN: True, Attribute.DERIVE: not edwards, Attribute.SENSITIVE: True,
                                  Attribute.EXTRACTABLE: False, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                                  **_NO_PRIV_CAPS})
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
            # One token object only (token writes dominate the installation time): the public point goes into
            # the private key's CKA_ID, whose content PKCS#11 leaves to the application.
            self._session.create_object({
                Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: key_type, Attribute.LABEL: label,
                Attribute.ID: public, Attribute.EC_PARAMS: EC_PARAMS[algorithm], Attribute.VALUE: bytes(private),
                Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False, Attribute.SIGN: True, Attribute.DERIVE: not edwards})
        return KeyInfo(label, algorithm, public)

    def _public_of(self, private: Any, label: str) -> bytes:
        """Generated keys have a public object; imported ones carry the point in CKA_ID."""
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
