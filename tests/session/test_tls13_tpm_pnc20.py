"""A whole ISO 15118-20 DC Plug & Charge session over TLS 1.3 with every EV key in a TPM 2.0 (a private swtpm), on
the bench's -20 path (`evcc bench --protocol iso20-dc --tls`): the vehicle key signs the TLS 1.3 CertificateVerify
through tpm2-openssl (evcc.session.tls_tpm), the OEM provisioning key signs CertificateInstallationReq and does the
SECP521 ECDH in the TPM, the contract key is imported into the TPM and signs AuthorizationReq.

The bench's own key-store choice (`--key-store`) is replaced here by a TPM key store, so that this test depends only
on the TPM parts; everything else (network namespaces, the SECC simulator, its -20 test provisioning service, the EV
machine, TLS) is the bench's. The swtpm listens on a UNIX socket: the swtpm TCTI connects for each command, from
whatever network namespace the EV is in at that moment, and a TCP port on 127.0.0.1 exists only in the namespace
that opened it."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench import run as bench_run
from evcc.bench.pnc import certify_new_key, new_public_key
from evcc.bench.pnc20 import ALGORITHM, BenchPnc20
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.pki.generator import TestPki, vehicle_chain
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, profile_table
from evcc.session import tls_tpm
from evcc.session.iso20.pnc import KeyStoreContracts20
from evcc.session.tls13 import ClientCertificate, TpmKey, TpmKeys, choose_vehicle_key

from tests.bench.bench_helpers import run_bench
from tests.hsm.swtpm_unix import swtpm_on


class TpmKeysOfTheRun:
    """What the TPM held during the run (looked at before the run's keys are deleted)."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.vehicle: TpmKey | None = None


@contextlib.contextmanager
def tpm_pnc20(pki: TestPki, seen: TpmKeysOfTheRun) -> Iterator[BenchPnc20]:
    """bench_pnc20 with a TPM key store on a private swtpm: OEM provisioning key, vehicle key and contracts."""
    from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore

    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="evcc-test-tpm-pnc20-") as tmp, swtpm_on(Path(tmp) / "swtpm") as tcti:
        store = TpmKeyStore(TpmConfig(tcti, Path(tmp) / "tpm"))
        try:
            ctx = InstallContext(store=ContractStore(Path(tmp) / "contracts"), keystore=store,
                                 v2g_roots=(pki.certs["v2g_root"],), now=now, mo_roots=(pki.certs["mo_root"],))
            oem = certify_new_key(pki, store, "oem20", ALGORITHM, profile_table()["oem_prov_leaf"])
            chain = vehicle_chain(pki, new_public_key(store, "vehicle20", ALGORITHM))
            key = choose_vehicle_key("vehicle20", None, None, TpmKeys(tcti, store))
            assert isinstance(key, TpmKey)
            seen.vehicle = key
            vehicle = ClientCertificate(chain, key)
            contracts = KeyStoreContracts20(ctx, pcid=TEST_PCID, oem_chain=(oem, *pki.chain("oem_sub_ca_2")),
                                            oem_key_label="oem20", oem_key_algorithm=ALGORITHM, maximum_chains=3)
            services = [ProvisioningService(ProvisioningSimulator(pki), emaid) for emaid in TEST_EMAIDS[:3]]
            yield BenchPnc20(pki, store, f"TPM 2.0 at {tcti}", contracts, vehicle, now, services)
            seen.labels = [k.label for k in store.list()]
        finally:
            store.close()


def test_iso20_dc_pnc_over_tls13_with_every_key_in_the_tpm(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if not tls_tpm.tpm2_provider_installed():
        pytest.fail("tpm2-openssl missing: scripts/setup.d/32-tpm.sh")
    seen = TpmKeysOfTheRun()
    monkeypatch.setattr(bench_run, "bench_pnc20", lambda pki, _choice=None: tpm_pnc20(pki, seen))
    path = tmp_path / "r.json"
    status, out = run_bench(["--protocol", "iso20-dc", "--tls", "--link", "netns", "--no-dbus", "--start-soc", "75",
                             "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(path.read_text())
    assert report["auth"] == "pnc" and report["tls_cipher"] == "TLS_AES_256_GCM_SHA384"
    assert "TLS 1.3 (mutual: vehicle certificate) TLS_AES_256_GCM_SHA384" in out
    requests = [m["request"] for m in report["messages"]]
    assert requests[:4] == ["SessionSetupReq", "AuthorizationSetupReq", "CertificateInstallationReq",
                            "AuthorizationReq"], requests
    assert "DC_ChargeLoopReq" in requests and requests[-1] == "SessionStopReq" and report["end_kind"] == "completed"
    assert report["pnc"]["installed"] and report["pnc"]["authorized"] and report["pnc"]["emaid"] == TEST_EMAIDS[0]
    assert "TPM 2.0 at swtpm:path=" in out
    # the TPM held the OEM key, the vehicle key and the installed contract's key (imported by TPM2_Import)
    assert {"oem20", "vehicle20"} <= set(seen.labels) and len(seen.labels) >= 3, seen.labels
    assert seen.vehicle is not None and seen.vehicle.key_file.name.endswith(".pem")
