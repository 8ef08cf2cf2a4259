"""Scenario files for `evcc bench --scenario` (TOML): the EV's capabilities, the charger, scripted steps, faults
and the expected verdict. Every key is checked: an unknown key, a wrong type or a value out of range is a
:class:`~evcc.errors.ConfigError` that names the file and the key. Files are untrusted input (size-bounded).

    name = "ISO 15118-2 DC Plug & Charge, contract installed on the way"
    [ev]        protocols = ["iso2", "din"]  tls = true  auth = "pnc"  current = "dc"  install_contract = true
                capacity_kwh = 50  start_soc = 40  target_soc = 80  max_current = 200  max_power_kw = 80
                control = "dynamic"  contracts = 2            (ISO 15118-20: control mode, contracts installed)
    [charger]   protocols = ["iso2"]  evse_attenuation = [24]  faults = ["delay:CableCheckRes=3"]
                dynamic_power_kw = -10  reject_contracts = 1  (ISO 15118-20: grid set-point, refused contracts)
                max_power_kw = 10  max_current = 50  limit_drop_after = 5  limit_drop_power_kw = 4
                limit_drop_current = 20  pmax_steps = [[0, 50], [60, 11]]   (a charger that limits: kW, A, s)
    [bench]     link = "auto"  time_scale = 300
    [[steps]]   action = "pause"  at_soc = 55        [[steps]]  action = "resume"  after_s = 1
    [expect]    outcome = "completed" | "stopped" | "failed"   reason = "<regex>"   stage = "CableCheckRes"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evcc.bench.scenario import Scenario, Step
from evcc.bench.scenario_faults import parse_faults
from evcc.bench.verdict import OUTCOMES, Expect
from evcc.errors import ConfigError
from evcc.toml_text import parse_toml

MAX_FILE_BYTES = 256 * 1024
_TABLES = {"ev", "charger", "bench", "steps", "expect", "name", "description"}
_EV = {"protocols": list, "tls": bool, "auth": str, "current": str, "install_contract": bool,
       "capacity_kwh": float, "start_soc": float, "target_soc": float, "max_current": float, "max_power_kw": float,
       "control": str, "contracts": int}
_CHARGER = {"protocols": list, "evse_attenuation": list, "faults": list, "dynamic_power_kw": float,
            "reject_contracts": int, "max_power_kw": float, "max_current": float, "limit_drop_after": int,
            "limit_drop_power_kw": float, "limit_drop_current": float, "pmax_steps": list}
_BENCH = {"link": str, "time_scale": float}
_STEP = {"action": str, "at_soc": float, "after_s": float, "reason": str}
_EXPECT = {"outcome": str, "reason": str, "stage": str}


@dataclass(frozen=True, slots=True)
class ScenarioFile:
    path: Path
    name: str
    description: str
    scenario: Scenario
    expect: Expect


class _Keys:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, why: str) -> ConfigError:
        return ConfigError(f"scenario {self.path}: {key}: {why}")

    def table(self, data: Mapping[str, Any], where: str, schema: Mapping[str, type]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = f"{where}.{key}" if where else key
            if key not in schema:
                raise self.error(name, f"unknown key (known: {', '.join(sorted(schema))})")
            out[key] = self.typed(name, value, schema[key])
        return out

    def typed(self, name: str, value: Any, kind: type) -> Any:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is list and isinstance(value, list):
            return value
        if kind is int and type(value) is int:
            return value
        if kind in (str, bool) and type(value) is kind:
            return value
        raise self.error(name, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")

    def strings(self, name: str, values: list[Any]) -> tuple[str, ...]:
        if not all(isinstance(v, str) for v in values):
            raise self.error(name, "expected a list of strings")
        return tuple(values)


def _sub(data: Mapping[str, Any], key: str, keys: _Keys) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise keys.error(key, f"expected a table [{key}]")
    return value


def load_scenario(path: Path, link: str | None = None) -> ScenarioFile:
    """Read and check one file; ``link`` overrides ``bench.link`` (the command line's ``--link``)."""
    keys = _Keys(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"scenario {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"scenario {path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        data = parse_toml(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"scenario {path}: not valid TOML: {exc}") from exc
    for key in data:
        if key not in _TABLES:
            raise keys.error(key, f"unknown key (known: {', '.join(sorted(_TABLES))})")
    ev = keys.table(_sub(data, "ev", keys), "ev", _EV)
    charger = keys.table(_sub(data, "charger", keys), "charger", _CHARGER)
    bench = keys.table(_sub(data, "bench", keys), "bench", _BENCH)
    expect = keys.table(_sub(data, "expect", keys), "expect", _EXPECT)
    steps = _steps(data.get("steps", []), keys)
    try:
        faults = parse_faults(keys.strings("charger.faults", charger.get("faults", [])))
    except ConfigError as exc:
        raise keys.error("charger.faults", str(exc)) from None
    offered = keys.strings("ev.protocols", ev.pop("protocols", ["din"]))
    if not offered:
        raise keys.error("ev.protocols", "offer at least one protocol")
    attenuations = charger.get("evse_attenuation", [24])
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in attenuations):
        raise keys.error("charger.evse_attenuation", "expected a list of integers (dB)")
    try:
        scenario = Scenario(
            protocol=offered[0], offer=offered, secc_protocols=keys.strings("charger.protocols",
                                                                            charger.get("protocols", [])),
            attenuations=tuple(attenuations), evse_silent=faults.evse_silent, no_secc=faults.no_secc,
            fault=faults.secc, stop_after_loop=faults.stop_after_loop, steps=steps,
            link=link or bench.get("link", "auto"),
            dynamic_power_kw=charger.get("dynamic_power_kw"), reject_contracts=charger.get("reject_contracts", 0),
            limit_max_power_kw=charger.get("max_power_kw"), limit_max_current=charger.get("max_current"),
            limit_drop_after=charger.get("limit_drop_after"), limit_drop_power_kw=charger.get("limit_drop_power_kw"),
            limit_drop_current=charger.get("limit_drop_current"), pmax_steps=_pmax_steps(charger, keys),
            time_scale=bench.get("time_scale", 300.0), **ev)
        verdict = Expect(expect.get("outcome", "completed"), expect.get("reason"), expect.get("stage"))
    except ConfigError as exc:
        raise ConfigError(f"scenario {path}: {_file_keys(str(exc))}") from None
    name = data.get("name", path.stem)
    description = data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise keys.error("name", "name and description must be strings")
    return ScenarioFile(path, name, description, scenario, verdict)


# Scenario's messages name its fields (bench.<field>); in a file they are these keys.
_FILE_KEYS = {"bench.protocol": "ev.protocols", "bench.offer": "ev.protocols", "bench.secc_protocols":
              "charger.protocols", "bench.attenuations": "charger.evse_attenuation", "bench SoC": "ev SoC",
              "bench.dynamic_power_kw": "charger.dynamic_power_kw",
              "bench.reject_contracts": "charger.reject_contracts",
              "bench.limit_max_power_kw": "charger.max_power_kw", "bench.limit_max_current": "charger.max_current",
              **{f"bench.{k}": f"charger.{k}" for k in ("limit_drop_after", "limit_drop_power_kw",
                                                        "limit_drop_current")},
              **{f"bench.{k}": f"ev.{k}" for k in _EV if k != "protocols"}}


def _file_keys(message: str) -> str:
    for field_name, key in _FILE_KEYS.items():
        message = message.replace(field_name + "=", key + "=").replace(field_name + ":", key + ":")
    return message


def _pmax_steps(charger: Mapping[str, Any], keys: _Keys) -> tuple[tuple[float, float], ...]:
    """charger.pmax_steps: [[start s, PMax kW], ...]."""
    out = []
    for item in charger.get("pmax_steps", []):
        if not (isinstance(item, list) and len(item) == 2 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) <= 1e6 for x in item)):
            raise keys.error("charger.pmax_steps", f"expected [start s, PMax kW] pairs of numbers, got {item!r}")
        out.append((float(item[0]), float(item[1])))
    return tuple(out)


def _steps(value: Any, keys: _Keys) -> tuple[Step, ...]:
    if not isinstance(value, list):
        raise keys.error("steps", "expected an array of tables [[steps]]")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise keys.error(f"steps[{i}]", "expected a table")
        fields = keys.table(item, f"steps[{i}]", _STEP)
        if "action" not in fields:
            raise keys.error(f"steps[{i}].action", "missing (one of pause, resume, stop)")
        try:
            out.append(Step(**fields))
        except ConfigError as exc:
            raise keys.error(f"steps[{i}]", str(exc)) from None
    return tuple(out)


__all__ = ["OUTCOMES", "ScenarioFile", "load_scenario"]
