"""`evcc session --protocol iso20-*` end to end: the command runs as its own process in the EV network namespace,
our ISO 15118-20 SECC simulator (SDP responder + TCP/TLS 1.3 server with the -20 DC and AC responders) answers in
the SECC namespace across a real veth pair. -20 DC EIM over TCP, DC_BPT Dynamic discharging on the grid's
request, AC Scheduled, and DC Plug & Charge over TLS 1.3 with mutual authentication (vehicle key in SoftHSM2
through OpenSSL's pkcs11-provider when installed, else the software key store) with CertificateInstallation in
the session; a vehicle certificate the SECC does not trust ends as a connection failure with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig, ac_secc, dc_secc
from evcc.bench.secc.iso20_values import SUPPORTED_ISO20
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.bench.secc.tls import server_context13
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.hostcrypto import CURVES
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.pki.generator import issue_certificate
from evcc.pki.profiles import TEST_EMAIDS, profile_table
from evcc.session import tls_openssl
from evcc.session.iso20 import ISO_15118_20
from evcc.session.sdp import SdpResponse, Security, Transport
from tests.session.test_session_cli import QUICK_CAR, Run, check_complete, evcc_session, types
from tests.session.tls_pki import Iso20Pki, make_iso20_pki

TIMERS = {"iso20-dc": ISO_15118_20, "iso20-ac": ISO_15118_20}


@dataclass
class Charger:
    """What the simulated -20 charger is: its responder options, TLS, and the responders it made."""

    config: Iso20SeccConfig = field(default_factory=Iso20SeccConfig)
    tls: Any = None  # ssl.SSLContext (TLS 1.3 server requiring a vehicle certificate)
    pnc: Callable[[], Iso20PncSim] | None = None
    made: list[Iso20Secc] = field(default_factory=list)

    def factory(self, make: Callable[..., Iso20Secc]) -> Callable[[], Iso20Secc]:
        def build() -> Iso20Secc:
            secc = make(self.config, pnc=self.pnc() if self.pnc is not None else None)
            self.made.append(secc)
            return secc
        return build


@contextlib.asynccontextmanager
async def secc20(link: VethLink, charger: Charger) -> AsyncIterator[SeccLog]:
    address = link.link_local(link.secc_netns, link.secc_ifname)
    with in_netns(link.secc_netns):
        server, record = await serve_secc(
            f"{address}%{link.secc_ifname}", 0, list(SUPPORTED_ISO20), ssl_context=charger.tls, timers=TIMERS,
            responders={"iso20-dc": charger.factory(dc_secc), "iso20-ac": charger.factory(ac_secc)})
        port = server.sockets[0].getsockname()[1]
        security = Security.TLS if charger.tls is not None else Security.NO_TLS
        transport = await serve_sdp(SdpResponder(SdpResponse(address, port, security, Transport.TCP)),
                                    link.secc_ifname)
    try:
        yield record
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


def run_against(link: VethLink, tmp: Path, charger: Charger, *args: str) -> tuple[Run, SeccLog]:
    async def main() -> tuple[Run, SeccLog]:
        async with secc20(link, charger) as record:
            return await evcc_session(link, tmp, "--iface", "ev0", *args), record

    return asyncio.run(main())


def sent(run: Run) -> list[str]:
    return types(run, "EV->SECC")


def test_iso20_dc_eim_over_tcp(veth: VethLink, tmp_path: Path) -> None:
    charger = Charger()
    run, record = run_against(veth, tmp_path, charger, "--protocol", "iso20-dc", *QUICK_CAR)
    check_complete(run)
    assert record.negotiated == ["iso20-dc"] and run.report["negotiated"] == "iso20-dc"
    assert run.report["control"] == "Scheduled" and run.report["tls"] is False
    for name in ("AuthorizationSetupReq", "ServiceSelectionReq", "DC_ChargeParameterDiscoveryReq",
                 "ScheduleExchangeReq", "DC_CableCheckReq", "DC_PreChargeReq", "PowerDeliveryReq",
                 "DC_ChargeLoopReq", "DC_WeldingDetectionReq"):
        assert name in sent(run), name
    secc = charger.made[-1]
    assert (secc.record.selected_service, secc.record.control_mode) == ("DC", "Scheduled")
    assert secc.record.authorization_service == "EIM" and secc.record.energy_delivered_wh > 0
    assert run.report["soc"]["end"] >= 80.0
    timing = {t["type"]: t for t in run.report["timings"]}
    assert timing["DC_ChargeLoopRes"]["count"] == types(run).count("DC_ChargeLoopRes") >= 1


def test_iso20_dc_bpt_dynamic_discharges_on_the_grids_request(veth: VethLink, tmp_path: Path) -> None:
    charger = Charger(Iso20SeccConfig(dynamic_power=-10_000.0))
    run, _ = run_against(veth, tmp_path, charger, "--protocol", "iso20-dc-bpt", "--control", "dynamic",
                         "--start-soc", "60", "--target-soc", "80", "--capacity-kwh", "0.5", "--charge-seconds", "1")
    check_complete(run)
    secc = charger.made[-1]
    assert (secc.record.selected_service, secc.record.control_mode) == ("DC_BPT", "Dynamic")
    assert secc.record.energy_returned_wh > 0 and secc.record.min_power_w < 0
    soc = run.report["soc"]
    assert soc["end"] < soc["start"] and soc["discharged_wh"] > 0 and soc["delivered_wh"] < 0


def test_iso20_ac_scheduled(veth: VethLink, tmp_path: Path) -> None:
    charger = Charger()
    run, record = run_against(veth, tmp_path, charger, "--protocol", "iso20-ac", *QUICK_CAR)
    check_complete(run)
    assert record.negotiated == ["iso20-ac"]
    assert "AC_ChargeParameterDiscoveryReq" in sent(run) and "AC_ChargeLoopReq" in sent(run)
    assert "DC_CableCheckReq" not in sent(run)
    assert charger.made[-1].record.selected_service == "AC" and run.report["soc"]["end"] >= 80.0


# ------------------------------------------------------------------ Plug & Charge over TLS 1.3 (mutual)
@dataclass
class EvKeys:
    """The EV's key store on disk (a SoftHSM2 token or the software store) and the command-line options for it."""

    store: KeyStore
    options: list[str]
    kind: str


def ev_keys(tmp: Path, softhsm: Pkcs11Config) -> EvKeys:
    if tls_openssl.pkcs11_provider_installed():
        pin = tmp / "pin"
        pin.write_text(softhsm.user_pin + "\n")
        return EvKeys(Pkcs11KeyStore(softhsm), ["--token", softhsm.token_label, "--pin-file", str(pin)],
                      "pkcs11-provider")
    kek = tmp / "kek.bin"
    kek.write_bytes(secrets.token_bytes(32))
    folder = tmp / "softkeys"
    return EvKeys(SoftKeyStore(SoftKeyStoreConfig(folder, kek_file=kek)),
                  ["--soft-keys", str(folder), "--kek-file", str(kek)], "software key store")


def _pem(path: Path, certs: Any) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def provision(tmp: Path, pki: Iso20Pki, keys: EvKeys) -> list[str]:
    """What the vehicle's production line leaves behind: the vehicle (TLS) key and the OEM provisioning key in the
    key store, their certificates, the trusted roots. Returns the command-line options naming them."""
    tag = uuid.uuid4().hex[:8]
    vehicle, oem = f"vehicle-{tag}", f"oem-{tag}"
    info = keys.store.generate(vehicle, KeyAlgorithm.EC_P521)
    vehicle_pem = _pem(tmp / "vehicle.pem", pki.vehicle_chain(info.public, KeyAlgorithm.EC_P521))
    info = keys.store.generate(oem, KeyAlgorithm.EC_P521)
    public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[KeyAlgorithm.EC_P521], info.public)
    issuer = (pki.pki.certs["oem_sub_ca_2"], pki.pki.signing_key("oem_sub_ca_2"))
    oem_leaf = issue_certificate(profile_table()["oem_prov_leaf"], public, issuer, issuer[1], pki.pki.suite,
                                 pki.pki.now)
    oem_pem = _pem(tmp / "oem.pem", [oem_leaf, *pki.pki.chain("oem_sub_ca_2")])
    close = getattr(keys.store, "close", None)
    if callable(close):
        close()
    v2g_root = _pem(tmp / "v2g_root.pem", [pki.v2g_root])
    mo_root = _pem(tmp / "mo_root.pem", [pki.pki.certs["mo_root"]])
    return [*keys.options, "--vehicle-cert", str(vehicle_pem), "--vehicle-key", vehicle, "--oem-cert", str(oem_pem),
            "--oem-key", oem, "--v2g-root", str(v2g_root), "--mo-root", str(mo_root),
            "--contracts", str(tmp / "contracts")]


@pytest.fixture(scope="module")
def pki20(tmp_path_factory: pytest.TempPathFactory) -> Iso20Pki:
    return make_iso20_pki(tmp_path_factory.mktemp("pki20"))


def pnc_charger(pki: Iso20Pki, trusted_vehicle_root: Any) -> Charger:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    service = ProvisioningService(ProvisioningSimulator(pki.pki), TEST_EMAIDS[0])
    return Charger(tls=server_context13(pki.secc_chain_pem, pki.secc_key_pem, [trusted_vehicle_root]),
                   pnc=lambda: Iso20PncSim(service, now))


def test_iso20_dc_pnc_over_tls13_mutual_with_installation(veth: VethLink, tmp_path: Path, pki20: Iso20Pki,
                                                          softhsm_config: Pkcs11Config) -> None:
    keys = ev_keys(tmp_path, softhsm_config)
    options = provision(tmp_path, pki20, keys)
    keylog = tmp_path / "keys.log"
    charger = pnc_charger(pki20, pki20.oem_root)
    run, record = run_against(veth, tmp_path, charger, "--protocol", "iso20-dc", "--tls", "--auth", "pnc",
                              "--keylog", str(keylog), *options, *QUICK_CAR)
    check_complete(run)
    assert run.report["tls_version"] == "TLSv1.3" and run.report["tls_cipher"] == "TLS_AES_256_GCM_SHA384"
    assert keys.kind in run.report["tls_client_key"] and run.report["secc"]["security"] == "TLS"
    assert sent(run)[1:5] == ["SessionSetupReq", "AuthorizationSetupReq", "CertificateInstallationReq",
                             "AuthorizationReq"]
    secc = charger.made[-1]
    assert secc.record.authorization_service == "PnC" and secc.record.emaids_authorized == [TEST_EMAIDS[0]]
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog.read_text() and not record.errors
    assert "Enter PIN" not in run.stderr + run.stdout, run.stderr  # the token's PIN comes from --pin-file only
    assert list((tmp_path / "contracts").iterdir()), "the installed contract is in the store"


def test_iso20_vehicle_certificate_not_trusted_by_the_secc(veth: VethLink, tmp_path: Path, pki20: Iso20Pki,
                                                           softhsm_config: Pkcs11Config) -> None:
    keys = ev_keys(tmp_path, softhsm_config)
    options = provision(tmp_path, pki20, keys)
    other = make_iso20_pki(tmp_path / "other")
    charger = pnc_charger(pki20, other.oem_root)  # the charger trusts another OEM
    run, _ = run_against(veth, tmp_path, charger, "--protocol", "iso20-dc", "--tls", *options, *QUICK_CAR)
    assert run.status == 1 and "Traceback" not in run.stderr, run.stderr
    # asyncio's TLS server closes without an alert that reaches the EV: the EV reports the close, on its first read
    # ("... closed the TLS 1.3 connection before its first message (... refuses the vehicle certificate ...)") or,
    # when the close overtakes the SupportedAppProtocolReq, on the send ("the connection to the SECC is closed")
    assert run.report["ok"] is False and "closed" in run.report["reason"], run.report["reason"]
    assert run.report["outcome"] in ("connection failed", "protocol error") and "session FAILED" in run.stdout
    assert types(run, "SECC->EV") == []


@pytest.mark.parametrize("args, message", [
    (["--protocol", "iso20-ac", "--dc"], "--dc: ISO 15118-20 AC supports ac"),
    (["--protocol", "iso20-dc", "--tls", "--v2g-root", "/nonexistent.pem"], "--vehicle-cert FILE and --vehicle-key"),
    (["--protocol", "iso20-dc", "--auth", "pnc"], "--auth pnc needs --contracts DIR"),
])
def test_iso20_configuration_errors_are_exit_2(veth: VethLink, tmp_path: Path, args: list[str], message: str) -> None:
    run = asyncio.run(evcc_session(veth, tmp_path, "--iface", "ev0", *args))
    assert run.status == 2, (run.stdout, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr
