"""The system-bus policy (systemd/org.evcc.Evcc1.conf) on a private dbus-daemon with system rules: everyone
reads, only the group "evcc" (and root) change contracts, nobody else owns the name. Clients are dbus-send
run as the unprivileged uid "nobody" through setpriv."""

from __future__ import annotations

import grp
import subprocess
from collections.abc import Iterator

import pytest

from evcc.contracts.store import ContractStore
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService

from .conftest import NOW, running


def _as_nobody(bus: PrivateBus, *args: str, group: bool = False) -> subprocess.CompletedProcess[str]:
    groups = [f"--groups={grp.getgrnam('evcc').gr_gid}"] if group else ["--clear-groups"]
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", *groups, "dbus-send",
                           f"--bus={bus.address}", "--print-reply", *args], capture_output=True, text=True,
                          timeout=20, check=False)


def _manager(bus: PrivateBus, member: str, *args: str, group: bool = False) -> subprocess.CompletedProcess[str]:
    return _as_nobody(bus, f"--dest={BUS_NAME}", ROOT_PATH, f"{MANAGER_INTERFACE}.{member}", *args, group=group)


@pytest.fixture
def served(private_bus: PrivateBus, store: ContractStore) -> Iterator[PrivateBus]:
    """The service in its own thread and loop, so that the blocking clients here can talk to it."""
    with running(HmiService(HmiConfig(private_bus.address), store, wall_clock=lambda: NOW)):
        yield private_bus


def test_everyone_may_read(served: PrivateBus) -> None:
    version = _as_nobody(served, f"--dest={BUS_NAME}", ROOT_PATH, "org.freedesktop.DBus.Properties.Get",
                         f"string:{MANAGER_INTERFACE}", "string:Version")
    assert version.returncode == 0, version.stderr
    assert "uint32 1" in version.stdout
    managed = _as_nobody(served, f"--dest={BUS_NAME}", ROOT_PATH,
                         "org.freedesktop.DBus.ObjectManager.GetManagedObjects")
    assert managed.returncode == 0, managed.stderr
    assert contract_path("aaaa") in managed.stdout and contract_path("bbbb") in managed.stdout


def test_an_unprivileged_uid_may_not_change_contracts(served: PrivateBus, store: ContractStore) -> None:
    order = f"array:objpath:{contract_path('bbbb')},{contract_path('aaaa')}"
    refused = _manager(served, "SetPriorities", order)
    assert refused.returncode != 0
    assert "org.freedesktop.DBus.Error.AccessDenied" in refused.stderr, refused.stderr
    assert [c.contract_id for c in ContractStore(store.directory).list()] == ["aaaa", "bbbb"]
    for member, args in (("SelectContract", [f"objpath:{contract_path('bbbb')}"]),
                         ("RemoveContract", [f"objpath:{contract_path('aaaa')}"])):
        out = _manager(served, member, *args)
        assert "org.freedesktop.DBus.Error.AccessDenied" in out.stderr, (member, out.stderr)
    assert len(ContractStore(store.directory).list()) == 2


def test_the_evcc_group_may_change_contracts(served: PrivateBus, store: ContractStore) -> None:
    order = f"array:objpath:{contract_path('bbbb')},{contract_path('aaaa')}"
    done = _manager(served, "SetPriorities", order, group=True)
    assert done.returncode == 0, done.stderr
    assert [c.contract_id for c in ContractStore(store.directory).list()] == ["bbbb", "aaaa"]
    error = _manager(served, "SelectContract", f"objpath:{contract_path('zzzz')}", group=True)
    assert "org.evcc.Evcc1.Error.UnknownContract" in error.stderr, error.stderr


def test_nobody_else_may_own_the_name(private_bus: PrivateBus) -> None:
    out = _as_nobody(private_bus, "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                     "org.freedesktop.DBus.RequestName", f"string:{BUS_NAME}", "uint32:4")
    assert "org.freedesktop.DBus.Error.AccessDenied" in out.stderr, (out.stdout, out.stderr)
