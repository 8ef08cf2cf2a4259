"""What one `evcc bench` run simulates: the frozen scenario. The protocols it may name (DIN SPEC 70121,
ISO 15118-2 AC/DC with EIM or Plug & Charge, ISO 15118-20 DC, DC_BPT, AC, AC_BPT in Scheduled or Dynamic control
with EIM or Plug & Charge) are the table of :mod:`evcc.bench.protocols`, re-exported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from evcc.bench.protocols import PROTOCOLS, EvOptions, ProtocolPlan, SeccOptions, plan_for
from evcc.bench.secc.faults import Fault
from evcc.bench.secc.limit_plan import ChargerLimits
from evcc.errors import ConfigError
from evcc.session.pacing import DEFAULT_MIN_CYCLE, check_min_cycle

__all__ = ["AUTH_MODES", "CONTROL_MODES", "CURRENT_TYPES", "LINK_MODES", "PROTOCOLS", "EvOptions", "ProtocolPlan",
           "Scenario", "SeccOptions", "Step", "plan_for", "title"]

LINK_MODES = ("auto", "netns", "memory")
AUTH_MODES = ("eim", "pnc")
CURRENT_TYPES = ("dc", "ac")
STEP_ACTIONS = ("pause", "resume", "stop")
CONTROL_MODES = ("scheduled", "dynamic")


@dataclass(frozen=True, slots=True)
class Step:
    """A scripted action: ``pause`` or ``stop`` when the SoC reaches ``at_soc`` (ISO 15118-2 SessionStop with
    ChargingSession Pause / Terminate), ``resume`` ``after_s`` seconds after a pause (SessionSetupReq with the
    stored SessionID, [V2G2-741])."""

    action: str
    at_soc: float | None = None
    after_s: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        if self.action not in STEP_ACTIONS:
            raise ConfigError(f"steps.action={self.action!r}: one of {STEP_ACTIONS}")
        if self.action in ("pause", "stop") and (self.at_soc is None or not 0.0 <= self.at_soc <= 100.0):
            raise ConfigError(f"steps.at_soc: a {self.action} step needs a SoC within 0..100, got {self.at_soc}")
        if self.action == "resume" and not 0.0 <= self.after_s <= 60.0:
            raise ConfigError(f"steps.after_s={self.after_s}: 0..60 s")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One bench run. ``time_scale``: simulated battery seconds per real (or virtual) second, so that a
    40 -> 80 % charge of a 50 kWh battery takes seconds instead of a quarter of an hour. The protocol timers
    are never scaled: every message still runs against the standard's timeouts.

    ``offer``: the protocols the EV offers in SupportedAppProtocol, by priority (default: ``protocol`` only);
    ``secc_protocols``: those the SECC supports (default: all offered). ``auth``: ``eim`` (ExternalPayment) or
    ``pnc`` (Contract; ISO 15118-2 only); ``install_contract``: with PnC the EV starts without a contract and
    gets one by CertificateInstallation (False: a contract is installed before the session).

    ``control``: the ISO 15118-20 control mode (scheduled or dynamic); ``dynamic_power_kw``: the power the
    charger's grid asks for in Dynamic mode (negative: the EV discharges, BPT; None: the most it can);
    ``contracts``: -20 PnC contracts installed before the session (with ``install_contract = false``), by falling
    priority; ``reject_contracts``: the charger refuses that many contracts first (the EV tries its next).

    A charger that limits (issue 19, evcc.bench.secc.limit_plan): ``limit_max_power_kw`` / ``limit_max_current``
    (its EVSEMaximumPowerLimit / -CurrentLimit, -2 AC EVSEMaxCurrent per phase, -20 EVSEMaximumCharge*);
    ``limit_drop_after`` (charge-loop response, 1-based) with ``limit_drop_power_kw`` / ``limit_drop_current``: the
    limit drops then; ``pmax_steps``: ((start s, PMax kW), ...) of the schedule. Values are taken as given (a
    hostile charger may announce nonsense); the run fails when the EV asks for more than is in force.

    ``evse_silent``: the EVSE SLAC simulators never start (SLAC must fail). ``no_secc``: the EVSE runs SLAC
    but no SECC listens (SDP must fail). ``fault``: what the SECC breaks (the shared fault layer,
    evcc.bench.secc.faults); ``stop_after_loop``: the EVSE asks to stop after that many charge-loop messages.
    """

    protocol: str = "din"
    tls: bool = False
    auth: str = "eim"
    current: str = "dc"
    install_contract: bool = True
    offer: tuple[str, ...] = ()
    secc_protocols: tuple[str, ...] = ()
    start_soc: float = 40.0
    target_soc: float = 80.0
    capacity_kwh: float = 50.0
    max_current: float = 200.0
    max_power_kw: float = 80.0
    time_scale: float = 300.0
    attenuations: tuple[int, ...] = (24,)
    link: str = "auto"
    evse_silent: bool = False
    no_secc: bool = False
    fault: Fault | None = None
    stop_after_loop: int | None = None
    control: str = "scheduled"
    dynamic_power_kw: float | None = None
    contracts: int = 1
    reject_contracts: int = 0
    limit_max_power_kw: float | None = None
    limit_max_current: float | None = None
    limit_drop_after: int | None = None
    limit_drop_power_kw: float | None = None
    limit_drop_current: float | None = None
    pmax_steps: tuple[tuple[float, float], ...] = ()  # (start s, PMax kW)
    steps: tuple[Step, ...] = ()
    modem_restart_s: float = 0.3
    slac_parm_retries: int = 2
    min_cycle: float | None = None  # charge loop pace (s); None: a real car's cycle in battery time

    @property
    def charger_limits(self) -> ChargerLimits:
        """The limits the simulated charger announces (evcc.bench.secc.limit_plan), in W and A."""
        def watts(kw: float | None) -> float | None:
            return None if kw is None else kw * 1000.0
        return ChargerLimits(watts(self.limit_max_power_kw), self.limit_max_current, self.limit_drop_after,
                             watts(self.limit_drop_power_kw), self.limit_drop_current,
                             tuple((float(start), kw * 1000.0) for start, kw in self.pmax_steps))

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"bench.protocol={self.protocol!r}: one of {sorted(PROTOCOLS)}")
        for key, names in (("offer", self.offer), ("secc_protocols", self.secc_protocols)):
            unknown = [p for p in names if p not in PROTOCOLS]
            if unknown or len(set(names)) != len(names):
                raise ConfigError(f"bench.{key}={list(names)}: distinct names from {sorted(PROTOCOLS)}")
        if self.offer and self.offer[0] != self.protocol:
            raise ConfigError(f"bench.offer={list(self.offer)}: must start with protocol {self.protocol!r}")
        if self.link not in LINK_MODES:
            raise ConfigError(f"bench.link={self.link!r}: one of {LINK_MODES}")
        if self.auth not in AUTH_MODES:
            raise ConfigError(f"bench.auth={self.auth!r}: one of {AUTH_MODES}")
        if self.current not in CURRENT_TYPES:
            raise ConfigError(f"bench.current={self.current!r}: one of {CURRENT_TYPES}")
        if self.auth == "pnc" and self.protocol == "din":
            raise ConfigError(f"bench.auth={self.auth!r}: needs protocol iso2 or iso20-*"
                              " (DIN SPEC 70121 is DC with external identification only)")
        if self.current == "ac" and "iso2" not in self.offered:
            raise ConfigError(f"bench.current={self.current!r}: needs protocol iso2 (ISO 15118-20 names AC or DC"
                              " in the protocol: iso20-ac, iso20-ac-bpt; DIN SPEC 70121 is DC only)")
        if self.control not in CONTROL_MODES:
            raise ConfigError(f"bench.control={self.control!r}: one of {CONTROL_MODES}")
        if self.dynamic_power_kw is not None and not -500.0 <= self.dynamic_power_kw <= 500.0:
            raise ConfigError(f"bench.dynamic_power_kw={self.dynamic_power_kw} outside [-500, 500] kW")
        _ = self.charger_limits  # checks the PMax steps
        for name in ("limit_max_power_kw", "limit_max_current", "limit_drop_power_kw", "limit_drop_current"):
            value = getattr(self, name)
            if value is not None and not -100_000.0 <= value <= 100_000.0:
                raise ConfigError(f"bench.{name}={value} outside [-100000, 100000]")
        if self.limit_drop_after is not None and not 1 <= self.limit_drop_after <= 1_000_000:
            raise ConfigError(f"bench.limit_drop_after={self.limit_drop_after}: a charge-loop message from 1")
        if not 1 <= self.contracts <= 3 or not 0 <= self.reject_contracts <= 3:
            raise ConfigError(f"bench.contracts={self.contracts} / reject_contracts={self.reject_contracts}:"
                              " 1..3 contracts, 0..3 refused")
        if self.contracts > 1 and not self.iso20:
            raise ConfigError(f"bench.contracts={self.contracts}: several contracts need ISO 15118-20")
        if not 0.0 <= self.start_soc < self.target_soc <= 100.0:
            raise ConfigError(f"bench SoC: need 0 <= start ({self.start_soc}) < target ({self.target_soc}) <= 100")
        if not 0.0 < self.capacity_kwh <= 1000.0:
            raise ConfigError(f"bench.capacity_kwh={self.capacity_kwh} outside (0, 1000]")
        if not 1.0 <= self.max_current <= 1000.0:
            raise ConfigError(f"bench.max_current={self.max_current} outside [1, 1000] A")
        if not 1.0 <= self.max_power_kw <= 500.0:
            raise ConfigError(f"bench.max_power_kw={self.max_power_kw} outside [1, 500] kW")
        if not 1.0 <= self.time_scale <= 100_000.0:
            raise ConfigError(f"bench.time_scale={self.time_scale} outside [1, 100000]")
        if self.min_cycle is not None:
            check_min_cycle(self.min_cycle, "bench.min_cycle")
        if not 1 <= len(self.attenuations) <= 8 or not all(0 <= a <= 90 for a in self.attenuations):
            raise ConfigError(f"bench.attenuations={self.attenuations}: 1..8 EVSEs, each 0..90 dB")
        self._check_steps()

    def _check_steps(self) -> None:
        pausing = False
        for i, step in enumerate(self.steps):
            if step.action == "pause" and self.protocol == "din":
                raise ConfigError(f"steps[{i}].action='pause': pause and resume need ISO 15118-2 or -20")
            if step.action == "resume" and not pausing:
                raise ConfigError(f"steps[{i}].action='resume': only after a pause step")
            pausing = step.action == "pause"

    @property
    def loop_min_cycle(self) -> float:
        """The charge loop's minimum cycle: ``min_cycle``, else a real car's (evcc.session.pacing) in battery
        time (divided by ``time_scale``)."""
        return self.min_cycle if self.min_cycle is not None else DEFAULT_MIN_CYCLE / self.time_scale

    @property
    def offered(self) -> tuple[str, ...]:
        return self.offer or (self.protocol,)

    @property
    def supported(self) -> tuple[str, ...]:
        return self.secc_protocols or self.offered

    @property
    def iso20(self) -> bool:
        return PROTOCOLS[self.protocol].iso20

    @property
    def control_mode(self) -> str:
        """The -20 control mode as the standard spells it (Scheduled, Dynamic)."""
        return self.control.capitalize()


def title(key: str, scenario: Scenario) -> str:
    """``ISO 15118-2 DC PnC`` and the like, for the display."""
    plan = PROTOCOLS[key]
    auth = "PnC" if scenario.auth == "pnc" else "EIM"
    if key == "din":
        return plan.title
    if plan.iso20:
        return f"{plan.title} {scenario.control_mode} {auth}"
    return f"{plan.title} {scenario.current.upper()} {auth}"
