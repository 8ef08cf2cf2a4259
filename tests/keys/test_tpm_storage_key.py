"""The ISO 15118-20 TPM factory flow from the command line (evcc.keys.storage): `evcc keys generate --storage-key`
makes the EV's -20 TPM storage key, `evcc keys csr --storage-key` requests subjectAltPublicKeyInfo naming it in the
OEM provisioning CSR, `evcc pki sign-csr` carries it into the certificate, `evcc keys import-cert` checks the store
has the key, `evcc keys list` shows its role. Then a -20 DC Plug & Charge bench session with exactly those keys and
that certificate: the bench's provisioning service answers with TPM_EncryptedPrivateKey for the named storage key
and the EV imports the contract key with TPM2_Import (the key file's parent is the storage key).

Bad input (exit 2, one line, nothing written): a storage key on a store other than a TPM's, a storage-key request
`evcc pki sign-csr` cannot carry (vehicle role, a P-256 suite, a key that is not P-521), a CSR naming a missing
storage key or an ordinary key, a label that exists, a certificate naming a storage key the store lacks (import-cert
and `evcc run --check`); a TPM whose owner hierarchy has a password (TPM_RC_BAD_AUTH)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from evcc.bench import cli
from evcc.bench import run as bench_run
from evcc.bench.pnc import new_public_key
from evcc.bench.pnc20 import ALGORITHM, BenchPnc20
from evcc.contracts.install20_tpm import named_storage_parent
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hsm.swtpm import Swtpm
from evcc.hsm.tpm_objects import KeyFile
from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
from evcc.keys.certs import FileCertStore
from evcc.keys.storage import STORAGE_ROLE
from evcc.pki.generator import OID_SUBJECT_ALT_PUBLIC_KEY_INFO, TestPki, vehicle_chain, write_pki
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, Suite
from evcc.session import tls_tpm
from evcc.session.iso20.pnc import KeyStoreContracts20
from evcc.session.tls13 import ClientCertificate, TpmKeys, choose_vehicle_key
from tests.bench.bench_helpers import run_bench
from tests.hsm.swtpm_unix import swtpm_on
from tests.keys.conftest import PCID_SUBJECT, Done, evcc
from tests.keys.test_keys_bad_input import refused

STORAGE, OEM, VEHICLE = "storage20", "oem20", "vehicle20"


def ok(done: Done) -> str:
    assert done.status == 0, (done.out, done.err)
    return done.out


def files(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((str(p.relative_to(folder)), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def oem_factory(options: list[str], pki: Path, tmp: Path) -> Path:
    """The factory line's commands for the -20 TPM OEM provisioning certificate; returns the chain file."""
    csr, chain = tmp / "oem.csr", tmp / "oem.pem"
    ok(evcc("keys", "generate", OEM, "--curve", "p521", *options))
    ok(evcc("keys", "generate", STORAGE, "--storage-key", *options))
    ok(evcc("keys", "csr", OEM, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--storage-key", STORAGE,
            "--out", csr, *options))
    ok(evcc("pki", "sign-csr", csr, "--pki", pki, "--role", "oem-provisioning", "--out", chain))
    ok(evcc("keys", "import-cert", OEM, chain, "--role", "oem-provisioning", "--root",
            pki / "iso20-p521" / "certs" / "oem_root.pem", *options))
    return chain


@contextlib.contextmanager
def ev_from_factory(pki: TestPki, tcti: str, folder: Path, parents: list[str | None]) -> Iterator[BenchPnc20]:
    """The bench's EV with the key store the factory commands filled: the OEM key and the chain `import-cert`
    stored with it; the vehicle (TLS) key is made here (not under test)."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    store = TpmKeyStore(TpmConfig(tcti, folder))
    try:
        oem_chain = FileCertStore(folder).load(OEM)
        assert oem_chain, "import-cert stored no chain"
        vehicle = ClientCertificate(tuple(vehicle_chain(pki, new_public_key(store, VEHICLE, ALGORITHM))),
                                    choose_vehicle_key(VEHICLE, None, None, TpmKeys(tcti, store)))
        ctx = InstallContext(store=ContractStore(folder / "contracts"), keystore=store,
                             v2g_roots=(pki.certs["v2g_root"],), now=now, mo_roots=(pki.certs["mo_root"],))
        contracts = KeyStoreContracts20(ctx, pcid=TEST_PCID, oem_chain=oem_chain, oem_key_label=OEM,
                                        oem_key_algorithm=ALGORITHM, maximum_chains=3)
        services = [ProvisioningService(ProvisioningSimulator(pki), emaid) for emaid in TEST_EMAIDS[:1]]
        yield BenchPnc20(pki, store, f"TPM 2.0 at {tcti}", contracts, vehicle, now, services)
        parents[:] = [KeyFile.decode(store.key_file(c.key_label).read_bytes()).parent
                      for c in ctx.store.list() if c.key_label]
    finally:
        store.close()


def test_tpm_factory_flow_then_iso20_pnc_imports_tpm_encrypted_private_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if not tls_tpm.tpm2_provider_installed():
        pytest.fail("tpm2-openssl missing: scripts/setup.d/32-tpm.sh")
    pki_dir = tmp_path / "pki"
    pki = write_pki(pki_dir, (Suite.ISO20_P521,), datetime.now(timezone.utc).replace(microsecond=0))[
        Suite.ISO20_P521]
    folder = tmp_path / "tpm-keys"
    folder.mkdir()
    with swtpm_on(tmp_path / "swtpm") as tcti:  # a UNIX socket: reachable from the bench's EV namespace
        options = ["--tcti", tcti, "--tpm-keys", str(folder)]
        chain = oem_factory(options, pki_dir, tmp_path)
        leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
        parent = named_storage_parent(leaf)
        listing = ok(evcc("keys", "list", *options)).splitlines()
        row = next(line for line in listing if line.startswith(f"{STORAGE} "))
        assert f" {STORAGE_ROLE} " in row and " p521 " in row, listing
        store = TpmKeyStore(TpmConfig(tcti, folder))
        try:  # the certificate names exactly the storage key the TPM made
            expected = store.storage_parent(STORAGE)
            assert parent is not None and (parent.x, parent.y) == (expected.x, expected.y)
        finally:
            store.close()

        parents: list[str | None] = []
        monkeypatch.setattr(bench_run, "run_pki20", lambda: pki)
        monkeypatch.setattr(bench_run, "bench_pnc20", lambda p, _choice=None: ev_from_factory(p, tcti, folder,
                                                                                              parents))
        path = tmp_path / "session.json"
        status, out = run_bench(["--protocol", "iso20-dc", "--tls", "--link", "netns", "--no-dbus", "--start-soc",
                                 "75", "--json", str(path)], capsys)
        assert status == cli.EXIT_OK, out
        report: dict[str, Any] = json.loads(path.read_text())
        requests = [m["request"] for m in report["messages"]]
        assert requests[:4] == ["SessionSetupReq", "AuthorizationSetupReq", "CertificateInstallationReq",
                                "AuthorizationReq"], requests
        assert requests[-1] == "SessionStopReq" and report["end_kind"] == "completed", requests
        assert report["pnc"]["installed"] and report["pnc"]["authorized"], report["pnc"]
        # only TPM2_Import of a TPM_EncryptedPrivateKey puts a key under the storage key (SECP521 uses the SRK)
        assert parents == [STORAGE]


def soft_options(tmp: Path) -> list[str]:
    (tmp / "soft").mkdir()
    (tmp / "kek.bin").write_bytes(secrets.token_bytes(32))
    return ["--soft-keys", str(tmp / "soft"), "--kek-file", str(tmp / "kek.bin")]


def test_storage_key_on_a_software_store_is_refused(tmp_path: Path) -> None:
    options = soft_options(tmp_path)
    ok(evcc("keys", "generate", OEM, "--curve", "p521", *options))
    before = files(tmp_path / "soft")
    refused(evcc("keys", "generate", STORAGE, "--storage-key", *options), STORAGE, "needs a TPM 2.0 key store")
    refused(evcc("keys", "csr", OEM, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--storage-key",
                 STORAGE, "--out", tmp_path / "oem.csr", *options), OEM, "needs a TPM 2.0 key store")
    assert files(tmp_path / "soft") == before and not (tmp_path / "oem.csr").exists()


def test_storage_key_bad_input_on_a_tpm_store(tmp_path: Path, swtpm_tcti: str, pki: Path) -> None:
    folder = tmp_path / "tpm-keys"
    folder.mkdir()
    options = ["--tcti", swtpm_tcti, "--tpm-keys", str(folder)]
    ok(evcc("keys", "generate", OEM, "--curve", "p521", *options))
    ok(evcc("keys", "generate", STORAGE, "--storage-key", *options))
    before = files(folder)
    refused(evcc("keys", "generate", STORAGE, "--storage-key", *options), STORAGE, "a key with this label exists")
    refused(evcc("keys", "generate", OEM, "--storage-key", *options), OEM, "a key with this label exists")
    csr = tmp_path / "oem.csr"
    refused(evcc("keys", "csr", OEM, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--storage-key",
                 "missing", "--out", csr, *options), "missing", "no such key")
    refused(evcc("keys", "csr", OEM, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--storage-key",
                 OEM, "--out", csr, *options), OEM, "cannot sign its own request")
    ok(evcc("keys", "generate", "plain", "--curve", "p521", *options))
    before = files(folder)
    refused(evcc("keys", "csr", OEM, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--storage-key",
                 "plain", "--out", csr, *options), "plain", "is not a -20 TPM storage key")
    assert files(folder) == before and not csr.exists()


def test_certificate_naming_a_storage_key_the_store_lacks(tmp_path: Path, swtpm_tcti: str, pki: Path) -> None:
    """import-cert refuses it; `evcc run --check` names it (the storage key's file lost after the import)."""
    folder = tmp_path / "tpm-keys"
    folder.mkdir()
    options = ["--tcti", swtpm_tcti, "--tpm-keys", str(folder)]
    chain = oem_factory(options, pki, tmp_path)
    cfg = tmp_path / "evcc.toml"
    cfg.write_text(f"""
[plc]
interface = "lo"
[session]
protocols = ["iso20-dc"]
v2g_roots = ["{pki / 'iso20-p521' / 'certs' / 'v2g_root.pem'}"]
[contracts]
directory = "{tmp_path / 'contracts'}"
oem_key_label = "{OEM}"
oem_cert = "{chain}"
[hsm]
kind = "tpm"
tcti = "{swtpm_tcti}"
directory = "{folder}"
""")
    out = ok(evcc("run", "--check", "--config", cfg))
    assert out.strip().endswith(": valid"), out
    ok(evcc("keys", "delete", STORAGE, "--yes", *options))
    done = evcc("run", "--check", "--config", cfg)
    assert done.status == 2 and "Traceback" not in done.err, (done.out, done.err)
    assert "names a -20 TPM storage key (subjectAltPublicKeyInfo) that TPM 2.0" in done.err, done.err
    assert "does not have" in done.err
    before = files(folder)
    refused(evcc("keys", "import-cert", OEM, chain, "--role", "oem-provisioning", *options), OEM,
            "names a -20 TPM storage key (subjectAltPublicKeyInfo) that")
    assert files(folder) == before


def test_locked_tpm_owner_hierarchy_with_a_password(tmp_path: Path) -> None:
    """Issue 12 "a store that is locked": the TPM store has no PIN; a TPM whose owner hierarchy has a password
    refuses every key operation (TPM_RC_BAD_AUTH, one line, nothing written). `list` reads only the key files
    (no TPM authorisation), so it still lists the keys made before the password was set."""
    folder = tmp_path / "tpm-keys"
    folder.mkdir()
    with Swtpm() as tpm:
        options = ["--tcti", tpm.tcti, "--tpm-keys", str(folder)]
        ok(evcc("keys", "generate", OEM, "--curve", "p521", *options))
        done = subprocess.run(["tpm2_changeauth", "-c", "owner", "owner-secret"], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "TPM2TOOLS_TCTI": tpm.tcti}, check=False)
        assert done.returncode == 0, done.stderr
        before = files(folder)
        for args, label in ((("generate", "new", "--curve", "p521"), "new"),
                            (("generate", STORAGE, "--storage-key"), STORAGE),
                            (("csr", OEM, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--out",
                              tmp_path / "oem.csr"), OEM)):
            refused(evcc("keys", *args, *options), label, "TPM_RC_BAD_AUTH")
        assert files(folder) == before and not (tmp_path / "oem.csr").exists()
        listing = ok(evcc("keys", "list", *options))
        assert any(line.startswith(f"{OEM} ") for line in listing.splitlines()), listing


@pytest.mark.parametrize("role, cn, curve, alt, cause", [
    ("vehicle", "WMIEVCCTESTVEHICLE", "p521", "p521", "only an OEM provisioning certificate of suite iso20-p521"),
    ("oem-provisioning", TEST_PCID, "p256", "p521", "only an OEM provisioning certificate of suite iso20-p521"),
    ("oem-provisioning", TEST_PCID, "p521", "p256", "is not a P-521 public key"),
])
def test_sign_csr_refuses_a_storage_key_request_it_cannot_carry(pki: Path, tmp_path: Path, role: str, cn: str,
                                                                curve: str, alt: str, cause: str) -> None:
    """`evcc pki sign-csr`: subjectAltPublicKeyInfo only in a P-521 OEM provisioning request and only with a
    P-521 key (the -20 TPM storage key): otherwise exit 2, one line, no certificate written."""
    curves = {"p256": ec.SECP256R1(), "p521": ec.SECP521R1()}
    key = ec.generate_private_key(curves[curve])
    spki = ec.generate_private_key(curves[alt]).public_key().public_bytes(Encoding.DER,
                                                                          PublicFormat.SubjectPublicKeyInfo)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .add_extension(x509.UnrecognizedExtension(OID_SUBJECT_ALT_PUBLIC_KEY_INFO, spki), critical=False)
           .sign(key, hashes.SHA256()))
    (tmp_path / "r.csr").write_bytes(csr.public_bytes(Encoding.PEM))
    done = evcc("pki", "sign-csr", tmp_path / "r.csr", "--pki", pki, "--role", role, "--out", tmp_path / "out.pem")
    assert done.status == 2 and "Traceback" not in done.err, done.err
    assert len(done.err.splitlines()) == 1 and cause in done.err, done.err
    assert not (tmp_path / "out.pem").exists()
