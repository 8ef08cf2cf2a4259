"""The suite over real sockets on loopback (UDP SDP at an address, TCP, V2GTP, EXI) against the simulator on its
own thread: SDP, SupportedAppProtocol and every DIN case pass (the 25 ms CurrentDemandRes performance cases are
left to the in-memory run: a loaded 2-core machine may miss them); Ctrl-C in the middle writes the report of what
ran (exit 130); a charger that accepts TCP and then hangs gives verdicts, not a hung suite."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from evcc.conformance.catalogue import all_cases, select
from evcc.conformance.link import NetworkCharger
from evcc.conformance.model import Verdict
from evcc.conformance.runner import RunOptions, run_suite
from tests.conformance.simulator import sdp_responder, served_simulator

ROOT = Path(__file__).resolve().parents[2]


def test_sdp_sap_and_din_cases_pass_over_loopback() -> None:
    cases = [c for c in select(all_cases(), ["SDP-*", "SAP-*", "DIN-*"]) if "-PERF-CurrentDemand" not in c.id]
    with served_simulator() as sim:
        charger = NetworkCharger(sdp_address=("::1", sim.sdp_port))
        results = asyncio.run(run_suite(cases, lambda: charger, RunOptions(charge_seconds=0.2)))
    bad = {r.case.id: (r.verdict.value, r.reason) for r in results
           if r.verdict is not Verdict.PASS and r.case.id != "SDP-answer-tls"}
    assert bad == {}
    assert len(results) == len(cases) >= 75
    assert sim.record.connections >= len(cases) - 10  # a fresh connection per case


def test_ctrl_c_writes_the_report_of_what_ran(tmp_path: Path) -> None:
    with served_simulator() as sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "evcc", "conformance", "--sdp-address", f"::1:{sim.sdp_port}", "--out",
             str(tmp_path), "--cases", "DIN-*"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("[  3/"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    record = json.loads((tmp_path / "conformance.json").read_text())
    assert record["interrupted"] and 3 <= record["run"] < record["selected"]
    assert (tmp_path / "conformance.xml").exists() and "Interrupted" in (tmp_path / "conformance.html").read_text()
    assert "interrupted after" in err and "Traceback" not in err


def test_hanging_charger_gives_verdicts_and_the_suite_goes_on() -> None:
    async def main() -> list[tuple[str, Verdict, str]]:
        async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1 << 16)  # takes the request, never answers

        server = await asyncio.start_server(hang, "::1", 0)
        port = server.sockets[0].getsockname()[1]
        responder = sdp_responder(("::1", port))

        class Sdp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
                reply = responder.answer(data)
                if reply is not None:
                    self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

        sdp, _ = await asyncio.get_running_loop().create_datagram_endpoint(Sdp, local_addr=("::1", 0))
        charger = NetworkCharger(sdp_address=("::1", sdp.get_extra_info("sockname")[1]))
        try:
            results = await run_suite(select(all_cases(), ["SAP-unknown-namespace", "DIN-RES-ServiceDiscovery"]),
                                      lambda: charger, RunOptions())
        finally:
            sdp.close()
            server.close()
        return [(r.case.id, r.verdict, r.reason) for r in results]

    results = asyncio.run(main())
    assert results[0][1] is Verdict.FAIL and "no response within" in results[0][2]
    assert results[1][1] is Verdict.INCONCLUSIVE and "SupportedAppProtocol" in results[1][2]
