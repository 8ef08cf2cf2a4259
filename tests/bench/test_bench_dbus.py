"""`evcc bench` publishes the session state on a private D-Bus (the evcc.hmi service, org.evcc.Evcc1) and reads
State/SoC/Power back through a dbus-fast client for the display; the phase-to-State mapping."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.dbus_state import session_state
from evcc.hmi.names import SessionState
from tests.bench.bench_helpers import run_bench


def test_state_read_back_from_a_private_bus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon missing: scripts/setup installs the Debian package dbus-daemon")
    path = tmp_path / "r.json"
    status, out = run_bench(["--link", "memory", "--protocol", "iso2", "--start-soc", "70", "--json", str(path)],
                            capsys)
    assert status == cli.EXIT_OK, out
    assert re.search(r"D-Bus: org\.evcc\.Evcc1 on a private bus \(unix:path=\S+\); Session at "
                     r"/org/evcc/Evcc1/Session", out), out
    lines = [line for line in out.splitlines() if line.startswith("D-Bus: org.evcc.Evcc1 State=")]
    assert re.fullmatch(r"D-Bus: org\.evcc\.Evcc1 State=Stopped SoC=80\.0 % Power=\d+\.\d kW Protocol=ISO15118-2",
                        lines[-1]), lines
    report = json.loads(path.read_text())
    assert report["dbus"].startswith("org.evcc.Evcc1 State=Stopped SoC=80.0 %")
    assert int(report["dbus"].rsplit("(", 1)[1].split()[0]) >= 2  # reads


@pytest.mark.parametrize(("phase", "state"), [
    ("", SessionState.IDLE), ("iso2: SessionSetupRes", SessionState.SETUP),
    ("iso2: CertificateInstallationRes", SessionState.AUTHORIZATION),
    ("din: ContractAuthenticationRes", SessionState.AUTHORIZATION), ("iso2: CableCheckRes", SessionState.CABLE_CHECK),
    ("iso2: PowerDeliveryRes (Start)", SessionState.CHARGING), ("din: PowerDeliveryRes (stop)", SessionState.STOPPING),
    ("iso2: CurrentDemandRes", SessionState.CHARGING), ("iso2: WeldingDetectionRes", SessionState.WELDING_DETECTION),
    ("iso2: ended", SessionState.STOPPED), ("iso2: SomethingNew", SessionState.UNKNOWN),
])
def test_phase_to_session_state(phase: str, state: SessionState) -> None:
    assert session_state(phase) is state
