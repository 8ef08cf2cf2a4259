"""ISO 15118-20 Plug & Charge sessions where the contract key arrives as ``TPM_EncryptedPrivateKey`` (PKI.md §1):
the EV's OEM provisioning certificate names its TPM storage key (subjectAltPublicKeyInfo, the model of
evcc.contracts.install20_tpm), the bench SECC's test provisioning service wraps the contract key for that key,
the EV imports it with TPM2_Import during CertificateInstallation, AuthorizationReq is signed by it in the TPM and
the session ends with SessionStop. Then the EV restarts (the swtpm is stopped and started again on its state, the
key store opened anew) and a second session authorises with the same contract, without CertificateInstallation.

The bench's -20 path runs unchanged (network namespaces, TLS 1.3 with the vehicle key in the TPM through
tpm2-openssl, the SECC simulator); only its key store is replaced by one on a swtpm whose state outlives the run,
and the run's PKI is kept for both runs (a new PKI would not trust the first run's contract)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.bench import cli
from evcc.bench import run as bench_run
from evcc.bench.pnc import new_public_key
from evcc.bench.pnc20 import ALGORITHM, BenchPnc20, run_pki20
from evcc.contracts.install20_tpm import named_storage_parent, storage_key_extension, storage_key_label
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hsm.tpm_objects import KeyFile
from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
from evcc.pki.generator import TestPki, issue_certificate, vehicle_chain
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, profile_table
from evcc.session import tls_tpm
from evcc.session.iso20.pnc import KeyStoreContracts20
from evcc.session.tls13 import ClientCertificate, TpmKeys, choose_vehicle_key

from tests.bench.bench_helpers import run_bench
from tests.hsm.swtpm_unix import swtpm_on
from tests.hsm.test_tpm_bad_input import TPM_CC_SIGN, BusyTpm

STORAGE, OEM, VEHICLE = "storage20", "oem20", "vehicle20"


@dataclass
class Ev:
    """What survives an EV restart: the folder (key files, contracts) and the certificates."""

    folder: Path
    oem_chain: tuple[x509.Certificate, ...] = ()
    vehicle_chain: tuple[x509.Certificate, ...] = ()
    parents: list[str | None] = field(default_factory=list)  # per installed contract: its key file's parent
    busy_signing: bool = False  # the TPM answers every TPM2_Sign of the key store with TPM_RC_RETRY


@contextlib.contextmanager
def ev_keys(pki: TestPki, ev: Ev) -> Iterator[BenchPnc20]:
    """The EV's keys in the TPM for one bench run; made on the first run (the production line), opened after."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with swtpm_on(ev.folder / "swtpm") as tcti:
        proxy = BusyTpm(tcti, TPM_CC_SIGN, 0x922) if ev.busy_signing else None
        if proxy is not None:
            proxy.busy = 1_000_000
        store = TpmKeyStore(TpmConfig(proxy or tcti, ev.folder / "tpm"))
        try:
            if not ev.oem_chain:
                point = store.create_storage_key(STORAGE).public
                issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
                oem = issue_certificate(profile_table()["oem_prov_leaf"], new_public_key(store, OEM, ALGORITHM),
                                        issuer, issuer[1], pki.suite, pki.now, (storage_key_extension(point),))
                ev.oem_chain = (oem, *pki.chain("oem_sub_ca_2"))
                ev.vehicle_chain = tuple(vehicle_chain(pki, new_public_key(store, VEHICLE, ALGORITHM)))
            ctx = InstallContext(store=ContractStore(ev.folder / "contracts"), keystore=store,
                                 v2g_roots=(pki.certs["v2g_root"],), now=now, mo_roots=(pki.certs["mo_root"],))
            vehicle = ClientCertificate(ev.vehicle_chain, choose_vehicle_key(VEHICLE, None, None, TpmKeys(tcti, store)))
            contracts = KeyStoreContracts20(ctx, pcid=TEST_PCID, oem_chain=ev.oem_chain, oem_key_label=OEM,
                                            oem_key_algorithm=ALGORITHM, maximum_chains=3)
            services = [ProvisioningService(ProvisioningSimulator(pki), emaid) for emaid in TEST_EMAIDS[:3]]
            yield BenchPnc20(pki, store, f"TPM 2.0 at {tcti}", contracts, vehicle, now, services)
            ev.parents = [KeyFile.decode(store.key_file(c.key_label).read_bytes()).parent
                          for c in ctx.store.list() if c.key_label]
        finally:
            store.close()


def _session(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    path = tmp_path / f"{name}.json"
    status, out = run_bench(["--protocol", "iso20-dc", "--tls", "--link", "netns", "--no-dbus", "--start-soc", "75",
                             "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report: dict[str, Any] = json.loads(path.read_text())
    requests = [m["request"] for m in report["messages"]]
    assert "AuthorizationReq" in requests and "DC_ChargeLoopReq" in requests, requests
    assert requests[-1] == "SessionStopReq" and report["end_kind"] == "completed", requests
    assert report["pnc"]["authorized"] and report["pnc"]["emaid"] == TEST_EMAIDS[0], report["pnc"]
    return report


def test_iso20_pnc_imports_tpm_encrypted_private_key_and_keeps_it_after_restart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if not tls_tpm.tpm2_provider_installed():
        pytest.fail("tpm2-openssl missing: scripts/setup.d/32-tpm.sh")
    pki = run_pki20()
    ev = Ev(tmp_path / "ev")
    monkeypatch.setattr(bench_run, "run_pki20", lambda: pki)
    monkeypatch.setattr(bench_run, "bench_pnc20", lambda p, _choice=None: ev_keys(p, ev))

    first = _session(tmp_path, capsys, "first")
    requests = [m["request"] for m in first["messages"]]
    assert requests[:4] == ["SessionSetupReq", "AuthorizationSetupReq", "CertificateInstallationReq",
                            "AuthorizationReq"], requests
    assert first["pnc"]["installed"]
    # the contract key's file says it was imported under the storage key: only TPM2_Import of a
    # TPM_EncryptedPrivateKey puts a key there (the SECP521 path imports under the SRK)
    assert ev.parents == [STORAGE]

    second = _session(tmp_path, capsys, "second")  # a new swtpm process on the same state, a new key store
    requests = [m["request"] for m in second["messages"]]
    assert "CertificateInstallationReq" not in requests and not second["pnc"]["installed"], requests
    assert ev.parents == [STORAGE]


def test_oem_certificate_names_the_storage_key(tmp_path: Path) -> None:
    """The model's two ends: the CPS reads the storage key from the OEM certificate, the EV finds it by the
    same point; a certificate naming nothing (or an X448 key) gives None on both sides."""
    pki = run_pki20()
    with swtpm_on(tmp_path / "swtpm") as tcti:
        store = TpmKeyStore(TpmConfig(tcti, tmp_path / "tpm"))
        try:
            point = store.create_storage_key(STORAGE).public
            other = store.create_storage_key("another")
            issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
            oem = issue_certificate(profile_table()["oem_prov_leaf"], new_public_key(store, OEM, ALGORITHM),
                                    issuer, issuer[1], pki.suite, pki.now, (storage_key_extension(point),))
            def values(parent: Any) -> tuple[Any, ...]:
                return parent.curve.name, parent.x, parent.y, parent.name_alg, parent.aes_bits

            parent = named_storage_parent(oem)
            assert parent is not None and values(parent) == values(store.storage_parent(STORAGE))
            assert values(parent) != values(store.storage_parent(other.label))
            assert storage_key_label(store, oem) == STORAGE
            plain = pki.certs["oem_prov_leaf"]
            assert named_storage_parent(plain) is None and storage_key_label(store, plain) is None
        finally:
            store.close()


def test_iso20_pnc_busy_tpm_stops_the_session_in_order_and_loses_no_contract(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A TPM that stays busy when the contract key must sign AuthorizationReq: the session stops in order
    (SessionStopReq; the bench counts an orderly EV stop as a completed run) with one line naming the key and
    TPM_RC_RETRY; the contract and its key stay, and the next session uses them."""
    if not tls_tpm.tpm2_provider_installed():
        pytest.fail("tpm2-openssl missing: scripts/setup.d/32-tpm.sh")
    pki = run_pki20()
    ev = Ev(tmp_path / "ev")
    monkeypatch.setattr(bench_run, "run_pki20", lambda: pki)
    monkeypatch.setattr(bench_run, "bench_pnc20", lambda p, _choice=None: ev_keys(p, ev))
    assert _session(tmp_path, capsys, "install")["pnc"]["installed"]

    ev.busy_signing = True
    path = tmp_path / "busy.json"
    status, out = run_bench(["--protocol", "iso20-dc", "--tls", "--link", "netns", "--no-dbus", "--start-soc", "75",
                             "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out  # an orderly stop by the EV is a completed run for the bench
    report = json.loads(path.read_text())
    requests = [m["request"] for m in report["messages"]]
    # the EV stops in order: SessionStopReq instead of an AuthorizationReq it cannot sign
    assert requests == ["SessionSetupReq", "AuthorizationSetupReq", "SessionStopReq"], (status, requests)
    assert report["end_kind"] == "stopped", report
    reason = str(report["end_reason"])
    assert reason.startswith("cannot sign AuthorizationReq: TPM Sign (ECDSA) with key 'contract/"), reason
    assert "\n" not in reason and "TPM_RC_RETRY" in reason, reason
    assert "Traceback" not in out, out
    assert ev.parents == [STORAGE]  # the contract and its key file are still there

    ev.busy_signing = False
    again = _session(tmp_path, capsys, "again")
    assert not again["pnc"]["installed"] and ev.parents == [STORAGE]


def test_daemon_contract_port_imports_tpm_encrypted_private_key(tmp_path: Path) -> None:
    """`evcc run`'s composition (evcc.app.compose.build, [hsm] kind = "tpm", [contracts] oem_key_label/oem_cert):
    its -20 contract port asks with the OEM certificate that names the storage key, and imports the CPS's
    TPM_EncryptedPrivateKey under it; the contract signs after the parts are built again (a daemon restart)."""
    import secrets

    from cryptography.hazmat.primitives.serialization import Encoding

    from evcc.app.compose import build
    from evcc.app.config import parse_config
    from evcc.hsm.hostcrypto import verify_raw

    pki = run_pki20()
    with swtpm_on(tmp_path / "swtpm") as tcti:
        keys = tmp_path / "keys"
        store = TpmKeyStore(TpmConfig(tcti, keys))
        try:  # the production line: storage key, OEM key and its certificate naming the storage key
            point = store.create_storage_key(STORAGE).public
            issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
            oem = issue_certificate(profile_table()["oem_prov_leaf"], new_public_key(store, OEM, ALGORITHM),
                                    issuer, issuer[1], pki.suite, pki.now, (storage_key_extension(point),))
        finally:
            store.close()
        (tmp_path / "oem.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                                                    for c in (oem, *pki.chain("oem_sub_ca_2"))))
        (tmp_path / "root.pem").write_bytes(pki.certs["v2g_root"].public_bytes(Encoding.PEM))
        doc = {"plc": {"interface": "lo"}, "slac": {"enabled": False},
               "session": {"protocols": ["iso20-dc"], "v2g_roots": [str(tmp_path / "root.pem")]},
               "contracts": {"directory": str(tmp_path / "contracts"), "oem_key_label": OEM,
                             "oem_cert": str(tmp_path / "oem.pem")},
               "hsm": {"kind": "tpm", "tcti": tcti, "directory": str(keys)},
               "dbus": {"bus": "address", "address": "unix:path=/nonexistent"}}
        cfg = parse_config(doc, tmp_path / "evcc.toml")
        service = ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0])
        parts = build(cfg)
        try:
            port = parts.contract_port20()
            port.ctx = dataclasses.replace(port.ctx, now=pki.now)  # the test PKI's validity
            request = port.certificate_installation_req(secrets.token_bytes(8), int(pki.now.timestamp()))
            response = service.answer(request, pki.now)
            assert response.SignedInstallationData.TPM_EncryptedPrivateKey is not None
            contract = port.install(response)
            assert contract.key_label is not None
        finally:
            parts.close()
        parts = build(cfg)  # a restart
        try:
            assert isinstance(parts.keystore, TpmKeyStore) and contract.key_label is not None
            kept = KeyFile.decode(parts.keystore.key_file(contract.key_label).read_bytes())
            assert kept.parent == STORAGE
            leaf_key = x509.load_der_x509_certificate(contract.chain[0]).public_key()
            assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
            assert verify_raw(leaf_key, b"m", parts.keystore.sign(contract.key_label, b"m"))
        finally:
            parts.close()


def test_storage_key_named_but_missing_refuses_the_blob_and_stores_nothing(tmp_path: Path) -> None:
    """The OEM certificate names a storage key the key store no longer has (its file lost): the blob is refused
    with one line saying so, no contract and no key are written."""
    import secrets

    from evcc.contracts.errors import DecryptionFailed

    pki = run_pki20()
    with swtpm_on(tmp_path / "swtpm") as tcti:
        store = TpmKeyStore(TpmConfig(tcti, tmp_path / "tpm"))
        try:
            point = store.create_storage_key(STORAGE).public
            issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
            oem = issue_certificate(profile_table()["oem_prov_leaf"], new_public_key(store, OEM, ALGORITHM),
                                    issuer, issuer[1], pki.suite, pki.now, (storage_key_extension(point),))
            ctx = InstallContext(store=ContractStore(tmp_path / "contracts"), keystore=store,
                                 v2g_roots=(pki.certs["v2g_root"],), now=pki.now, mo_roots=(pki.certs["mo_root"],))
            port = KeyStoreContracts20(ctx, pcid=TEST_PCID, oem_chain=(oem, *pki.chain("oem_sub_ca_2")),
                                       oem_key_label=OEM, oem_key_algorithm=ALGORITHM)
            request = port.certificate_installation_req(secrets.token_bytes(8), int(pki.now.timestamp()))
            response = ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0]).answer(request, pki.now)
            store.delete(STORAGE)
            with pytest.raises(DecryptionFailed) as err:
                port.install(response)
            assert "no TPM storage key" in str(err.value) and "\n" not in str(err.value), err.value
            assert ctx.store.list() == [] and [k.label for k in store.list()] == [OEM]
        finally:
            store.close()
