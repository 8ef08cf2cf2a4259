"""Session benchmarks (issue 4, Performance). Figures and ratios against the targets, never assertions.

1. EV-side CPU per charge-loop message (decode CurrentDemandRes + machine step + encode CurrentDemandReq), DIN SPEC
   70121 and ISO 15118-2 DC, in memory against the SECC simulator: median vs 50 us.
2. ISO 15118-2 DC Plug & Charge over TLS 1.2 on a veth pair between two network namespaces (needs root): wall
   clock from the first SDP request to PowerDeliveryRes(Start), with `evcc session`'s composition
   (evcc.session.attach) against the SECC simulator (TLS, CertificateInstallation from the test provisioning
   service, signed SalesTariff; simulated response time 0): median vs 150 ms. Each run starts without a contract
   (CertificateInstallation included) and with keys in a SoftHSM2 token.

3. Josev's EVCC (PyPI iso15118 0.31.2, its own venv) and ours against the same SECC simulator over a veth pair,
   ISO 15118-2 DC EIM over TCP, each EVCC its own process in the EV namespace, both measured at the simulator
   (benchmarks/josev_evcc.py): SDP -> PowerDeliveryRes(Start) and the EV's turn per message (request arrival
   minus the previous response's departure), ours, Josev's and the ratios. "Josev not installed" when its venv
   is missing; if its EVCC does not complete, why (the exchange the simulator saw, the end of its log).
   Not measured for Josev: Plug & Charge over TLS (its EVCC trusts only its own PKI's V2G root and signs with
   its own contract key; the simulator would need that PKI's SECC certificate and MO root).

History (2 shared CPUs, other work running; medians): the bench battery model's answers are remembered per
SoC step (evcc/session/battery_model.py): CurrentDemand EV-side CPU DIN ~45 -> ~39 us, ISO 15118-2 ~49 -> ~43 us.

Run: python3 benchmarks/session_bench.py [--sessions N] [--josev-sessions N] [--skip-veth] [--skip-josev]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

import josev_evcc  # noqa: E402  (benchmarks/, beside this script)
from evcc import exi  # noqa: E402
from evcc.bench.runtime_pki import bench_tls  # noqa: E402
from evcc.bench.secc.din_responder import DinSecc  # noqa: E402
from evcc.bench.secc.iso2_pnc import SeccPncSim  # noqa: E402
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig  # noqa: E402
from evcc.bench.secc.link import VethLink, in_netns  # noqa: E402
from evcc.bench.secc.sap_responder import SupportedProtocol  # noqa: E402
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp  # noqa: E402
from evcc.bench.secc.server import serve_secc  # noqa: E402
from evcc.contracts.install_common import InstallContext  # noqa: E402
from evcc.contracts.provisioning_service import ProvisioningService  # noqa: E402
from evcc.contracts.provisioning_sim import ProvisioningSimulator  # noqa: E402
from evcc.contracts.store import ContractStore  # noqa: E402
from evcc.hsm.hostcrypto import CURVES  # noqa: E402
from evcc.hsm.keystore import KeyAlgorithm  # noqa: E402
from evcc.hsm.pkcs11_store import Pkcs11KeyStore  # noqa: E402
from evcc.hsm.softhsm import init_softhsm  # noqa: E402
from evcc.pki.generator import TestPki, build_pki, issue_certificate  # noqa: E402
from evcc.pki.profiles import Suite, profile_table  # noqa: E402
from evcc.session import sap  # noqa: E402
from evcc.session.attach import AttachConfig, attach  # noqa: E402
from evcc.session.attach_vehicle import VehicleConfig  # noqa: E402
from evcc.session.battery_model import BatteryModel  # noqa: E402
from evcc.session.din import DinConfig, DinEvcc  # noqa: E402
from evcc.session.din import State as DinState  # noqa: E402
from evcc.session.iso2 import Iso2Config, Iso2Evcc  # noqa: E402
from evcc.session.iso2 import State as Iso2State  # noqa: E402
from evcc.session.iso2.pnc import KeyStoreContracts  # noqa: E402
from evcc.session.sdp import SdpResponse, Security, Transport  # noqa: E402


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


def josev_comparison(sessions: int) -> None:
    if not josev_evcc.josev_installed():
        print(f"Josev not installed (no {josev_evcc.JOSEV_PYTHON}; scripts/setup.d/30-security.sh makes it): "
              "its EVCC is not measured")
        return
    with tempfile.TemporaryDirectory(prefix="evcc-josev-evcc-") as tmp, VethLink() as link:
        ours = asyncio.run(josev_evcc.run_ours(link, Path(tmp), sessions))
        print(josev_evcc.summary("ISO 15118-2 DC EIM over TCP, our EVCC   ", ours))
        try:
            josev = asyncio.run(josev_evcc.run_josev(link, Path(tmp) / "josev", sessions))
        except josev_evcc.JosevFailed as exc:
            print(f"ISO 15118-2 DC EIM over TCP, Josev's EVCC: not measured. {exc}")
            return
    print(josev_evcc.summary("ISO 15118-2 DC EIM over TCP, Josev's EVCC", josev))
    wall = [statistics.median(r.to_power_delivery_s for r in runs) for runs in (ours, josev)]
    turn = [statistics.median(t for r in runs for t in r.ev_turns_s) for runs in (ours, josev)]
    print(f"Josev's EVCC / ours: SDP -> PowerDeliveryRes(Start) {wall[1] / wall[0]:.0f}x "
          f"({josev[0].messages} vs {ours[0].messages} requests), EV's turn per message {turn[1] / turn[0]:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=5, help="PnC sessions over TLS (default 5)")
    parser.add_argument("--josev-sessions", type=int, default=3,
                        help="DC EIM sessions per EVCC in the comparison with Josev's (default 3, ~8 s each)")
    parser.add_argument("--skip-veth", action="store_true", help="only the CPU figures (no root needed)")
    parser.add_argument("--skip-josev", action="store_true", help="no comparison with Josev's EVCC")
    args = parser.parse_args()
    cpu_per_message()
    if not args.skip_veth:
        pnc_over_tls(args.sessions)
        if not args.skip_josev:
            josev_comparison(args.josev_sessions)


if __name__ == "__main__":
    main()
