"""The table of protocols the bench can run (:data:`PROTOCOLS`), one :class:`ProtocolPlan` per scenario protocol
name, bundling for both sides the SupportedAppProtocol offer and supported entry (ISO 15118-2 §8.2.1 / DIN SPEC
70121 §9.2 / ISO 15118-20 §8.2), the standard's timer table, and factories for the EV machine and the simulated
SECC responder.

==============  ===========================  =================  =========================================
name            EV machine                   SAP key            SECC responder
==============  ===========================  =================  =========================================
din             DinEvcc (DC EIM)             din                DinSecc
iso2            Iso2Evcc (AC/DC, EIM/PnC)    iso2               Iso2Secc (+ SeccPncSim)
iso20-dc        Iso20Evcc DC                 iso20-dc           Iso20Secc DC (+ Iso20PncSim)
iso20-dc-bpt    Iso20Evcc DC_BPT             iso20-dc           Iso20Secc DC
iso20-ac        Iso20Evcc AC                 iso20-ac           Iso20Secc AC
iso20-ac-bpt    Iso20Evcc AC_BPT             iso20-ac           Iso20Secc AC
==============  ===========================  =================  =========================================

BPT is not a SupportedAppProtocol matter: DC_BPT rides on the DC namespace and is chosen in ServiceSelection
(ISO 15118-20 Table 204), so two names share a SAP key; :func:`plan_for` maps a negotiated key back.
Faults are not the responders' business: the shared fault layer (evcc.bench.secc.hostile) wraps them; the
charger's own wish to stop after n charge-loop messages (``stop_after_loop``) goes into each responder's config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.bench.secc.limit_plan import ChargerLimits
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig
from evcc.bench.secc.iso20_values import ISO20_AC, ISO20_DC
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import SeccResponder
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.errors import ConfigError
from evcc.session import sap
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2.config import EnergyTransferMode, PaymentOption
from evcc.session.iso2.pnc import ContractPort
from evcc.session.iso20 import ISO_15118_20, Iso20Config, Iso20Evcc
from evcc.session.iso20.config import ControlMode
from evcc.session.iso20.factory import SCHEMA_IDS, service_of_protocol
from evcc.session.iso20.pnc import ContractPort20
from evcc.session.iso20.vehicle import Iso20VehiclePort
from evcc.session.machine import EvccMachine
from evcc.session.pacing import with_min_cycle
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers
from evcc.session.vehicle import VehiclePort

ISO20_NAMES = ("iso20-dc", "iso20-dc-bpt", "iso20-ac", "iso20-ac-bpt")


@dataclass(frozen=True, slots=True)
class EvOptions:
    """What the EV machine needs beyond the vehicle: payment and the contract port (PnC: ``contracts`` for -2,
    ``contracts20`` for -20), current type, the SessionID of a paused session to resume, the -20 control mode
    and the Unix time of the machine's clock zero (-20 Header TimeStamp)."""

    evcc_id: bytes
    contracts: ContractPort | None = None
    current: str = "dc"
    resume_session_id: bytes | None = None
    control: ControlMode = "Scheduled"
    contracts20: ContractPort20 | None = None
    unix_time_offset: float = 0.0
    min_cycle: float = 0.0  # charge loop's minimum cycle (evcc.session.pacing); the bench chooses its pace


@dataclass(frozen=True, slots=True)
class SeccOptions:
    """What the simulated SECC needs: the Plug & Charge part (a fresh one per session; -2 or -20 by the run), the
    paused sessions it remembers (shared by its responders), the charger's -20 settings, and after how many
    charge-loop messages the EVSE asks to stop (None: never); ``limits``: what the charger limits (limit_plan.py)
    and ``violations``: where its responders note every request above them."""

    pnc: Callable[[], Any] | None = None
    paused: set[bytes] = dataclasses.field(default_factory=set)
    iso20: Iso20SeccConfig = dataclasses.field(default_factory=Iso20SeccConfig)
    stop_after_loop: int | None = None
    limits: ChargerLimits = dataclasses.field(default_factory=ChargerLimits)  # a charger that limits (issue 19)
    violations: list[str] = dataclasses.field(default_factory=list)  # requests above them, shared by the run


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
    iso20: bool = False

    def offer_at(self, priority: int) -> sap.ProtocolOffer:
        return dataclasses.replace(self.offer, priority=priority)

    @property
    def sap_key(self) -> str:
        """The machine key SupportedAppProtocol negotiates (BPT shares its AC/DC namespace's)."""
        return self.offer.protocol


def _din_machine(options: EvOptions, vehicle: VehiclePort) -> EvccMachine:
    return DinEvcc(DinConfig(evcc_id=options.evcc_id, timers=with_min_cycle(DIN_70121, options.min_cycle)), vehicle)


def _din_secc(options: SeccOptions) -> SeccResponder:
    secc = DinSecc(config=DinSeccConfig(stop_after_loop=options.stop_after_loop, limits=options.limits))
    secc.limit_check.violations = options.violations
    return secc


def _iso2_machine(options: EvOptions, vehicle: VehiclePort) -> EvccMachine:
    mode: EnergyTransferMode = "AC_three_phase_core" if options.current == "ac" else "DC_extended"
    payment: PaymentOption = "Contract" if options.contracts is not None else "ExternalPayment"
    return Iso2Evcc(Iso2Config(evcc_id=options.evcc_id, energy_transfer_mode=mode, payment=payment,
                               contracts=options.contracts, resume_session_id=options.resume_session_id,
                               timers=with_min_cycle(ISO_15118_2, options.min_cycle)), vehicle)


def _iso2_secc(options: SeccOptions) -> SeccResponder:
    pnc = options.pnc() if options.pnc is not None else None
    schedules = (50_000.0, 100_000.0) if pnc is not None else Iso2SeccConfig.sa_schedules
    config = Iso2SeccConfig(sa_schedules=schedules, stop_after_loop=options.stop_after_loop, limits=options.limits)
    secc = Iso2Secc(config=config, paused=options.paused, pnc=pnc)
    secc.limit_check.violations = options.violations
    return secc


def _iso20_plan(name: str) -> ProtocolPlan:
    service = service_of_protocol(name)
    dc = service.startswith("DC")
    supported = ISO20_DC if dc else ISO20_AC

    def machine(options: EvOptions, vehicle: VehiclePort) -> EvccMachine:
        if not isinstance(vehicle, Iso20VehiclePort):
            raise ConfigError(f"{name}: the vehicle has no ISO 15118-20 port (BPT limits, energy requests)")
        config = Iso20Config(
            evcc_id=options.evcc_id.hex().upper(), service=service, control_mode=options.control,
            authorization="PnC" if options.contracts20 is not None else "EIM", contracts=options.contracts20,
            resume_session_id=options.resume_session_id, unix_time_offset=options.unix_time_offset,
            timers=with_min_cycle(ISO_15118_20, options.min_cycle))
        return Iso20Evcc(config, vehicle)

    def responder(options: SeccOptions) -> SeccResponder:
        config = dataclasses.replace(options.iso20, stop_after_loop=options.stop_after_loop, limits=options.limits)
        secc = Iso20Secc(kind="DC" if dc else "AC", config=config, paused=options.paused,
                         pnc=options.pnc() if options.pnc is not None else None)
        secc.limit_check.violations = options.violations
        return secc

    offer = sap.iso20_offer(supported.protocol, SCHEMA_IDS[supported.protocol], 1)
    return ProtocolPlan(name, f"ISO 15118-20 {service}", offer, supported, ISO_15118_20, machine, responder,
                        iso20=True)


PROTOCOLS: dict[str, ProtocolPlan] = {
    "din": ProtocolPlan(
        "din", "DIN SPEC 70121 DC EIM", sap.DIN_OFFER,
        SupportedProtocol("din", sap.DIN_NAMESPACE, 2, 0), DIN_70121, _din_machine, _din_secc,
    ),
    "iso2": ProtocolPlan(
        "iso2", "ISO 15118-2", sap.ProtocolOffer("iso2", sap.ISO2_NAMESPACE, 2, 0, schema_id=2, priority=1),
        SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0), ISO_15118_2, _iso2_machine, _iso2_secc,
    ),
    **{name: _iso20_plan(name) for name in ISO20_NAMES},
}


def plan_for(sap_key: str, names: Sequence[str]) -> ProtocolPlan:
    """The plan among ``names`` (the scenario's offered or supported protocols) that negotiates ``sap_key``."""
    for name in names:
        if PROTOCOLS[name].sap_key == sap_key:
            return PROTOCOLS[name]
    raise ConfigError(f"no protocol of {list(names)} negotiates {sap_key!r}")
