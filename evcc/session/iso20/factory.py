"""Building ISO 15118-20 machines for the session runner and the `evcc session` / `evcc bench` registries.

    iso20_machine_factory(config, vehicle) -> MachineFactory    (Negotiated -> Iso20Evcc)
    iso20_machines(config, vehicle)        -> {"iso20-dc" | "iso20-ac": MachineFactory}
    iso20_offers(config, priority=1)       -> (ProtocolOffer,)   for run_session's ``offers``
    service_of_protocol("iso20-dc-bpt")    -> "DC_BPT"           the CLI's --protocol names

The V2GTP connection must accept the -20 payload types besides 0x8001 (SupportedAppProtocol): open it with
``accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES``.
"""

from __future__ import annotations

from evcc.errors import ConfigError
from evcc.session.iso20.config import Iso20Config, Service
from evcc.session.iso20.machine import Iso20Evcc
from evcc.session.iso20.vehicle import Iso20VehiclePort
from evcc.session.machine import EvccMachine
from evcc.session.runner import MachineFactory
from evcc.session.sap import Negotiated, ProtocolOffer, iso20_offer

PROTOCOL_SERVICES: dict[str, Service] = {
    "iso20-dc": "DC", "iso20-ac": "AC", "iso20-dc-bpt": "DC_BPT", "iso20-ac-bpt": "AC_BPT",
}
SCHEMA_IDS = {"iso20-dc": 3, "iso20-ac": 4}


def service_of_protocol(name: str) -> Service:
    """The energy service a `--protocol` name asks for (iso20-dc, iso20-ac, iso20-dc-bpt, iso20-ac-bpt)."""
    try:
        return PROTOCOL_SERVICES[name]
    except KeyError:
        raise ConfigError(f"unknown ISO 15118-20 protocol {name!r}; known: {', '.join(PROTOCOL_SERVICES)}") from None


def sap_protocol(config: Iso20Config) -> str:
    """The SupportedAppProtocol key of the service's schema set (BPT rides on the DC or AC namespace)."""
    return "iso20-dc" if config.dc else "iso20-ac"


def iso20_machine_factory(config: Iso20Config, vehicle: Iso20VehiclePort) -> MachineFactory:
    """A factory the runner calls once SupportedAppProtocol chose a -20 namespace."""
    wanted = sap_protocol(config)

    def make(negotiated: Negotiated) -> EvccMachine:
        if negotiated.offer.protocol != wanted:
            raise ConfigError(f"SupportedAppProtocol chose {negotiated.offer.protocol}, the vehicle is configured "
                              f"for {config.service} ({wanted})")
        return Iso20Evcc(config, vehicle)

    return make


def iso20_machines(config: Iso20Config, vehicle: Iso20VehiclePort) -> dict[str, MachineFactory]:
    return {sap_protocol(config): iso20_machine_factory(config, vehicle)}


def iso20_offers(config: Iso20Config, priority: int = 1) -> tuple[ProtocolOffer, ...]:
    protocol = sap_protocol(config)
    return (iso20_offer(protocol, SCHEMA_IDS[protocol], priority),)
