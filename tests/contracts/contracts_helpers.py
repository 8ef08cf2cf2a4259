"""Helpers shared by the contracts tests (time, signature stand-in, installation context)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509

from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.pki.generator import TestPki

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def references(values: Any) -> bytes:
    """Stand-in for the EXI-encoded references until evcc.exi exists: a digest over every decoded field.
    The signature and its verification are real ECDSA/EdDSA with the CPS key."""
    h = hashlib.sha256()
    for f in fields(values):
        v = getattr(values, f.name)
        for part in (v if isinstance(v, tuple) else (v,)):
            h.update(part if isinstance(part, bytes) else str(getattr(part, "value", part)).encode())
    return h.digest()


def cps_verifier(sim: ProvisioningSimulator, values: Any, signature: bytes | None = None
                 ) -> Callable[[x509.Certificate], bool]:
    """The verify callable the EXI layer will provide: checks the CPS signature with the validated CPS leaf."""
    data = references(values)
    sig = sim.sign(data) if signature is None else signature
    return lambda leaf: verify_raw(leaf.public_key(), data, sig)  # type: ignore[arg-type]


def make_context(tmp: Path, keystore: KeyStore, pki: TestPki, now: datetime = NOW) -> InstallContext:
    return InstallContext(store=ContractStore(tmp / f"contracts-{uuid.uuid4().hex[:6]}"), keystore=keystore,
                          v2g_roots=(pki.certs["v2g_root"],), now=now, mo_roots=(pki.certs["mo_root"],))


def oem_key_in_store(pki: TestPki, keystore: KeyStore, algorithm: KeyAlgorithm) -> tuple[str, x509.Certificate]:
    """Generate the OEM provisioning key inside the key store and issue its certificate from the test PKI
    (as an OEM's production line would); returns the key label and the certificate."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from evcc.hsm.hostcrypto import CURVES
    from evcc.pki.generator import issue_certificate
    from evcc.pki.profiles import profile_table

    label = f"oem/{uuid.uuid4().hex[:10]}"
    info = keystore.generate(label, algorithm)
    public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], info.public)
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    cert = issue_certificate(profile_table()["oem_prov_leaf"], public, issuer, issuer[1], pki.suite, pki.now)
    return label, cert
