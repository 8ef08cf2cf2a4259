"""`evcc bench` Plug & Charge (ISO 15118-2 §8.4.3): the README's main job over network namespaces and TLS 1.2
with the EV's keys in a real SoftHSM2 token (CertificateInstallation through the SECC's test provisioning
service, PaymentDetails, Authorization, CurrentDemand to the target, SessionStop), the session state read back
from a private D-Bus, the JSON report, the plot and the trace; in process with the software key store and with
a contract installed before the session."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.pnc import BENCH_EMAID
from evcc.bench.trace import KEYLOG_NAME, PCAP_NAME, read_pcap, v2gtp_frames
from tests.bench.bench_helpers import run_bench

REPO = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def test_pnc_dc_session_over_tls_in_namespaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.fail("the bench end-to-end tests need root (network namespaces, raw sockets)")
    report_path, plot, trace = tmp_path / "r.json", tmp_path / "s.svg", tmp_path / "trace"
    status, out = run_bench(["--protocol", "iso2", "--tls", "--start-soc", "74", "--json", str(report_path),
                             "--plot", str(plot), "--trace", str(trace)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(report_path.read_text())
    assert report["link"] == "netns" and report["auth"] == "pnc" and report["tls_cipher"] == "ECDHE-ECDSA-AES128-SHA256"
    requests = [m["request"] for m in report["messages"]]
    distinct = [r for i, r in enumerate(requests) if i == 0 or requests[i - 1] != r]
    assert distinct[:7] == ["SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq",
                            "CertificateInstallationReq", "PaymentDetailsReq", "AuthorizationReq",
                            "ChargeParameterDiscoveryReq"], requests
    assert "CurrentDemandReq" in requests and requests[-1] == "SessionStopReq" and report["end_kind"] == "completed"
    assert report["pnc"] == {"emaid": BENCH_EMAID, "installed": True, "preinstalled": False,
                             "keystore": report["pnc"]["keystore"], "authorized": True, "refused": []}
    assert report["pnc"]["keystore"].startswith("SoftHSM2 token"), report["pnc"]
    assert f"contract:    contract {BENCH_EMAID}, installed in this session (CertificateInstallation)" in out
    # the D-Bus state, read back by a dbus-fast client while the session ran
    assert re.search(r"D-Bus: org\.evcc\.Evcc1 State=Charging SoC=\d+\.\d % Power=\d+\.\d kW Protocol=ISO15118-2",
                     out), out
    assert report["dbus"].startswith("org.evcc.Evcc1 State=Stopped SoC=80")
    # the series and the plot
    series = report["series"]
    assert len(series) > 5 and series[-1]["soc"] >= 80.0 and max(s["power"] for s in series) > 10_000
    assert all(a["t"] <= b["t"] for a, b in zip(series, series[1:]))
    root = ET.parse(plot).getroot()
    assert {g.get("id") for g in root.iter(f"{SVG}g")} == {"panel-soc", "panel-voltage", "panel-current",
                                                           "panel-power"}
    # the trace: SDP frames in the clear, the rest under TLS, and the key log to decrypt it (TEST ONLY names)
    assert report["trace"] == {"pcap": str(trace / PCAP_NAME), "tls_keylog": str(trace / KEYLOG_NAME)}
    frames = list(v2gtp_frames(read_pcap((trace / PCAP_NAME).read_bytes())))
    assert [(f.transport, f.payload_type) for f in frames] == [("udp", 0x9000), ("udp", 0x9001)]
    assert re.search(r"^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$", (trace / KEYLOG_NAME).read_text(), re.M)
    assert "TEST ONLY" in out and "TEST-ONLY" in PCAP_NAME and "TEST-ONLY" in KEYLOG_NAME


def test_pnc_in_process_with_the_software_key_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.json"
    status, out = run_bench(["--link", "memory", "--protocol", "iso2", "--auth", "pnc", "--no-softhsm",
                             "--no-dbus", "--start-soc", "76", "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(path.read_text())
    assert report["pnc"]["installed"] and report["pnc"]["emaid"] == BENCH_EMAID
    assert report["pnc"]["keystore"].startswith("software key store (bench only; SoftHSM2 not wanted)")
    assert "PnC: EV keys in the software key store" in out


def test_pnc_with_a_contract_installed_before_the_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pre.json"
    status, out = run_bench(["--link", "memory", "--protocol", "iso2", "--auth", "pnc", "--contract-installed",
                             "--current", "ac", "--no-dbus", "--start-soc", "77", "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads(path.read_text())
    requests = [m["request"] for m in report["messages"]]
    assert "CertificateInstallationReq" not in requests and "PaymentDetailsReq" in requests
    assert "ChargingStatusReq" in requests and "CurrentDemandReq" not in requests  # AC
    assert report["pnc"]["preinstalled"] and not report["pnc"]["installed"] and report["pnc"]["authorized"]
    assert "installed before the session" in out


def test_pnc_needs_iso2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--link", "memory", "--protocol", "din", "--auth", "pnc"], capsys)
    assert status == cli.EXIT_PLATFORM and "needs protocol iso2" in out


def test_without_dbus_daemon_and_softhsm_the_output_says_so(tmp_path: Path) -> None:
    """PATH without dbus-daemon and softhsm2-util: the run still completes and names what it did without."""
    done = subprocess.run(
        [sys.executable, "-m", "evcc.bench.cli", "bench", "--link", "memory", "--protocol", "iso2", "--auth", "pnc",
         "--start-soc", "78"], capture_output=True, text=True, timeout=120, cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "D-Bus: dbus-daemon is not installed" in done.stdout
    assert "software key store (bench only; SoftHSM2 not installed)" in done.stdout
