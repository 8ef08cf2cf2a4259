"""`evcc bench` with ISO 15118-20: DC Plug & Charge over TLS 1.3 with mutual authentication in network namespaces
(vehicle certificate and contract keys in SoftHSM2, CertificateInstallation through the SECC's -20 provisioning
service), DC_BPT Dynamic discharge in process (negative power in the report and the plot); and the bench's faults
on the shared fault layer: a FAILED code and a frame fault in memory, a disconnect and an untrusted SECC
certificate on sockets, and the TLS 1.3 certificate faults (expired, untrusted SECC chain; the SECC refusing the
vehicle certificate) in namespaces, each ending in order with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evcc.bench import cli
from tests.bench.bench_helpers import run_bench


def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the bench end-to-end tests need root (network namespaces, raw sockets)")


def _report(path: Path) -> dict:  # type: ignore[type-arg]
    data: dict = json.loads(path.read_text())  # type: ignore[type-arg]
    return data


def test_iso20_dc_pnc_over_tls13_in_namespaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _root()
    path = tmp_path / "r.json"
    status, out = run_bench(["--protocol", "iso20-dc", "--tls", "--link", "netns", "--no-dbus", "--start-soc", "75",
                             "--json", str(path)], capsys)
    assert status == cli.EXIT_OK, out
    report = _report(path)
    assert report["link"] == "netns" and report["auth"] == "pnc" and report["tls_cipher"] == "TLS_AES_256_GCM_SHA384"
    requests = [m["request"] for m in report["messages"]]
    assert requests[:4] == ["SessionSetupReq", "AuthorizationSetupReq", "CertificateInstallationReq",
                            "AuthorizationReq"], requests
    assert "DC_ChargeLoopReq" in requests and requests[-1] == "SessionStopReq" and report["end_kind"] == "completed"
    assert report["pnc"]["installed"] and report["pnc"]["authorized"] and report["pnc"]["emaid"] == "DE8AA0012345670"
    assert "TLS 1.3 (mutual: vehicle certificate) TLS_AES_256_GCM_SHA384" in out
    assert report["end_soc"] >= 80.0 and report["service"] == "DC" and report["control"] == "Scheduled"


def test_iso20_dc_bpt_dynamic_discharge_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, plot = tmp_path / "r.json", tmp_path / "p.svg"
    status, out = run_bench(["--protocol", "iso20-dc-bpt", "--control", "dynamic", "--dynamic-power-kw", "-20",
                             "--start-soc", "60", "--stop-at-soc", "55", "--link", "memory", "--no-dbus",
                             "--json", str(path), "--plot", str(plot)], capsys)
    assert status == cli.EXIT_OK, out
    report = _report(path)
    assert report["end_kind"] == "stopped" and report["steps_done"] == ["stop at SoC 55.0 %"]
    assert report["discharged_wh"] > 2000 and report["delivered_wh"] < 0 and 54.9 < report["end_soc"] <= 55.0
    powers = [s["power"] for s in report["series"]]
    assert min(powers) < -15_000 and max(powers) <= 0
    assert "discharge:   2.5" in out and "down to -20.0 kW" in out
    ET.parse(plot)  # a well-formed SVG with the negative power panel


@pytest.mark.parametrize(("argv", "stage", "reason"), [
    (["--protocol", "iso20-dc", "--fault", "code:DC_CableCheckRes=FAILED"], "DC_CableCheckRes", "FAILED"),
    (["--protocol", "iso2", "--fault", "response-code:CableCheckRes=FAILED"], "CableCheckRes", "FAILED"),
    (["--protocol", "iso20-ac", "--secc-silent-from", "AC_ChargeParameterDiscoveryRes"],
     "AC_ChargeParameterDiscoveryRes", "V2G_EVCC_Msg_Timeout"),
])
def test_message_faults_in_memory_end_in_order(argv: list[str], stage: str, reason: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    status, out = run_bench([*argv, "--link", "memory", "--no-dbus", "--json", str(path)], capsys)
    assert status == cli.EXIT_FAILED and "Traceback" not in out, out
    report = _report(path)
    assert report["end_state"] == stage and reason in report["end_reason"], report["end_reason"]
    assert report["fault"] and report["fault_actions"], report


def test_frame_fault_needs_a_transport(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--protocol", "iso2", "--link", "memory", "--no-dbus", "--fault",
                             "disconnect:CableCheckRes"], capsys)
    assert status == cli.EXIT_FAILED and "needs TCP or TLS" in out and "Traceback" not in out


def test_disconnect_and_untrusted_certificate_on_sockets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _root()
    path = tmp_path / "r.json"
    status, out = run_bench(["--protocol", "iso20-dc", "--link", "netns", "--no-dbus", "--fault",
                             "disconnect:DC_CableCheckRes", "--json", str(path)], capsys)
    assert status == cli.EXIT_FAILED and "Traceback" not in out, out
    report = _report(path)
    assert report["fault_actions"] == ["disconnect: DC_CableCheckRes"] and "closed" in report["end_reason"]
    status, out = run_bench(["--protocol", "iso2", "--tls", "--auth", "eim", "--link", "netns", "--no-dbus",
                             "--fault", "cert:untrusted", "--json", str(path)], capsys)
    assert status == cli.EXIT_FAILED and "Traceback" not in out, out
    report = _report(path)
    assert report["end_reason"].startswith("connection to the SECC:") and "certificate" in report["end_reason"]
    assert report["messages"] == []


@pytest.mark.parametrize(("fault", "reason", "cipher"), [
    ("cert:expired", "connection to the SECC: SECC certificate chain rejected: certificate has expired", None),
    ("cert:untrusted", "connection to the SECC: SECC certificate chain rejected: unable to get local issuer", None),
    # the SECC's refusal reaches the EV as a close or a reset on its first read, or, when it overtakes the
    # SupportedAppProtocolReq, on the send (timing decides which)
    ("cert:vehicle-refused", ("the SECC closed the TLS 1.3 connection before its first message",
                              "the connection to the SECC is closed"), "TLS_AES_256_GCM_SHA384"),
])
def test_certificate_faults_over_tls13_in_namespaces(fault: str, reason: str | tuple[str, ...], cipher: str | None,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The SECC of the run's -20 PKI (hostile_tls13): an expired or look-alike chain the EV refuses, or a valid
    chain that refuses the EV's vehicle certificate (TLS 1.3: the EV's handshake is done, the SECC's first read
    fails); no V2G message crosses, the run fails in order."""
    _root()
    path = tmp_path / "r.json"
    status, out = run_bench(["--protocol", "iso20-dc", "--tls", "--link", "netns", "--no-dbus", "--fault", fault,
                             "--json", str(path)], capsys)
    assert status == cli.EXIT_FAILED and "Traceback" not in out, out
    report = _report(path)
    assert any(report["end_reason"].startswith(r) or f": {r}" in report["end_reason"]
               for r in ((reason,) if isinstance(reason, str) else reason)), report["end_reason"]
    assert report["messages"] == [] and report["fault"] == fault.replace(":", "-")
    assert report["sdp"]["security"] == "TLS" and report["tls_cipher"] == cipher


def test_certificate_fault_needs_tls(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--protocol", "iso20-dc", "--link", "netns", "--no-dbus", "--fault", "cert:expired"],
                            capsys)
    assert status != cli.EXIT_OK and "certificate faults need --tls" in out and "Traceback" not in out, out


def test_token_key_through_pkcs11_provider_never_asks_for_a_pin_on_a_terminal(tmp_path: Path) -> None:
    """`evcc bench --protocol iso20-dc --tls` as its own process on a pseudo-terminal (``script``): with the vehicle
    key used through pkcs11-provider, closing our token session at the end would log the provider out and OpenSSL
    would wait for a PIN typed on the terminal when it frees the key at exit."""
    _root()
    if shutil.which("script") is None:
        pytest.skip("util-linux script (pseudo-terminal) not installed")
    command = (f"{sys.executable} -m evcc.bench.cli bench --link netns --no-dbus --protocol iso20-dc --tls "
               "--start-soc 78")
    result = subprocess.run(["script", "-qec", command, "/dev/null"], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=90, cwd=Path(__file__).resolve().parents[2], check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Enter PIN" not in result.stdout and "verdict:     PASS" in result.stdout
