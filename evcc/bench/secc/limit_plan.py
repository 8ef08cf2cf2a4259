"""A charger that limits (issue 19): options of the bench's SECC simulators (DIN SPEC 70121, ISO 15118-2 DC and
AC, ISO 15118-20 DC and AC) for a low maximum power or current, a limit that drops during the charge loop and a
PMaxSchedule with steps, and the check that the EV never asks for more than is in force.

``ChargerLimits`` is what the charger announces:

    max_power / max_current     EVSEMaximumPowerLimit / -CurrentLimit (DIN, -2 DC), EVSEMaxCurrent (-2 AC, per
                                phase), EVSEMaximumChargePower / -Current (-20); None: the responder's default
    drop_after                  from this charge-loop response (1-based) on: ``drop_power`` / ``drop_current``
                                (DIN, -2 DC: CurrentDemandRes; -2 AC: ChargingStatusRes EVSEMaxCurrent; -20 DC:
                                the DC_ChargeLoopRes control mode's EVSE limits)
    pmax_steps                  ((start s, PMax W), ...): the schedule's entries from its start (DIN and -2
                                PMaxSchedule RelativeTimeInterval starts; -20 PowerSchedule from TimeAnchor)

Values are taken as given (a hostile charger may announce nonsense: negative, 0, maximum below minimum); the
scenario file keys check them for numbers. ``LimitCheck`` records a violation for every request above what was
in force when the EV sent it: the limits of the last response before the request (the EV cannot know a drop
before it is told) and the larger PMax of that response's time and the request's (a step between the two
may or may not have reached the EV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evcc.errors import ConfigError

MAX_STEPS = 24  # PMaxSchedule entries (-2 allows 1024, DIN 12; 24 suffice for a bench)
MAX_VIOLATIONS = 50  # violations kept (bounded); ``LimitCheck.exceeded`` counts them all
EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class ChargerLimits:
    max_power: float | None = None
    max_current: float | None = None
    drop_after: int | None = None
    drop_power: float | None = None
    drop_current: float | None = None
    pmax_steps: tuple[tuple[float, float], ...] = ()

    def power(self, default: float, loop: int) -> float:
        """The maximum power announced in charge-loop response ``loop`` (0: ChargeParameterDiscovery)."""
        if self.drop_after is not None and loop >= self.drop_after and self.drop_power is not None:
            return self.drop_power
        return default if self.max_power is None else self.max_power

    def current(self, default: float, loop: int) -> float:
        if self.drop_after is not None and loop >= self.drop_after and self.drop_current is not None:
            return self.drop_current
        return default if self.max_current is None else self.max_current

    def pmax_at(self, elapsed: float, default: float) -> float:
        """The PMax in force ``elapsed`` s after the schedule's start (``default`` without steps)."""
        if not self.pmax_steps:
            return default
        value = self.pmax_steps[0][1]
        for start, pmax in self.pmax_steps:
            if elapsed >= start:
                value = pmax
        return value

    @property
    def active(self) -> bool:
        return self != ChargerLimits()

    def __post_init__(self) -> None:
        if len(self.pmax_steps) > MAX_STEPS:
            raise ConfigError(f"charger.pmax_steps: at most {MAX_STEPS} PMax steps, got {len(self.pmax_steps)}")
        starts = [start for start, _ in self.pmax_steps]
        if starts and (starts[0] != 0 or starts != sorted(set(starts))):
            raise ConfigError(f"charger.pmax_steps: steps must start at 0 s and rise: {starts}")


@dataclass
class LimitCheck:
    """What one SECC session announced and the requests above it (``violations``)."""

    limits: ChargerLimits = field(default_factory=ChargerLimits)
    schedule_start: float | None = None  # SECC time of the response that carried the schedule
    announced: tuple[float, float, float] | None = None  # (time, max current, max power) of the last response
    violations: list[str] = field(default_factory=list)  # the first MAX_VIOLATIONS (may be shared by a run)
    requests: int = 0
    exceeded: int = 0  # requests above the limits, all of them

    def violation(self, text: str) -> None:
        self.exceeded += 1
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(text)

    def announce(self, now: float, current: float, power: float) -> None:
        self.announced = (now, current, power)

    def pmax(self, now: float, default: float) -> float:
        """The larger PMax of the last response's time and ``now`` (see the module docstring)."""
        if self.schedule_start is None:
            return default
        since = self.announced[0] if self.announced is not None else now
        return max(self.limits.pmax_at(since - self.schedule_start, default),
                   self.limits.pmax_at(now - self.schedule_start, default))

    def check(self, name: str, now: float, current: float | None = None, voltage: float | None = None,
              power: float | None = None, default_pmax: float = math.inf) -> None:
        """A request asking for ``current`` (A) at ``voltage`` (V), or for ``power`` (W)."""
        if self.announced is None:
            return
        self.requests += 1
        _, max_current, max_power = self.announced
        allowed_power = min(max(0.0, max_power), max(0.0, self.pmax(now, default_pmax)))
        if current is not None and current > max(0.0, max_current) + EPSILON:
            self.violation(f"{name} at {now:.3f} s: {current:.2f} A above {max_current:.2f} A")
        if current is not None and voltage is not None and current * voltage > allowed_power * (1 + 1e-9) + EPSILON:
            self.violation(f"{name} at {now:.3f} s: {current:.2f} A x {voltage:.2f} V = "
                                   f"{current * voltage:.0f} W above {allowed_power:.0f} W")
        if power is not None and power > allowed_power * (1 + 1e-9) + EPSILON:
            self.violation(f"{name} at {now:.3f} s: {power:.0f} W above {allowed_power:.0f} W")
