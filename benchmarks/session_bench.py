"""Session benchmarks (issue 4, Performance). Figures and ratios against the targets, never assertions.

1. EV-side CPU per charge-loop message (decode CurrentDemandRes + machine step + encode CurrentDemandReq), DIN SPEC
   70121 and ISO 15118-2 DC, in memory against the SECC simulator: median vs 50 us.
2. ISO 15118-2 DC Plug & Charge over TLS 1.2 on a veth pair between two network namespaces (needs root): wall
   clock from the first SDP request to PowerDeliveryRes(Start), with `evcc session`'s composition
   (evcc.session.attach) against the SECC simulator (TLS, CertificateInstallation from the test provisioning
   service, signed SalesTariff; simulated response time 0): median vs 150 ms. Each run starts without a contract
   (CertificateInstallation included) and with keys in a SoftHSM2 token.

Josev's EVCC against the same simulator is not measured here (see the report of the session work).
Run: python3 benchmarks/session_bench.py [--sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from evcc import exi
from evcc.bench.runtime_pki import bench_tls
from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import serve_secc
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hsm.hostcrypto import CURVES
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm
from evcc.pki.generator import TestPki, build_pki, issue_certificate
from evcc.pki.profiles import Suite, profile_table
from evcc.session import sap
from evcc.session.attach import AttachConfig, attach
from evcc.session.attach_vehicle import VehicleConfig
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.din import State as DinState
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2 import State as Iso2State
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.sdp import SdpResponse, Security, Transport


def _loop_cpu(ev: Any, secc: Any, in_loop: Callable[[], bool], count: int = 5000) -> list[float]:
    now = 0.0
    ev.start(now)
    samples: list[float] = []
    while len(samples) < count and not ev.done:
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
        now += 0.01
        for msg in secc.messages_to_send(now):
            data = exi.encode(msg)
            loop = in_loop()
            t0 = time.perf_counter()
            ev.receive_payload(data, now)
            out = [exi.encode(m) for m in ev.messages_to_send()]
            dt = time.perf_counter() - t0
            for payload in out:
                secc.receive_payload(payload, now)
            if loop:
                samples.append(dt)
        ev.events()
    return sorted(samples)


def _print_cpu(name: str, samples: list[float]) -> None:
    median = statistics.median(samples) * 1e6
    print(f"{name} CurrentDemand EV-side CPU per message: median {median:.1f} us, "
          f"p90 {samples[int(len(samples) * 0.9)] * 1e6:.1f} us, p99 {samples[int(len(samples) * 0.99)] * 1e6:.1f} us "
          f"over {len(samples)} messages; target 50 us -> ratio {median / 50:.2f}")


def cpu_per_message() -> None:
    din_ev = DinEvcc(DinConfig(evcc_id=bytes(6)), BatteryModel(capacity_wh=1e9, soc=50.0, target_soc=80.0))
    _print_cpu("DIN 70121  ", _loop_cpu(din_ev, DinSecc(), lambda: din_ev.state is DinState.WAIT_CURRENT_DEMAND_RES))
    iso_ev = Iso2Evcc(Iso2Config(evcc_id=bytes(6)), BatteryModel(capacity_wh=1e9, soc=50.0, target_soc=80.0))
    _print_cpu("ISO 15118-2", _loop_cpu(iso_ev, Iso2Secc(), lambda: iso_ev.state is Iso2State.WAIT_CURRENT_DEMAND_RES))


def _oem(pki: TestPki, token: Pkcs11KeyStore) -> tuple[str, Any]:
    label = f"oem/bench/{uuid.uuid4().hex[:8]}"
    info = token.generate(label, KeyAlgorithm.EC_P256)
    public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[KeyAlgorithm.EC_P256], info.public)
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    return label, issue_certificate(profile_table()["oem_prov_leaf"], public, issuer, issuer[1], pki.suite, pki.now)


async def _one_pnc_session(link: VethLink, pki: TestPki, token: Pkcs11KeyStore, oem: tuple[str, Any],
                           folder: Path) -> tuple[float, int, str]:
    now = datetime.now(timezone.utc)
    address = link.link_local(link.secc_netns, link.secc_ifname)
    secc_config = Iso2SeccConfig(response_time=0.0, cable_check_rounds=1, precharge_step=1000.0)
    with bench_tls() as tls, contextlib.ExitStack():
        sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki), "DE8AA0012345670"), now)
        with in_netns(link.secc_netns):
            server, _ = await serve_secc(f"{address}%{link.secc_ifname}", 0,
                                         [SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0)], DinSecc,
                                         ssl_context=tls.server,
                                         responders={"iso2": lambda: Iso2Secc(config=secc_config, pnc=sim)})
            port = server.sockets[0].getsockname()[1]
            sdp = await serve_sdp(SdpResponder(SdpResponse(ipaddress.IPv6Address(address), port, Security.TLS,
                                                           Transport.TCP)), link.secc_ifname)
        try:
            ctx = InstallContext(ContractStore(folder / uuid.uuid4().hex), token, (pki.certs["v2g_root"],), now,
                                 (pki.certs["mo_root"],))
            contracts = KeyStoreContracts(ctx, oem_key_label=oem[0], oem_cert=oem[1])
            config = AttachConfig(link.ev_ifname, "iso2", "dc", "pnc", tls.client,
                                  VehicleConfig(start_soc=79.0, target_soc=80.0, capacity_kwh=0.01), contracts=contracts)
            with in_netns(link.ev_netns):
                report = await attach(config)
        finally:
            sdp.close()
            server.close()
            await server.wait_closed()
    if not report.ok or "power_delivery_start_s" not in report.times:
        raise SystemExit(f"benchmark session failed: {report.outcome}: {report.reason}")
    before = [m for m in report.messages if m["t"] <= report.times["power_delivery_start_s"]]
    return report.times["power_delivery_start_s"], len(before), report.tls_cipher or "?"


def pnc_over_tls(sessions: int) -> None:
    pki = build_pki(Suite.ISO2, datetime.now(timezone.utc))
    with tempfile.TemporaryDirectory(prefix="evcc-session-bench-") as tmp, VethLink() as link:
        token = Pkcs11KeyStore(init_softhsm(Path(tmp) / "softhsm"))
        try:
            oem = _oem(pki, token)
            times = []
            for _ in range(sessions):
                t, messages, cipher = asyncio.run(_one_pnc_session(link, pki, token, oem, Path(tmp)))
                times.append(t)
        finally:
            token.close()
    median = statistics.median(times) * 1000.0
    print(f"ISO 15118-2 DC PnC over TLS 1.2 ({cipher}) on a veth pair, SDP -> PowerDeliveryRes(Start) incl. "
          f"CertificateInstallation ({messages} messages): median {median:.1f} ms, min {min(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms over {sessions} sessions; target 150 ms -> ratio {median / 150:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--skip-veth", action="store_true", help="only the CPU figures (no root needed)")
    args = parser.parse_args()
    cpu_per_message()
    if not args.skip_veth:
        pnc_over_tls(args.sessions)


if __name__ == "__main__":
    main()
