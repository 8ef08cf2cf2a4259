"""The daemon's configuration (SERVICE.md "Config: TOML"): ``evcc run --config /etc/evcc/evcc.toml``.

Every section and key is checked: an unknown key, a wrong type or a value out of range is an
:class:`~evcc.app.errors.AppConfigError` that names file, section and key. The result is a tree of frozen
dataclasses passed to the composition root (no globals). ``examples/evcc.toml`` is the annotated reference.
Relative paths are taken relative to the configuration file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evcc.app.errors import AppConfigError
from evcc.app.toml_reader import Table, tables
from evcc.bms_bridge.modes import DEFAULT_DBC, ChargeMode
from evcc.bms_bridge.config import INTERFACES as CAN_INTERFACES, TIMERS as BMS_TIMERS
from evcc.toml_text import parse_toml

SECTIONS = ("plc", "slac", "session", "contracts", "hsm", "bms", "dbus", "log")
# Protocols the daemon can offer (preference = list order). ISO 15118-20: the energy service in the name; BPT
# rides on the DC or AC namespace, so a list holds at most one of iso20-dc / iso20-dc-bpt (and of the AC pair).
ISO20_PROTOCOLS = ("iso20-dc", "iso20-ac", "iso20-dc-bpt", "iso20-ac-bpt")
PROTOCOLS = ("iso2", "din", *ISO20_PROTOCOLS)
DEFAULT_PROTOCOLS = ("iso2", "din")
PAYMENTS = ("contract", "external")
DC_TRANSFERS = ("DC_extended", "DC_core")
AC_TRANSFERS = ("AC_three_phase_core", "AC_single_phase_core")
ENERGY_TRANSFERS = DC_TRANSFERS + AC_TRANSFERS  # ISO 15118-2 EnergyTransferMode
CONTROL_MODES = ("Scheduled", "Dynamic")  # ISO 15118-20 control mode
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_CONFIG_BYTES = 256 * 1024


@dataclass(frozen=True)
class PlcSettings:
    interface: str  # the modem's Ethernet interface (the car) or the bench's veth end


@dataclass(frozen=True)
class SlacSettings:
    enabled: bool = True  # False: a direct Ethernet link to the SECC (benches without a modem)
    parm_retries: int = 2


@dataclass(frozen=True)
class SessionSettings:
    protocols: tuple[str, ...] = DEFAULT_PROTOCOLS
    payment: str = "contract"
    energy_transfer: str = "DC_extended"
    control_mode: str = "Scheduled"
    tls: bool = False
    v2g_roots: tuple[Path, ...] = ()
    vehicle_chain: Path | None = None  # TLS 1.3 (-20): vehicle certificate + OEM Sub-CAs, PEM
    vehicle_key_label: str | None = None  # its private key in the [hsm] key store
    restart_delay_s: float = 5.0  # rest after a session before the next attempt (no CP state to watch here)
    stop_timeout_s: float = 10.0  # SIGTERM: how long an orderly stop may take before the session is cut
    charge_loop_min_cycle_s: float = 0.1  # charge loop pace, real cars 0.1-0.25 s (evcc.session.pacing)


@dataclass(frozen=True)
class ContractSettings:
    directory: Path = Path("/var/lib/evcc/contracts")
    expiry_window_days: int = 30
    oem_key_label: str | None = None
    oem_cert: Path | None = None


@dataclass(frozen=True)
class HsmSettings:
    kind: str = "pkcs11"  # "pkcs11" (token), "tpm" (TPM 2.0, evcc.hsm.tpm_store) or "soft" (bench only)
    module: str = "/usr/lib/softhsm/libsofthsm2.so"
    token: str = "evcc"
    pin_file: Path | None = None
    directory: Path | None = None  # soft, tpm: key folder
    kek_file: Path | None = None  # soft: 32-byte key-encryption key
    tcti: str | None = None  # tpm: TCTI string, e.g. "device:/dev/tpmrm0"


@dataclass(frozen=True)
class BmsSettings:
    interface: str = "socketcan"
    channel: str = "can0"
    dbc: Path = DEFAULT_DBC
    mode: ChargeMode = ChargeMode.DC
    freshness_s: float = BMS_TIMERS["BMS_Freshness"]


@dataclass(frozen=True)
class DbusSettings:
    bus: str = "system"  # system | session | address
    address: str | None = None


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"


@dataclass(frozen=True)
class AppConfig:
    source: Path
    plc: PlcSettings
    slac: SlacSettings
    session: SessionSettings
    contracts: ContractSettings
    hsm: HsmSettings
    bms: BmsSettings
    dbus: DbusSettings
    log: LogSettings


def _rel(base: Path, p: Path | None) -> Path | None:
    return None if p is None else (p if p.is_absolute() else base / p)


def is_ac(protocol: str, energy_transfer: str) -> bool:
    """Whether a configured protocol charges over AC (ISO 15118-2: by its EnergyTransferMode)."""
    return protocol.startswith("iso20-ac") or (protocol == "iso2" and energy_transfer in AC_TRANSFERS)


def sap_key(protocol: str) -> str:
    """The SupportedAppProtocol namespace key of a configured protocol (-20 BPT rides on DC or AC)."""
    return protocol.removesuffix("-bpt")


def _session(t: Table, base: Path) -> SessionSettings:
    roots = t.paths("v2g_roots")
    s = SessionSettings(
        protocols=t.strings("protocols", DEFAULT_PROTOCOLS, choices=PROTOCOLS),
        payment=t.text("payment", "contract", choices=PAYMENTS),
        energy_transfer=t.text("energy_transfer", "DC_extended", choices=ENERGY_TRANSFERS),
        control_mode=t.text("control_mode", "Scheduled", choices=CONTROL_MODES),
        tls=t.flag("tls", False), v2g_roots=tuple(r if r.is_absolute() else base / r for r in roots),
        vehicle_chain=_rel(base, t.optional_path("vehicle_chain")),
        vehicle_key_label=t.optional_text("vehicle_key_label"),
        restart_delay_s=t.number("restart_delay_s", 5.0, 0.0, 3600.0),
        stop_timeout_s=t.number("stop_timeout_s", 10.0, 0.0, 120.0, open_low=True),
        charge_loop_min_cycle_s=t.number("charge_loop_min_cycle_s", 0.1, 0.0, 0.4),
    )
    if not s.protocols:
        raise AppConfigError(f"{t.where('protocols')}: name at least one protocol")
    keys = [sap_key(p) for p in s.protocols]
    if len(set(keys)) != len(keys):
        both = " and ".join(p for p in s.protocols if keys.count(sap_key(p)) > 1)
        raise AppConfigError(f"{t.where('protocols')}: {both} share one SupportedAppProtocol namespace: list one")
    if len({is_ac(p, s.energy_transfer) for p in s.protocols}) > 1:
        raise AppConfigError(f"{t.where('protocols')}: mixes AC and DC charging; one inlet kind per configuration")
    if s.tls and not s.v2g_roots:
        raise AppConfigError(f"{t.where('v2g_roots')}: TLS needs at least one V2G root certificate file")
    if (s.vehicle_chain is None) != (s.vehicle_key_label is None):
        raise AppConfigError(f"{t.where('vehicle_chain')} and vehicle_key_label: give both or neither")
    if s.tls and s.protocols[0].startswith("iso20") and s.vehicle_chain is None:
        raise AppConfigError(f"{t.where('vehicle_chain')}: ISO 15118-20 over TLS 1.3 authenticates the vehicle: "
                             "give vehicle_chain and vehicle_key_label")
    return s


def _hsm(t: Table, base: Path) -> HsmSettings:
    kind = t.text("kind", "pkcs11", choices=("pkcs11", "tpm", "soft"))
    h = HsmSettings(kind=kind, module=t.text("module", HsmSettings.module), token=t.text("token", "evcc"),
                    pin_file=_rel(base, t.optional_path("pin_file")), directory=_rel(base, t.optional_path("directory")),
                    kek_file=_rel(base, t.optional_path("kek_file")), tcti=t.optional_text("tcti"))
    if kind == "tpm" and (h.tcti is None or h.directory is None):
        raise AppConfigError(f"{t.where('tcti' if h.tcti is None else 'directory')}: missing "
                             "(required for kind = \"tpm\")")
    if kind == "pkcs11" and h.pin_file is None:
        raise AppConfigError(f"{t.where('pin_file')}: missing (required for kind = \"pkcs11\")")
    if kind == "soft" and (h.directory is None or h.kek_file is None):
        raise AppConfigError(f"{t.where('directory' if h.directory is None else 'kek_file')}: missing "
                             "(required for kind = \"soft\")")
    return h


def _bms(t: Table, base: Path) -> BmsSettings:
    modes = {"dc": ChargeMode.DC, "dc_bpt": ChargeMode.DC_BPT, "ac": ChargeMode.AC}
    return BmsSettings(
        interface=t.text("interface", "socketcan", choices=CAN_INTERFACES), channel=t.text("channel", "can0"),
        dbc=_rel(base, t.path("dbc", DEFAULT_DBC)) or DEFAULT_DBC,
        mode=modes[t.text("mode", "dc", choices=tuple(modes))],
        freshness_s=t.number("freshness_s", BMS_TIMERS["BMS_Freshness"], 0.0, 10.0, open_low=True),
    )


def _dbus(t: Table) -> DbusSettings:
    d = DbusSettings(bus=t.text("bus", "system", choices=("system", "session", "address")),
                     address=t.optional_text("address"))
    if d.bus == "address" and not d.address:
        raise AppConfigError(f"{t.where('address')}: missing (required for bus = \"address\")")
    return d


def parse_config(doc: dict[str, Any], source: Path) -> AppConfig:
    """Validate a parsed TOML document (paths relative to ``source``'s folder)."""
    base = source.parent
    t = tables(doc, SECTIONS)
    cfg = AppConfig(
        source=source,
        plc=PlcSettings(interface=t["plc"].interface("interface")),
        slac=SlacSettings(enabled=t["slac"].flag("enabled", True), parm_retries=t["slac"].integer("parm_retries", 2, 0, 10)),
        session=_session(t["session"], base),
        contracts=ContractSettings(
            directory=_rel(base, t["contracts"].path("directory", ContractSettings.directory)) or Path(),
            expiry_window_days=t["contracts"].integer("expiry_window_days", 30, 0, 3650),
            oem_key_label=t["contracts"].optional_text("oem_key_label"),
            oem_cert=_rel(base, t["contracts"].optional_path("oem_cert"))),
        hsm=_hsm(t["hsm"], base), bms=_bms(t["bms"], base), dbus=_dbus(t["dbus"]),
        log=LogSettings(level=t["log"].text("level", "info", choices=LOG_LEVELS)),
    )
    for table in t.values():
        table.done()
    if (cfg.contracts.oem_key_label is None) != (cfg.contracts.oem_cert is None):
        raise AppConfigError("[contracts] oem_key_label and oem_cert: give both or neither")
    if cfg.contracts.oem_key_label is not None and not cfg.session.v2g_roots:
        raise AppConfigError("[contracts] oem_key_label needs [session] v2g_roots (CertificateInstallationReq lists "
                             "the V2G roots the EV trusts)")
    _check_bms_mode(cfg.session, cfg.bms.mode)
    return cfg


def _check_bms_mode(s: SessionSettings, mode: ChargeMode) -> None:
    """[bms] mode decides which BMS frames must stay fresh: it has to fit the protocols' energy transfer."""
    ac = any(is_ac(p, s.energy_transfer) for p in s.protocols)
    if ac and mode is not ChargeMode.AC:
        raise AppConfigError(f"[bms] mode: the protocols charge over AC ({', '.join(s.protocols)}): use \"ac\"")
    if not ac and mode is ChargeMode.AC:
        raise AppConfigError(f"[bms] mode: \"ac\" but the protocols charge over DC ({', '.join(s.protocols)})")
    if "iso20-dc-bpt" in s.protocols and mode is not ChargeMode.DC_BPT:
        raise AppConfigError("[bms] mode: iso20-dc-bpt discharges with the BMS's limits: use \"dc_bpt\"")


def load_config(path: Path) -> AppConfig:
    """Read and validate ``path``; every failure is an :class:`AppConfigError` naming the file."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise AppConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise AppConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = parse_toml(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AppConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AppConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_config(doc, path)
    except AppConfigError as exc:
        raise AppConfigError(f"{path}: {exc}") from None
    except RecursionError:
        raise AppConfigError(f"{path}: a value nested too deeply") from None
