"""ISO 15118-20 keys and Plug & Charge on the bench (test PKI only): the run's P-521 PKI, the EV's key store with
the OEM provisioning key and the vehicle (TLS 1.3 client) key, the -20 contract port, the SECC's Plug & Charge
part and the TLS 1.3 contexts of both sides.

- Plug & Charge (§8.3.4.2, §8.3.4.8): without a contract the session does CertificateInstallation through the
  SECC's -20 test provisioning service (SECP521 decryption into the key store); ``install_before`` installs
  ``n`` contracts ahead of the session (eMAIDs of the test PKI, falling priority), so that a charger refusing
  the first sees the EV try the next (PrioritizedEMAIDs / contract priorities). With a TPM key store (``--key-store tpm``) the
  OEM certificate names a -20 TPM storage key and the contract key arrives as TPM_EncryptedPrivateKey, imported
  with TPM2_Import (evcc.contracts.install20_tpm).
- TLS 1.3 with mutual authentication (ISO 15118-20 TLS profile, evcc.session.tls13): the SECC presents the run's
  P-521 SECC chain and requires a vehicle certificate under the run's OEM root; the EV presents a vehicle
  certificate for its key in the key store (SoftHSM2 through OpenSSL's pkcs11-provider where installed, else
  the software store). The vehicle certificate is evcc.pki's ``vehicle_leaf`` (issued by OEM Sub-CA 2, not a CA,
  digitalSignature: it signs the TLS 1.3 CertificateVerify).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evcc.bench.pnc import BenchKeyStore, BenchKeys, bench_keys, certify_new_key, new_public_key, softhsm_token_config
from evcc.bench.runtime_pki import BenchTls
from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.tls import server_context13
from evcc.contracts import messages20
from evcc.contracts.install20_tpm import storage_key_extension
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import Contract
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore
from evcc.pki.generator import TestPki, build_pki, issue_certificate, vehicle_chain
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, Suite, profile_table
from evcc.session.connection import TlsConfig, TlsVersion
from evcc.session.iso20.pnc import KeyStoreContracts20
from evcc.session.tls13 import ClientCertificate, TpmKeys, choose_vehicle_key

ALGORITHM = KeyAlgorithm.EC_P521


def run_pki20() -> TestPki:
    return build_pki(Suite.ISO20_P521, datetime.now(timezone.utc).replace(microsecond=0))


@dataclass
class BenchPnc20:
    pki: TestPki
    keystore: KeyStore
    keystore_kind: str
    contracts: KeyStoreContracts20
    vehicle: ClientCertificate
    wall_clock: datetime
    services: list[ProvisioningService] = field(default_factory=list)  # one per eMAID, the first installs

    def secc_pnc(self, reject_contracts: int = 0) -> Iso20PncSim:
        return Iso20PncSim(self.services[0], self.wall_clock, reject_contracts=reject_contracts)

    def contract(self) -> Contract | None:
        found = self.contracts.contracts()
        return found[0] if found else None

    def install_before(self, n: int = 1) -> list[Contract]:
        """``n`` contracts installed outside any session, the first with the highest priority. Each request names
        its eMAID in PrioritizedEMAIDs (the -20 service issues the first one named there)."""
        port, made = self.contracts, []
        assert port.oem_key_label is not None
        for i, service in enumerate(self.services[:n]):
            port.installed_priority = 10 * (n - i)
            request = messages20.certificate_installation_req(
                secrets.token_bytes(8), int(self.wall_clock.timestamp()), port.oem_chain, port.ctx.v2g_roots,
                port.ctx.keystore, port.oem_key_label, port.oem_key_algorithm, prioritized_emaids=(service.emaid,))
            made.append(port.install(service.answer(request, self.wall_clock)))
        port.installed_priority = 0
        return made

    def tls(self, folder: Path, keylog: Path | None = None) -> BenchTls:
        """The TLS 1.3 contexts: the SECC's (requiring a vehicle certificate) and the EV's."""
        pem = serialization.Encoding.PEM
        chain, key = folder / "secc20_chain.pem", folder / "secc20.key"
        chain.write_bytes(b"".join(c.public_bytes(pem) for c in self.pki.chain("secc_leaf")))
        key.touch(mode=0o600)
        key.write_bytes(self.pki.keys["secc_leaf"].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
        server = server_context13(chain, key, [self.pki.root_of("oem_prov_leaf")])
        client = TlsConfig(v2g_roots=(self.pki.root_of("secc_leaf"),), keylog_file=keylog, version=TlsVersion.TLS13,
                           client_certificate=self.vehicle)
        return BenchTls(server, client)


def _vehicle(pki: TestPki, store: KeyStore, folder: Path) -> ClientCertificate:
    """The vehicle certificate (evcc.pki profile ``vehicle_leaf``) for a new key in the run's key store."""
    label = f"bench-vehicle/{uuid.uuid4().hex[:10]}"
    chain = vehicle_chain(pki, new_public_key(store, label, ALGORITHM))
    token = softhsm_token_config(folder) if isinstance(store, Pkcs11KeyStore) else None  # the same token
    soft = store if isinstance(store, SoftKeyStore) else None
    tcti = getattr(store, "tcti", None)  # a TPM key store (evcc.hsm.tpm_store): its key files through tpm2-openssl
    tpm = TpmKeys(tcti, store) if isinstance(tcti, str) and hasattr(store, "key_file") else None  # type: ignore[arg-type]
    return ClientCertificate(chain, choose_vehicle_key(label, token, soft, tpm))


def _oem_certificate(pki: TestPki, keys: BenchKeys, label: str) -> tuple[x509.Certificate, str]:
    """The OEM provisioning key ``label`` and its certificate; with a TPM key store the certificate also names a
    new -20 TPM storage key (evcc.contracts.install20_tpm), so that the CPS answers with TPM_EncryptedPrivateKey.
    The words for the output say which."""
    profile = profile_table()["oem_prov_leaf"]
    create_storage = getattr(keys.keystore, "create_storage_key", None)
    if create_storage is None:
        return certify_new_key(pki, keys.keystore, label, ALGORITHM, profile), keys.keystore_kind
    storage = f"bench-storage20/{uuid.uuid4().hex[:10]}"
    keys.labels.append(storage)
    point = create_storage(storage).public
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    cert = issue_certificate(profile, new_public_key(keys.keystore, label, ALGORITHM), issuer, issuer[1], pki.suite,
                             pki.now, (storage_key_extension(point),))
    return cert, (f"{keys.keystore_kind}; -20 contracts as TPM_EncryptedPrivateKey (TPM2_Import under the storage "
                  f"key {storage!r} named in the OEM certificate)")


@contextlib.contextmanager
def bench_pnc20(pki: TestPki, key_store: BenchKeyStore | bool = True) -> Iterator[BenchPnc20]:
    """The run's -20 key store and Plug & Charge parts; the keys made for the run are deleted afterwards."""
    with bench_keys(pki, "evcc-bench-pnc20-", key_store) as keys:
        oem_label = f"bench-oem20/{uuid.uuid4().hex[:10]}"
        keys.labels.append(oem_label)
        oem, kind = _oem_certificate(pki, keys, oem_label)
        vehicle = _vehicle(pki, keys.keystore, keys.folder)
        keys.labels.append(vehicle.key.label)
        contracts = KeyStoreContracts20(keys.ctx, pcid=TEST_PCID, oem_chain=(oem, *pki.chain("oem_sub_ca_2")),
                                        oem_key_label=oem_label, oem_key_algorithm=ALGORITHM, maximum_chains=3)
        sim = ProvisioningSimulator(pki)
        services = [ProvisioningService(sim, emaid) for emaid in TEST_EMAIDS[:3]]
        yield BenchPnc20(pki, keys.keystore, kind, contracts, vehicle, keys.ctx.now, services)
