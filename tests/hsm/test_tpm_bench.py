"""`evcc bench --key-store tpm` (issue 11): ISO 15118-2 DC Plug & Charge over TLS 1.2 with the EV's keys in a TPM
2.0 — the bench's private swtpm, or an existing TPM by --tcti: CertificateInstallation (ECDH in the TPM, contract
key imported into it), PaymentDetails and Authorization signed by the contract key, MeteringReceipt; ISO 15118-20
DC Plug & Charge over TLS 1.3 with the vehicle key, the OEM key and the contract key in the TPM; the option checks
(--no-softhsm stays an alias of --key-store soft). The private-TPM runs are separate processes: the bench puts its
swtpm behind tpm2-abrmd on a private session bus, and the tabrmd TCTI keeps one session-bus connection per
process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.pnc import BENCH_EMAID
from tests.bench.bench_helpers import run_bench

REPO = Path(__file__).resolve().parents[2]

PNC_FLOW = ["SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq", "CertificateInstallationReq",
            "PaymentDetailsReq", "AuthorizationReq", "ChargeParameterDiscoveryReq"]


def _pnc_session(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    if os.geteuid() != 0:
        pytest.fail("the bench end-to-end tests need root (network namespaces, raw sockets)")
    report_path = tmp_path / "r.json"
    status, out = run_bench(["--protocol", "iso2", "--tls", "--start-soc", "76", "--json", str(report_path),
                             "--no-dbus", *extra], capsys)
    assert status == cli.EXIT_OK, out
    report: dict[str, object] = json.loads(report_path.read_text())
    requests = [m["request"] for m in report["messages"]]  # type: ignore[attr-defined]
    distinct = [r for i, r in enumerate(requests) if i == 0 or requests[i - 1] != r]
    assert distinct[:7] == PNC_FLOW, requests
    assert "MeteringReceiptReq" in requests and requests[-1] == "SessionStopReq", requests
    assert report["end_kind"] == "completed" and report["tls_cipher"] == "ECDHE-ECDSA-AES128-SHA256"
    pnc = report["pnc"]
    assert isinstance(pnc, dict) and pnc["emaid"] == BENCH_EMAID and pnc["installed"] and pnc["authorized"]
    return pnc


def _bench_process(tmp_path: Path, *argv: str) -> dict[str, object]:
    """`evcc bench ARGV --key-store tpm` in its own process; its JSON report. No swtpm of it is left afterwards."""
    if os.geteuid() != 0:
        pytest.fail("the bench end-to-end tests need root (network namespaces, raw sockets)")
    report_path = tmp_path / "r.json"
    result = subprocess.run([sys.executable, "-m", "evcc.bench.cli", "bench", *argv, "--key-store", "tpm",
                             "--no-dbus", "--json", str(report_path)], capture_output=True, text=True, timeout=300,
                            check=False, cwd=REPO)
    assert result.returncode == cli.EXIT_OK, result.stdout[-3000:] + result.stderr[-3000:]
    left = subprocess.run(["pgrep", "-f", "evcc-bench-tpm-"], capture_output=True, text=True, check=False)
    assert left.stdout == "", left.stdout
    report: dict[str, object] = json.loads(report_path.read_text())
    pnc = report["pnc"]
    assert isinstance(pnc, dict) and pnc["installed"] and pnc["authorized"] and pnc["refused"] == []
    assert str(pnc["keystore"]).startswith("TPM 2.0 (private swtpm"), pnc
    assert report["end_kind"] == "completed"
    return report


def test_bench_pnc_with_the_private_tpm(tmp_path: Path) -> None:
    report = _bench_process(tmp_path, "--protocol", "iso2", "--tls", "--start-soc", "76")
    requests = [m["request"] for m in report["messages"]]  # type: ignore[attr-defined]
    distinct = [r for i, r in enumerate(requests) if i == 0 or requests[i - 1] != r]
    assert distinct[:7] == PNC_FLOW, requests
    assert "MeteringReceiptReq" in requests and report["tls_cipher"] == "ECDHE-ECDSA-AES128-SHA256"


def test_bench_iso20_pnc_with_the_vehicle_key_in_the_tpm(tmp_path: Path) -> None:
    """-20 DC PnC over TLS 1.3, mutual: the vehicle key is used through tpm2-openssl from the EV's namespace; the
    contract key arrives as TPM_EncryptedPrivateKey for the storage key the OEM certificate names."""
    report = _bench_process(tmp_path, "--protocol", "iso20-dc", "--tls", "--start-soc", "76")
    requests = [m["request"] for m in report["messages"]]  # type: ignore[attr-defined]
    assert "CertificateInstallationReq" in requests and "AuthorizationReq" in requests, requests
    assert str(report["tls_cipher"]).startswith("TLS_"), report["tls_cipher"]
    # the OEM certificate names a TPM storage key: the contract came as TPM_EncryptedPrivateKey (TPM2_Import)
    assert "TPM_EncryptedPrivateKey" in str(report["pnc"]["keystore"]), report["pnc"]  # type: ignore[index]


def test_bench_pnc_on_an_existing_tpm_by_tcti(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              swtpm_tcti: str) -> None:
    pnc = _pnc_session(tmp_path, capsys, "--key-store", "tpm", "--tcti", swtpm_tcti)
    assert pnc["keystore"] == f"TPM 2.0 at {swtpm_tcti}", pnc


def test_key_store_options(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="evcc")
    cli.register(parser.add_subparsers(dest="command", required=True))
    kinds = {argv: cli._key_store(parser.parse_args(["bench", *argv])).kind
             for argv in [(), ("--no-softhsm",), ("--key-store", "soft"), ("--key-store", "tpm")]}
    assert kinds == {(): "softhsm", ("--no-softhsm",): "soft", ("--key-store", "soft"): "soft",
                     ("--key-store", "tpm"): "tpm"}
    for argv in (["--tcti", "swtpm:port=1"], ["--no-softhsm", "--key-store", "tpm"]):
        status, out = run_bench(["--protocol", "iso2", "--tls", *argv], capsys)
        assert status == 2 and out.strip(), out
