"""The session plot: SoC, voltage, current and power over time as one SVG file (four stacked panels sharing
the time axis), written by hand (no plotting dependency) and atomically. Voltage and current show what the
EV asked for (EVTargetVoltage/Current, dashed) and what the charger reported (EVSEPresentVoltage/Current).

Each panel is ``<g id="panel-<name>">`` and each line ``<polyline data-series="<series>">`` so that tools
(and the tests) find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from evcc.bench.report import BenchReport
from evcc.bench.vehicle_sim import Sample
from evcc.session.report_common import write_atomic

WIDTH, PANEL_H, LEFT, RIGHT, TOP, GAP = 900, 150, 70, 20, 40, 30


@dataclass(frozen=True, slots=True)
class Line:
    series: str
    label: str
    colour: str
    values: tuple[float, ...]
    dashed: bool = False


def _panels(samples: Sequence[Sample]) -> list[tuple[str, str, list[Line]]]:
    def col(name: str, scale: float = 1.0) -> tuple[float, ...]:
        return tuple(float(getattr(s, name)) * scale for s in samples)

    return [
        ("soc", "SoC (%)", [Line("soc", "SoC", "#2a7", col("soc"))]),
        ("voltage", "Voltage (V)", [Line("ev_target_voltage", "EV target", "#888", col("target_voltage"), True),
                                    Line("evse_present_voltage", "EVSE present", "#c33", col("present_voltage"))]),
        ("current", "Current (A)", [Line("ev_target_current", "EV target", "#888", col("target_current"), True),
                                    Line("evse_present_current", "EVSE present", "#36c", col("present_current"))]),
        ("power", "Power (kW)", [Line("power", "Power", "#a5a", col("power", 0.001))]),
    ]


def _range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values, default=0.0), max(values, default=1.0)
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    return low, high


def _panel(index: int, name: str, title: str, lines: list[Line], times: tuple[float, ...]) -> list[str]:
    top = TOP + index * (PANEL_H + GAP)
    inner = WIDTH - LEFT - RIGHT
    t0, t1 = _range(times)
    v0, v1 = _range([v for line in lines for v in line.values])
    out = [f'<g id="panel-{name}">',
           f'<rect x="{LEFT}" y="{top}" width="{inner}" height="{PANEL_H}" fill="none" stroke="#ccc"/>',
           f'<text x="{LEFT}" y="{top - 6}" font-size="12">{escape(title)}</text>',
           f'<text x="{LEFT - 6}" y="{top + 10}" font-size="10" text-anchor="end">{v1:.4g}</text>',
           f'<text x="{LEFT - 6}" y="{top + PANEL_H}" font-size="10" text-anchor="end">{v0:.4g}</text>']
    legend_x = LEFT + inner
    for line in lines:
        points = " ".join(f"{LEFT + (t - t0) / (t1 - t0) * inner:.1f},{top + PANEL_H - (v - v0) / (v1 - v0) * PANEL_H:.1f}"
                          for t, v in zip(times, line.values))
        dash = ' stroke-dasharray="5,3"' if line.dashed else ""
        out.append(f'<polyline data-series="{line.series}" fill="none" stroke="{line.colour}" stroke-width="1.5"'
                   f'{dash} points="{points}"/>')
        out.append(f'<text x="{legend_x}" y="{top - 6}" font-size="10" text-anchor="end" fill="{line.colour}">'
                   f'{escape(line.label)}</text>')
        legend_x -= 90
    out.append("</g>")
    return out


def render_svg(report: BenchReport) -> str:
    samples = report.series
    times = tuple(s.t for s in samples)
    height = TOP + 4 * (PANEL_H + GAP) + 10
    title = (f"evcc bench: {report.protocol or '-'} {report.current.upper()} {report.auth.upper()}, SoC"
             f" {report.start_soc:.0f} -> {report.end_soc:.1f} %, {report.end_kind or 'no session'}")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
           f' viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
           f"<title>{escape(title)}</title>",
           f'<text x="{LEFT}" y="18" font-size="14">{escape(title)}</text>']
    for i, (name, label, lines) in enumerate(_panels(samples)):
        out += _panel(i, name, label, lines, times)
    t0, t1 = _range(times)
    clock = "s" if report.clock == "wall" else "s (virtual clock)"
    out.append(f'<text x="{LEFT}" y="{height - 4}" font-size="10">t = {t0:.2f} {clock}</text>')
    out.append(f'<text x="{WIDTH - RIGHT}" y="{height - 4}" font-size="10" text-anchor="end">{t1:.2f}</text>')
    if not samples:
        out.append(f'<text x="{WIDTH / 2}" y="{TOP + PANEL_H / 2}" font-size="14">no power flowed</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(report: BenchReport, path: Path) -> None:
    write_atomic(path, render_svg(report).encode(), "--plot")
