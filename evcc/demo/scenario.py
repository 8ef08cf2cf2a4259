"""Scenario files of ``evcc demo`` (sans-IO): a TOML list of steps, cycled until Ctrl-C.

    name = "..."                 description = "..."
    slac = true                  # the simulated powerline with SLAC before each session (false: a direct link)
    protocol = "iso2"            # the charger: "iso2" (ISO 15118-2 DC, TCP) or "iso20" (-20 DC, TLS 1.3 mutual)
    [[steps]]
    action = "say"               text = "..."                     # a line on the demo's output
    action = "plug"              soc = 50  target_soc = 60  capacity_wh = 1000  max_power_w = 20000
    action = "unplug"                                             # BMS frames stop (the daemon waits again)
    action = "wait"              seconds = 3                      # divided by --speed
    action = "wait_state"        states = ["Charging"]  timeout_s = 60   # Session.State over D-Bus
    action = "select"            contract = "contract_2"          # Manager.SelectContract over D-Bus
    action = "set_priorities"    order = ["contract_2", "contract_1"]    # Manager.SetPriorities
    action = "import"            contract = "contract_3"  priority = 3   # Manager.ImportContract (file descriptors)
    action = "remove"            contract = "contract_3"          # Manager.RemoveContract
    action = "charger"           fault = false  refuse = ["contract_1"]  # the next sessions' charger
    action = "ev_stop"                                            # the BMS asks to stop (EV side)
    action = "ev_pause"                                           # BMS_PauseRequest set: SessionStop Pause
    action = "ev_resume"                                          # BMS_PauseRequest cleared: the session resumes
    action = "request_installation"  priority = 5                 # Manager.RequestInstallation of contract_4

Contract names are the test PKI's ``contract_1`` (valid 2 years), ``contract_2`` (1 year), ``contract_3`` (28 days:
Expiring) and ``contract_4``, the one the charger's provisioning backend installs after RequestInstallation (no files:
it cannot be imported). Every problem is one :class:`ScenarioError` naming the step and key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evcc.errors import ConfigError
from evcc.hmi.names import SessionState
from evcc.toml_text import parse_toml

ACTIONS = ("say", "plug", "unplug", "wait", "wait_state", "select", "set_priorities", "import", "remove", "charger",
           "ev_stop", "ev_pause", "ev_resume", "request_installation")
CONTRACT_NAMES = ("contract_1", "contract_2", "contract_3", "contract_4")
PROTOCOLS = ("iso2", "iso20")
BUILTIN = Path(__file__).resolve().parent / "scenarios"
STATE_NAMES = {s.name.replace("_", "").lower(): s for s in SessionState}


class ScenarioError(ConfigError):
    """A scenario file is not valid; the message names the file, the step and the key."""


@dataclass(frozen=True)
class Step:
    action: str
    text: str = ""
    seconds: float = 0.0
    states: tuple[SessionState, ...] = ()
    timeout_s: float = 60.0
    contract: str = ""
    order: tuple[str, ...] = ()
    priority: int = 1
    fault: bool = False
    refuse: tuple[str, ...] = ()
    soc: float = 50.0
    target_soc: float = 60.0
    capacity_wh: float = 1000.0
    max_power_w: float = 20_000.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    slac: bool = True
    steps: tuple[Step, ...] = field(default_factory=tuple)
    protocol: str = "iso2"


KEYS: dict[str, tuple[str, ...]] = {
    "say": ("text",), "plug": ("soc", "target_soc", "capacity_wh", "max_power_w"), "unplug": (),
    "wait": ("seconds",), "wait_state": ("states", "timeout_s"), "select": ("contract",),
    "set_priorities": ("order",), "import": ("contract", "priority"), "remove": ("contract",),
    "charger": ("fault", "refuse"), "ev_stop": (), "ev_pause": (), "ev_resume": (),
    "request_installation": ("priority",),
}


def _number(where: str, key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ScenarioError(f"{where}: {key} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _contract(where: str, key: str, value: object) -> str:
    if value not in CONTRACT_NAMES:
        raise ScenarioError(f"{where}: {key} must be one of {', '.join(CONTRACT_NAMES)}, not {value!r}")
    return str(value)


def _names(where: str, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: {key} must be a list of contract names")
    return tuple(_contract(where, key, v) for v in value)


def _states(where: str, value: object) -> tuple[SessionState, ...]:
    if not isinstance(value, list) or not value:
        raise ScenarioError(f"{where}: states must be a non-empty list of Session.State names")
    out = []
    for v in value:
        state = STATE_NAMES.get(str(v).replace("_", "").lower())
        if state is None:
            raise ScenarioError(f"{where}: unknown state {v!r} (one of {', '.join(s.name.title() for s in SessionState)})")
        out.append(state)
    return tuple(out)


def parse_step(where: str, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a step must be a table")
    action = raw.get("action")
    if action not in ACTIONS:
        raise ScenarioError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
    unknown = sorted(set(raw) - {"action", *KEYS[action]})
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r} for action {action!r} "
                            f"(allowed: {', '.join(KEYS[action]) or 'none'})")
    values: dict[str, Any] = {"action": action}
    for key, value in raw.items():
        if key in ("soc", "target_soc"):
            values[key] = _number(where, key, value, 0, 100)
        elif key in ("capacity_wh", "max_power_w"):
            values[key] = _number(where, key, value, 1, 1e6)
        elif key in ("seconds", "timeout_s"):
            values[key] = _number(where, key, value, 0, 86_400)
        elif key == "priority":
            values[key] = int(_number(where, key, value, -1000, 1000))
        elif key == "text":
            if not isinstance(value, str):
                raise ScenarioError(f"{where}: text must be a string")
            values[key] = value
        elif key == "states":
            values[key] = _states(where, value)
        elif key == "contract":
            values[key] = _contract(where, key, value)
        elif key in ("order", "refuse"):
            values[key] = _names(where, key, value)
        elif key == "fault":
            if not isinstance(value, bool):
                raise ScenarioError(f"{where}: fault must be true or false")
            values[key] = value
    if action in ("select", "import", "remove") and "contract" not in values:
        raise ScenarioError(f"{where}: action {action!r} needs contract")
    if action == "import" and values["contract"] == "contract_4":
        raise ScenarioError(f"{where}: contract_4 comes from RequestInstallation; it has no files to import")
    if action == "wait_state" and "states" not in values:
        raise ScenarioError(f"{where}: action 'wait_state' needs states")
    if action == "set_priorities" and not values.get("order"):
        raise ScenarioError(f"{where}: action 'set_priorities' needs order")
    return Step(**values)


def parse_scenario(text: str, source: str) -> Scenario:
    try:
        data = parse_toml(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not TOML: {exc}") from None
    unknown = sorted(set(data) - {"name", "description", "slac", "protocol", "steps"})
    if unknown:
        raise ScenarioError(f"{source}: unknown key {unknown[0]!r} (name, description, slac, protocol, steps)")
    protocol = data.get("protocol", "iso2")
    if protocol not in PROTOCOLS:
        raise ScenarioError(f"{source}: protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    name, steps = data.get("name", source), data.get("steps")
    if not isinstance(name, str) or not isinstance(data.get("description", ""), str):
        raise ScenarioError(f"{source}: name and description must be strings")
    if not isinstance(data.get("slac", True), bool):
        raise ScenarioError(f"{source}: slac must be true or false")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{source}: needs at least one [[steps]] table")
    parsed = tuple(parse_step(f"{source}: step {i + 1}", raw) for i, raw in enumerate(steps))
    if not any(s.action in ("wait", "wait_state") for s in parsed):
        raise ScenarioError(f"{source}: needs a wait or wait_state step (a cycle without one would spin)")
    return Scenario(name, data.get("description", ""), data.get("slac", True), parsed, protocol)


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name (evcc/demo/scenarios/<name>.toml) or a file."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = BUILTIN / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.toml")))
            raise ScenarioError(f"no scenario {name_or_path!r} (built in: {known}; or give a .toml file)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return parse_scenario(text, str(path))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN.glob("*.toml"))
