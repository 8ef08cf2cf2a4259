"""`evcc bench --key-store tpm` (issue 11): ISO 15118-2 DC Plug & Charge over TLS 1.2 with the EV's keys in a TPM
2.0 — a private swtpm started for the run, or an existing TPM by --tcti: CertificateInstallation (ECDH in the TPM,
contract key imported into it), PaymentDetails and Authorization signed by the contract key, MeteringReceipt; and
the option checks (--no-softhsm stays an alias of --key-store soft)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.pnc import BENCH_EMAID
from tests.bench.bench_helpers import run_bench

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


def test_bench_pnc_with_a_private_swtpm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pnc = _pnc_session(tmp_path, capsys, "--key-store", "tpm")
    assert str(pnc["keystore"]).startswith("TPM 2.0 (private swtpm for the run"), pnc


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
