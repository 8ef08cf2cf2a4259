"""End-to-end bench for the daemon: everything real except the charger and the battery, which are the bench's
simulators. Direct Ethernet link (no SLAC: ``[slac] enabled = false``), as a bench without modems runs it, or
with ``link=PowerlineLink()`` the simulated powerline with SLAC (tests/app/powerline.py). ``iso20=True``: the
SECC speaks ISO 15118-20 DC with Plug & Charge over TLS 1.3 mutual, contracts and vehicle identity from the
run-time -20 PKI (tests/app/bench20.py); else ISO 15118-2 with Plug & Charge over TCP.

    EV netns  <prefix>-ev                                  SECC netns <prefix>-secc
    ┌───────────────────────────────────────────┐          ┌──────────────────────────────┐
    │ daemon: python -m evcc.app run (subprocess)│ ev0──veth──secc0 SDP responder,       │
    │   BMS bridge ─┐ udp_multicast CAN on lo    │          │ ISO 15118-2 SECC + PnC sim   │
    │ BenchBms ─────┘ (test process)             │          └──────────────────────────────┘
    └───────────────────────────────────────────┘
    private dbus-daemon (unix socket in /tmp, system rules + systemd/org.evcc.Evcc1.conf)
    SoftHSM2 token (private SOFTHSM2_CONF) with two imported contracts of the run-time test PKI
    NOTIFY_SOCKET: a datagram socket of the test

The simulators run on one asyncio loop in a thread of the test process (``PeerLoop``); their sockets are
opened inside the namespaces.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import can
from cryptography.hazmat.primitives import serialization

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.iso20_responder import Iso20Secc
from evcc.bench.secc.iso20_values import SUPPORTED_ISO20
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import serve_secc
from evcc.bms_bridge.aio import CanNodeRunner
from evcc.bms_bridge.battery_bms import BenchBms
from evcc.bms_bridge.bus import open_bus
from evcc.bms_bridge.codec import load_codec
from evcc.bms_bridge.config import CanBusConfig
from evcc.contracts.chain import common_name
from evcc.contracts.importer import import_contract_files
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite
from evcc.session import sap
from evcc.session.battery_model import BatteryModel
from evcc.session.iso2.values import body_element
from evcc.session.iso20 import ISO_15118_20
from evcc.session.sdp import SdpResponse, Security, Transport

from .bench20 import make_secc20, secc_context, vehicle_identity, write_pem
from .powerline import PowerlineLink

ROOT = Path(__file__).resolve().parents[2]
CAN_GROUP = "239.74.163.2"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
T = TypeVar("T")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


class PeerLoop:
    """An asyncio loop in a thread for the simulators; :meth:`call` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="peer-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def do(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()
        return self.call(wrapped())

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.call(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class SeccSession:
    """One TCP connection's ISO 15118-2 responder with the arrival time of every request."""

    secc: Iso2Secc
    pnc: SeccPncSim
    times: list[tuple[float, str]] = field(default_factory=list)
    sent: list[tuple[float, str]] = field(default_factory=list)  # (time, response name) as handed to TCP

    def receive_payload(self, data: bytes, now: float) -> None:
        before = len(self.secc.received)
        self.secc.receive_payload(data, now)
        for name in self.secc.received[before:]:
            self.times.append((time.monotonic(), name))

    def messages_to_send(self, now: float) -> list[Any]:
        out = self.secc.messages_to_send(now)
        for msg in out:
            self.sent.append((time.monotonic(), body_element(msg.Body)[0]))
        return out

    def get_timer(self) -> float | None:
        return self.secc.get_timer()

    @property
    def emaid(self) -> str | None:
        leaf = self.pnc.contract_leaf
        return common_name(leaf) if leaf is not None else None

    def first(self, name: str, after: float = 0.0) -> float | None:
        return next((t for t, n in self.times if n == name and t >= after), None)

    @property
    def stopped(self) -> bool:
        return "SessionStopReq" in self.secc.received


def _pem_files(pki: TestPki, name: str, folder: Path) -> tuple[Path, Path]:
    pem = serialization.Encoding.PEM
    chain, key = folder / f"{name}.chain.pem", folder / f"{name}.key.pem"
    chain.write_bytes(b"".join(c.public_bytes(pem) for c in pki.chain(name)))
    key.write_bytes(pki.keys[name].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return chain, key


@dataclass
class Bench:
    """The shared environment of the end-to-end tests (created once per module)."""

    tmp: Path
    token: Pkcs11Config
    bus_address: str
    link: VethLink | PowerlineLink = field(default_factory=VethLink)
    iso20: bool = False
    pki: TestPki | None = None
    peer: PeerLoop = field(default_factory=PeerLoop)
    sessions: list[SeccSession] = field(default_factory=list)
    sessions20: list[Iso20Secc] = field(default_factory=list)
    battery: BenchBms | None = None
    emaids: dict[str, str] = field(default_factory=dict)  # contract_1/contract_2 -> eMAID
    sdp: SdpResponder | None = None  # the SECC's SDP answer (tests may silence or redirect it)
    tls20: dict[str, str] = field(default_factory=dict)  # [session] keys of the -20 TLS identity
    can_bus: can.BusABC | None = None  # the BMS simulator's end of the udp_multicast CAN bus
    tpm_tcti: str | None = None  # [hsm] kind = "tpm" on this TCTI (key files in tmp/tpm-keys) instead of the token

    def create(self) -> Bench:
        self.pki = build_pki(Suite.ISO20_P521 if self.iso20 else Suite.ISO2, NOW)
        self.link.create()
        ip("-n", self.link.ev_netns, "link", "set", "lo", "up", "multicast", "on")
        ip("-n", self.link.ev_netns, "route", "add", "224.0.0.0/4", "dev", "lo")
        self._contracts()
        if isinstance(self.link, PowerlineLink):
            self.peer.call(self.link.start())
        self.peer.call(self._start_secc20() if self.iso20 else self._start_secc())
        self.peer.call(self._start_bms())
        return self

    def close(self) -> None:
        if isinstance(self.link, PowerlineLink):
            self.peer.call(self.link.stop())
        self.peer.close()
        if self.can_bus is not None:
            self.can_bus.shutdown()  # else python-can warns "UdpMulticastBus was not properly shut down"
            self.can_bus = None
        self.link.close()

    # --- set-up -------------------------------------------------------------------------------------------
    def _contracts(self) -> None:
        """contract_1 (priority 2, preferred) and contract_2 (priority 1) into the store and the token."""
        assert self.pki is not None
        keystore = self._keystore()
        try:
            ctx = InstallContext(store=ContractStore(self.tmp / "contracts"), keystore=keystore,
                                 v2g_roots=(self.pki.certs["v2g_root"],), now=NOW, mo_roots=(self.pki.certs["mo_root"],))
            for name, priority in (("contract_1", 2), ("contract_2", 1)):
                chain, key = _pem_files(self.pki, name, self.tmp)
                self.emaids[name] = import_contract_files(chain, key, ctx, priority).emaid
        finally:
            keystore.close()
        (self.tmp / "pin").write_text(self.token.user_pin + "\n")
        if self.iso20:
            chain_file, label = vehicle_identity(self.token, self.pki, self.tmp)
            root = write_pem(self.tmp / "v2g_root.pem", self.pki.certs["v2g_root"])
            self.tls20 = {"vehicle_chain": str(chain_file), "vehicle_key_label": label, "v2g_root": str(root)}

    def _keystore(self) -> Any:  # Pkcs11KeyStore, or TpmKeyStore (imported only for a TPM bench)
        if self.tpm_tcti is None:
            return Pkcs11KeyStore(self.token)
        from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
        (self.tmp / "tpm-keys").mkdir(exist_ok=True)
        return TpmKeyStore(TpmConfig(self.tpm_tcti, self.tmp / "tpm-keys"))

    def _make_secc(self) -> SeccSession:
        assert self.pki is not None
        pnc = SeccPncSim(ProvisioningService(ProvisioningSimulator(self.pki), self.emaids["contract_1"]), NOW)
        session = SeccSession(Iso2Secc(config=Iso2SeccConfig(response_time=0.04), pnc=pnc), pnc)
        self.sessions.append(session)
        return session

    async def _start_secc(self) -> None:
        address = str(self.link.link_local(self.link.secc_netns, self.link.secc_ifname))
        ifname = self.link.secc_ifname
        with in_netns(self.link.secc_netns):
            server, _log = await serve_secc(f"{address}%{ifname}", 0, [SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0)],
                                            DinSecc, responders={"iso2": self._make_secc})
            port = server.sockets[0].getsockname()[1]
            self.sdp = SdpResponder(SdpResponse(ipaddress.IPv6Address(address), port, Security.NO_TLS, Transport.TCP))
            await serve_sdp(self.sdp, ifname)

    def _make_secc20(self) -> Iso20Secc:
        assert self.pki is not None
        secc = make_secc20(self.pki, self.emaids["contract_1"], NOW)
        self.sessions20.append(secc)
        return secc

    async def _start_secc20(self) -> None:
        assert self.pki is not None
        address = str(self.link.link_local(self.link.secc_netns, self.link.secc_ifname))
        ifname = self.link.secc_ifname
        with in_netns(self.link.secc_netns):
            server, _log = await serve_secc(f"{address}%{ifname}", 0, list(SUPPORTED_ISO20), DinSecc,
                                            ssl_context=secc_context(self.pki, self.tmp),
                                            responders={"iso20-dc": self._make_secc20},
                                            timers={"iso20-dc": ISO_15118_20, "iso20-ac": ISO_15118_20})
            port = server.sockets[0].getsockname()[1]
            self.sdp = SdpResponder(SdpResponse(ipaddress.IPv6Address(address), port, Security.TLS, Transport.TCP))
            await serve_sdp(self.sdp, ifname)

    async def _start_bms(self) -> None:
        with in_netns(self.link.ev_netns):
            bus = open_bus(CanBusConfig("udp_multicast", CAN_GROUP))
        self.can_bus = bus
        self.battery = BenchBms(load_codec(), BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0))
        asyncio.get_running_loop().create_task(CanNodeRunner(bus, self.battery).run())

    # --- per test -----------------------------------------------------------------------------------------
    def set_battery(self, model: BatteryModel) -> None:
        def change() -> None:
            assert self.battery is not None
            self.battery.model = model
            self.battery.faults.clear()
        self.peer.do(change)

    def config(self, name: str = "evcc.toml", *, restart_delay_s: float = 0.5, **overrides: str) -> Path:
        slac = "true" if isinstance(self.link, PowerlineLink) else "false"
        session = f'payment = "contract"\nrestart_delay_s = {restart_delay_s}\nstop_timeout_s = 5.0\n'
        if self.iso20:
            t = self.tls20
            session += (f'protocols = ["iso20-dc"]\ntls = true\nv2g_roots = ["{t["v2g_root"]}"]\n'
                        f'vehicle_chain = "{t["vehicle_chain"]}"\nvehicle_key_label = "{t["vehicle_key_label"]}"')
        else:
            session += 'protocols = ["iso2"]'
        sections = {
            "plc": f'interface = "{self.link.ev_ifname}"',
            "slac": f"enabled = {slac}",
            "session": session,
            "contracts": f'directory = "{self.tmp / "contracts"}"',
            "hsm": f'kind = "pkcs11"\nmodule = "{self.token.module}"\ntoken = "{self.token.token_label}"\n'
                   f'pin_file = "{self.tmp / "pin"}"' if self.tpm_tcti is None else
                   f'kind = "tpm"\ntcti = "{self.tpm_tcti}"\ndirectory = "{self.tmp / "tpm-keys"}"',
            "bms": f'interface = "udp_multicast"\nchannel = "{CAN_GROUP}"\nfreshness_s = 1.0',
            "dbus": f'bus = "address"\naddress = "{self.bus_address}"',
            "log": 'level = "info"',
        }
        sections.update(overrides)
        path = self.tmp / name
        path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in sections.items()))
        return path

    def sessions_since(self, t: float) -> list[SeccSession]:
        return [s for s in list(self.sessions) if s.times and s.times[0][0] >= t]


class NotifySocket:
    """The test's $NOTIFY_SOCKET: a reader thread collects sd_notify datagrams with their arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="notify", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, OSError):
                continue
            self.messages.extend((time.monotonic(), line) for line in data.decode().split("\n"))

    def drain(self) -> list[tuple[float, str]]:
        return list(self.messages)

    def wait_for(self, line: str, timeout: float = 15.0) -> float:
        end = time.monotonic() + timeout
        while True:
            for t, got in self.drain():
                if got == line:
                    return t
            assert time.monotonic() < end, f"no {line!r} from the daemon; got {[m for _, m in self.messages]}"
            time.sleep(0.01)

    def close(self) -> None:
        self._closed = True
        self._thread.join(2)
        self.sock.close()


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    notify: NotifySocket
    started: float

    @classmethod
    def start(cls, bench: Bench, config: Path, tag: str, watchdog_usec: int = 2_000_000) -> DaemonProcess:
        notify = NotifySocket(bench.tmp / f"notify-{tag}.sock")
        log = bench.tmp / f"daemon-{tag}.log"
        env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(watchdog_usec),
               "PYTHONPATH": str(ROOT)}
        with log.open("wb") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", bench.link.ev_netns, sys.executable, "-m", "evcc.app",
                                     "run", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                    env=env, cwd=ROOT)
        return cls(proc, log, notify, time.monotonic())

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.notify.close()
        print(f"--- {self.log.name} (tail) ---\n{self.output()[-3000:]}")  # shown by pytest when a test fails


def until(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.01) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(poll)
