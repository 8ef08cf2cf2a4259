"""Composition root of the daemon (ARCHITECTURE.md "ports between parts"): the one module that turns the
frozen :class:`~evcc.app.config.AppConfig` into real parts. It reads the files and environment the
configuration names (PIN file, certificates, D-Bus address); nothing else in the daemon does.

    key store (PKCS#11 token | soft) ─► contract store + contract port (ISO 15118-2 Plug & Charge)
    CAN bus ─► bms_bridge (core, BridgeVehicle = the vehicle port)
    D-Bus: evcc.hmi.HmiService over the same contract store
    session: SupportedAppProtocol offers + one machine factory per protocol (DIN 70121, ISO 15118-2)
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509

from evcc.app.config import AppConfig, HsmSettings
from evcc.app.errors import AppConfigError, InterfaceMissing
from evcc.bms_bridge.aio import BmsBridge
from evcc.bms_bridge.config import BridgeConfig, CanBusConfig
from evcc.bms_bridge.state import BridgeEvent
from evcc.contracts.importer import import_contract_files
from evcc.contracts.install_common import InstallContext
from evcc.contracts.store import Contract, ContractStore
from evcc.hmi.service import HmiConfig, HmiService
from evcc.hsm.keystore import KeyStore
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.session import sap
from evcc.session.connection import TlsConfig
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2.config import EnergyTransferMode, PaymentOption
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.machine import EvccMachine
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers
from evcc.session.vehicle import VehiclePort

SIOCGIFHWADDR = 0x8927
MAX_PIN_BYTES = 256
OFFERS = {"iso2": (sap.ISO2_NAMESPACE, 2), "din": (sap.DIN_NAMESPACE, 1)}  # namespace, SchemaID
MachineMaker = Callable[[bytes, VehiclePort, KeyStoreContracts | None], EvccMachine]


def interface_mac(ifname: str) -> bytes:
    """The interface's MAC (the EVCCID, [V2G2-879]); :class:`InterfaceMissing` if there is no such interface
    in this network namespace."""
    try:
        socket.if_nametoindex(ifname)
    except OSError:
        raise InterfaceMissing(f"[plc] interface: no network interface {ifname!r} here") from None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            info = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("256s", ifname.encode()[:15]))
        except OSError as exc:
            raise InterfaceMissing(f"[plc] interface {ifname!r}: cannot read its MAC address: {exc}") from None
    return bytes(info[18:24])


def _read_pin(path: Path) -> str:
    try:
        data = path.read_bytes()[:MAX_PIN_BYTES + 1]
    except OSError as exc:
        raise AppConfigError(f"[hsm] pin_file: cannot read {path}: {exc.strerror or exc}") from None
    pin = data.decode("utf-8", "replace").strip()
    if not pin or len(data) > MAX_PIN_BYTES:
        raise AppConfigError(f"[hsm] pin_file: {path} holds no PIN")
    return pin


def open_keystore(h: HsmSettings) -> KeyStore:
    """The token (:class:`PlatformError` when module, token or login fail) or the bench's soft store."""
    if h.kind == "soft":
        assert h.directory is not None and h.kek_file is not None
        if not h.kek_file.is_file():
            raise AppConfigError(f"[hsm] kek_file: {h.kek_file} does not exist")
        return SoftKeyStore(SoftKeyStoreConfig(h.directory, kek_file=h.kek_file))
    assert h.pin_file is not None
    return Pkcs11KeyStore(Pkcs11Config(h.module, h.token, _read_pin(h.pin_file)))


def _load_cert(path: Path, key: str) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AppConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise AppConfigError(f"{key}: {path} is not a certificate: {exc}") from None


def _bus_address(cfg: AppConfig) -> str | None:
    if cfg.dbus.bus == "address":
        return cfg.dbus.address
    if cfg.dbus.bus == "session":
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise AppConfigError("[dbus] bus = \"session\": DBUS_SESSION_BUS_ADDRESS is not set")
        return address
    return None


def _iso2_machine(cfg: AppConfig) -> MachineMaker:
    payment: PaymentOption = "Contract" if cfg.session.payment == "contract" else "ExternalPayment"
    mode: EnergyTransferMode = "DC_core" if cfg.session.energy_transfer == "DC_core" else "DC_extended"

    def make(mac: bytes, vehicle: VehiclePort, contracts: KeyStoreContracts | None) -> EvccMachine:
        return Iso2Evcc(Iso2Config(evcc_id=mac, energy_transfer_mode=mode, payment=payment,
                                   contracts=contracts if payment == "Contract" else None), vehicle)
    return make


def _din_machine(mac: bytes, vehicle: VehiclePort, contracts: KeyStoreContracts | None) -> EvccMachine:
    return DinEvcc(DinConfig(evcc_id=mac), vehicle)  # DIN SPEC 70121: external identification only


def install_context(store: ContractStore, keystore: KeyStore,
                    roots: tuple[x509.Certificate, ...]) -> InstallContext:
    return InstallContext(store=store, keystore=keystore, v2g_roots=roots, now=datetime.now(timezone.utc))


@dataclass
class Parts:
    config: AppConfig
    mac: bytes
    keystore: KeyStore
    store: ContractStore
    bridge: BmsBridge
    hmi: HmiService
    offers: tuple[sap.ProtocolOffer, ...]
    machines: dict[str, MachineMaker]
    sap_timers: EvccTimers
    tls: TlsConfig | None
    v2g_roots: tuple[x509.Certificate, ...]
    oem: tuple[str, x509.Certificate] | None

    def contract_port(self) -> KeyStoreContracts:
        """The contract port for one session, at the current wall-clock time (contract validity)."""
        window = timedelta(days=self.config.contracts.expiry_window_days)
        label, cert = self.oem if self.oem else (None, None)
        return KeyStoreContracts(install_context(self.store, self.keystore, self.v2g_roots), oem_key_label=label,
                                 oem_cert=cert, expiry_window=window)

    def close(self) -> None:
        self.hmi.stop()
        self.bridge.close()
        close = getattr(self.keystore, "close", None)
        if callable(close):
            close()


def build(cfg: AppConfig, on_bridge_event: Callable[[BridgeEvent], None]) -> Parts:
    """Every part the daemon needs, or the first :class:`EvccError` that prevents it (nothing left open)."""
    mac = interface_mac(cfg.plc.interface)
    roots = tuple(_load_cert(p, "[session] v2g_roots") for p in cfg.session.v2g_roots)
    oem = None
    if cfg.contracts.oem_key_label is not None and cfg.contracts.oem_cert is not None:
        oem = (cfg.contracts.oem_key_label, _load_cert(cfg.contracts.oem_cert, "[contracts] oem_cert"))
    store = ContractStore(cfg.contracts.directory)
    keystore = open_keystore(cfg.hsm)
    try:
        bridge = BmsBridge.open(BridgeConfig(bus=CanBusConfig(cfg.bms.interface, cfg.bms.channel), mode=cfg.bms.mode,
                                             dbc_path=cfg.bms.dbc, freshness=cfg.bms.freshness_s), on_bridge_event)
    except BaseException:
        getattr(keystore, "close", lambda: None)()
        raise
    offers = tuple(sap.ProtocolOffer(p, OFFERS[p][0], 2, 0, schema_id=OFFERS[p][1], priority=i + 1)
                   for i, p in enumerate(cfg.session.protocols))
    makers: dict[str, MachineMaker] = {"iso2": _iso2_machine(cfg), "din": _din_machine}
    window = timedelta(days=cfg.contracts.expiry_window_days)

    def importer(chain: Path, key: Path, priority: int) -> Contract:
        return import_contract_files(chain, key, install_context(store, keystore, roots), priority)

    hmi = HmiService(HmiConfig(bus_address=_bus_address(cfg), expiry_window=window), store, importer=importer,
                     delete_key=keystore.delete)
    parts = Parts(cfg, mac, keystore, store, bridge, hmi, offers, {p: makers[p] for p in cfg.session.protocols},
                  ISO_15118_2 if cfg.session.protocols[0] == "iso2" else DIN_70121,
                  TlsConfig(v2g_roots=roots) if cfg.session.tls else None, roots, oem)
    return parts
