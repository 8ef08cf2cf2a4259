"""What one `evcc bench` run simulates: the frozen scenario and the table of protocols the bench can run.

A protocol entry bundles, for one SupportedAppProtocol key (ISO 15118-2 §8.2.1 / DIN SPEC 70121 §9.2), the
EV's offer, the SECC's supported entry, the standard's timer table (timeouts.py), and factories for the EV
machine and the simulated SECC responder. DIN SPEC 70121 DC EIM and ISO 15118-2 AC/DC with EIM or Plug & Charge
(ISO 15118-2 §8.4.3: PaymentDetails, Authorization, CertificateInstallation) are wired; another protocol plugs in
by adding one entry to :data:`PROTOCOLS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evcc.bench.scenario_faults import SeccFaults
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import SeccResponder
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.errors import ConfigError
from evcc.session import sap
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2.config import EnergyTransferMode, PaymentOption
from evcc.session.iso2.pnc import ContractPort
from evcc.session.machine import EvccMachine
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers
from evcc.session.vehicle import VehiclePort

LINK_MODES = ("auto", "netns", "memory")
AUTH_MODES = ("eim", "pnc")
CURRENT_TYPES = ("dc", "ac")
STEP_ACTIONS = ("pause", "resume", "stop")


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

    ``evse_silent``: the EVSE SLAC simulators never start (SLAC must fail). ``no_secc``: the EVSE runs SLAC
    but no SECC listens (SDP must fail). ``faults``: what the SECC breaks (scenario_faults.py).
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
    faults: SeccFaults = dataclasses.field(default_factory=SeccFaults)
    steps: tuple[Step, ...] = ()
    modem_restart_s: float = 0.3
    slac_parm_retries: int = 2

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
        if (self.auth == "pnc" or self.current == "ac") and "iso2" not in self.offered:
            raise ConfigError(f"bench.auth={self.auth!r} / current={self.current!r}: needs protocol iso2"
                              " (DIN SPEC 70121 is DC with external identification only)")
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
        if not 1 <= len(self.attenuations) <= 8 or not all(0 <= a <= 90 for a in self.attenuations):
            raise ConfigError(f"bench.attenuations={self.attenuations}: 1..8 EVSEs, each 0..90 dB")
        self._check_steps()

    def _check_steps(self) -> None:
        pausing = False
        for i, step in enumerate(self.steps):
            if step.action == "pause" and self.protocol != "iso2":
                raise ConfigError(f"steps[{i}].action='pause': pause and resume need protocol iso2")
            if step.action == "resume" and not pausing:
                raise ConfigError(f"steps[{i}].action='resume': only after a pause step")
            pausing = step.action == "pause"

    @property
    def offered(self) -> tuple[str, ...]:
        return self.offer or (self.protocol,)

    @property
    def supported(self) -> tuple[str, ...]:
        return self.secc_protocols or self.offered


@dataclass(frozen=True, slots=True)
class EvOptions:
    """What the EV machine needs beyond the vehicle: payment and the contract port (PnC), current type, and
    the SessionID of a paused session to resume."""

    evcc_id: bytes
    contracts: ContractPort | None = None
    current: str = "dc"
    resume_session_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class SeccOptions:
    """What the simulated SECC needs: faults, the Plug & Charge part (a fresh one per session), the paused
    sessions it remembers (shared by its responders)."""

    faults: SeccFaults
    pnc: Callable[[], Any] | None = None
    paused: set[bytes] = dataclasses.field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ProtocolPlan:
    """How the bench runs one protocol on both sides."""

    key: str
    title: str
    offer: sap.ProtocolOffer
    supported: SupportedProtocol
    timers: EvccTimers
    make_machine: Callable[[EvOptions, VehiclePort], EvccMachine]
    make_responder: Callable[[SeccOptions], SeccResponder]

    def offer_at(self, priority: int) -> sap.ProtocolOffer:
        return dataclasses.replace(self.offer, priority=priority)


def _din_machine(options: EvOptions, vehicle: VehiclePort) -> EvccMachine:
    return DinEvcc(DinConfig(evcc_id=options.evcc_id), vehicle)


def _din_secc(options: SeccOptions) -> SeccResponder:
    return DinSecc(faults=options.faults.din())


def _iso2_machine(options: EvOptions, vehicle: VehiclePort) -> EvccMachine:
    mode: EnergyTransferMode = "AC_three_phase_core" if options.current == "ac" else "DC_extended"
    payment: PaymentOption = "Contract" if options.contracts is not None else "ExternalPayment"
    return Iso2Evcc(Iso2Config(evcc_id=options.evcc_id, energy_transfer_mode=mode, payment=payment,
                               contracts=options.contracts, resume_session_id=options.resume_session_id), vehicle)


def _iso2_secc(options: SeccOptions) -> SeccResponder:
    pnc = options.pnc() if options.pnc is not None else None
    config = Iso2SeccConfig(sa_schedules=(50_000.0, 100_000.0)) if pnc is not None else Iso2SeccConfig()
    return Iso2Secc(config=config, faults=options.faults.iso2(), paused=options.paused, pnc=pnc)


PROTOCOLS: dict[str, ProtocolPlan] = {
    "din": ProtocolPlan(
        "din", "DIN SPEC 70121 DC EIM", sap.DIN_OFFER,
        SupportedProtocol("din", sap.DIN_NAMESPACE, 2, 0), DIN_70121, _din_machine, _din_secc,
    ),
    "iso2": ProtocolPlan(
        "iso2", "ISO 15118-2", sap.ProtocolOffer("iso2", sap.ISO2_NAMESPACE, 2, 0, schema_id=2, priority=1),
        SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0), ISO_15118_2, _iso2_machine, _iso2_secc,
    ),
}


def title(key: str, scenario: Scenario) -> str:
    """``ISO 15118-2 DC PnC`` and the like, for the display."""
    plan = PROTOCOLS[key]
    if key == "din":
        return plan.title
    return f"{plan.title} {scenario.current.upper()} {'PnC' if scenario.auth == 'pnc' else 'EIM'}"
