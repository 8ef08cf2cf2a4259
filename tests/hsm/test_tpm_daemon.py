"""The daemon (`evcc run`) with ``[hsm] kind = "tpm"`` (issue 11): contracts imported into a TPM 2.0 key store
(swtpm behind tpm2-abrmd on a private session bus, reachable from the EV's network namespace), ISO 15118-2
sessions against the SECC simulator authorised with the contract key in the TPM (the simulator checks the
AuthorizationReq signature), and after a daemon restart again: every installed contract stays usable."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from evcc.hmi.private_bus import PrivateBus
from evcc.hsm.pkcs11_store import Pkcs11Config
from evcc.hsm.swtpm import Swtpm
from evcc.hsm.tpm_abrmd import TCTI, PrivateAbrmd, abrmd_available
from tests.app.harness import Bench, DaemonProcess, until


def test_daemon_sessions_with_contract_keys_in_the_tpm_across_a_restart(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.fail("the daemon end-to-end tests need root (network namespaces)")
    if not abrmd_available():
        pytest.fail("tpm2-abrmd missing: scripts/setup.d/32-tpm.sh installs it")
    unused_token = Pkcs11Config("unused", "unused", "unused")  # [hsm] is the TPM here
    with Swtpm(tmp_path / "tpm-state") as tpm, PrivateBus() as bus:
        # The contracts go in from this process straight to the swtpm; the daemon (another network namespace)
        # reaches the same TPM through tpm2-abrmd. This process never uses the tabrmd TCTI: GLib keeps one
        # session-bus connection per process, which another test's broker may hold.
        bench = Bench(tmp_path / "e2e", unused_token, bus.address, tpm_tcti=tpm.tcti)
        bench.tmp.mkdir()
        try:
            bench.create()
            assert len(list((bench.tmp / "tpm-keys" / "keys").glob("*.pem"))) == 2
            first = bench.emaids["contract_1"]
            with PrivateAbrmd(tpm.tcti, tmp_path) as abrmd:
                monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", abrmd.address)  # inherited by the daemon only
                hsm = f'kind = "tpm"\ntcti = "{TCTI}"\ndirectory = "{bench.tmp / "tpm-keys"}"'
                for run in ("first", "restarted"):
                    daemon = DaemonProcess.start(bench, bench.config(restart_delay_s=1.0, hsm=hsm), run)
                    try:
                        daemon.notify.wait_for("READY=1")
                        started = daemon.started
                        until(lambda: any(s.stopped for s in bench.sessions_since(started)), 30.0,
                              f"a {run} session")
                        session = bench.sessions_since(started)[0]
                        assert session.emaid == first and "AuthorizationReq" in session.secc.received
                        assert session.pnc.refusals == [] and session.secc.errors == []
                        daemon.proc.send_signal(signal.SIGTERM)
                        assert daemon.wait(15) == 0, daemon.output()
                        assert "Traceback" not in daemon.output()
                    finally:
                        daemon.stop()
        finally:
            bench.close()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert bench.link.prefix not in left, left
