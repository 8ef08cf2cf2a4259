"""The session plot: an SVG that parses as XML with the four panels (SoC, voltage, current, power) and one
polyline per series with a point for every sample of the report's time series; an empty series still gives a
valid file that says no power flowed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.plot import render_svg
from evcc.bench.report import BenchReport
from tests.bench.bench_helpers import run_bench

SVG = "{http://www.w3.org/2000/svg}"
SERIES = {"panel-soc": ["soc"], "panel-voltage": ["ev_target_voltage", "evse_present_voltage"],
          "panel-current": ["ev_target_current", "evse_present_current"], "panel-power": ["power"]}


def test_plot_of_a_session_carries_the_four_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot, report_path = tmp_path / "session.svg", tmp_path / "r.json"
    status, out = run_bench(["--link", "memory", "--protocol", "iso2", "--no-dbus", "--start-soc", "60",
                             "--plot", str(plot), "--json", str(report_path)], capsys)
    assert status == cli.EXIT_OK, out
    series = json.loads(report_path.read_text())["series"]
    assert len(series) > 20 and series[0]["soc"] < series[-1]["soc"]
    assert {"t", "soc", "target_voltage", "target_current", "present_voltage", "present_current", "power"} \
        == set(series[0])
    root = ET.parse(plot).getroot()
    assert root.tag == f"{SVG}svg"
    panels = {g.get("id"): g for g in root.iter(f"{SVG}g")}
    assert set(panels) == set(SERIES)
    for panel, names in SERIES.items():
        lines = panels[panel].findall(f"{SVG}polyline")
        assert [line.get("data-series") for line in lines] == names
        for line in lines:
            points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
            assert len(points) == len(series)
            assert all(0 <= x <= 900 and 0 <= y <= 900 for x, y in points)
    soc_line = panels["panel-soc"].find(f"{SVG}polyline")
    assert soc_line is not None
    soc_points = [float(p.split(",")[1]) for p in (soc_line.get("points") or "").split()]
    assert soc_points[-1] < soc_points[0]  # SoC rises: the line goes up (smaller y)
    assert f"plot: {plot}" in out


def test_plot_without_samples_is_still_valid() -> None:
    report = BenchReport(link="memory", clock="virtual", end_kind=None)
    root = ET.fromstring(render_svg(report))
    assert {g.get("id") for g in root.iter(f"{SVG}g")} == set(SERIES)
    assert "no power flowed" in "".join(root.itertext())
