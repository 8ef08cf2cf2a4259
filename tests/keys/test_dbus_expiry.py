"""Expiry in the open on D-Bus (SERVICE.md "D-Bus"): the org.evcc.Evcc1.Contract objects carry NotAfter and a State
that is Expiring (2) within the configured window ([contracts] expiry_window_days -> HmiConfig.expiry_window) and
Active (1) outside it, on a private dbus-daemon with the real policy."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from evcc.contracts.store import Contract, ContractStore, Lifecycle
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, ROOT_PATH, contract_path
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService
from tests.hmi.conftest import EMAID_A, EMAID_B, NOW, Client

ACTIVE, EXPIRING = 1, 2


def contract(contract_id: str, emaid: str, days_left: int) -> Contract:
    return Contract(contract_id, emaid, 1, Lifecycle.INSTALLED, chain=(b"der",), key_label=f"contract/{contract_id}",
                    not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=days_left))


@pytest.mark.parametrize("window_days, states", [(30, {"soon": EXPIRING, "later": ACTIVE}),
                                                 (400, {"soon": EXPIRING, "later": EXPIRING}),
                                                 (5, {"soon": ACTIVE, "later": ACTIVE})])
def test_contract_state_is_expiring_within_the_configured_window(tmp_path: Path, window_days: int,
                                                                  states: dict[str, int]) -> None:
    store = ContractStore(tmp_path / "contracts")
    store.add(contract("soon", EMAID_A, 10))
    store.add(contract("later", EMAID_B, 365))

    async def scenario() -> dict[str, dict[str, object]]:
        with PrivateBus() as bus:
            service = HmiService(HmiConfig(bus.address, expiry_window=timedelta(days=window_days)), store,
                                 wall_clock=lambda: NOW)
            await service.start()
            client = await Client.connect(bus.address)
            try:
                reply = await client.call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
                                          "GetManagedObjects")
                return {path: {k: v.value for k, v in ifaces[CONTRACT_INTERFACE].items()}
                        for path, ifaces in reply.body[0].items() if CONTRACT_INTERFACE in ifaces}
            finally:
                client.bus.disconnect()
                service.stop()

    seen = asyncio.run(scenario())
    for cid, days in (("soon", 10), ("later", 365)):
        props = seen[contract_path(cid)]
        assert props["State"] == states[cid], (cid, props)
        assert props["NotAfter"] == int((NOW + timedelta(days=days)).timestamp())
