"""What a key store can actually do, measured by trying it: key generation per curve, signing, ECDH, contract key
import and use of its keys as TLS client keys; decided before a session (issue 11; PKI.md §4).

A mechanism a token lists is not a mechanism that works (tpm2-pkcs11 1.9 lists CKM_ECDSA and makes P-521 keys, then
fails every P-521 signature with CKR_HOST_MEMORY): :func:`probe` makes a throwaway key per algorithm through the
:class:`~evcc.hsm.keystore.KeyStore` port, signs and checks the signature on the host, does ECDH with a host peer
and compares K with the host's own computation (NIST SP 800-56A concatenation KDF), imports a host-made private
key and signs with it, and deletes what it made. Anything that raises, or gives a wrong answer, is unsupported;
the reason is kept for the message.

What needs what (ISO 15118-2 §8.4.3.x / [V2G2-818..823]; ISO 15118-20 §8.3.4 / [V2G20-2535]):

====================  =========================================================================================
-2 Plug & Charge      P-256: keygen (OEM provisioning key), sign (PaymentDetails, Authorization, MeteringReceipt),
                      ECDH (CertificateInstallation/Update: decryption of the contract key), import (contract key)
-20 Plug & Charge     P-521 (SECP521 path) or Ed448 + X448 (X448 path): the same four, and TLS 1.3 with a vehicle
                      key of that family; a TPM has no Ed448/X448 (TPM 2.0 curves are NIST, BN, SM2)
TLS 1.2 / TLS 1.3     a P-256 (-2, where a charger asks for a client certificate) / P-521 or Ed448 (-20) key of
                      the store used by OpenSSL without leaving the store (pkcs11-provider, tpm2-openssl)
====================  =========================================================================================

The EV offers only what its store can do: :meth:`StoreCapabilities.iso20_algorithms` gives the -20 key families a
car with this store can use (P-521 for a TPM, not Ed448/X448), and :meth:`StoreCapabilities.iso20_pnc_problem` /
:meth:`~StoreCapabilities.iso2_pnc_problem` say in one line why Plug & Charge cannot work (``evcc run --check``).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.errors import EvccError
from evcc.hsm.hostcrypto import CURVES, verify_raw
from evcc.hsm.keystore import COUNTER_1, KDF_ISO2, KDF_ISO20, KeyAlgorithm, KeyStore

if TYPE_CHECKING:
    from evcc.app.config import AppConfig

ALGORITHMS = (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448, KeyAlgorithm.X448)
PROBE_PREFIX = "evcc-probe/"
_MESSAGE = b"evcc capability probe"


class Operation(enum.Enum):
    KEYGEN = "keygen"
    SIGN = "sign"
    ECDH = "ECDH"
    IMPORT = "contract import"


# A TLS prober: (store, key label, algorithm, TLS version "1.2"/"1.3") -> None if a handshake with the key worked,
# else the reason. None as prober: TLS use is not measured.
TlsProber = Callable[[KeyStore, str, KeyAlgorithm, str], str | None]


@dataclass(frozen=True)
class StoreCapabilities:
    """What one key store did when tried (module docstring). ``reasons`` say why an (operation, algorithm) failed;
    ``tls12``/``tls13``: the algorithms whose keys worked as TLS client keys (None: not measured)."""

    store: str
    keygen: frozenset[KeyAlgorithm]
    sign: frozenset[KeyAlgorithm]
    ecdh: frozenset[KeyAlgorithm]
    contract_import: frozenset[KeyAlgorithm]
    tls12: frozenset[KeyAlgorithm] | None = None
    tls13: frozenset[KeyAlgorithm] | None = None
    reasons: Mapping[tuple[Operation | str, KeyAlgorithm], str] = field(default_factory=dict)

    def can(self, operation: Operation, algorithm: KeyAlgorithm) -> bool:
        return algorithm in {Operation.KEYGEN: self.keygen, Operation.SIGN: self.sign, Operation.ECDH: self.ecdh,
                             Operation.IMPORT: self.contract_import}[operation]

    def why_not(self, operation: Operation | str, algorithm: KeyAlgorithm) -> str:
        return self.reasons.get((operation, algorithm), "not offered")

    def _missing(self, algorithm: KeyAlgorithm, needed: tuple[Operation, ...]) -> list[str]:
        return [f"{op.value} {algorithm.value} ({self.why_not(op, algorithm)})" for op in needed
                if not self.can(op, algorithm)]

    def iso2_pnc_problem(self) -> str | None:
        """None when ISO 15118-2 Plug & Charge works with this store, else one line naming what is missing."""
        missing = self._missing(KeyAlgorithm.EC_P256, tuple(Operation))
        return f"{self.store} cannot do ISO 15118-2 Plug & Charge: no {'; no '.join(missing)}" if missing else None

    def iso20_algorithms(self) -> tuple[KeyAlgorithm, ...]:
        """The -20 key families this store can serve (P-521 SECP521 path, Ed448 + X448 path): what the EV offers."""
        out = []
        if not self._missing(KeyAlgorithm.EC_P521, tuple(Operation)):
            out.append(KeyAlgorithm.EC_P521)
        if (not self._missing(KeyAlgorithm.ED448, (Operation.KEYGEN, Operation.SIGN, Operation.IMPORT))
                and not self._missing(KeyAlgorithm.X448, (Operation.ECDH,))):
            out.append(KeyAlgorithm.ED448)
        return tuple(out)

    def iso20_pnc_problem(self) -> str | None:
        """None when ISO 15118-20 Plug & Charge works with this store (P-521 or Ed448/X448), else one line."""
        if self.iso20_algorithms():
            return None
        missing = self._missing(KeyAlgorithm.EC_P521, tuple(Operation))
        return (f"{self.store} cannot do ISO 15118-20 Plug & Charge: no {'; no '.join(missing)} "
                "(and no Ed448/X448 alternative)")


def _label(what: str) -> str:
    return f"{PROBE_PREFIX}{what}/{secrets.token_hex(6)}"


def _host_key(algorithm: KeyAlgorithm) -> tuple[bytearray, bytes]:
    """A host-made private key (raw bytes, as contract keys arrive) and its public encoding."""
    if algorithm in CURVES:
        private = ec.generate_private_key(CURVES[algorithm])
        raw = bytearray(private.private_numbers().private_value.to_bytes(algorithm.private_length, "big"))
        return raw, private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    if algorithm is KeyAlgorithm.ED448:
        edkey = ed448.Ed448PrivateKey.generate()
        return bytearray(edkey.private_bytes_raw()), edkey.public_key().public_bytes_raw()
    xkey = x448.X448PrivateKey.generate()
    return bytearray(xkey.private_bytes_raw()), xkey.public_key().public_bytes_raw()


def _public_object(algorithm: KeyAlgorithm, public: bytes) -> ec.EllipticCurvePublicKey | ed448.Ed448PublicKey:
    if algorithm in CURVES:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], public)
    return ed448.Ed448PublicKey.from_public_bytes(public)


def _check_sign(store: KeyStore, label: str, algorithm: KeyAlgorithm, public: bytes) -> None:
    if algorithm is KeyAlgorithm.X448:
        raise ValueError("X448 keys do not sign")
    if not verify_raw(_public_object(algorithm, public), _MESSAGE, store.sign(label, _MESSAGE)):
        raise ValueError("the signature does not verify with the key's public key")


def _check_ecdh(store: KeyStore, label: str, algorithm: KeyAlgorithm, public: bytes) -> None:
    """ECDH + KDF in the store against a host peer; K must equal the host's computation from the peer's side."""
    kdf = KDF_ISO2 if algorithm is KeyAlgorithm.EC_P256 else KDF_ISO20
    if algorithm in CURVES:
        peer = ec.generate_private_key(CURVES[algorithm])
        z = peer.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], public))
        peer_public = peer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    elif algorithm is KeyAlgorithm.X448:
        xpeer = x448.X448PrivateKey.generate()
        z = xpeer.exchange(x448.X448PublicKey.from_public_bytes(public))
        peer_public = xpeer.public_key().public_bytes_raw()
    else:
        raise ValueError("Ed448 keys do not do key agreement")
    expected = hashlib.new(kdf.hash_name, COUNTER_1 + z + kdf.other_info).digest()[:kdf.length]
    got = store.ecdh_kdf(label, peer_public, kdf)
    try:
        if bytes(got) != expected:
            raise ValueError("K differs from the host's computation")
    finally:
        got[:] = bytes(len(got))


def _attempt(reasons: dict[tuple[Operation | str, KeyAlgorithm], str], key: tuple[Operation | str, KeyAlgorithm],
             action: Callable[[], object]) -> bool:
    try:
        action()
    except (EvccError, ValueError, TypeError, OSError) as exc:
        reasons[key] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return False
    return True


def _delete(store: KeyStore, label: str) -> None:
    try:
        store.delete(label)
    except EvccError:
        pass


def probe(store: KeyStore, algorithms: tuple[KeyAlgorithm, ...] = ALGORITHMS,
          tls: TlsProber | None = None, name: str | None = None) -> StoreCapabilities:
    """Try every operation for every algorithm in ``store`` (module docstring); the store is left as found.
    ``tls``: also try each signing key as a TLS client key (P-256 over TLS 1.2; P-521 and Ed448 over TLS 1.3)."""
    made: dict[Operation, set[KeyAlgorithm]] = {op: set() for op in Operation}
    tls12: set[KeyAlgorithm] = set()
    tls13: set[KeyAlgorithm] = set()
    reasons: dict[tuple[Operation | str, KeyAlgorithm], str] = {}
    for algorithm in algorithms:
        label = _label(algorithm.value)
        generated: list[bytes] = []
        if _attempt(reasons, (Operation.KEYGEN, algorithm),
                    lambda: generated.append(store.generate(label, algorithm).public)):
            made[Operation.KEYGEN].add(algorithm)
            try:
                public = generated[0]
                if algorithm is not KeyAlgorithm.X448 and _attempt(
                        reasons, (Operation.SIGN, algorithm), lambda: _check_sign(store, label, algorithm, public)):
                    made[Operation.SIGN].add(algorithm)
                    if tls is not None:
                        version = "1.2" if algorithm is KeyAlgorithm.EC_P256 else "1.3"
                        why = tls(store, label, algorithm, version)
                        if why is None:
                            (tls12 if version == "1.2" else tls13).add(algorithm)
                        else:
                            reasons[(f"TLS {version}", algorithm)] = why
                if algorithm is not KeyAlgorithm.ED448 and _attempt(
                        reasons, (Operation.ECDH, algorithm), lambda: _check_ecdh(store, label, algorithm, public)):
                    made[Operation.ECDH].add(algorithm)
            finally:
                _delete(store, label)
        else:
            for op in (Operation.SIGN, Operation.ECDH):
                reasons.setdefault((op, algorithm), "no key of this type")
        imported = _label(f"import-{algorithm.value}")
        private, public = _host_key(algorithm)

        def _import() -> None:
            try:
                info = store.import_private(imported, algorithm, private)
            finally:
                private[:] = bytes(len(private))
            if info.public != public:
                raise ValueError("the store reports another public key than the imported key's")
            if algorithm is KeyAlgorithm.X448:
                _check_ecdh(store, imported, algorithm, public)
            else:
                _check_sign(store, imported, algorithm, public)

        try:
            if _attempt(reasons, (Operation.IMPORT, algorithm), _import):
                made[Operation.IMPORT].add(algorithm)
        finally:
            _delete(store, imported)
    return StoreCapabilities(
        name or store.description, frozenset(made[Operation.KEYGEN]), frozenset(made[Operation.SIGN]),
        frozenset(made[Operation.ECDH]), frozenset(made[Operation.IMPORT]),
        frozenset(tls12) if tls is not None else None, frozenset(tls13) if tls is not None else None, reasons)


def of_store(store: KeyStore) -> StoreCapabilities:
    """The store's capabilities: its own (a PKCS#11 token probes once per process), else :func:`probe`."""
    own = getattr(store, "capabilities", None)
    if callable(own):
        found = own()
        if isinstance(found, StoreCapabilities):
            return found
    return probe(store)


def pnc_problems(caps: StoreCapabilities, protocols: tuple[str, ...], payment: str,
                 oem_algorithm: KeyAlgorithm | None = None) -> list[str]:
    """What keeps Plug & Charge from working with this store, for the configured protocols (``iso2``, ``din``,
    ``iso20-*``) and payment (``contract`` = Plug & Charge): one line each; empty when everything can work.
    ``oem_algorithm``: the -20 OEM provisioning key's family (P-521 or Ed448), which the store must serve."""
    if payment != "contract":
        return []
    problems = []
    if "iso2" in protocols:
        problem = caps.iso2_pnc_problem()
        if problem:
            problems.append(problem)
    if any(p.startswith("iso20") for p in protocols):
        problem = caps.iso20_pnc_problem()
        if problem:
            problems.append(problem)
        elif oem_algorithm is not None and oem_algorithm not in caps.iso20_algorithms():
            offered = ", ".join(a.value for a in caps.iso20_algorithms())
            problems.append(f"{caps.store} serves ISO 15118-20 Plug & Charge with {offered} keys only, but the OEM "
                            f"provisioning key is {oem_algorithm.value}")
    return problems


def check_configured_store(cfg: AppConfig) -> list[str]:
    """``evcc run --check``: open the ``[hsm]`` store when Plug & Charge is configured, measure it and name what it
    cannot do for the configured protocols (exit 2); nothing when payment is external."""
    s = cfg.session
    if s.payment != "contract":
        return []
    from evcc.hsm.open_store import open_store, options_from_hsm  # imports this module

    oem_algorithm = None
    if cfg.contracts.oem_cert is not None and any(p.startswith("iso20") for p in s.protocols):
        try:
            from cryptography import x509
            data = cfg.contracts.oem_cert.read_bytes()
            cert = (x509.load_pem_x509_certificates(data)[0] if b"-----BEGIN" in data
                    else x509.load_der_x509_certificate(data))
            key = cert.public_key()
            oem_algorithm = (KeyAlgorithm.ED448 if isinstance(key, ed448.Ed448PublicKey) else KeyAlgorithm.EC_P521
                             if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size == 521 else None)
        except (OSError, ValueError):
            oem_algorithm = None  # the key checks name an unreadable OEM certificate
    try:
        opened = open_store(options_from_hsm(cfg.hsm))
    except EvccError as exc:
        return [f"[hsm]: the key store cannot be opened to check what it can do: {exc}"]
    try:
        return [f"[hsm]: {line}" for line in pnc_problems(of_store(opened.store), s.protocols, s.payment,
                                                         oem_algorithm)]
    finally:
        opened.close()
