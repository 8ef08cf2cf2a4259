"""What one `evcc bench` run simulates: the frozen scenario and the table of protocols the bench can run.

A protocol entry bundles, for one SupportedAppProtocol key (ISO 15118-2 §8.2.1 / DIN SPEC 70121 §9.2), the
EV's offer, the SECC's supported entry, the standard's timer table (timeouts.py), and factories for the EV
machine and the simulated SECC responder. DIN SPEC 70121 DC EIM and ISO 15118-2 DC EIM are wired; another
protocol plugs in by adding one entry to :data:`PROTOCOLS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evcc.bench.secc.din_responder import DinFaults, DinSecc
from evcc.bench.secc.iso2_responder import Iso2Faults, Iso2Secc
from evcc.bench.secc.memory import SeccResponder
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.errors import ConfigError
from evcc.session import sap
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.machine import EvccMachine
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers
from evcc.session.vehicle import VehiclePort

LINK_MODES = ("auto", "netns", "memory")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One bench run. ``time_scale``: simulated battery seconds per real (or virtual) second, so that a
    40 -> 80 % charge of a 50 kWh battery takes seconds instead of a quarter of an hour. The protocol timers
    are never scaled: every message still runs against the standard's timeouts.

    ``evse_silent``: the EVSE SLAC simulators never start (SLAC must fail). ``no_secc``: the EVSE runs SLAC
    but no SECC listens (SDP must fail). ``secc_silent_from``: the SECC stops answering at that response.
    """

    protocol: str = "din"
    tls: bool = False
    start_soc: float = 40.0
    target_soc: float = 80.0
    capacity_kwh: float = 50.0
    time_scale: float = 300.0
    attenuations: tuple[int, ...] = (24,)
    link: str = "auto"
    evse_silent: bool = False
    no_secc: bool = False
    secc_silent_from: str | None = None
    modem_restart_s: float = 0.3
    slac_parm_retries: int = 2

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"bench.protocol={self.protocol!r}: one of {sorted(PROTOCOLS)}")
        if self.link not in LINK_MODES:
            raise ConfigError(f"bench.link={self.link!r}: one of {LINK_MODES}")
        if not 0.0 <= self.start_soc < self.target_soc <= 100.0:
            raise ConfigError(f"bench SoC: need 0 <= start ({self.start_soc}) < target ({self.target_soc}) <= 100")
        if not 0.0 < self.capacity_kwh <= 1000.0:
            raise ConfigError(f"bench.capacity_kwh={self.capacity_kwh} outside (0, 1000]")
        if not 1.0 <= self.time_scale <= 100_000.0:
            raise ConfigError(f"bench.time_scale={self.time_scale} outside [1, 100000]")
        if not 1 <= len(self.attenuations) <= 8 or not all(0 <= a <= 90 for a in self.attenuations):
            raise ConfigError(f"bench.attenuations={self.attenuations}: 1..8 EVSEs, each 0..90 dB")


@dataclass(frozen=True, slots=True)
class ProtocolPlan:
    """How the bench runs one protocol on both sides."""

    key: str
    title: str
    offer: sap.ProtocolOffer
    supported: SupportedProtocol
    timers: EvccTimers
    make_machine: Callable[[bytes, VehiclePort], EvccMachine]
    make_responder: Callable[[str | None], SeccResponder]  # argument: silent_from (fault injection)


def _din_machine(evcc_id: bytes, vehicle: VehiclePort) -> EvccMachine:
    return DinEvcc(DinConfig(evcc_id=evcc_id), vehicle)


def _din_secc(silent_from: str | None) -> SeccResponder:
    return DinSecc(faults=DinFaults(silent_from=silent_from))


def _iso2_machine(evcc_id: bytes, vehicle: VehiclePort) -> EvccMachine:
    return Iso2Evcc(Iso2Config(evcc_id=evcc_id, energy_transfer_mode="DC_extended"), vehicle)


def _iso2_secc(silent_from: str | None) -> SeccResponder:
    return Iso2Secc(faults=Iso2Faults(silent_from=silent_from))


PROTOCOLS: dict[str, ProtocolPlan] = {
    "din": ProtocolPlan(
        "din", "DIN SPEC 70121 DC EIM", sap.DIN_OFFER,
        SupportedProtocol("din", sap.DIN_NAMESPACE, 2, 0), DIN_70121, _din_machine, _din_secc,
    ),
    "iso2": ProtocolPlan(
        "iso2", "ISO 15118-2 DC EIM", sap.ProtocolOffer("iso2", sap.ISO2_NAMESPACE, 2, 0, schema_id=2, priority=1),
        SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0), ISO_15118_2, _iso2_machine, _iso2_secc,
    ),
}
