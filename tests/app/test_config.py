"""The daemon's TOML validation (evcc.app.config): every error names the section and key and what was wrong;
the annotated example is valid and round-trips to the documented defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evcc.app.config import load_config, parse_config
from evcc.app.errors import AppConfigError
from evcc.bms_bridge.codec import ChargeMode

ROOT = Path(__file__).resolve().parents[2]
SRC = Path("/etc/evcc/evcc.toml")


def _doc(**sections: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"plc": {"interface": "eth1"}, "hsm": {"pin_file": "token.pin"}}
    doc.update(sections)
    return doc


def test_the_annotated_example_is_valid() -> None:
    cfg = load_config(ROOT / "examples" / "evcc.toml")
    assert cfg.plc.interface == "eth1" and cfg.slac.enabled and cfg.session.protocols == ("iso2", "din")
    assert cfg.bms.mode is ChargeMode.DC and cfg.bms.freshness_s == 1.0 and cfg.dbus.bus == "system"


def test_relative_paths_are_relative_to_the_file() -> None:
    cfg = parse_config(_doc(contracts={"directory": "state/contracts"}), SRC)
    assert cfg.contracts.directory == Path("/etc/evcc/state/contracts")
    assert cfg.hsm.pin_file == Path("/etc/evcc/token.pin")


@pytest.mark.parametrize(("doc", "message"), [
    ({"plc": {}}, "[plc] interface: missing (required)"),
    (_doc(plc={"interface": 5}), "[plc] interface: expected a string, got 5"),
    (_doc(slac={"enabled": "no"}), "[slac] enabled: expected a boolean, got 'no'"),
    (_doc(slac={"parm_retries": 11}), "[slac] parm_retries: 11 outside [0, 10]"),
    (_doc(session={"protocols": ["iso2", "iso20"]}), "[session] protocols: 'iso20' is not one of iso2, din"),
    (_doc(session={"protocols": []}), "[session] protocols: name at least one protocol"),
    (_doc(session={"protocols": "iso2"}), "[session] protocols: expected a list of strings, got 'iso2'"),
    (_doc(session={"tls": True}), "[session] v2g_roots: TLS needs at least one V2G root certificate file"),
    (_doc(session={"stop_timeout_s": 0}), "[session] stop_timeout_s: 0 outside (0, 120]"),
    (_doc(session={"restart_delay_s": True}), "[session] restart_delay_s: expected a number, got True"),
    (_doc(bms={"freshness_s": 11}), "[bms] freshness_s: 11 outside (0, 10]"),
    (_doc(bms={"interface": "vcan"}), "[bms] interface: 'vcan' is not one of socketcan, udp_multicast, virtual"),
    (_doc(bms={"chanel": "can0"}), "[bms]: unknown key 'chanel'"),
    (_doc(hsm={"kind": "soft", "directory": "keys"}), '[hsm] kek_file: missing (required for kind = "soft")'),
    (_doc(hsm={}), '[hsm] pin_file: missing (required for kind = "pkcs11")'),
    (_doc(dbus={"bus": "address"}), '[dbus] address: missing (required for bus = "address")'),
    (_doc(contracts={"oem_key_label": "oem"}), "[contracts] oem_key_label and oem_cert: give both or neither"),
    (_doc(log={"level": "verbose"}), "[log] level: 'verbose' is not one of debug, info, warning, error"),
    (_doc(modem={"x": 1}), "unknown section [modem]"),
    ({**_doc(), "plc": ["eth1"]}, "[plc]: expected a table, got ['eth1']"),
])
def test_errors_name_the_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(AppConfigError) as err:
        parse_config(doc, SRC)
    assert message in str(err.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(AppConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe[plc]")
    with pytest.raises(AppConfigError, match=f"{binary}: not UTF-8 text"):
        load_config(binary)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 300_000)
    with pytest.raises(AppConfigError, match="larger than"):
        load_config(big)
