"""The versioned API (issue 18 item 4, rule in evcc/demo/api_docs.py): the shipped interface files are the
contract with HMI code generated from them. Against the live service (HmiService, the object the daemon exports, on
a private bus): every shipped member still exists with the same signature and access; a new member is allowed but
must be added to the files. Also the drift check itself (the files are exactly what the generator makes from the
live service) and the checker's own verdicts on altered interfaces (a removal, a changed signature, an addition)."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
from pathlib import Path

import pytest
from dbus_fast import PropertyAccess
from dbus_fast import introspection as intr
from dbus_fast.aio import MessageBus

from evcc.demo.api_docs import ERROR_DOCS
from evcc.demo.introspect import REGENERATE, compatibility, drift, files_from_live, live_interfaces, parse_file, \
    reference_service
from evcc.hmi import errors as hmi_errors
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, MANAGER_INTERFACE, SESSION_INTERFACE

ROOT = Path(__file__).resolve().parents[2]
DBUS_DIR = ROOT / "dbus"
NAMES = (MANAGER_INTERFACE, CONTRACT_INTERFACE, SESSION_INTERFACE)


@pytest.fixture(scope="module")
def live() -> dict[str, intr.Interface]:
    async def get() -> dict[str, intr.Interface]:
        async with reference_service() as address:
            bus = await MessageBus(bus_address=address).connect()
            try:
                return await live_interfaces(bus)
            finally:
                bus.disconnect()
    return asyncio.run(get())


def test_the_interface_name_carries_the_version(live: dict[str, intr.Interface]) -> None:
    assert BUS_NAME == "org.evcc.Evcc1" and sorted(live) == sorted(NAMES)
    version = next(p for p in live[MANAGER_INTERFACE].properties if p.name == "Version")
    assert version.signature == "u"


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_member_is_served_with_its_signature(name: str, live: dict[str, intr.Interface]) -> None:
    shipped = parse_file(DBUS_DIR / f"{name}.xml")
    breaking, added = compatibility(shipped, live[name])
    assert not breaking, ("incompatible change of API v1 (only additions are allowed; anything else is "
                          "org.evcc.Evcc2): " + "; ".join(breaking))
    assert not added, (f"new members must be added to dbus/{name}.xml: {'; '.join(added)} (document them in "
                       f"evcc/demo/api_docs.py, then run `{REGENERATE}`)")


def test_the_files_are_what_the_live_service_gives() -> None:
    problems = drift(DBUS_DIR, asyncio.run(files_from_live(None)))
    assert not problems, "; ".join(problems) + f" -- regenerate with `{REGENERATE}`"


def test_the_checker_finds_removals_changes_and_additions(live: dict[str, intr.Interface]) -> None:
    shipped = parse_file(DBUS_DIR / f"{MANAGER_INTERFACE}.xml")
    removed = copy.deepcopy(live[MANAGER_INTERFACE])
    removed.methods = [m for m in removed.methods if m.name != "SetPriorities"]
    assert compatibility(shipped, removed)[0] == [f"{MANAGER_INTERFACE}: method SetPriorities (ao->) is gone"]

    changed = copy.deepcopy(live[MANAGER_INTERFACE])
    select = next(m for m in changed.methods if m.name == "SelectContract")
    select.in_args = [intr.Arg("s", name="contract")]
    assert compatibility(shipped, changed)[0] == [
        f"{MANAGER_INTERFACE}: method SelectContract changed from 'o->' to 's->'"]

    session = parse_file(DBUS_DIR / f"{SESSION_INTERFACE}.xml")
    grown = copy.deepcopy(live[SESSION_INTERFACE])
    grown.properties.append(intr.Property("Temperature", "d", PropertyAccess.READ))
    assert compatibility(session, grown) == ([], [f"{SESSION_INTERFACE}: property Temperature (d read) is new"])

    access = copy.deepcopy(live[SESSION_INTERFACE])
    soc = next(p for p in access.properties if p.name == "SoC")
    soc.access = PropertyAccess.READWRITE
    assert compatibility(session, access)[0] == [f"{SESSION_INTERFACE}: property SoC changed from 'd read' to "
                                                 f"'d readwrite'"]


def test_the_drift_check_names_the_line_and_how_to_regenerate(tmp_path: Path) -> None:
    for f in DBUS_DIR.glob("*.xml"):
        (tmp_path / f.name).write_text(f.read_text().replace('name="SoC"', 'name="StateOfCharge"'))
    run = subprocess.run([sys.executable, "-m", "evcc.demo.introspect", "--check", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 1
    assert "org.evcc.Evcc1.Session.xml line" in run.stderr and "StateOfCharge" in run.stderr
    assert REGENERATE in run.stderr


def test_every_member_error_and_interface_is_documented() -> None:
    text = {n: (DBUS_DIR / f"{n}.xml").read_text() for n in NAMES}
    for name in NAMES:
        iface = parse_file(DBUS_DIR / f"{name}.xml")
        members = [m.name for m in iface.methods] + [x.name for x in iface.signals] + [p.name for p in iface.properties]
        for member in members:
            assert f"      {member}:\n" in text[name], f"{name}.{member} has no comment"
        for p in iface.properties:
            assert p.annotations.get("org.freedesktop.DBus.Property.EmitsChangedSignal") in (
                "true", "const", "invalidates", "false"), p.name
    manager = text[MANAGER_INTERFACE]
    served = {v for k, v in vars(hmi_errors).items() if k.isupper() and k != "ERROR_PREFIX" and isinstance(v, str)}
    assert served == set(ERROR_DOCS), "every org.evcc.Evcc1.Error name of evcc/hmi/errors.py is documented"
    for error in served:
        assert f"Error org.evcc.Evcc1.Error.{error}:" in manager
