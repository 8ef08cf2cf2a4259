"""The protocols `evcc session` can run, as a registry (:data:`PROTOCOLS`): one :class:`ProtocolChoice` per
`--protocol` value with its SupportedAppProtocol offer (ISO 15118-2 §8.2.1), the standard's timer table, the
energy and identification modes it can do, the V2GTP payload types it carries and a factory for the EV machine.

=============  ==========================================  =======  =========  ============================
--protocol     machine                                     energy   auth       V2GTP payload types
=============  ==========================================  =======  =========  ============================
din            DIN SPEC 70121 DC                           dc       eim        0x8001
iso2           ISO 15118-2 AC or DC                        ac, dc   eim, pnc   0x8001
iso20-dc       ISO 15118-20 DC (Table 204 service 2)       dc       eim, pnc   0x8001 (SAP), 0x8002, 0x8004
iso20-dc-bpt   ISO 15118-20 DC_BPT (service 6)             dc       eim, pnc   0x8001 (SAP), 0x8002, 0x8004
iso20-ac       ISO 15118-20 AC (service 1)                 ac       eim, pnc   0x8001 (SAP), 0x8002, 0x8003
iso20-ac-bpt   ISO 15118-20 AC_BPT (service 5)             ac       eim, pnc   0x8001 (SAP), 0x8002, 0x8003
=============  ==========================================  =======  =========  ============================

ISO 15118-20 machines take the control mode (Scheduled or Dynamic, §8.5) and the -20 contract port; their Header
TimeStamp is Unix time (``unix_time_offset`` = wall clock minus the monotonic clock the machine runs on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from evcc.session import v2gtp
from evcc.session.attach_vehicle import LabVehicle
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2.pnc import ContractPort
from evcc.session.iso20 import ISO_15118_20, Iso20Config, Iso20Evcc
from evcc.session.iso20.config import ControlMode
from evcc.session.iso20.factory import SCHEMA_IDS, sap_protocol, service_of_protocol
from evcc.session.iso20.pnc import ContractPort20
from evcc.session.machine import EvccMachine
from evcc.session.sap import DIN_OFFER, ISO2_NAMESPACE, ProtocolOffer, iso20_offer
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers

Auth = Literal["eim", "pnc"]
Energy = Literal["ac", "dc"]
CONTROL_MODES: tuple[ControlMode, ...] = ("Scheduled", "Dynamic")


@dataclass(frozen=True)
class MachineInputs:
    """What a machine factory gets: the EVCCID, the vehicle, the chosen modes and the contract port (PnC: the
    ISO 15118-2 one in ``contracts``, the -20 one in ``contracts20``)."""

    evcc_id: bytes
    vehicle: LabVehicle
    energy: Energy
    auth: Auth
    contracts: ContractPort | None
    precharge_tolerance: float | None  # V; None: the machine's default
    timers: EvccTimers
    control: ControlMode = "Scheduled"
    contracts20: ContractPort20 | None = None
    unix_time_offset: float = 0.0


@dataclass(frozen=True, slots=True)
class ProtocolChoice:
    name: str  # the --protocol value
    title: str
    offer: ProtocolOffer  # offer.protocol is the machine key the runner negotiates
    timers: EvccTimers
    energy: frozenset[str]
    auth: frozenset[str]
    make_machine: Callable[[MachineInputs], EvccMachine]
    payload_types: frozenset[int] = v2gtp.SESSION_PAYLOAD_TYPES
    tls13: bool = False  # TLS 1.3 with a vehicle certificate (ISO 15118-20), else TLS 1.2
    controls: frozenset[str] = frozenset()  # control modes (ISO 15118-20), empty: none to choose

    @property
    def default_energy(self) -> Energy:
        return "dc" if "dc" in self.energy else "ac"


def _din(m: MachineInputs) -> EvccMachine:
    config = DinConfig(evcc_id=m.evcc_id, timers=m.timers)
    if m.precharge_tolerance is not None:
        config = dataclasses.replace(config, precharge_tolerance=m.precharge_tolerance)
    return DinEvcc(config, m.vehicle)


def _iso2(m: MachineInputs) -> EvccMachine:
    config = Iso2Config(
        evcc_id=m.evcc_id, energy_transfer_mode="AC_three_phase_core" if m.energy == "ac" else "DC_extended",
        payment="Contract" if m.auth == "pnc" else "ExternalPayment", contracts=m.contracts, timers=m.timers,
    )
    if m.precharge_tolerance is not None:
        config = dataclasses.replace(config, precharge_tolerance=m.precharge_tolerance)
    return Iso2Evcc(config, m.vehicle)


def iso20_config(name: str, m: MachineInputs) -> Iso20Config:
    """The -20 machine configuration for `--protocol name` (EVCCID: the MAC as 12 hex digits, [V2G20-...] evccID)."""
    config = Iso20Config(
        evcc_id=m.evcc_id.hex().upper(), service=service_of_protocol(name), control_mode=m.control,
        authorization="PnC" if m.auth == "pnc" else "EIM", contracts=m.contracts20, timers=m.timers,
        unix_time_offset=m.unix_time_offset)
    if m.precharge_tolerance is not None:
        config = dataclasses.replace(config, precharge_tolerance=m.precharge_tolerance)
    return config


def _iso20(name: str) -> ProtocolChoice:
    service = service_of_protocol(name)
    config = Iso20Config(evcc_id="00", service=service)
    key = sap_protocol(config)
    ac_or_dc = "dc" if config.dc else "ac"

    def make(m: MachineInputs) -> EvccMachine:
        return Iso20Evcc(iso20_config(name, m), m.vehicle)

    return ProtocolChoice(
        name, f"ISO 15118-20 {service}", iso20_offer(key, SCHEMA_IDS[key], 1), ISO_15118_20, frozenset({ac_or_dc}),
        frozenset({"eim", "pnc"}), make, v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES, tls13=True,
        controls=frozenset(CONTROL_MODES))


PROTOCOLS: Mapping[str, ProtocolChoice] = {
    "din": ProtocolChoice("din", "DIN SPEC 70121 DC EIM", DIN_OFFER, DIN_70121, frozenset({"dc"}),
                          frozenset({"eim"}), _din),
    "iso2": ProtocolChoice("iso2", "ISO 15118-2", ProtocolOffer("iso2", ISO2_NAMESPACE, 2, 0, schema_id=2, priority=1),
                           ISO_15118_2, frozenset({"ac", "dc"}), frozenset({"eim", "pnc"}), _iso2),
    **{name: _iso20(name) for name in ("iso20-dc", "iso20-dc-bpt", "iso20-ac", "iso20-ac-bpt")},
}
