"""Certificate faults of the hostile charger for ISO 15118-20 TLS 1.3 with mutual authentication (-20 §7.7:
the EVCC validates the SECC chain against its V2G roots, the SECC requires the vehicle certificate and validates
it against the OEM roots it trusts):

- ``CERT_EXPIRED``: the SECC presents a leaf of the run's CPO Sub-CA 2 whose validity ended a day ago;
- ``CERT_UNTRUSTED``: the SECC presents a look-alike chain (a root with the V2G root's names, another key);
- ``CERT_VEHICLE_REFUSED``: the SECC's chain is valid but it trusts only a look-alike OEM root, so it refuses the
  vehicle certificate (TLS 1.3: the EVCC learns it after its own handshake, with the first read).

A throw-away PKI of one -20 suite (P-521 or Ed448) made with :mod:`evcc.pki.generator`, or the caller's (the
bench run's, whose OEM Sub-CA 2 issued the vehicle certificate); the faulty SECC context beside the same PKI's
honest one (valid chain, trusting the PKI's OEM root), and the vehicle certificate for a key of the caller's key
store issued by the PKI's OEM Sub-CA 2. Test and bench use only.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from evcc.bench.secc.faults import CERT_KINDS, Fault, FaultKind, FaultSpecError
from evcc.bench.secc.hostile_tls import ROGUE_ROOT, hostile_chain
from evcc.bench.secc.tls import server_context13
from evcc.pki.generator import PublicKey, SigningKey, TestPki, build_pki, issue_certificate
from evcc.pki.profiles import YEAR, KeyUsage, Profile, Suite
from evcc.session.connection import TlsConfig, TlsVersion
from evcc.session.tls13 import ClientCertificate, VehicleKey

# The test PKI has no vehicle (TLS client) profile: this one follows its OEM rows (issued by OEM Sub-CA 2, not a
# CA, digitalSignature for the TLS 1.3 CertificateVerify, OEM domain component).
VEHICLE_LEAF = Profile("vehicle_leaf", "oem_sub_ca_2", "WMIEVCCHOSTILEBENCH", "evcc test OEM", "OEM", False, None,
                       frozenset({KeyUsage.DIGITAL_SIGNATURE}), 4 * YEAR)
SUITES = (Suite.ISO20_P521, Suite.ISO20_ED448)


@dataclass(frozen=True, slots=True)
class HostileTls13:
    """``server``: the faulty SECC; ``honest``: the same PKI's valid SECC. Both require a vehicle certificate."""

    server: ssl.SSLContext
    honest: ssl.SSLContext
    pki: TestPki

    @property
    def v2g_root(self) -> x509.Certificate:
        return self.pki.root_of("secc_leaf")

    def vehicle_chain(self, public: bytes) -> tuple[x509.Certificate, ...]:
        """A vehicle certificate for the key-store public key ``public`` (the suite's algorithm: a P-521 point or
        raw Ed448 bytes), then OEM Sub-CA 2 and 1."""
        key: PublicKey
        if self.pki.suite is Suite.ISO20_ED448:
            key = ed448.Ed448PublicKey.from_public_bytes(public)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP521R1(), public)
        issuer = (self.pki.certs["oem_sub_ca_2"], self.pki.signing_key("oem_sub_ca_2"))
        leaf = issue_certificate(VEHICLE_LEAF, key, issuer, issuer[1], self.pki.suite, self.pki.now)
        return (leaf, *self.pki.chain("oem_sub_ca_2"))

    def client(self, public: bytes, key: VehicleKey) -> TlsConfig:
        """The EVCC's TLS 1.3 configuration: this PKI's V2G root only, the vehicle certificate for ``key``."""
        vehicle = ClientCertificate(self.vehicle_chain(public), key)
        return TlsConfig(v2g_roots=(self.v2g_root,), version=TlsVersion.TLS13, client_certificate=vehicle)


@contextlib.contextmanager
def hostile_tls13(fault: Fault, suite: Suite = Suite.ISO20_P521, now: datetime | None = None,
                  pki: TestPki | None = None) -> Iterator[HostileTls13]:
    """The contexts of one certificate fault (module docstring) in ``pki`` (its suite wins), else a fresh PKI of
    ``suite``."""
    if fault.kind not in CERT_KINDS:
        raise FaultSpecError(f"fault {fault.describe()} is not a certificate fault")
    suite = pki.suite if pki is not None else suite
    if suite not in SUITES:
        raise FaultSpecError(f"fault {fault.kind.value}: TLS 1.3 needs an ISO 15118-20 suite, not {suite.value}")
    if pki is None:
        pki = build_pki(suite, now or datetime.now(timezone.utc))
    oem_root = pki.root_of("oem_sub_ca_2")
    honest_chain, honest_key = pki.chain("secc_leaf"), pki.signing_key("secc_leaf")
    with tempfile.TemporaryDirectory(prefix="evcc-hostile-pki13-") as folder:
        honest = _context(Path(folder) / "honest", honest_chain, honest_key, [oem_root])
        if fault.kind is FaultKind.CERT_VEHICLE_REFUSED:
            bad = _context(Path(folder) / "refusing", honest_chain, honest_key, [pki.certs[ROGUE_ROOT]])
        else:
            chain, key = hostile_chain(pki, fault.kind)
            bad = _context(Path(folder) / "hostile", chain, key, [oem_root])
    yield HostileTls13(bad, honest, pki)


def _context(stem: Path, chain: Sequence[x509.Certificate], key: SigningKey,
             vehicle_roots: Sequence[x509.Certificate]) -> ssl.SSLContext:
    pem = serialization.Encoding.PEM
    chain_path, key_path = stem.with_suffix(".chain.pem"), stem.with_suffix(".key")
    chain_path.write_bytes(b"".join(c.public_bytes(pem) for c in chain))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return server_context13(chain_path, key_path, vehicle_roots)
