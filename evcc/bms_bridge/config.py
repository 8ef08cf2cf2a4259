"""Frozen configuration of the BMS bridge (read by the composition root, passed in; no globals).

Timers (no standard names them; BMS.md): one table, seconds.

=====================  =====  ====================================================================
name                   value  meaning
=====================  =====  ====================================================================
``BMS_CycleTime``      0.1    EVCC_* frames are sent every cycle; BMS_* frames are expected so
``BMS_Freshness``      1.0    a required BMS frame older than this is stale -> orderly stop
=====================  =====  ====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from evcc.bms_bridge.modes import DEFAULT_DBC, REQUIRED_FRAMES, ChargeMode
from evcc.bms_bridge.errors import BridgeConfigError

TIMERS: Mapping[str, float] = MappingProxyType({"BMS_CycleTime": 0.1, "BMS_Freshness": 1.0})
INTERFACES = ("socketcan", "udp_multicast", "virtual")
BMS_FRAMES = frozenset(f for frames in REQUIRED_FRAMES.values() for f in frames)


def _positive(key: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise BridgeConfigError(f"{key}: must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True)
class CanBusConfig:
    """python-can bus: ``socketcan`` (the car: channel ``can0``), ``udp_multicast`` (tests and benches
    without vcan: channel an IPv4 group such as ``239.74.163.2`` inside a network namespace), ``virtual``
    (one process only)."""

    interface: str = "socketcan"
    channel: str = "can0"
    fd: bool = False

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise BridgeConfigError(f"bms_bridge.interface: {self.interface!r} is not one of {', '.join(INTERFACES)}")
        if not isinstance(self.channel, str) or not self.channel:
            raise BridgeConfigError("bms_bridge.channel: must be a non-empty string")


@dataclass(frozen=True)
class BridgeConfig:
    bus: CanBusConfig = field(default_factory=CanBusConfig)
    mode: ChargeMode = ChargeMode.DC
    dbc_path: Path = DEFAULT_DBC
    cycle_time: float = TIMERS["BMS_CycleTime"]
    freshness: float = TIMERS["BMS_Freshness"]
    freshness_overrides: tuple[tuple[str, float], ...] = ()  # (BMS frame name, seconds)
    contactor_tolerance_v: float = 20.0  # |inlet - battery| allowed before the close request

    def __post_init__(self) -> None:
        if not isinstance(self.mode, ChargeMode):
            raise BridgeConfigError(f"bms_bridge.mode: {self.mode!r} is not a charge mode")
        _positive("bms_bridge.cycle_time", self.cycle_time)
        _positive("bms_bridge.freshness", self.freshness)
        _positive("bms_bridge.contactor_tolerance_v", self.contactor_tolerance_v)
        for name, seconds in self.freshness_overrides:
            if name not in BMS_FRAMES | {"BMS_Timing"}:
                raise BridgeConfigError(f"bms_bridge.freshness_overrides: unknown BMS frame {name!r}")
            _positive(f"bms_bridge.freshness_overrides.{name}", seconds)

    def deadline_of(self, frame: str) -> float:
        """Freshness deadline of one BMS frame, seconds."""
        return dict(self.freshness_overrides).get(frame, self.freshness)
