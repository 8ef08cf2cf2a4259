"""ISO 15118-20 parts of the end-to-end bench: the -20 DC SECC simulator with Plug & Charge over TLS 1.3 mutual
(evcc.bench.secc.iso20_responder, iso20_pnc, tls.server_context13) and the vehicle's TLS identity: a P-521 key
generated in the SoftHSM2 token (non-extractable; its public half shares the CKA_ID, as pkcs11-provider needs) with a vehicle
certificate of the run-time -20 test PKI (issued by OEM Sub-CA 2, as tests/session/tls_pki.py does)."""

from __future__ import annotations

import ssl
import uuid
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig, dc_secc
from evcc.bench.secc.tls import server_context13
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.pki.generator import TestPki
from tests.session.tls_pki import Iso20Pki

PEM = serialization.Encoding.PEM


def write_pem(path: Path, *certs: object) -> Path:
    path.write_bytes(b"".join(c.public_bytes(PEM) for c in certs))  # type: ignore[attr-defined]
    return path


def vehicle_identity(token: Pkcs11Config, pki: TestPki, folder: Path) -> tuple[Path, str]:
    """(vehicle chain PEM file, key label in the token) for the daemon's [session] vehicle_chain/_key_label."""
    label = f"vehicle-{uuid.uuid4().hex[:8]}"
    store = Pkcs11KeyStore(token)
    try:
        info = store.generate(label, KeyAlgorithm.EC_P521)
    finally:
        store.close()
    chain = Iso20Pki(pki, folder / "unused.pem", folder / "unused.key").vehicle_chain(info.public, KeyAlgorithm.EC_P521)
    return write_pem(folder / "vehicle_chain.pem", *chain), label


def secc_context(pki: TestPki, folder: Path) -> ssl.SSLContext:
    """TLS 1.3 server: the SECC chain of the -20 PKI, vehicle certificates must lead to its OEM root."""
    chain = write_pem(folder / "secc20_chain.pem", *pki.chain("secc_leaf"))
    key = folder / "secc20.key"
    key.write_bytes(pki.keys["secc_leaf"].private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return server_context13(chain, key, [pki.root_of("oem_prov_leaf")])


def make_secc20(pki: TestPki, emaid: str, now: datetime) -> Iso20Secc:
    """One connection's -20 DC responder with the Plug & Charge checks (contract chain to the MO root)."""
    pnc = Iso20PncSim(ProvisioningService(ProvisioningSimulator(pki), emaid), now)
    return dc_secc(Iso20SeccConfig(response_time=0.04, services=("DC",)), pnc=pnc)
