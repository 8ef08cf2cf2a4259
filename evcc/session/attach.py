"""Composition of one charging session on a real interface (`evcc session --iface IF`):

    interface (EVCCID = its MAC, [V2G2-879]) -> SDP (ISO 15118-2 §7.10.1) -> TCP, TLS 1.2 (§7.7) or TLS 1.3
    with the vehicle certificate (ISO 15118-20) -> SupportedAppProtocol (§8.2.1) -> the chosen protocol's machine
    (DIN 70121 / ISO 15118-2 / ISO 15118-20) -> SessionStop

Adapter code only: it wires the sans-IO parts with their asyncio adapters (sdp_aio, connection, runner) and
records what happened into a :class:`~evcc.session.report.SessionJsonReport`. Peer failures (no SECC, TLS
rejected, a broken session) end up in the report; configuration and platform errors (unknown interface, a
protocol that cannot do what was asked) are raised as ConfigError / PlatformError before anything is sent.

Protocols come from the registry of :mod:`evcc.session.attach_protocols` (:data:`PROTOCOLS`); another mapping
can be passed to :func:`attach`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import socket
import struct
import time
from types import MappingProxyType
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from evcc.errors import ConfigError, PeerError, PlatformError, SecurityError
from evcc.session.attach_protocols import PROTOCOLS, Auth, Energy, MachineInputs, ProtocolChoice
from evcc.session.attach_vehicle import LabVehicle, VehicleConfig
from evcc.session.connection import PreparedTls, TlsConfig, TlsVersion, open_connection, prepare
from evcc.session.events import SessionEnded
from evcc.session.iso2.pnc import ContractPort
from evcc.session.iso20.config import ControlMode
from evcc.session.iso20.pnc import ContractPort20
from evcc.session.machine import EvccMachine
from evcc.session.pacing import DEFAULT_MIN_CYCLE, check_min_cycle, with_min_cycle
from evcc.session.report import RecordingConnection, SessionJsonReport
from evcc.session.runner import run_session
from evcc.session.session_log import SessionLog
from evcc.session.sap import Negotiated
from evcc.session.sdp import SdpClient, Security
from evcc.session.sdp_aio import discover, interface_index, sdp_socket
from evcc.session.timeouts import EvccTimers

__all__ = ["PROTOCOLS", "AttachConfig", "MachineInputs", "ProtocolChoice", "attach", "check_config"]
SIOCGIFHWADDR = 0x8927


@dataclass(frozen=True)
class AttachConfig:
    iface: str
    protocol: str = "iso2"
    energy: Energy | None = None  # None: the protocol's (DC where it can)
    auth: Auth = "eim"
    tls: TlsConfig | None = None
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    precharge_tolerance: float | None = None
    connect_timeout: float = 20.0
    min_msg_timeout: float | None = None  # LAB PEERS ONLY, see with_min_msg_timeout
    contracts: ContractPort | None = field(default=None, compare=False)
    control: ControlMode = "Scheduled"  # ISO 15118-20 control mode
    contracts20: ContractPort20 | None = field(default=None, compare=False)
    min_cycle: float = DEFAULT_MIN_CYCLE  # charge loop: seconds from one loop request to the next, at least


def check_config(config: AttachConfig, protocols: Mapping[str, ProtocolChoice]) -> ProtocolChoice:
    """The registry entry for ``config``; ConfigError naming the option that cannot work."""
    choice = protocols.get(config.protocol)
    if choice is None:
        raise ConfigError(f"--protocol {config.protocol!r}: one of {', '.join(sorted(protocols))}")
    if config.energy is not None and config.energy not in choice.energy:
        raise ConfigError(f"--{config.energy}: {choice.title} supports {', '.join(sorted(choice.energy))}")
    if config.auth not in choice.auth:
        raise ConfigError(f"--auth {config.auth}: {choice.title} supports {', '.join(sorted(choice.auth))}")
    if choice.controls and config.control not in choice.controls:
        raise ConfigError(f"--control {config.control}: {choice.title} supports {', '.join(sorted(choice.controls))}")
    if config.auth == "pnc" and config.tls is None:
        raise ConfigError("--auth pnc needs --tls (Plug & Charge runs over TLS only, [V2G2-818])")
    contracts = config.contracts20 if choice.tls13 else config.contracts
    if config.auth == "pnc" and contracts is None:
        raise ConfigError("--auth pnc needs a contract store and a key store (--contracts with --token or --soft-keys)")
    if config.precharge_tolerance is not None and not 0.0 < config.precharge_tolerance <= 1000.0:
        raise ConfigError(f"--precharge-tolerance {config.precharge_tolerance} outside (0, 1000] V")
    check_min_cycle(config.min_cycle)
    if config.min_msg_timeout is not None and not 0.0 < config.min_msg_timeout <= 10.0:
        raise ConfigError(f"--min-msg-timeout {config.min_msg_timeout} outside (0, 10] s")
    if config.tls is not None:
        tls13 = config.tls.version is TlsVersion.TLS13
        if tls13 != choice.tls13:
            raise ConfigError(f"--tls: {choice.title} runs over {'TLS 1.3' if choice.tls13 else 'TLS 1.2'}")
        if tls13 and config.tls.client_certificate is None:
            raise ConfigError("--tls: ISO 15118-20 needs the vehicle certificate (--vehicle-cert, --vehicle-key)")
    return choice


def energy_of(config: AttachConfig, choice: ProtocolChoice) -> Energy:
    return config.energy if config.energy is not None else choice.default_energy


def with_min_msg_timeout(timers: EvccTimers, floor: float | None) -> EvccTimers:
    """LAB PEERS ONLY: every V2G_EVCC_Msg_Timeout below ``floor`` raised to it (a slow simulated charger, e.g.
    Josev's JVM codec at 0.2-0.6 s per message, against CurrentDemandReq's 0.25 s). Never in a vehicle; the
    report lists each response later than the standard's value (``over_standard_timeout``)."""
    if floor is None:
        return timers
    table = MappingProxyType({name: max(value, floor) for name, value in timers.V2G_EVCC_Msg_Timeout.items()})
    return dataclasses.replace(timers, V2G_EVCC_Msg_Timeout=table)


def over_standard_timeout(report: SessionJsonReport, timers: EvccTimers) -> list[dict[str, object]]:
    """Responses that arrived later than the standard's V2G_EVCC_Msg_Timeout for their request."""
    late: list[dict[str, object]] = []
    for row in report.messages:
        limit = timers.V2G_EVCC_Msg_Timeout.get(row.get("request") or "")
        if limit is not None and "latency_ms" in row and row["latency_ms"] > limit * 1000.0:
            late.append({"t": row["t"], "type": row["type"], "latency_ms": row["latency_ms"],
                         "timeout_ms": limit * 1000.0})
    return late


def interface_mac(ifname: str) -> bytes:
    """The 6-byte hardware address of ``ifname`` in this network namespace (SIOCGIFHWADDR)."""
    if not ifname or len(ifname.encode()) >= 16 or "/" in ifname:
        raise PlatformError(f"network interface {ifname!r} not found")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            data = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", ifname.encode()))
    except OSError as exc:
        raise PlatformError(f"network interface {ifname!r}: no hardware address ({exc.strerror or exc})") from exc
    return bytes(data[18:24])


async def attach(config: AttachConfig, protocols: Mapping[str, ProtocolChoice] = PROTOCOLS,
                 clock: Callable[[], float] = time.monotonic) -> SessionJsonReport:
    """Run one session; peer failures are in the returned report, configuration and platform errors raise."""
    choice = check_config(config, protocols)
    tls = prepare(config.tls) if config.tls is not None else None  # unreadable roots, a bad key: said now
    index = interface_index(config.iface)
    mac = interface_mac(config.iface)
    vehicle = LabVehicle(config.vehicle)
    report = SessionJsonReport(config.iface, config.protocol, config.auth, config.tls is not None)
    report.min_msg_timeout = config.min_msg_timeout
    report.control = config.control if choice.controls else None
    report.tls_client_key = tls.client_key_source if tls is not None else None
    timers = with_min_cycle(with_min_msg_timeout(choice.timers, config.min_msg_timeout), config.min_cycle)
    report.min_cycle = config.min_cycle
    origin = clock()
    try:
        sock = sdp_socket(config.iface)
        try:
            found = await discover(SdpClient(Security.TLS if config.tls else Security.NO_TLS), sock, clock)
        finally:
            sock.close()
    except PeerError as exc:
        report.outcome, report.reason = "sdp failed", f"SDP: {exc}"
        return report
    report.times["sdp_s"] = round(clock() - origin, 6)
    report.secc = {"address": str(found.address), "port": found.port, "security": found.security.name}
    try:
        conn = await open_connection(str(found.address), found.port, tls=tls, scope_id=index,
                                     accepted=choice.payload_types, timeout=config.connect_timeout)
    except (PeerError, SecurityError) as exc:
        report.outcome, report.reason = "connection failed", f"connection to the SECC: {exc}"
        return report
    report.times["connected_s"] = round(clock() - origin, 6)
    report.tls_cipher = conn.cipher[0] if conn.cipher else None
    report.tls_version = conn.cipher[1] if conn.cipher else None
    recorder = RecordingConnection(conn, clock)
    machines: list[EvccMachine] = []
    inputs = MachineInputs(mac, vehicle, energy_of(config, choice), config.auth, config.contracts,
                           config.precharge_tolerance, timers, config.control, config.contracts20,
                           unix_time_offset=time.time() - clock())

    def make(negotiated: Negotiated) -> EvccMachine:
        machine = choice.make_machine(inputs)
        machines.append(machine)
        return machine

    try:
        session = await run_session(recorder, [choice.offer], {choice.offer.protocol: make}, timers, clock,
                                    setup_started=origin,
                                    log=SessionLog(over_limits=choice.timers.V2G_EVCC_Msg_Timeout))
    except SecurityError as exc:  # TLS 1.3: the SECC refused the vehicle certificate (an alert on the first read)
        report.outcome, report.reason = "connection failed", f"TLS: {exc}"
        return report
    _fill(report, session.ended, session.events, recorder, machines, origin, session.finished)
    report.negotiated = session.protocol
    report.over_standard_timeout = over_standard_timeout(report, choice.timers)
    report.over_standard_count = session.events.over.total
    report.soc = {"start": config.vehicle.start_soc, "end": round(vehicle.battery.soc, 3),
                  "delivered_wh": round(vehicle.battery.delivered_wh, 3),
                  "discharged_wh": round(vehicle.battery.discharged_wh, 3)}
    return report


def _fill(report: SessionJsonReport, ended: SessionEnded, log: SessionLog,
          recorder: RecordingConnection, machines: list[EvccMachine], origin: float, finished: float) -> None:
    grammar = machines[0].grammar if machines else None
    report.take_messages(recorder.records, grammar, origin, log)
    report.take_events(log)
    report.outcome, report.reason, report.state = ended.kind.value, ended.reason, ended.state
    report.timer, report.response_code = ended.timer, ended.response_code
    report.times["finished_s"] = round(finished - origin, 6)
    for row in report.messages:
        if row["type"] == "PowerDeliveryRes":
            report.times["power_delivery_start_s"] = row["t"]
            break
    report.ok = report.stopped_in_order(ended.kind)
