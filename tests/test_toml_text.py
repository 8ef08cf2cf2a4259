"""evcc.toml_text: the two inputs that get past tomllib's own error (a 4,301-digit integer, deep nesting) are one
TOMLDecodeError with a one-line message, for the daemon's config and both scenario formats (issue 20 finding)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from evcc.bench.scenario_file import load_scenario as load_bench_scenario
from evcc.demo.scenario import ScenarioError, parse_scenario
from evcc.errors import ConfigError
from evcc.toml_text import parse_toml

LONG_INT = "a = " + "1" * 4301 + "\n"
DEEP = "a = " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize("text, message", [
    (LONG_INT, "Exceeds the limit (4300 digits) for integer string conversion"),
    (DEEP, "arrays or inline tables nested too deeply"),
])
def test_refusals_tomllib_does_not_wrap_are_toml_errors(text: str, message: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        parse_toml(text)
    assert str(info.value) == message


def test_good_text_and_tomllib_own_errors_are_unchanged() -> None:
    assert parse_toml("a = 1\n[t]\nb = [1, [2]]\n") == {"a": 1, "t": {"b": [1, [2]]}}
    with pytest.raises(tomllib.TOMLDecodeError):
        parse_toml("[t\n")


@pytest.mark.parametrize("text", [LONG_INT, DEEP])
def test_demo_scenario_refuses_with_its_error(text: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml")
    assert str(info.value).startswith("s.toml: not TOML: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("text", [LONG_INT, DEEP])
def test_bench_scenario_file_refuses_with_its_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_bench_scenario(path)
    assert "not valid TOML" in str(info.value) and "\n" not in str(info.value)
