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
    (_doc(session={"protocols": ["iso2", "iso20"]}), "[session] protocols: 'iso20' is not one of iso2, din, iso20-dc"),
    (_doc(session={"protocols": ["iso20-dc", "iso20-dc-bpt"]}),
     "[session] protocols: iso20-dc and iso20-dc-bpt share one SupportedAppProtocol namespace"),
    (_doc(session={"protocols": ["iso20-ac", "din"]}, bms={"mode": "ac"}),
     "[session] protocols: mixes AC and DC charging"),
    (_doc(session={"protocols": ["iso2"], "energy_transfer": "AC_three_phase_core"}),
     '[bms] mode: the protocols charge over AC (iso2): use "ac"'),
    (_doc(session={"protocols": ["iso20-dc"]}, bms={"mode": "ac"}), '[bms] mode: "ac" but the protocols charge over DC'),
    (_doc(session={"protocols": ["iso20-dc-bpt"]}), '[bms] mode: iso20-dc-bpt discharges with the BMS\'s limits'),
    (_doc(session={"control_mode": "dynamic"}), "[session] control_mode: 'dynamic' is not one of Scheduled, Dynamic"),
    (_doc(session={"vehicle_key_label": "vehicle"}), "[session] vehicle_chain and vehicle_key_label: give both"),
    (_doc(session={"protocols": ["iso20-dc"], "tls": True, "v2g_roots": ["root.pem"]}),
     "[session] vehicle_chain: ISO 15118-20 over TLS 1.3 authenticates the vehicle"),
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
    (_doc(contracts={"oem_key_label": "oem", "oem_cert": "oem.pem"}),
     "[contracts] oem_key_label needs [session] v2g_roots"),
    (_doc(log={"level": "verbose"}), "[log] level: 'verbose' is not one of debug, info, warning, error"),
    (_doc(modem={"x": 1}), "unknown section [modem]"),
    ({**_doc(), "plc": ["eth1"]}, "[plc]: expected a table, got ['eth1']"),
    ({**_doc(), "plc": {"interface": ""}}, "[plc] interface: '' is not a network interface name"),
    ({**_doc(), "plc": {"interface": "a-name-of-16-byt"}}, "is not a network interface name (1 to 15 bytes"),
    ({**_doc(), "plc": {"interface": "eth0:1"}}, "[plc] interface: 'eth0:1' is not a network interface name"),
    ({**_doc(), "plc": {"interface": "../eth0"}}, "is not a network interface name"),
    ({**_doc(), "plc": {"interface": "eth 0"}}, "is not a network interface name"),
    ({**_doc(), "plc": {"interface": "eth\x010"}}, "is not a network interface name"),
    ({**_doc(), "plc": {"interface": ".."}}, "is not a network interface name"),
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


def test_iso20_and_ac_protocols_become_offers_and_machines() -> None:
    from evcc.app.machines import protocols
    from evcc.session.iso20 import ISO_15118_20
    from evcc.session.sap import ISO20_NAMESPACES

    cfg = parse_config(_doc(session={"protocols": ["iso20-dc-bpt", "iso2", "din"], "control_mode": "Dynamic"},
                            bms={"mode": "dc_bpt"}), SRC)
    p = protocols(cfg.session)
    assert [(o.protocol, o.namespace, o.priority) for o in p.offers][0] == ("iso20-dc", ISO20_NAMESPACES["iso20-dc"], 1)
    assert [o.protocol for o in p.offers] == ["iso20-dc", "iso2", "din"] and set(p.makers) == {"iso20-dc", "iso2", "din"}
    assert p.names["iso20-dc"] == "iso20-dc-bpt" and p.iso20 and p.sap_timers is ISO_15118_20
    ac = parse_config(_doc(session={"protocols": ["iso2", "iso20-ac-bpt"], "energy_transfer": "AC_single_phase_core"},
                           bms={"mode": "ac"}), SRC)
    assert ac.bms.mode is ChargeMode.AC and protocols(ac.session).names == {"iso2": "iso2", "iso20-ac": "iso20-ac-bpt"}
