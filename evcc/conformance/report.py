"""The record of one conformance run, written three ways (issue 16 point 2): JSON (everything, for tools),
JUnit XML (one testcase per case: fail -> <failure>, inconclusive -> <error>, not applicable -> <skipped>, for CI)
and one self-contained HTML page (summary, each case with its requirements, verdict, reason, timings and the
decoded message exchange, and an inline SVG plot of the charger's response times). Writes are atomic (a temporary
file renamed over the target), so an interrupted run leaves either the old report or the new one."""

from __future__ import annotations

import collections
import html
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evcc.conformance.model import CaseResult, Verdict
from evcc.errors import ConfigError


@dataclass
class SuiteReport:
    charger: str  # how the charger was reached (interface, address)
    started: float  # Unix time
    finished: float = 0.0
    selected: int = 0  # cases chosen for the run
    interrupted: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    results: list[CaseResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = collections.Counter(r.verdict.value for r in self.results)
        return {v.value: c.get(v.value, 0) for v in Verdict}

    @property
    def failed(self) -> bool:
        return any(r.verdict is Verdict.FAIL for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"charger": self.charger, "started": self.started, "finished": self.finished,
                "selected": self.selected, "run": len(self.results), "interrupted": self.interrupted,
                "options": self.options, "counts": self.counts(), "results": [r.as_dict() for r in self.results]}


def _atomic_write(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"report {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(report: SuiteReport, path: Path) -> None:
    _atomic_write(path, json.dumps(report.as_dict(), indent=1, default=str) + "\n")


def junit_xml(report: SuiteReport) -> str:
    counts = report.counts()
    suite = ET.Element("testsuite", name="evcc conformance", tests=str(len(report.results)),
                       failures=str(counts["fail"]), errors=str(counts["inconclusive"]),
                       skipped=str(counts["not applicable"]),
                       time=f"{max(0.0, report.finished - report.started):.3f}")
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"conformance.{r.case.area}", name=r.case.id,
                             time=f"{r.duration:.6f}")
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="title", value=r.case.title)
        ET.SubElement(props, "property", name="requirements", value=", ".join(r.case.requirements))
        if r.verdict is Verdict.FAIL:
            ET.SubElement(case, "failure", message=r.reason).text = _exchange_text(r)
        elif r.verdict is Verdict.INCONCLUSIVE:
            ET.SubElement(case, "error", message=f"inconclusive: {r.reason}").text = _exchange_text(r)
        elif r.verdict is Verdict.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=f"not applicable: {r.reason}")
    if report.interrupted:
        ET.SubElement(suite, "system-out").text = f"interrupted after {len(report.results)} of {report.selected} cases"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: SuiteReport, path: Path) -> None:
    _atomic_write(path, junit_xml(report))


def _exchange_text(r: CaseResult) -> str:
    return "\n".join(f"{row['t']:9.3f} {row['dir']:>7} {row['name']} {row['detail']}" for row in r.exchange)


_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700", "not applicable": "#6e7781"}


def _plot(report: SuiteReport) -> str:
    """Response time of the charger to each case's stimulus (log scale, ms), coloured by verdict."""
    points = [(i, r.timings["response_s"], r.verdict.value) for i, r in enumerate(report.results)
              if r.timings.get("response_s") is not None]
    if not points:
        return "<p>No response times recorded.</p>"
    import math
    width, height, pad = 900, 220, 40
    lo, hi = -1.0, 4.0  # 0.1 ms .. 10 s
    n = max(1, len(report.results) - 1)

    def y(seconds: float) -> float:
        ms = max(seconds * 1000.0, 0.1)
        return height - pad - (min(max(math.log10(ms), lo), hi) - lo) / (hi - lo) * (height - 2 * pad)

    dots = "".join(f'<circle cx="{pad + i / n * (width - 2 * pad):.1f}" cy="{y(t):.1f}" r="2.5" '
                   f'fill="{_COLOURS[v]}"><title>{html.escape(report.results[i].case.id)}: {t * 1000:.1f} ms</title>'
                   f'</circle>' for i, t, v in points)
    grid = "".join(f'<line x1="{pad}" x2="{width - pad}" y1="{y(10 ** e / 1000):.1f}" y2="{y(10 ** e / 1000):.1f}" '
                   f'stroke="#ddd"/><text x="2" y="{y(10 ** e / 1000) + 4:.1f}" font-size="10">{10 ** e:g} ms</text>'
                   for e in range(-1, 5))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="response times">{grid}{dots}</svg>')


def html_page(report: SuiteReport) -> str:
    counts = report.counts()
    e = html.escape
    rows = []
    for r in report.results:
        colour = _COLOURS[r.verdict.value]
        exchange = "".join(f"<tr><td>{row['t']:.3f}</td><td>{e(row['dir'])}</td><td>{e(row['name'])}</td>"
                           f"<td><code>{e(str(row['detail']))}</code></td></tr>" for row in r.exchange)
        timings = ", ".join(f"{k} {v * 1000:.1f} ms" if k.endswith("_s") else f"{k} {v}" for k, v in r.timings.items())
        rows.append(
            f'<details><summary><b style="color:{colour}">{e(r.verdict.value)}</b> <b>{e(r.case.id)}</b> '
            f'{e(r.case.title)}</summary><p>Requirements: {e(", ".join(r.case.requirements))}<br>'
            f'Protocol: {e(", ".join(r.case.protocols))}; area: {e(r.case.area)}<br>Reason: {e(r.reason)}<br>'
            f'Duration: {r.duration:.3f} s{"; " + e(timings) if timings else ""}</p>'
            f'<table><tr><th>t (s)</th><th>from</th><th>message</th><th>content</th></tr>{exchange}</table></details>')
    summary = " · ".join(f'<span style="color:{_COLOURS[k]}">{e(k)}: {v}</span>' for k, v in counts.items())
    status = (f"<p><b>Interrupted</b> after {len(report.results)} of {report.selected} cases.</p>"
              if report.interrupted else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>evcc conformance: {e(report.charger)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} details{{margin:.2em 0}} table{{border-collapse:collapse;
font-size:12px}} td,th{{border:1px solid #ccc;padding:2px 4px;vertical-align:top}} code{{white-space:pre-wrap;
word-break:break-all}}</style></head><body>
<h1>evcc conformance</h1>
<p>Charger: {e(report.charger)}<br>Cases run: {len(report.results)} of {report.selected}<br>{summary}</p>{status}
<h2>Charger response times</h2>{_plot(report)}
<h2>Cases</h2>
{''.join(rows)}
</body></html>
"""


def write_html(report: SuiteReport, path: Path) -> None:
    _atomic_write(path, html_page(report))


def write_all(report: SuiteReport, folder: Path) -> list[Path]:
    paths = [folder / "conformance.json", folder / "conformance.xml", folder / "conformance.html"]
    write_json(report, paths[0])
    write_junit(report, paths[1])
    write_html(report, paths[2])
    return paths
