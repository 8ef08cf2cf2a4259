"""A simple battery model implementing the vehicle port, for the bench and the tests.

Open-circuit voltage rises linearly with the state of charge; the charge current follows the limits and tapers
over the last 5 % before the target; the energy the charger reports (voltage x current x elapsed time) raises
the state of charge, and a negative current (ISO 15118-20 BPT discharging) lowers it. Not a cell model: enough
to drive a session to its target and back. ``bpt_limits`` and ``energy_request`` are the ISO 15118-20 part of
the port (evcc.session.iso20.vehicle.Iso20VehiclePort).

Cost (benchmarks/session20_bench.py, session_bench.py): every answer is a frozen dataclass (1-2 us to build), so
each one is remembered (:class:`Memo`) with what it was computed from and handed out again while that holds:
the model's generation (a new token on every assignment to the model from outside: tests, the lab vehicle) and
the SoC object (compared by identity; the model moves it itself on every charge-loop message, past
``__setattr__``). ``dc_status`` keys on the whole-percent SoC, ``bpt_limits`` on no SoC at all, so both are
built once per percent or per change; ``dc_limits``/``dc_targets``/``energy_request``/``ac_limits`` once per SoC
step instead of once per question. The values are those of the plain computation (tests/session/
test_battery_model_equivalence.py replays random sequences against the previous implementation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from evcc.session.vehicle import DcLimits, DcStatus, DcTargets, EVErrorCode

T = TypeVar("T")
_set = object.__setattr__  # an assignment that keeps the generation token


@dataclass(frozen=True, slots=True)
class BptLimits:
    """ISO 15118-20 BPT limits (positive numbers; discharging is a negative current)."""

    max_discharge_current: float
    max_discharge_power: float
    min_discharge_soc: int
    min_voltage: float


@dataclass(frozen=True, slots=True)
class EnergyRequest:
    """ISO 15118-20 EVTargetEnergyRequest / EVMinimumEnergyRequest / EVMaximumEnergyRequest (Wh)."""

    target: float
    minimum: float
    maximum: float
    departure_time: float | None


class Memo(Generic[T]):
    """One remembered answer and what it was computed from: the model's generation token and its SoC object (the
    whole-percent SoC for ``dc_status``; None for answers that do not read it). It is handed out again while
    both are still the same (the generation and the SoC object by identity)."""

    __slots__ = ("gen", "soc", "value")

    def __init__(self) -> None:
        self.gen: object = None
        self.soc: object = None
        self.value: T | None = None

    def put(self, gen: object, soc: object, value: T) -> T:
        self.gen, self.soc, self.value = gen, soc, value
        return value


def _memo() -> Any:
    """A per-instance :class:`Memo`, outside ``__init__``, ``==`` and ``repr``."""
    return field(default_factory=Memo, init=False, repr=False, compare=False)


@dataclass
class BatteryModel:
    capacity_wh: float = 50_000.0
    soc: float = 40.0  # percent
    target_soc: float = 80.0
    voltage_empty: float = 330.0
    voltage_full: float = 400.0
    max_voltage: float = 420.0
    max_current: float = 200.0
    max_power: float = 80_000.0
    ready: bool = True
    error: EVErrorCode = "NO_ERROR"
    delivered_wh: float = 0.0  # net energy into the battery
    discharged_wh: float = 0.0  # energy given back (BPT)
    max_discharge_current: float = 100.0
    max_discharge_power: float = 30_000.0
    min_discharge_soc: int = 20
    departure_time: float | None = None  # s from the session start, None: not known
    _last: float | None = field(default=None, repr=False)
    _status: Memo[DcStatus] = _memo()
    _limits: Memo[DcLimits] = _memo()
    _targets: Memo[DcTargets] = _memo()
    _bpt: Memo[BptLimits] = _memo()
    _energy: Memo[EnergyRequest] = _memo()
    _gen: ClassVar[object] = None  # the instance's own token after its first assignment

    def __setattr__(self, name: str, value: object) -> None:
        """Any assignment may change an answer: a new generation token, so no remembered answer matches."""
        _set(self, name, value)
        _set(self, "_gen", object())

    def dc_status(self, now: float) -> DcStatus:
        soc, memo = int(self.soc), self._status
        if memo.gen is self._gen and memo.soc == soc:
            return memo.value  # type: ignore[return-value]
        return memo.put(self._gen, soc, DcStatus(ready=self.ready, soc=soc, error=self.error))

    def dc_limits(self) -> DcLimits:
        soc, memo = self.soc, self._limits
        if memo.soc is soc and memo.gen is self._gen:
            return memo.value  # type: ignore[return-value]
        return memo.put(self._gen, soc, DcLimits(
            max_voltage=self.max_voltage, max_current=self.max_current, max_power=self.max_power,
            energy_capacity=self.capacity_wh, full_soc=100, bulk_soc=80,
            energy_request=max(0.0, (self.target_soc - soc) / 100.0 * self.capacity_wh),
        ))

    def dc_targets(self, now: float) -> DcTargets:
        soc, memo = self.soc, self._targets
        own_voltage = type(self).battery_voltage is BatteryModel.battery_voltage  # an override may read now
        if memo.soc is soc and memo.gen is self._gen and own_voltage:
            return memo.value  # type: ignore[return-value]
        target, battery = self.target_soc, self.battery_voltage(now)  # once (it was asked three times)
        done = soc >= target
        current = 0.0 if done else min(self.max_current, self.max_power / battery)
        left = target - soc
        if 0 < left < 5:
            current *= max(0.2, left / 5)
        power = current * battery
        remaining = max(0.0, left / 100.0 * self.capacity_wh) / power * 3600 if power > 0 else 0.0  # to target
        return memo.put(self._gen, soc, DcTargets(
            voltage=min(self.max_voltage, battery + 10.0), current=current,
            charging_complete=done, bulk_complete=soc >= 80.0, remaining_time_to_full=remaining,
        ))

    def battery_voltage(self, now: float) -> float:
        return self.voltage_empty + (self.voltage_full - self.voltage_empty) * self.soc / 100.0

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        """The model's own update on every charge-loop message, written past ``__setattr__``: the energy counters
        are no input of an answer, and a new SoC is a new object, which every memo compares by identity."""
        if self._last is not None and now > self._last and current != 0 and voltage > 0:
            wh = voltage * current * (now - self._last) / 3600.0
            _set(self, "delivered_wh", self.delivered_wh + wh)
            if wh < 0:
                _set(self, "discharged_wh", self.discharged_wh - wh)
            _set(self, "soc", max(0.0, min(100.0, self.soc + wh / self.capacity_wh * 100.0)))
        _set(self, "_last", now)

    def bpt_limits(self, now: float) -> BptLimits:
        memo = self._bpt
        if memo.gen is self._gen:
            return memo.value  # type: ignore[return-value]
        return memo.put(self._gen, None, BptLimits(self.max_discharge_current, self.max_discharge_power,
                                                   self.min_discharge_soc, self.voltage_empty))

    def energy_request(self, now: float) -> EnergyRequest:
        """Target: up to ``target_soc``; minimum: what may be given back down to ``min_discharge_soc``."""
        soc, memo = self.soc, self._energy
        if memo.soc is soc and memo.gen is self._gen:
            return memo.value  # type: ignore[return-value]
        capacity = self.capacity_wh
        down_to = (self.min_discharge_soc - soc) / 100.0 * capacity
        full = (100.0 - soc) / 100.0 * capacity
        target = max(0.0, (self.target_soc - soc) / 100.0 * capacity)
        return memo.put(self._gen, soc,
                        EnergyRequest(target, min(0.0, down_to), max(0.0, full), self.departure_time))
