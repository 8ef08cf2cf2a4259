"""Issue 15 point 3 "nothing blocks the event loop": the Plug & Charge key-store calls of a session (ISO 15118-2
§8.4.3.9 CertificateInstallation: ECDH and key import; §8.4.3.7 Authorization [V2G2-475] and §8.4.3.13
MeteringReceipt: signatures; ISO 15118-20 §8.3.4.2 CertificateInstallation, §8.3.4.8 Authorization and
MeteringConfirmation) run on the key store's worker thread (evcc.session.runner ``offload``), not on the
loop. Proved without timing: each gated call waits until a loop timer has fired three more times; on the loop
that cannot happen (the call holds the loop), the wait times out and the call is recorded as blocking.
The session runs over TCP on loopback against the bench SECC simulator on the same loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20SeccConfig, dc_secc
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import serve_secc
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.aio import AsyncKeyStore
from evcc.hsm.keystore import ConcatKdf, KeyAlgorithm, KeyInfo, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import build_pki
from evcc.pki.profiles import TEST_EMAIDS, TEST_PCID, Suite
from evcc.session import v2gtp
from evcc.session.battery_model import BatteryModel
from evcc.session.connection import open_connection
from evcc.session.events import EndKind
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2 import AcBatteryModel
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.iso20 import ISO_15118_20, Iso20Config
from evcc.session.iso20.factory import iso20_machines, iso20_offers
from evcc.session.iso20.pnc import KeyStoreContracts20
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import ISO2_NAMESPACE, ISO2_OFFER, ISO20_NAMESPACES, Negotiated
from evcc.session.timeouts import ISO_15118_2
from tests.contracts.contracts_helpers import make_context, oem_key_in_store

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TICKS = 3  # loop timer firings a gated call waits for
GATE_TIMEOUT = 20.0  # generous: a loaded machine; on the loop the wait can never succeed


class LoopTicks:
    """A loop timer's firings, readable from another thread."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.002)
            with self.cond:
                self.count += 1
                self.cond.notify_all()

    def wait_more(self, n: int, timeout: float) -> bool:
        with self.cond:
            target = self.count + n
            return self.cond.wait_for(lambda: self.count >= target, timeout)


class GatedStore:
    """The key store whose sign / ecdh_kdf / import_private go through only after the loop served other work."""

    def __init__(self, inner: KeyStore, ticks: LoopTicks) -> None:
        self.inner = inner
        self.ticks = ticks
        self.passed: list[str] = []
        self.blocked: list[str] = []

    def _gate(self, name: str) -> None:
        (self.passed if self.ticks.wait_more(TICKS, GATE_TIMEOUT) else self.blocked).append(name)

    def sign(self, label: str, message: bytes) -> bytes:
        self._gate("sign")
        return self.inner.sign(label, message)

    def ecdh_kdf(self, label: str, peer_public: bytes, kdf: ConcatKdf) -> bytearray:
        self._gate("ecdh_kdf")
        return self.inner.ecdh_kdf(label, peer_public, kdf)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        self._gate("import_private")
        return self.inner.import_private(label, algorithm, private)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_iso2_pnc_key_store_calls_run_off_the_loop(tmp_path: Path, token: Pkcs11KeyStore) -> None:
    pki = build_pki(Suite.ISO2, NOW)
    ticks = LoopTicks()
    gated = GatedStore(token, ticks)
    store = cast(KeyStore, gated)
    label, cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    contracts = KeyStoreContracts(make_context(tmp_path, store, pki, NOW), oem_key_label=label, oem_cert=cert)
    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki), "DE8AA0012345670"), NOW)
    supported = [SupportedProtocol("iso2", ISO2_NAMESPACE, 2, 0)]

    async def main() -> SessionReport:
        ticker = asyncio.get_running_loop().create_task(ticks.run())
        secc = lambda: Iso2Secc(config=Iso2SeccConfig(sa_schedules=(50_000.0, 100_000.0)), pnc=sim)  # noqa: E731
        server, _ = await serve_secc("::1", 0, supported, responders={"iso2": secc})
        offload = AsyncKeyStore(store)
        try:
            conn = await open_connection("::1", server.sockets[0].getsockname()[1])

            def iso2(negotiated: Negotiated) -> Iso2Evcc:
                car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
                config = Iso2Config(evcc_id=bytes(6), energy_transfer_mode="DC_extended", payment="Contract",
                                    contracts=contracts)
                return Iso2Evcc(config, car)

            return await run_session(conn, [ISO2_OFFER], {"iso2": iso2}, ISO_15118_2, offload=offload)
        finally:
            await offload.aclose()
            server.close()
            ticker.cancel()

    report = asyncio.run(main())
    assert report.ended.kind is EndKind.COMPLETED, (report.ended, sim.refusals)
    assert gated.blocked == [], f"key-store calls held the event loop: {gated.blocked}"
    assert {"sign", "ecdh_kdf", "import_private"} <= set(gated.passed), gated.passed
    assert sim.receipts_verified >= 1  # the MeteringReceipt signature in the charge loop went through the gate


def test_iso20_pnc_key_store_calls_run_off_the_loop(tmp_path: Path, token: Pkcs11KeyStore) -> None:
    pki = build_pki(Suite.ISO20_P521, NOW)
    ticks = LoopTicks()
    gated = GatedStore(token, ticks)
    store = cast(KeyStore, gated)
    label, oem = oem_key_in_store(pki, token, KeyAlgorithm.EC_P521)
    ctx = make_context(tmp_path, store, pki, NOW)
    port = KeyStoreContracts20(ctx, pcid=TEST_PCID, oem_chain=(oem, *pki.chain("oem_sub_ca_2")), oem_key_label=label)
    sim = Iso20PncSim(ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0]), NOW)
    supported = [SupportedProtocol("iso20-dc", ISO20_NAMESPACES["iso20-dc"], 1, 0)]
    config = Iso20Config(evcc_id="0242AC110002", service="DC", control_mode="Dynamic", authorization="PnC",
                         contracts=port)
    vehicle = AcBatteryModel(capacity_wh=400.0, soc=79.8, target_soc=80.0)

    async def main() -> SessionReport:
        ticker = asyncio.get_running_loop().create_task(ticks.run())
        server, _ = await serve_secc("::1", 0, supported,
                                     responders={"iso20-dc": lambda: dc_secc(Iso20SeccConfig(response_time=0.001),
                                                                             pnc=sim)})
        offload = AsyncKeyStore(store)
        try:
            conn = await open_connection("::1", server.sockets[0].getsockname()[1],
                                         accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
            return await run_session(conn, iso20_offers(config), iso20_machines(config, vehicle), ISO_15118_20,
                                     offload=offload)
        finally:
            await offload.aclose()
            server.close()
            ticker.cancel()

    report = asyncio.run(main())
    assert report.ended.kind is EndKind.COMPLETED, (report.ended, sim.refusals)
    assert gated.blocked == [], f"key-store calls held the event loop: {gated.blocked}"
    assert {"sign", "ecdh_kdf", "import_private"} <= set(gated.passed), gated.passed
    assert [c.emaid for c in port.contracts()] == [TEST_EMAIDS[0]]
