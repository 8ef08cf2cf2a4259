"""The simulated world of ``evcc demo``: everything the daemon talks to, except the HMI (network namespaces or local).

    EV netns  <prefix>-ev                                    charger side
    ┌─────────────────────────────────────────────┐
    │ evcc run (the real daemon, a subprocess)     │ ev0 ─ powerline simulator with SLAC (slac = true)
    │   BMS bridge ─┐ udp_multicast CAN on lo      │       or a direct veth (slac = false) ─ SECC netns:
    │ BenchBms ─────┘ (this process)               │       SLAC EVSE, SDP responder, ISO 15118-2 SECC with
    └─────────────────────────────────────────────┘       Plug & Charge (test PKI), a second SECC with a fault

The contracts (contract_1, contract_2 of the run-time test PKI; contract_3, valid 28 days, is kept for an import
over D-Bus) go into a software key store and the contract store before the daemon starts. Plug-in and unplug are
the BMS frames starting and stopping (the daemon starts a session when fresh BMS data arrive); the EV's stop is
the BMS's stop request; a charger fault is the SDP answer pointing at the faulty SECC for the next sessions; a
refused contract is the SECC answering PaymentDetailsReq with FAILED_CertificateRevoked (ISO 15118-2 Table 105;
the -2 session ends there). With ``protocol = "iso20"`` the charger is the -20 DC SECC over TLS 1.3 mutual (the
vehicle key in the software key store, its certificate from the run's P-521 PKI) and a refused contract is
AuthorizationRes WARNING_eMSPUnknown, after which the EV tries its next contract in the same session (§8.3.4.2).
The simulators run on the caller's asyncio loop; their sockets are opened inside the namespaces. With ``local``
(`evcc demo` without root, evcc.demo.inprocess) there are no namespaces: the SECCs listen on ::1 (127.0.0.1 without
IPv6), :meth:`World.secc` tells the demo link where the next session's charger is (instead of the SDP answer), and the
BMS is on python-can's ``virtual`` bus, which reaches only this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from evcc.bench import netns
from evcc.bench.pnc import certify_new_key, new_public_key
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import parse_fault
from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig, dc_secc
from evcc.bench.secc.iso20_values import SUPPORTED_ISO20
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import TIMERS, serve_secc
from evcc.bench.secc.tls import server_context13
from evcc.bms_bridge.aio import CanNodeRunner
from evcc.bms_bridge.battery_bms import BenchBms, BmsFault
from evcc.bms_bridge.bus import open_bus
from evcc.bms_bridge.codec import load_codec
from evcc.bms_bridge.config import CanBusConfig
from evcc.contracts.chain import common_name
from evcc.contracts.importer import import_contract_files
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.errors import PlatformError
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.pki.generator import TestPki, build_pki, vehicle_chain
from evcc.pki.profiles import Suite, profile_table
from evcc.session import sap
from evcc.session.battery_model import BatteryModel
from evcc.session.iso20 import ISO_15118_20
from evcc.session.sdp import SdpResponse, Security, Transport

CAN_GROUP = "239.74.163.3"
CONTRACTS = ("contract_1", "contract_2", "contract_3")
INSTALLED_EMAID = "DE8AAC00000042F"  # contract_4: installed by CertificateInstallation after RequestInstallation
PRESTORED = {"contract_1": 2, "contract_2": 1}  # name -> priority before the daemon starts
REFUSED_CODE = "FAILED_CertificateRevoked"
REFUSED_CODE_20 = "WARNING_eMSPUnknown"
FAULTS = {"iso2": "code:CurrentDemandRes#4=FAILED", "iso20": "code:DC_ChargeLoopRes#4=FAILED"}  # faults.py text
VEHICLE_KEY = "demo-vehicle"
OEM_KEY = "demo-oem-provisioning"  # the OEM provisioning key: CertificateInstallation of a requested contract


@dataclass
class DemoPnc(SeccPncSim):
    """The SECC's Plug & Charge part, refusing the contracts whose eMAID is in ``refuse`` at PaymentDetails."""

    refuse: frozenset[str] = frozenset()

    def respond(self, secc: Iso2Secc, name: str, req: Any, code: str) -> tuple[str, Any]:
        element, body = super().respond(secc, name, req, code)
        leaf = self.contract_leaf
        if name == "PaymentDetailsRes" and leaf is not None and common_name(leaf) in self.refuse \
                and str(body.ResponseCode) == "OK":
            body.ResponseCode = REFUSED_CODE
            self.refusals.append(f"{common_name(leaf)}: {REFUSED_CODE}")
        return element, body


@dataclass
class DemoPnc20(Iso20PncSim):
    """The -20 SECC's Plug & Charge part, refusing the contracts whose eMAID is in ``refuse`` at Authorization."""

    refuse: frozenset[str] = frozenset()

    def authorize(self, secc: Iso20Secc, req: Any) -> str:
        code = super().authorize(secc, req)
        leaf = self.contract_leaf
        if code == "OK" and leaf is not None and common_name(leaf) in self.refuse:
            self.refusals.append(f"{common_name(leaf)}: {REFUSED_CODE_20}")
            self.contract_leaf = None
            return REFUSED_CODE_20
        return code


@dataclass
class ChargerSession:
    """What the charger saw of one session: the contract it authorised and what it refused."""

    pnc: DemoPnc | DemoPnc20
    faulty: bool
    secc: Iso2Secc | Iso20Secc | None = None
    resumable: frozenset[bytes] = frozenset()  # the charger's paused sessions when this one began

    @property
    def paused(self) -> bool:
        """This session ended with SessionStop Pause (the charger keeps its SessionID for a resumption)."""
        return self.secc is not None and self.secc.session_id in self.secc.paused

    @property
    def resumed(self) -> bool:
        """This session continued a paused one (SessionSetupRes OK_OldSessionJoined)."""
        return self.secc is not None and self.secc.session_id in self.resumable

    @property
    def emaid(self) -> str | None:
        return common_name(self.pnc.contract_leaf) if self.pnc.contract_leaf is not None else None


class PowerlineLink:
    """The simulated powerline with SLAC between the EV's ``ev0`` and one EVSE (evcc.bench.plc_sim), with the
    face of :class:`VethLink` (``ev_netns``, ``secc_netns``, interface names, ``close``)."""

    ev_ifname = "ev0"
    secc_ifname = "evse0"

    def __init__(self, prefix: str) -> None:
        from evcc.bench.plc_sim.topology import Topology

        self.prefix = prefix
        self.topology = Topology(n_evse=1, prefix=prefix)
        self._stack = contextlib.AsyncExitStack()
        self._evse: asyncio.Task[Any] | None = None

    @property
    def ev_netns(self) -> str:
        return f"{self.prefix}-ev"

    @property
    def secc_netns(self) -> str:
        return f"{self.prefix}-evse0"

    def create(self) -> PowerlineLink:
        self.topology.create()
        return self

    async def start(self) -> None:
        from evcc.bench.plc_sim.bridge import PowerlineSim, bench_ports

        ports = bench_ports(self.topology.sim_ifnames, [20], 0.3)
        await self._stack.enter_async_context(PowerlineSim(ports, self.topology.sim_netns))
        self.restart_evse()

    def restart_evse(self) -> None:
        """A fresh EVSE SLAC machine (a new plug-in matches again)."""
        from evcc.bench.plc_sim.bridge import run_evse

        if self._evse is not None:
            self._evse.cancel()
        self._evse = asyncio.get_running_loop().create_task(run_evse(self.secc_ifname, self.secc_netns))

    async def stop(self) -> None:
        if self._evse is not None:
            self._evse.cancel()
            await asyncio.gather(self._evse, return_exceptions=True)
        await self._stack.aclose()

    def close(self) -> None:
        self.topology.close()


@dataclass
class World:
    folder: Path
    slac: bool = True
    protocol: str = "iso2"  # or "iso20" (DC, TLS 1.3, Plug & Charge)
    prefix: str = field(default_factory=lambda: "evd-" + secrets.token_hex(3))
    pki: TestPki | None = None
    emaids: dict[str, str] = field(default_factory=dict)  # contract name -> eMAID
    link: VethLink | PowerlineLink | None = None
    battery: BenchBms | None = None
    sessions: list[ChargerSession] = field(default_factory=list)
    refuse: frozenset[str] = frozenset()  # eMAIDs the charger refuses
    fault: str | None = None  # the fault of the next sessions (text of evcc.bench.secc.faults)
    paused: set[bytes] = field(default_factory=set)  # the chargers' paused SessionIDs (SessionStop Pause)
    install_emaid: str = ""  # the eMAID the provisioning backend issues (Manager.RequestInstallation); "" contract_1
    local: bool = False  # in process (no root): SECCs on loopback, no SDP/SLAC, BMS on python-can's virtual bus
    _current: str = "ok"  # the SECC of the next sessions ("ok" or "fault"; in process: no SDP answer to change)
    _sdp: SdpResponder | None = None
    _ports: dict[str, int] = field(default_factory=dict)  # "ok" and fault text -> SECC port
    _address: str = ""
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _transports: list[asyncio.BaseTransport] = field(default_factory=list)
    _can: Any = None
    _now: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))

    @property
    def iso20(self) -> bool:
        return self.protocol == "iso20"

    @property
    def ev_netns(self) -> str:
        assert self.link is not None
        return self.link.ev_netns

    # --- set-up and tear-down -----------------------------------------------------------------------------
    @property
    def can_channel(self) -> str:
        """The CAN channel: the multicast group (namespaces) or this demo's virtual bus name (in process)."""
        return f"evcc-demo-{self.prefix}" if self.local else CAN_GROUP

    def create(self) -> None:
        """PKI, key store, contracts, namespaces unless local (blocking: before the loop's work starts)."""
        self.pki = build_pki(Suite.ISO20_P521 if self.iso20 else Suite.ISO2, self._now)
        if self.local:
            self.slac = False
            self._contracts()
            return
        self.link = PowerlineLink(self.prefix) if self.slac else VethLink(prefix=self.prefix)
        self.link.create()
        netns.run("ip", "-n", self.link.ev_netns, "link", "set", "lo", "up", "multicast", "on")
        netns.run("ip", "-n", self.link.ev_netns, "route", "add", "224.0.0.0/4", "dev", "lo")
        self._contracts()

    def _contracts(self) -> None:
        assert self.pki is not None
        (self.folder / "keys").mkdir(mode=0o700, exist_ok=True)
        kek = self.folder / "kek"
        kek.write_bytes(secrets.token_bytes(32))
        kek.chmod(0o600)
        store = SoftKeyStore(SoftKeyStoreConfig(self.folder / "keys", kek_file=kek))
        ctx = InstallContext(store=ContractStore(self.folder / "contracts"), keystore=store,
                             v2g_roots=(self.pki.certs["v2g_root"],), now=self._now,
                             mo_roots=(self.pki.certs["mo_root"],))
        try:
            for name in CONTRACTS:
                chain, key = self.contract_files(name)
                if name in PRESTORED:
                    self.emaids[name] = import_contract_files(chain, key, ctx, PRESTORED[name]).emaid
                else:
                    self.emaids[name] = common_name(self.pki.certs[name])
            self.emaids["contract_4"] = INSTALLED_EMAID
            algorithm = KeyAlgorithm.EC_P521 if self.iso20 else KeyAlgorithm.EC_P256
            oem = certify_new_key(self.pki, store, OEM_KEY, algorithm, profile_table()["oem_prov_leaf"])
            self._pem(self.folder / "oem_chain.pem", oem, *self.pki.chain("oem_sub_ca_2"))
            if self.iso20:  # the vehicle's TLS 1.3 identity: key in the store, certificate of the run's OEM CA
                public = new_public_key(store, VEHICLE_KEY, KeyAlgorithm.EC_P521)
                self._pem(self.folder / "vehicle_chain.pem", *vehicle_chain(self.pki, public))
        finally:
            getattr(store, "close", lambda: None)()
        self._pem(self.folder / "v2g_root.pem", self.pki.certs["v2g_root"])

    @staticmethod
    def _pem(path: Path, *certs: Any) -> Path:
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return path

    def contract_files(self, name: str) -> tuple[Path, Path]:
        """PEM chain (leaf first) and PKCS#8 key of a test-PKI contract (for the import over D-Bus too)."""
        assert self.pki is not None
        pem = serialization.Encoding.PEM
        chain, key = self.folder / f"{name}.chain.pem", self.folder / f"{name}.key.pem"
        if not chain.exists():
            chain.write_bytes(b"".join(c.public_bytes(pem) for c in self.pki.chain(name)))
            key.write_bytes(self.pki.keys[name].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
            key.chmod(0o600)
        return chain, key

    async def start(self) -> None:
        """Powerline and EVSE SLAC (slac), the SECCs and SDP, the BMS (silent: unplugged)."""
        if self.local:
            await self._start_local()
            return
        assert self.link is not None
        if isinstance(self.link, PowerlineLink):
            await self.link.start()
        ifname, ns = self.link.secc_ifname, self.link.secc_netns
        self._address = str(netns.link_local(ns, ifname))
        supported = list(SUPPORTED_ISO20) if self.iso20 else [SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0)]
        key_name = "iso20-dc" if self.iso20 else "iso2"
        tls = self._secc_tls() if self.iso20 else None
        timers = {"iso20-dc": ISO_15118_20, "iso20-ac": ISO_15118_20} if self.iso20 else TIMERS
        with in_netns(ns):
            for key, faulty in (("ok", False), ("fault", True)):
                server, _log = await serve_secc(
                    f"{self._address}%{ifname}", 0, supported, DinSecc, ssl_context=tls,
                    responders={key_name: self._factory(faulty)}, timers=timers,
                    fault=parse_fault(FAULTS[self.protocol]) if faulty else None)
                self._servers.append(server)
                self._ports[key] = server.sockets[0].getsockname()[1]
            self._sdp = SdpResponder(self._sdp_answer(self._ports["ok"]))
            self._transports.append(await serve_sdp(self._sdp, ifname))
        with in_netns(self.link.ev_netns):
            bus = open_bus(CanBusConfig("udp_multicast", CAN_GROUP))
        self._start_bms(bus)

    async def _start_local(self) -> None:
        """In process: the SECCs on the IPv6 loopback (IPv4 when the host has no ::1), the BMS on the virtual bus."""
        supported = list(SUPPORTED_ISO20) if self.iso20 else [SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0)]
        key_name = "iso20-dc" if self.iso20 else "iso2"
        tls = self._secc_tls() if self.iso20 else None
        timers = {"iso20-dc": ISO_15118_20, "iso20-ac": ISO_15118_20} if self.iso20 else TIMERS
        for key, faulty in (("ok", False), ("fault", True)):
            for host in (("::1", "127.0.0.1") if not self._address else (self._address,)):
                try:
                    server, _log = await serve_secc(
                        host, 0, supported, DinSecc, ssl_context=tls, responders={key_name: self._factory(faulty)},
                        timers=timers, fault=parse_fault(FAULTS[self.protocol]) if faulty else None)
                except OSError:
                    continue
                self._address = host
                self._servers.append(server)
                self._ports[key] = server.sockets[0].getsockname()[1]
                break
            else:
                raise PlatformError("the simulated charger cannot listen on the loopback (::1 or 127.0.0.1)")
        self._start_bms(open_bus(CanBusConfig("virtual", self.can_channel)))

    def secc(self) -> tuple[str, int]:
        """In process: where the next session's charger listens (what SDP would have answered)."""
        return self._address, self._ports[self._current]

    def _start_bms(self, bus: Any) -> None:
        self._can = bus
        self.battery = BenchBms(load_codec(), BatteryModel())
        self.battery.faults.add(BmsFault.SILENCE)  # unplugged until a scenario plugs in
        self._tasks.append(asyncio.get_running_loop().create_task(CanNodeRunner(bus, self.battery).run()))

    def _sdp_answer(self, port: int) -> SdpResponse:
        return SdpResponse(ipaddress.IPv6Address(self._address), port, Security.TLS if self.iso20 else Security.NO_TLS,
                           Transport.TCP)

    def _secc_tls(self) -> ssl.SSLContext:
        """TLS 1.3 server: the run's SECC chain; vehicle certificates must lead to its OEM root."""
        assert self.pki is not None
        chain = self._pem(self.folder / "secc_chain.pem", *self.pki.chain("secc_leaf"))
        key = self.folder / "secc.key"
        key.write_bytes(self.pki.keys["secc_leaf"].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        key.chmod(0o600)
        return server_context13(chain, key, [self.pki.root_of("oem_prov_leaf")])

    def _factory(self, faulty: bool) -> Callable[[], Any]:
        return (lambda: self._make_secc20(faulty)) if self.iso20 else (lambda: self._make_secc(faulty))

    def _make_secc20(self, faulty: bool) -> Iso20Secc:
        assert self.pki is not None
        service = ProvisioningService(ProvisioningSimulator(self.pki), self.install_emaid or self.emaids["contract_1"])
        pnc = DemoPnc20(service, datetime.now(timezone.utc), refuse=self.refuse)
        secc = dc_secc(Iso20SeccConfig(response_time=0.02, services=("DC",), max_charge_power=50_000.0), pnc=pnc,
                       paused=self.paused)
        self.sessions.append(ChargerSession(pnc, faulty, secc, frozenset(self.paused)))
        return secc

    def _make_secc(self, faulty: bool) -> Iso2Secc:
        assert self.pki is not None
        service = ProvisioningService(ProvisioningSimulator(self.pki), self.install_emaid or self.emaids["contract_1"])
        pnc = DemoPnc(service, datetime.now(timezone.utc), refuse=self.refuse)
        secc = Iso2Secc(config=Iso2SeccConfig(response_time=0.02, max_power=50_000.0), pnc=pnc, paused=self.paused)
        self.sessions.append(ChargerSession(pnc, faulty, secc, frozenset(self.paused)))
        return secc

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        if self._can is not None:
            self._can.shutdown()
        if isinstance(self.link, PowerlineLink):
            await self.link.stop()

    def close(self) -> None:
        if self.link is not None:
            self.link.close()

    # --- what a scenario does -----------------------------------------------------------------------------
    def plug(self, model: BatteryModel) -> None:
        assert self.battery is not None
        self.battery.model = model
        self.battery.faults.clear()
        if isinstance(self.link, PowerlineLink):
            self.link.restart_evse()

    def unplug(self) -> None:
        assert self.battery is not None
        self.battery.faults.clear()
        self.battery.faults.add(BmsFault.SILENCE)

    def ev_stop(self) -> None:
        """The BMS asks to stop (the EV-side stop: EVCC_StopRequest on CAN)."""
        assert self.battery is not None
        self.battery.faults.add(BmsFault.STOP_REQUEST)

    def ev_pause(self, on: bool) -> None:
        """The VCU asks to pause charging (BMS_PauseRequest on CAN) or clears the request (resume)."""
        assert self.battery is not None
        (self.battery.faults.add if on else self.battery.faults.discard)(BmsFault.PAUSE_REQUEST)

    def charger(self, *, fault: bool, refuse: tuple[str, ...]) -> None:
        """The next sessions' charger: the faulty SECC or the good one, refusing these contract names."""
        self.refuse = frozenset(self.emaids[n] for n in refuse)
        self.fault = FAULTS[self.protocol] if fault else None
        self._current = "fault" if fault else "ok"
        if self._sdp is not None:
            self._sdp.response = self._sdp_answer(self._ports[self._current])

    def config(self, bus_address: str, restart_delay_s: float = 1.0) -> Path:
        """The daemon's TOML (the same keys as /etc/evcc/evcc.toml; in process: the loopback interface, whose MAC
        the demo replaces, and the virtual CAN bus)."""
        assert self.link is not None or self.local
        sections = {
            "plc": f'interface = "{"lo" if self.link is None else self.link.ev_ifname}"',
            "slac": f"enabled = {'true' if self.slac else 'false'}",
            "session": f'payment = "contract"\nrestart_delay_s = {restart_delay_s}\nstop_timeout_s = 5.0\n' + (
                f'protocols = ["iso20-dc"]\ntls = true\nv2g_roots = ["{self.folder / "v2g_root.pem"}"]\n'
                f'vehicle_chain = "{self.folder / "vehicle_chain.pem"}"\nvehicle_key_label = "{VEHICLE_KEY}"'
                if self.iso20 else f'protocols = ["iso2"]\nv2g_roots = ["{self.folder / "v2g_root.pem"}"]'),
            "contracts": f'directory = "{self.folder / "contracts"}"\noem_key_label = "{OEM_KEY}"\n'
                         f'oem_cert = "{self.folder / "oem_chain.pem"}"',
            "hsm": f'kind = "soft"\ndirectory = "{self.folder / "keys"}"\nkek_file = "{self.folder / "kek"}"',
            "bms": f'interface = "{"virtual" if self.local else "udp_multicast"}"\nchannel = "{self.can_channel}"\n'
                   'freshness_s = 1.0',
            "dbus": f'bus = "address"\naddress = "{bus_address}"',
            "log": 'level = "info"',
        }
        path = self.folder / "evcc.toml"
        path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in sections.items()), encoding="utf-8")
        os.chmod(path, 0o600)
        return path
