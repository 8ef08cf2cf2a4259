"""What `evcc bench` prints: phase notes, a live progress line (phase, SoC, voltage, current), then the
per-message timing table and the summary of a :class:`~evcc.bench.report.BenchReport`.

On a terminal the progress line is rewritten in place; into a file or pipe it becomes one line per phase
change and at most one every ``period`` seconds otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from evcc.bench.report import BenchReport
from evcc.bench.vehicle_sim import VehicleSnapshot


class Display:
    def __init__(self, out: TextIO, period: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.tty = out.isatty()
        self.period = period if not self.tty else 0.1
        self._clock = clock
        self._last_at = float("-inf")
        self._last_phase = ""
        self._open_line = False
        self.phase: Callable[[], str] = lambda: ""

    def note(self, text: str) -> None:
        """A line of its own (ends a progress line in place)."""
        self._end_line()
        print(text, file=self.out, flush=True)

    def progress(self, snap: VehicleSnapshot) -> None:
        phase = self.phase()
        now = self._clock()
        if phase == self._last_phase and now - self._last_at < self.period:
            return
        self._last_phase, self._last_at = phase, now
        line = (f"  {phase:<31} SoC {snap.soc:5.1f} %  {snap.voltage:6.1f} V  {snap.current:6.1f} A"
                f"  {snap.delivered_wh / 1000:6.2f} kWh")
        if self.tty:
            print("\r" + line, end="", file=self.out, flush=True)
            self._open_line = True
        else:
            print(line, file=self.out, flush=True)

    def _end_line(self) -> None:
        if self._open_line:
            print(file=self.out)
            self._open_line = False

    def final(self, report: BenchReport) -> None:
        self._end_line()
        print(render_table(report), file=self.out)
        print(render_summary(report), file=self.out, flush=True)


def render_table(report: BenchReport) -> str:
    unit = "ms" if report.clock == "wall" else "ms (virtual)"
    rows = [f"{'message':<30}{'count':>7}{'median ' + unit:>22}{'max ' + unit:>20}"]
    for t in report.timings:
        rows.append(f"{t.request:<30}{t.count:>7}{t.median_ms:>22.2f}{t.max_ms:>20.2f}")
    if not report.timings:
        rows.append("(no V2G messages exchanged)")
    return "\n".join(rows)


def render_summary(report: BenchReport) -> str:
    s, d = report.slac, report.sdp
    link = "network namespaces + veth + powerline simulator" if report.link == "netns" else "in-process link"
    lines = [f"link:        {link}" + (f" (fallback: {report.fallback_reason})" if report.fallback_reason else "")]
    if s.matched:
        lines.append(f"SLAC:        matched EVSE {s.evse_mac} at {s.attenuation_db:.1f} dB in {s.time_s:.3f} s"
                     f" (NID {s.nid})")
    else:
        lines.append(f"SLAC:        {s.failure or 'not run'}")
    if d.found:
        lines.append(f"SDP:         SECC [{d.address}]:{d.port} {d.security} on {d.evse} in {d.time_s:.3f} s")
    else:
        lines.append(f"SDP:         {d.failure or 'not run'}")
    if report.link == "memory":
        tls = "in-process messages (no TCP, no TLS)"
    else:
        version = "TLS 1.3 (mutual: vehicle certificate)" if report.protocol_family == "iso20" else "TLS 1.2"
        tls = f"{version} {report.tls_cipher}" if report.tls else "TCP (no TLS)"
    lines.append(f"transport:   {tls}")
    energy = report.service or report.current.upper()
    kind = f"{energy} {'Plug & Charge' if report.auth == 'pnc' else 'EIM'}"
    sessions = f", {report.sessions} sessions" if report.sessions > 1 else ""
    lines.append(f"protocol:    {report.protocol or '-'} {kind}{sessions}")
    if report.pnc is not None:
        p = report.pnc
        how = ("installed in this session (CertificateInstallation)" if p.installed
               else "installed before the session" if p.preinstalled else "already installed")
        used = f"contract {p.emaid}, {how}" if p.emaid else "no contract"
        lines.append(f"contract:    {used}; {'authorized' if p.authorized else 'not authorized'};"
                     f" keys in the {p.keystore}")
        if p.refused:
            lines.append(f"refused:     {', '.join(p.refused)} (the EV tried its next contract)")
    if report.steps_done:
        lines.append(f"steps:       {'; '.join(report.steps_done)}")
    count = len(report.messages)
    lines.append(f"messages:    {count} exchanges, {report.late_responses} later than the SECC's performance time")
    lines.append(f"battery:     SoC {report.start_soc:.1f} -> {report.end_soc:.1f} % (target {report.target_soc:.0f})"
                 f", {report.delivered_wh / 1000:.2f} kWh at time scale x{report.time_scale:g}")
    if report.discharged_wh > 0:
        low = min((p.power for p in report.series), default=0.0)
        lines.append(f"discharge:   {report.discharged_wh / 1000:.3f} kWh given back (BPT),"
                     f" down to {low / 1000:.1f} kW")
    lines.append(f"series:      {len(report.series)} samples (t, SoC, EV target V/A, EVSE present V/A, power)")
    if report.dbus:
        lines.append(f"D-Bus:       {report.dbus}")
    for what, where in report.trace.items():
        lines.append(f"trace:       {what} (TEST ONLY): {where}")
    lines.append(f"end:         {report.end_kind or 'no session'}: {report.end_reason}")
    lines.append(f"verdict:     {'PASS (SessionStop)' if report.ok else 'FAIL'} in {report.duration_s:.2f} s")
    return "\n".join(lines)
