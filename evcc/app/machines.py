"""The daemon's protocols (part of the composition root): ``[session] protocols`` -> SupportedAppProtocol offers
(ISO 15118-2 §8.2.1, ISO 15118-20 §8.2) and one machine factory per offered namespace.

    "din"           DIN SPEC 70121 DC, external identification
    "iso2"          ISO 15118-2, ``energy_transfer`` DC_extended | DC_core | AC_three_phase_core | AC_single_phase_core,
                    Contract (Plug & Charge) or ExternalPayment
    "iso20-dc" ...  ISO 15118-20 DC | AC | DC_BPT | AC_BPT in ``control_mode`` Scheduled | Dynamic, PnC or EIM;
                    BPT rides on the DC or AC namespace (one of the pair per list)

A factory gets the EVCCID (the interface's MAC, [V2G2-879]; -20 takes it as hex text), the vehicle port (the BMS
bridge) and a :class:`ContractSource` that hands out the contract port of the protocol for this session. The
machines' modules are imported when the first session negotiates them, not at start (cold start, issue 6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from evcc.app.config import SessionSettings, sap_key
from evcc.session import sap
from evcc.bms_bridge.config import TIMERS as BMS_TIMERS
from evcc.session.machine import EvccMachine
from evcc.session.pacing import effective_min_cycle, with_min_cycle
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers
from evcc.session.vehicle import VehiclePort

if TYPE_CHECKING:
    from evcc.session.iso2.config import EnergyTransferMode, PaymentOption
    from evcc.session.iso2.pnc import KeyStoreContracts
    from evcc.session.iso20.pnc import KeyStoreContracts20

OFFERS = {"iso2": (sap.ISO2_NAMESPACE, 2, 0, 2), "din": (sap.DIN_NAMESPACE, 2, 0, 1)}  # namespace, version, SchemaID
ISO20_SCHEMA_IDS = {"iso20-dc": 3, "iso20-ac": 4}
SERVICES = {"iso20-dc": "DC", "iso20-ac": "AC", "iso20-dc-bpt": "DC_BPT", "iso20-ac-bpt": "AC_BPT"}  # Table 204


class ContractSource(Protocol):
    """Contract ports for one session, built at its start (contract validity at the current wall-clock time)."""

    def contract_port(self) -> KeyStoreContracts: ...

    def contract_port20(self) -> KeyStoreContracts20: ...


class MachineMaker(Protocol):
    """A machine for one session; ``resume``: the SessionID of a paused session to resume (ISO 15118-2 [V2G2-741],
    -20 SessionStop Pause; DIN SPEC 70121 has no pause and starts a new session)."""

    def __call__(self, mac: bytes, vehicle: VehiclePort, contracts: ContractSource,
                 resume: bytes | None = None) -> EvccMachine: ...


@dataclass(frozen=True)
class Protocols:
    """What the session runner needs: offers in preference order, factories by SupportedAppProtocol key, the
    configured name of each key (D-Bus Session.Protocol), the SupportedAppProtocol timer table and whether the
    V2GTP connection must take the -20 payload types."""

    offers: tuple[sap.ProtocolOffer, ...]
    makers: dict[str, MachineMaker]
    names: dict[str, str]
    sap_timers: EvccTimers
    iso20: bool


def _iso2(s: SessionSettings) -> MachineMaker:
    payment: PaymentOption = "Contract" if s.payment == "contract" else "ExternalPayment"
    mode: EnergyTransferMode = s.energy_transfer  # type: ignore[assignment]  # config checked the choices

    def make(mac: bytes, vehicle: VehiclePort, contracts: ContractSource, resume: bytes | None = None) -> EvccMachine:
        from evcc.session.iso2 import Iso2Config, Iso2Evcc

        port = contracts.contract_port() if payment == "Contract" else None
        return Iso2Evcc(Iso2Config(evcc_id=mac, energy_transfer_mode=mode, payment=payment, contracts=port,
                                   resume_session_id=resume, timers=with_min_cycle(ISO_15118_2, min_cycle(s))), vehicle)
    return make


def min_cycle(s: SessionSettings) -> float:
    """The charge loop's minimum cycle (evcc.session.pacing): ``[session] charge_loop_min_cycle_s``, or the BMS
    frame period on CAN (BMS_CycleTime) when longer: the vehicle has nothing new to say sooner."""
    return effective_min_cycle(s.charge_loop_min_cycle_s, BMS_TIMERS["BMS_CycleTime"])


def _din(s: SessionSettings) -> MachineMaker:
    def make(mac: bytes, vehicle: VehiclePort, contracts: ContractSource, resume: bytes | None = None) -> EvccMachine:
        return _din_machine(mac, vehicle, with_min_cycle(DIN_70121, min_cycle(s)))
    return make


def _din_machine(mac: bytes, vehicle: VehiclePort, timers: EvccTimers) -> EvccMachine:
    from evcc.session.din import DinConfig, DinEvcc

    return DinEvcc(DinConfig(evcc_id=mac, timers=timers), vehicle)  # DIN SPEC 70121: external identification only


def _iso20(s: SessionSettings, protocol: str) -> MachineMaker:
    service = SERVICES[protocol]
    pnc = s.payment == "contract"

    def make(mac: bytes, vehicle: VehiclePort, contracts: ContractSource, resume: bytes | None = None) -> EvccMachine:
        from evcc.session.iso20 import ISO_15118_20, Iso20Config
        from evcc.session.iso20.machine import Iso20Evcc
        from evcc.session.iso20.vehicle import Iso20VehiclePort

        assert isinstance(vehicle, Iso20VehiclePort)
        config = Iso20Config(
            evcc_id=mac.hex().upper(), service=service, control_mode=s.control_mode,  # type: ignore[arg-type]
            authorization="PnC" if pnc else "EIM", unix_time_offset=time.time() - time.monotonic(),
            contracts=contracts.contract_port20() if pnc else None, resume_session_id=resume,
            timers=with_min_cycle(ISO_15118_20, min_cycle(s)))
        return Iso20Evcc(config, vehicle)
    return make


def _offer(protocol: str, priority: int) -> sap.ProtocolOffer:
    if protocol in OFFERS:
        namespace, major, minor, schema = OFFERS[protocol]
        return sap.ProtocolOffer(protocol, namespace, major, minor, schema_id=schema, priority=priority)
    key = sap_key(protocol)
    return sap.iso20_offer(key, ISO20_SCHEMA_IDS[key], priority)


def protocols(s: SessionSettings) -> Protocols:
    offers = tuple(_offer(p, i + 1) for i, p in enumerate(s.protocols))
    makers: dict[str, MachineMaker] = {}
    for p in s.protocols:
        makers[sap_key(p)] = _iso2(s) if p == "iso2" else _din(s) if p == "din" else _iso20(s, p)
    first = s.protocols[0]
    timers: EvccTimers = ISO_15118_2 if first == "iso2" else DIN_70121
    iso20 = any(p.startswith("iso20") for p in s.protocols)
    if first.startswith("iso20"):
        from evcc.session.iso20.config import ISO_15118_20
        timers = ISO_15118_20
    return Protocols(offers, makers, {sap_key(p): p for p in s.protocols}, timers, iso20)
