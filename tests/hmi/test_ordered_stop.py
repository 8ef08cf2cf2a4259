"""The daemon's stop never closes the key store under a running D-Bus write (project rules: nothing may block the
event loop; bad input never loses data, atomic writes).

Real parts: the private dbus-daemon with the shipped policy (tests/hmi/conftest.py), the daemon's composition
(:class:`evcc.app.compose.Parts` with the demo world's configuration and test PKI), a SoftHSM2 token as the key
store, the contract store on disk, and the importer that ``compose.build`` wires (evcc.contracts.importer). The
token's C_CreateObject of ImportContract is held until the test releases it (a wrapper whose ``import_private``
waits on a threading.Event before the real call): a stand-in only for how long the call blocks.

No timing: the test waits on events and on the loop's own turns; the hold guard only ends a hung test."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from dbus_fast import MessageType

from evcc.app.compose import Parts, install_context
from evcc.app.config import load_config
from evcc.app.machines import protocols
from evcc.contracts.importer import import_contract_files
from evcc.contracts.store import Contract, ContractStore, Lifecycle
from evcc.demo.world import World
from evcc.hmi.names import BUS_NAME, MANAGER_INTERFACE, ROOT_PATH, SESSION_INTERFACE, SESSION_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyInfo
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore

from .conftest import Client

HOLD_GUARD_S = 60.0  # a hang guard only: a held call never released ends the test with "not released"
PROPS = "org.freedesktop.DBus.Properties"
STORE_FAILED = "org.evcc.Evcc1.Error.StoreFailed"


class HeldImport:
    """The real token; its first ``import_private`` waits at a gate before the real C_CreateObject. Records the
    order of import start, import end and close (the order the stop must keep)."""

    def __init__(self, inner: Pkcs11KeyStore) -> None:
        self.inner = inner
        self.reached = threading.Event()
        self.release = threading.Event()
        self.events: list[str] = []
        self._lock = threading.Lock()

    def _record(self, what: str) -> None:
        with self._lock:
            self.events.append(what)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        self._record("import start")
        self.reached.set()
        if not self.release.wait(HOLD_GUARD_S):
            self._record("not released")
        try:
            return self.inner.import_private(label, algorithm, private)
        finally:
            self._record("import end")

    def close(self) -> None:
        self._record("close")
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _contract_keys(token: Pkcs11KeyStore) -> set[str]:
    return {k.label for k in token.list("contract/")}


def test_stop_waits_for_a_running_import_then_closes_the_key_store(private_bus: PrivateBus, tmp_path: Path,
                                                                   softhsm_config: Pkcs11Config,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    world = World(tmp_path / "world", local=True)
    world.folder.mkdir()
    world.create()
    assert world.pki is not None
    cfg = load_config(world.config(private_bus.address))
    roots = (world.pki.certs["v2g_root"],)
    chain_file, key_file = world.contract_files("contract_3")
    leaf = x509.load_pem_x509_certificate(chain_file.read_bytes())
    store = ContractStore(tmp_path / "contracts")
    probe = Pkcs11KeyStore(softhsm_config)
    keys_before = _contract_keys(probe)
    held = HeldImport(Pkcs11KeyStore(softhsm_config))

    def importer(chain: Path, key: Path, priority: int) -> Contract:  # as evcc.app.compose.build wires it
        return import_contract_files(chain, key, install_context(store, held, roots), priority)

    hmi = HmiService(HmiConfig(private_bus.address), store, importer=importer, delete_key=held.delete)
    parts = Parts(cfg, b"\x02\x00\x00\x00\x00\x01", held, store, hmi, protocols(cfg.session), None,
                  roots, None)
    seen: dict[str, Any] = {}

    async def main() -> None:
        await hmi.start()
        importing = await Client.connect(private_bus.address)
        other = await Client.connect(private_bus.address)
        fds = [os.open(chain_file, os.O_RDONLY), os.open(key_file, os.O_RDONLY)]
        call = asyncio.ensure_future(importing.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "ImportContract", "hhi",
                                                    [0, 1, 4], unix_fds=fds))
        try:
            while not held.reached.is_set():  # the loop turns while the worker goes to the token
                await asyncio.sleep(0.01)
                assert not call.done(), call.result()
            for fd in fds:
                os.close(fd)
            stopping = asyncio.ensure_future(parts.aclose())
            ticks = 0
            while ticks < 5:  # another coroutine progresses while the stop waits for the held write
                await asyncio.sleep(0)
                ticks += 1
            seen["events while stopping"] = list(held.events)
            seen["stop done while held"] = stopping.done()
            refused = await other.call(BUS_NAME, ROOT_PATH, MANAGER_INTERFACE, "RequestInstallation", "si",
                                       ["NL-XYZ-C00000009", 1])
            seen["new call"] = (refused.message_type, refused.error_name, refused.body)
            get = await other.call(BUS_NAME, SESSION_PATH, PROPS, "Get", "ss", [SESSION_INTERFACE, "State"])
            seen["Get while stopping"] = get.message_type
            seen["stop done after the calls"] = stopping.done()
            seen["waiting logged"] = any("waiting for the running contract/key-store write" in r.getMessage()
                                         for r in caplog.records)
            held.release.set()
            await stopping
            reply = await call
            seen["import reply"] = (reply.message_type, reply.body if reply.message_type is MessageType.METHOD_RETURN
                                    else reply.error_name)
        finally:
            held.release.set()
            importing.bus.disconnect()
            other.bus.disconnect()
            await hmi.close()

    with caplog.at_level(logging.WARNING, logger="evcc.hmi.service"):
        asyncio.run(main())

    print(f"import caller got: {seen['import reply']}; refused call: {seen['new call']}")
    assert seen["events while stopping"] == ["import start"], seen
    assert seen["stop done while held"] is False and seen["stop done after the calls"] is False, seen
    message_type, error_name, body = seen["new call"]
    assert message_type is MessageType.ERROR and error_name == STORE_FAILED, seen
    assert "stopping" in str(body[0]), seen
    assert seen["Get while stopping"] is MessageType.METHOD_RETURN, seen
    assert seen["waiting logged"] is True, seen
    assert held.events == ["import start", "import end", "close"]  # the store closed only after the write ended
    stored = ContractStore(store.directory).list()  # complete on disk: the import's one atomic write
    assert [(c.emaid, c.priority, c.lifecycle) for c in stored] == [(stored[0].emaid, 4, Lifecycle.INSTALLED)]
    contract = stored[0]
    assert contract.key_label is not None and contract.chain[0] == leaf.public_bytes(Encoding.DER)
    assert _contract_keys(probe) - keys_before == {contract.key_label}  # the key in the token, no orphan
    signature = probe.sign(contract.key_label, b"challenge")
    assert verify_raw(leaf.public_key(), b"challenge", signature)  # type: ignore[arg-type]
    assert seen["import reply"] == (MessageType.METHOD_RETURN, [contract_path(contract.contract_id)]) or \
        seen["import reply"][0] is MessageType.ERROR, seen  # a reply either way, never a hang
    probe.close()
