"""SECC TLS certificates that the EVCC must refuse (ISO 15118-2 §7.7 TLS, [V2G2-064]: the SECC chain is validated
against the V2G roots), for the certificate faults of the hostile charger:

- ``CERT_EXPIRED``: a SECC leaf issued by the run's real CPO Sub-CA 2 whose validity ended a day ago;
- ``CERT_UNTRUSTED``: a look-alike chain (root with the V2G root's names and another key, CPO Sub-CAs, SECC leaf).

TLS 1.3 with mutual authentication (ISO 15118-20) and the SECC refusing the vehicle certificate:
:mod:`evcc.bench.secc.hostile_tls13`.

Made at run time with :mod:`evcc.pki.generator` from the same kind of throw-away PKI as
:mod:`evcc.bench.runtime_pki`; the EVCC side trusts only that PKI's real V2G root. Test use only.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evcc.bench.runtime_pki import BenchTls
from evcc.bench.secc.faults import CERT_KINDS, Fault, FaultKind, FaultSpecError
from evcc.bench.secc.tls import server_context
from evcc.pki.generator import SigningKey, TestPki, build_pki, issue_certificate, new_key
from evcc.pki.profiles import PROFILES, Suite
from evcc.session.connection import TlsConfig

_PROFILE = {p.name: p for p in PROFILES}
ROGUE_ROOT = "broken_rogue_root"  # the test PKI's look-alike V2G root


def hostile_chain(pki: TestPki, kind: FaultKind) -> tuple[list[x509.Certificate], SigningKey]:
    """(SECC leaf + Sub-CAs, leaf private key) for a certificate fault, issued in ``pki``."""
    now = pki.now
    leaf_profile = _PROFILE["secc_leaf"]
    key = new_key(pki.suite)
    if kind is FaultKind.CERT_EXPIRED:
        expired = replace(leaf_profile, name="hostile_secc_leaf_expired", not_before=-timedelta(days=61),
                          not_after=-timedelta(days=1))
        issuer = (pki.certs["cpo_sub_ca_2"], pki.signing_key("cpo_sub_ca_2"))
        leaf = issue_certificate(expired, key.public_key(), issuer, issuer[1], pki.suite, now)
        return [leaf, pki.certs["cpo_sub_ca_2"], pki.certs["cpo_sub_ca_1"]], key
    if kind is FaultKind.CERT_UNTRUSTED:
        chain: list[x509.Certificate] = []
        issuer = (pki.certs[ROGUE_ROOT], pki.signing_key(ROGUE_ROOT))
        for profile in (_PROFILE["cpo_sub_ca_1"], _PROFILE["cpo_sub_ca_2"], leaf_profile):
            subject = key if profile is leaf_profile else new_key(pki.suite)
            cert = issue_certificate(profile, subject.public_key(), issuer, issuer[1], pki.suite, now)
            chain.insert(0, cert)
            issuer = (cert, subject)
        return chain, key
    raise FaultSpecError(f"fault {kind.value} is not a certificate fault")


@dataclass(frozen=True, slots=True)
class HostileTls(BenchTls):
    """``server`` presents the faulty chain; ``honest`` the same PKI's valid SECC chain; ``client`` is the EVCC's
    configuration, trusting that PKI's real V2G root only."""

    honest: ssl.SSLContext


@contextlib.contextmanager
def hostile_tls(fault: Fault, now: datetime | None = None) -> Iterator[HostileTls]:
    """A throw-away PKI with the faulty SECC chain of ``fault`` (a certificate fault) beside the valid one."""
    if fault.kind not in CERT_KINDS:
        raise FaultSpecError(f"fault {fault.describe()} is not a certificate fault")
    if fault.kind is FaultKind.CERT_VEHICLE_REFUSED:
        raise FaultSpecError("fault cert-vehicle-refused needs TLS 1.3 (ISO 15118-20, hostile_tls13): the ISO 15118-2 "
                             "TLS 1.2 handshake carries no vehicle certificate")
    pki = build_pki(Suite.ISO2, now or datetime.now(timezone.utc))
    chain, key = hostile_chain(pki, fault.kind)
    with tempfile.TemporaryDirectory(prefix="evcc-hostile-pki-") as folder:
        bad = _context(Path(folder) / "hostile", chain, key)
        honest = _context(Path(folder) / "honest", pki.chain("secc_leaf"), pki.signing_key("secc_leaf"))
    yield HostileTls(bad, TlsConfig(v2g_roots=(pki.root_of("secc_leaf"),)), honest)


def _context(stem: Path, chain: list[x509.Certificate], key: SigningKey) -> ssl.SSLContext:
    pem = serialization.Encoding.PEM
    chain_path, key_path = stem.with_suffix(".chain.pem"), stem.with_suffix(".key")
    chain_path.write_bytes(b"".join(c.public_bytes(pem) for c in chain))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return server_context(chain_path, key_path)
