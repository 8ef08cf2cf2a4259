"""One `evcc bench` run from a :class:`Scenario`: picks the link (network namespaces or in process), makes the
run's test PKI (ISO 15118-2: P-256, TLS 1.2; ISO 15118-20: P-521, TLS 1.3 with the vehicle certificate), key
store and contract store, the D-Bus state service, the trace, runs the session(s) and writes the report (JSON)
and the plot (SVG). A certificate fault gives the SECC a refused chain (evcc.bench.secc.hostile_tls; TLS 1.3:
hostile_tls13 in the run's -20 PKI, where the SECC may also refuse the vehicle certificate). The
asyncio loop lives here; the in-process link runs in a worker thread so the D-Bus service keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from evcc.bench.compose import NetnsBench
from evcc.bench.dbus_state import DbusState, dbus_state
from evcc.bench.display import Display
from evcc.bench.memory_link import run_memory
from evcc.bench.parts import RunParts
from evcc.bench.plc_sim.topology import Topology
from evcc.bench.plot import write_svg
from evcc.bench.pnc import BenchKeyStore, BenchPnc, bench_pnc
from evcc.bench.pnc20 import BenchPnc20, bench_pnc20, run_pki20
from evcc.bench.report import BenchReport, write_json
from evcc.bench.runtime_pki import BenchTls, bench_tls, run_pki
from evcc.bench.scenario import Scenario
from evcc.bench.secc.faults import CERT_KINDS
from evcc.bench.secc.hostile_tls import hostile_tls
from evcc.bench.secc.hostile_tls13 import hostile_tls13
from evcc.bench.trace import KEYLOG_NAME, Capture
from evcc.errors import ConfigError, PlatformError
from evcc.hmi.names import SessionState
from evcc.pki.generator import TestPki

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PLATFORM = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class Outputs:
    """What to write besides the display. ``trace``: a folder for the TEST-ONLY pcap and TLS key log."""

    json: Path | None = None
    plot: Path | None = None
    trace: Path | None = None
    dbus: bool = True
    key_store: BenchKeyStore = BenchKeyStore()  # evcc bench --key-store/--tcti (evcc.bench.pnc)


def _topology(scenario: Scenario) -> tuple[Topology | None, str | None]:
    """Namespaces and veth pairs, or why not (then the in-process link is used, unless ``--link netns``)."""
    if scenario.link == "memory":
        return None, None
    try:
        return Topology(n_evse=len(scenario.attenuations)).create(), None
    except PlatformError as exc:
        if scenario.link == "netns":
            raise
        return None, f"cannot create network namespaces ({exc})"


@contextlib.contextmanager
def _sigterm_cancels(task: asyncio.Task[None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@contextlib.asynccontextmanager
async def _no_dbus() -> AsyncIterator[DbusState | None]:
    yield None


class _Run:
    def __init__(self, scenario: Scenario, topo: Topology | None, display: Display, report: BenchReport,
                 outputs: Outputs) -> None:
        self.sc, self.topo, self.display, self.report, self.outputs = scenario, topo, display, report, outputs

    async def main(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        with _sigterm_cancels(task), contextlib.ExitStack() as stack:
            pki, pnc = self._keys(stack)
            store = pnc.contracts.ctx.store if pnc is not None and self.sc.auth == "pnc" else None
            dbus = dbus_state(store, self.display.note) if self.outputs.dbus else _no_dbus()
            async with dbus as state:
                parts = RunParts(self.sc, self.display, self.report, pnc, state.publish if state else None)
                if state is not None:
                    state.set_state(SessionState.SLAC, "plugged in")
                try:
                    await self._link(parts, stack, pki)
                finally:
                    if state is not None:
                        final = SessionState.STOPPED if self.report.ok else SessionState.ERROR
                        state.set_state(final, self.report.end_reason)
                if state is not None:
                    await asyncio.sleep(0)
            if state is not None:
                self.report.dbus = state.describe().removeprefix("D-Bus: ") + f" ({state.reads} reads)"
                if state.reads == 0:
                    self.report.dbus = "no read succeeded"

    def _keys(self, stack: contextlib.ExitStack) -> tuple[TestPki | None, BenchPnc | BenchPnc20 | None]:
        """The run's PKI and the EV's keys: -2 PnC; -20 PnC or TLS 1.3 (the vehicle certificate's key)."""
        if not (self.sc.tls or self.sc.auth == "pnc"):
            return None, None
        if self.sc.iso20:
            pki = run_pki20()
            pnc20 = stack.enter_context(bench_pnc20(pki, self.outputs.key_store))
            self.display.note(f"ISO 15118-20: EV keys (vehicle certificate, OEM, contracts) in the "
                              f"{pnc20.keystore_kind}")
            return pki, pnc20
        pki = run_pki()
        if self.sc.auth != "pnc":
            return pki, None
        pnc = stack.enter_context(bench_pnc(pki, self.outputs.key_store))
        self.display.note(f"PnC: EV keys in the {pnc.keystore_kind}")
        return pki, pnc

    def _tls(self, pnc: BenchPnc | BenchPnc20 | None, pki: TestPki | None, keylog: Path | None,
             stack: contextlib.ExitStack) -> BenchTls | None:
        fault = self.sc.fault
        if not self.sc.tls:
            if fault is not None and fault.kind in CERT_KINDS:
                raise ConfigError(f"fault {fault.describe()}: certificate faults need --tls")
            return None
        if isinstance(pnc, BenchPnc20):
            tls = pnc.tls(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="evcc-bench-tls13-"))), keylog)
            if fault is not None and fault.kind in CERT_KINDS:  # the EV side as it is, a hostile SECC
                return BenchTls(stack.enter_context(hostile_tls13(fault, pki=pnc.pki)).server, tls.client)
            return tls
        if fault is not None and fault.kind in CERT_KINDS:
            hostile = stack.enter_context(hostile_tls(fault))
            return BenchTls(hostile.server, dataclasses.replace(hostile.client, keylog_file=keylog))
        return stack.enter_context(bench_tls(pki, keylog))

    async def _link(self, parts: RunParts, stack: contextlib.ExitStack, pki: TestPki | None) -> None:
        trace = self.outputs.trace
        if self.topo is None:
            if trace is not None:
                self.report.trace["pcap"] = "unavailable: the in-process link carries no packets"
                self.display.note("trace: unavailable on the in-process link (no packets, no TLS)")
            await asyncio.to_thread(run_memory, parts)
            return
        keylog = trace / KEYLOG_NAME if trace is not None and self.sc.tls else None
        tls = self._tls(parts.pnc, pki, keylog, stack)
        capture = Capture(trace) if trace is not None else None
        parts.unix_time_offset = time.time() - time.monotonic()
        try:
            await NetnsBench(parts, self.topo, tls, capture).run()
        finally:
            if capture is not None:
                path = capture.stop()
                if path is not None:
                    self.report.trace["pcap"] = str(path)
                    self.display.note(f"trace (TEST ONLY): {path} ({len(capture.records)} frames)")
            if keylog is not None and keylog.exists():
                keylog.chmod(0o600)
                self.report.trace["tls_keylog"] = str(keylog)
                self.display.note(f"trace (TEST ONLY, decrypts the session): TLS key log {keylog}")


def bench(scenario: Scenario, out: TextIO, outputs: Outputs = Outputs()) -> tuple[int, BenchReport]:
    display = Display(out)
    topo, fallback = _topology(scenario)
    report = BenchReport(
        link="netns" if topo else "memory", clock="wall" if topo else "virtual", fallback_reason=fallback,
        protocol=scenario.protocol, tls=scenario.tls and topo is not None, start_soc=scenario.start_soc,
        end_soc=scenario.start_soc, target_soc=scenario.target_soc, time_scale=scenario.time_scale,
    )
    if fallback:
        display.note(f"evcc bench: {fallback}: using the in-process link")
    started = time.monotonic()
    status = EXIT_FAILED
    try:
        if topo is not None:
            display.note(f"evcc bench: namespaces {topo.prefix}-* (EV, {len(topo.evses)} EVSE, powerline)")
        asyncio.run(_Run(scenario, topo, display, report, outputs).main())
        status = EXIT_OK if report.ok else EXIT_FAILED
    except (KeyboardInterrupt, asyncio.CancelledError):
        report.fail("interrupted")
        status = EXIT_INTERRUPTED
    finally:
        if topo is not None:
            topo.close()
        report.duration_s = round(time.monotonic() - started, 3)
    display.final(report)
    if outputs.json is not None:
        write_json(report, outputs.json)
    if outputs.plot is not None:
        write_svg(report, outputs.plot)
        display.note(f"plot: {outputs.plot} (SoC, voltage, current, power over time)")
    return status, report
