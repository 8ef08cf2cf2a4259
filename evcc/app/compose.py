"""Composition root of the daemon (ARCHITECTURE.md "ports between parts"): the one module that turns the
frozen :class:`~evcc.app.config.AppConfig` into real parts. It reads the files and environment the
configuration names (PIN file, certificates, D-Bus address); nothing else in the daemon does.

    key store (PKCS#11 token | soft) ─► contract store + contract port (ISO 15118-2 Plug & Charge)
    CAN bus ─► bms_bridge (core, BridgeVehicle = the vehicle port): opened by :meth:`Parts.open_bridge`, after
               READY (cantools and python-can are not needed to own the bus name; see evcc.app.daemon)
    D-Bus: evcc.hmi.HmiService over the same contract store
    session: SupportedAppProtocol offers + one machine factory per protocol (evcc.app.machines: DIN 70121,
             ISO 15118-2 AC/DC, ISO 15118-20 AC/DC/BPT) and the TLS client context: TLS 1.2 when the preferred
             protocol is DIN/-2, TLS 1.3 with the vehicle certificate (its key in the [hsm] store) when it is -20
             (TLS comes before SupportedAppProtocol, so the preferred protocol decides)
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, cast

from cryptography import x509

from evcc.app.config import AppConfig, HsmSettings
from evcc.app.errors import AppConfigError, InterfaceMissing
from evcc.app.machines import Protocols, protocols
from evcc.bms_bridge.config import BridgeConfig, CanBusConfig
from evcc.bms_bridge.state import BridgeEvent
from evcc.contracts.install_common import InstallContext
from evcc.contracts.store import Contract, ContractStore
from evcc.errors import ConfigError
from evcc.hmi.service import HmiConfig, HmiService
from evcc.hsm.keystore import KeyStore
from evcc.hsm.open_store import open_store, options_from_hsm, read_pin
from evcc.hsm.pkcs11_store import Pkcs11Config
from evcc.hsm.soft_store import SoftKeyStore
if TYPE_CHECKING:
    from evcc.bms_bridge.aio import BmsBridge
    from evcc.session.connection import PreparedTls
    from evcc.session.iso2.pnc import KeyStoreContracts
    from evcc.session.iso20.pnc import KeyStoreContracts20

SIOCGIFHWADDR = 0x8927
LOG = logging.getLogger(__name__)


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
        return read_pin(path, "[hsm] pin_file")
    except ConfigError as exc:
        raise AppConfigError(str(exc)) from None


def open_keystore(h: HsmSettings) -> KeyStore:
    """The token (:class:`PlatformError` when module, token or login fail), the TPM, or the bench's soft store
    (evcc.hsm.open_store, as `evcc keys` and `evcc session` open it)."""
    return open_store(options_from_hsm(h)).store


def _pkcs11_config(h: HsmSettings) -> Pkcs11Config:
    assert h.pin_file is not None
    return Pkcs11Config(h.module, h.token, _read_pin(h.pin_file))


def _load_certs(path: Path, key: str) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM file (leaf first) or the one of a DER file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AppConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        if b"-----BEGIN" in data:
            return tuple(x509.load_pem_x509_certificates(data))
        return (x509.load_der_x509_certificate(data),)
    except ValueError as exc:
        raise AppConfigError(f"{key}: {path} is not a certificate: {exc}") from None


def _load_cert(path: Path, key: str) -> x509.Certificate:
    return _load_certs(path, key)[0]


def _bus_address(cfg: AppConfig) -> str | None:
    if cfg.dbus.bus == "address":
        return cfg.dbus.address
    if cfg.dbus.bus == "session":
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise AppConfigError("[dbus] bus = \"session\": DBUS_SESSION_BUS_ADDRESS is not set")
        return address
    return None


def tls_config(cfg: AppConfig, roots: tuple[x509.Certificate, ...], keystore: KeyStore) -> PreparedTls | None:
    """The client context, prepared once at start (a bad vehicle chain or key is a start error)."""
    s = cfg.session
    if not s.tls:
        return None
    from evcc.session.connection import TlsConfig, TlsVersion, prepare

    iso20 = s.protocols[0].startswith("iso20")
    if not iso20 and s.vehicle_chain is None:
        return prepare(TlsConfig(v2g_roots=roots))
    from evcc.session.tls13 import ClientCertificate, TpmKeyFiles, TpmKeys, choose_vehicle_key

    assert s.vehicle_chain is not None and s.vehicle_key_label is not None  # the config checked it
    chain = _load_certs(s.vehicle_chain, "[session] vehicle_chain")
    token = _pkcs11_config(cfg.hsm) if cfg.hsm.kind == "pkcs11" else None
    soft = keystore if isinstance(keystore, SoftKeyStore) else None
    tcti = getattr(cfg.hsm, "tcti", None) if cfg.hsm.kind == "tpm" else None  # a TPM: its key files, tpm2-openssl
    tpm = TpmKeys(tcti, cast(TpmKeyFiles, keystore)) if tcti else None
    cert = ClientCertificate(chain, choose_vehicle_key(s.vehicle_key_label, token, soft, tpm))
    if not iso20:  # TLS 1.2 (DIN, -2): sent only to a charger that asks for a client certificate
        return prepare(TlsConfig(v2g_roots=roots, client_certificate=cert))
    return prepare(TlsConfig(v2g_roots=roots, version=TlsVersion.TLS13, client_certificate=cert))


def install_context(store: ContractStore, keystore: KeyStore,
                    roots: tuple[x509.Certificate, ...]) -> InstallContext:
    return InstallContext(store=store, keystore=keystore, v2g_roots=roots, now=datetime.now(timezone.utc))


@dataclass
class Parts:
    config: AppConfig
    mac: bytes
    keystore: KeyStore
    store: ContractStore
    hmi: HmiService
    protocols: Protocols
    tls: PreparedTls | None
    v2g_roots: tuple[x509.Certificate, ...]
    oem: tuple[str, tuple[x509.Certificate, ...]] | None  # key label, certificate chain (leaf first)
    _bridge: BmsBridge | None = None
    _install_tried: set[str] = field(default_factory=set)  # pending contracts asked for in this run (pending.py)

    @property
    def bridge(self) -> BmsBridge:
        if self._bridge is None:
            raise RuntimeError("the BMS bridge is not open yet (Parts.open_bridge)")
        return self._bridge

    def open_bridge(self, on_event: Callable[[BridgeEvent], None]) -> BmsBridge:
        """Load the DBC and open the CAN bus (:class:`ConfigError`/:class:`PlatformError` naming why)."""
        from evcc.bms_bridge.aio import BmsBridge

        b = self.config.bms
        self._bridge = BmsBridge.open(BridgeConfig(bus=CanBusConfig(b.interface, b.channel), mode=b.mode,
                                                   dbc_path=b.dbc, freshness=b.freshness_s), on_event)
        return self._bridge

    def contract_port(self) -> KeyStoreContracts:
        """The ISO 15118-2 contract port for one session, at the current wall-clock time (contract validity)."""
        from evcc.session.iso2.pnc import KeyStoreContracts

        window = timedelta(days=self.config.contracts.expiry_window_days)
        label, chain = self.oem if self.oem else (None, ())
        ctx = install_context(self.store, self.keystore, self.v2g_roots)
        pending = self._pending()
        if pending is not None:  # Manager.RequestInstallation: CertificateInstallation first
            from evcc.app.pending import InstallPending

            return InstallPending(ctx, oem_key_label=label, oem_cert=chain[0], expiry_window=window,
                                  pending_id=pending.contract_id)
        return KeyStoreContracts(ctx, oem_key_label=label, oem_cert=chain[0] if chain else None,
                                 expiry_window=window)

    def _pending(self) -> Contract | None:
        """The pending contract this session installs (once per run; only with an OEM provisioning key)."""
        if self.oem is None:
            return None
        from evcc.app.pending import first_pending

        pending = first_pending(self.store, self._install_tried)
        if pending is not None:
            self._install_tried.add(pending.contract_id)
        return pending

    def contract_port20(self) -> KeyStoreContracts20:
        """The ISO 15118-20 contract port: contracts in the D-Bus priority order (PnC tries them in turn;
        CertificateInstallationReq lists their eMAIDs as PrioritizedEMAIDs)."""
        from cryptography.hazmat.primitives.asymmetric import ed448

        from evcc.hsm.keystore import KeyAlgorithm
        from evcc.session.iso20.pnc import KeyStoreContracts20

        window = timedelta(days=self.config.contracts.expiry_window_days)
        ctx = install_context(self.store, self.keystore, self.v2g_roots)
        if self.oem is None:
            return KeyStoreContracts20(ctx, expiry_window=window)
        label, chain = self.oem
        from evcc.contracts.chain import common_name

        ed = isinstance(chain[0].public_key(), ed448.Ed448PublicKey)
        algorithm = KeyAlgorithm.ED448 if ed else KeyAlgorithm.EC_P521
        pcid = common_name(chain[0])  # ISO 15118-20: the PCID is the OEM provisioning certificate's CN
        pending = self._pending()
        if pending is not None:  # Manager.RequestInstallation: CertificateInstallation first
            from evcc.app.pending import InstallPending20

            return InstallPending20(ctx, pcid=pcid, oem_chain=chain, oem_key_label=label, oem_key_algorithm=algorithm,
                                    expiry_window=window, installed_priority=pending.priority,
                                    pending_id=pending.contract_id)
        return KeyStoreContracts20(ctx, pcid=pcid, oem_chain=chain, oem_key_label=label, oem_key_algorithm=algorithm,
                                   expiry_window=window)

    async def aclose(self) -> None:
        """The daemon's ordered stop: the D-Bus service refuses new work and its running contract/key-store write
        ends (awaited without blocking the loop, :meth:`HmiService.close`); then the bridge and, last, the key store
        (a PKCS#11 session or TPM context is never closed under a running call). Sessions' key-store steps ended
        before (evcc.app.attempt awaits its AsyncKeyStore.aclose)."""
        await self.hmi.close()
        self._close_rest()

    def close(self) -> None:
        """Without awaiting (no loop runs: start errors, tests): as :meth:`aclose`, except that a D-Bus write still
        running keeps the key store open (logged; the process exits next) rather than closing it under the call."""
        self.hmi.stop()
        self._close_rest()

    def _close_rest(self) -> None:
        if self._bridge is not None:
            self._bridge.close()
        if self.hmi.work_pending:
            LOG.error("key store left open: a D-Bus contract/key-store write still runs on its worker thread")
            return
        close = getattr(self.keystore, "close", None)
        if callable(close):
            close()


def build(cfg: AppConfig) -> Parts:
    """Every part the daemon needs before READY, or the first :class:`EvccError` that prevents it (nothing left
    open). The BMS bridge comes later (:meth:`Parts.open_bridge`)."""
    mac = interface_mac(cfg.plc.interface)
    roots = tuple(_load_cert(p, "[session] v2g_roots") for p in cfg.session.v2g_roots)
    oem = None
    if cfg.contracts.oem_key_label is not None and cfg.contracts.oem_cert is not None:
        oem = (cfg.contracts.oem_key_label, _load_certs(cfg.contracts.oem_cert, "[contracts] oem_cert"))
    store = ContractStore(cfg.contracts.directory)
    keystore = open_keystore(cfg.hsm)
    try:
        tls = tls_config(cfg, roots, keystore)
    except BaseException:
        getattr(keystore, "close", lambda: None)()
        raise
    window = timedelta(days=cfg.contracts.expiry_window_days)

    def importer(chain: Path, key: Path, priority: int) -> Contract:
        from evcc.contracts.importer import import_contract_files  # workshops only: not at start

        return import_contract_files(chain, key, install_context(store, keystore, roots), priority)

    hmi = HmiService(HmiConfig(bus_address=_bus_address(cfg), expiry_window=window), store, importer=importer,
                     delete_key=keystore.delete)
    return Parts(cfg, mac, keystore, store, hmi, protocols(cfg.session), tls, roots, oem)
