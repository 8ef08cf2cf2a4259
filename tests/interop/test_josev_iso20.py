"""Interop with an independent charger (INTEROP.md): ISO 15118-20 sessions of our EVCC against Josev's SECC (PyPI
iso15118 0.31.2) over TLS 1.3 with mutual authentication (ENABLE_TLS_1_3=True), on a veth pair between two
network namespaces: SDP (secured) -> TLS 1.3 -> SupportedAppProtocol -> -20 AC, DC and DC_BPT (Scheduled, EIM)
until SessionStop.

The vehicle presents a certificate Josev trusts: a vehicle leaf issued by Josev's own OEM Sub-CA 2 (its PKI from
``create_certs.sh``) for a P-256 key generated in SoftHSM2 and used through OpenSSL's pkcs11-provider (the
software key store where the provider is missing). Josev's SECC is P-256 only in TLS 1.3 as well (its PKI and
``set_ecdh_curve("prime256v1")``), outside ISO 15118-20's secp521r1/x448 and ecdsa_secp521r1_sha512/ed448:
for this peer the EV keeps the -20 values first and adds prime256v1 / ecdsa_secp256r1_sha256 after them
(:data:`JOSEV_TLS13`), so the handshake goes through a HelloRetryRequest to P-256.

What this peer needs, all in the test configuration (vehicle policy, never in the machine or its timers):
- its simulated EVSE reports 1 V / 1 A whatever is asked: a PreCharge tolerance that accepts it, and a lab vehicle
  that declares charging complete one second into the charge loop (no battery fills at 1 W);
- its JVM EXI codec needs seconds for the first message of a grammar: one relaxed warm-up session per process;
- it keeps EVSE session limits across sessions (a DC session empties the AC ones): one process per namespace.
What the EV had to learn from it (now in the machine): PowerToleranceAcceptance in PowerDeliveryReq(Start) when
the ScheduleTuple carries a PowerTolerance (Josev's schedules do), and DisplayParameters with ChargingComplete
(optional in the schema, required by Josev's model).

Josev's -20 AC_BPT crashes inside its SECC (INTEROP.md): that test is skipped with the reason.
Each test also reads Josev's log for that session (requests received = requests sent, in the -20 order, the
PowerTolerance offered and confirmed, SessionStopRes OK, no error), so a session cannot pass by our side alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evcc.bench.secc.link import VethLink, in_netns
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.session import tls_openssl, v2gtp
from evcc.session.attach_vehicle import LabVehicle, VehicleConfig
from evcc.session.connection import PreparedTls, TlsConfig, TlsVersion, open_connection, prepare
from evcc.session.events import EndKind, Exchange
from evcc.session.iso20 import Iso20Config
from evcc.session.iso20.config import ISO_15118_20, Service
from evcc.session.iso20.factory import iso20_machines, iso20_offers
from evcc.session.runner import SessionReport, run_session
from evcc.session.sdp import SdpClient, Security
from evcc.session.sdp_aio import discover, interface_index, sdp_socket
from evcc.session.timeouts import EvccTimers
from evcc.session.tls13 import ISO20_GROUPS, ISO20_SIGNATURE_ALGORITHMS, ClientCertificate, SoftStoreKey
from evcc.session.tls13 import Tls13Profile, TokenKey
from tests.interop.josev import JosevSecc

pytestmark = pytest.mark.interop

JOSEV_TLS13 = Tls13Profile(groups=ISO20_GROUPS + ("prime256v1",),
                           signature_algorithms=ISO20_SIGNATURE_ALGORITHMS + ("ecdsa_secp256r1_sha256",))
JOSEV_KEY_PASSWORD = b"12345"  # create_certs.sh's default
EVCC_ID = "0242AC110002"


def _relaxed(timers: EvccTimers) -> EvccTimers:
    """The warm-up's timers: Josev's JVM EXI codec needs seconds for the first message of each grammar."""
    return dataclasses.replace(
        timers, V2G_EVCC_Msg_Timeout=MappingProxyType({k: 60.0 for k in timers.V2G_EVCC_Msg_Timeout}),
        V2G_EVCC_CommunicationSetup_Timeout=120.0, V2G_EVCC_Ongoing_Timeout=120.0)


def _vehicle_leaf(public: ec.EllipticCurvePublicKey, pki: Path) -> tuple[x509.Certificate, ...]:
    """A vehicle certificate under Josev's OEM Sub-CA 2, then Josev's OEM Sub-CA 2 and 1."""
    certs, keys = pki / "iso15118_2" / "certs", pki / "iso15118_2" / "private_keys"
    sub2 = x509.load_der_x509_certificate((certs / "oemSubCA2Cert.der").read_bytes())
    sub1 = x509.load_der_x509_certificate((certs / "oemSubCA1Cert.der").read_bytes())
    sub2_key = serialization.load_pem_private_key((keys / "oemSubCA2.key").read_bytes(), JOSEV_KEY_PASSWORD)
    assert isinstance(sub2_key, ec.EllipticCurvePrivateKey)
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WMIEVCCTESTVEHICLE"),
                                 x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "OEM")]))
        .issuer_name(sub2.subject).public_key(public).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .sign(sub2_key, hashes.SHA256())
    )
    return leaf, sub2, sub1


@pytest.fixture(scope="module")
def vehicle_tls(josev_pki: Path, softhsm_config: Pkcs11Config, tmp_path_factory: pytest.TempPathFactory
                ) -> PreparedTls:
    label = f"josev-vehicle-{uuid.uuid4().hex[:8]}"
    key: TokenKey | SoftStoreKey
    if tls_openssl.pkcs11_provider_installed():
        store = Pkcs11KeyStore(softhsm_config)
        public = store.generate(label, KeyAlgorithm.EC_P256).public
        store.close()
        key = TokenKey(softhsm_config, label)  # the pair shares one CKA_ID: pkcs11-provider finds the public half
    else:
        soft = SoftKeyStore(SoftKeyStoreConfig(tmp_path_factory.mktemp("soft"), passphrase=b"interop"))
        public = soft.generate(label, KeyAlgorithm.EC_P256).public
        key = SoftStoreKey(soft, label)
    chain = _vehicle_leaf(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public), josev_pki)
    v2g_root = josev_pki / "iso15118_2" / "certs" / "v2gRootCACert.pem"
    return prepare(TlsConfig(v2g_roots=(v2g_root,), version=TlsVersion.TLS13, tls13=JOSEV_TLS13,
                             client_certificate=ClientCertificate(chain, key)))


def config(service: Service, timers: EvccTimers = ISO_15118_20) -> Iso20Config:
    # Josev's simulated DC EVSE never moves its present voltage towards the battery: a PreCharge tolerance that
    # accepts it is vehicle policy for this peer; the message sequence and timers are unchanged.
    return Iso20Config(evcc_id=EVCC_ID, service=service, control_mode="Scheduled", timers=timers,
                       unix_time_offset=time.time() - time.monotonic(), precharge_tolerance=1000.0)


@dataclasses.dataclass
class Run:
    report: SessionReport
    cipher: tuple[str, str, int] | None
    key_source: str | None


async def _session(link: VethLink, tls: PreparedTls, cfg: Iso20Config) -> Run:
    with in_netns(link.ev_netns):
        sock = sdp_socket(link.ev_ifname)
        try:
            found = await discover(SdpClient(Security.TLS), sock)
        finally:
            sock.close()
        conn = await open_connection(str(found.address), found.port, tls=tls, scope_id=interface_index(link.ev_ifname),
                                     accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
    # Josev's simulated EVSE reports EVSEPresentVoltage/Current of 1 V / 1 A (DC) whatever is asked, so no battery
    # fills: the lab vehicle declares charging complete (DisplayParameters ChargingComplete, then the orderly
    # stop) one second into the charge loop. Vehicle policy only; the messages and timers are the standard's.
    vehicle = LabVehicle(VehicleConfig(start_soc=75.0, target_soc=76.0, capacity_kwh=0.4, charge_seconds=1.0))
    report = await run_session(conn, iso20_offers(cfg), iso20_machines(cfg, vehicle), cfg.timers)
    return Run(report, conn.cipher, conn.client_key_source)


@pytest.fixture(scope="module")
def josev(request: pytest.FixtureRequest, link: VethLink, josev_pki: Path, vehicle_tls: PreparedTls,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[JosevSecc]:
    """One Josev process per -20 namespace (``request.param``: "AC" or "DC"; tests are grouped by it). Josev 0.31.2
    keeps its EVSE session limits from one session to the next and a DC ChargeParameterDiscovery replaces them with
    empty ones, so an AC session after a DC session in the same process fails in Josev's AC charge loop (TypeError
    comparing None); a fresh process per namespace keeps each session independent."""
    kind: str = request.param
    env = {"SECC_ENFORCE_TLS": "True", "ENABLE_TLS_1_3": "True", "AUTH_MODES": "EIM",
           "PROTOCOLS": f"ISO_15118_20_{kind}"}
    with JosevSecc(link, tmp_path_factory.mktemp(f"josev-iso20-{kind}"), josev_pki, env) as secc:
        since = secc.mark()  # one relaxed session warms Josev's JVM codec for this grammar
        asyncio.run(_session(link, vehicle_tls, config(kind, _relaxed(ISO_15118_20))))  # type: ignore[arg-type]
        secc.wait_for("UDP server has been resumed", 30.0, since)
        yield secc


def josev_received(log: str) -> list[str]:
    return re.findall(r"comm_session \(\d+\): (\w+) received", log)


SETUP = ["supportedAppProtocolReq", "SessionSetupReq", "AuthorizationSetupReq", "AuthorizationReq",
         "ServiceDiscoveryReq", "ServiceDetailReq", "ServiceSelectionReq"]
ENERGY = {  # what follows ServiceSelection, in order (loops and Ongoing rounds collapsed)
    "AC": ["AC_ChargeParameterDiscoveryReq", "ScheduleExchangeReq", "PowerDeliveryReq", "AC_ChargeLoopReq",
           "PowerDeliveryReq", "SessionStopReq"],
    "DC": ["DC_ChargeParameterDiscoveryReq", "ScheduleExchangeReq", "DC_CableCheckReq", "DC_PreChargeReq",
           "PowerDeliveryReq", "DC_ChargeLoopReq", "PowerDeliveryReq", "DC_WeldingDetectionReq", "SessionStopReq"],
}
JOSEV_FAILURES = ("occurred while processing message", "Traceback", "ValidationError")


def _collapsed(names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


@pytest.mark.parametrize("josev", ["AC"], indirect=True)
def test_iso20_ac_over_tls13_mutual_against_josev(josev: JosevSecc, link: VethLink, vehicle_tls: PreparedTls
                                                  ) -> None:
    check_session(josev, link, vehicle_tls, "AC")


@pytest.mark.parametrize("josev", ["DC"], indirect=True)
@pytest.mark.parametrize("service", ["DC", "DC_BPT"])
def test_iso20_dc_over_tls13_mutual_against_josev(josev: JosevSecc, link: VethLink, vehicle_tls: PreparedTls,
                                                  service: Service) -> None:
    check_session(josev, link, vehicle_tls, service)


def check_session(josev: JosevSecc, link: VethLink, vehicle_tls: PreparedTls, service: Service) -> None:
    """One session to SessionStop, checked on our side and in what Josev logged for it."""
    mark = josev.mark()
    run = asyncio.run(_session(link, vehicle_tls, config(service)))
    log = josev.settled_log(mark, "Reason: Communication session terminated. EV Info")
    assert run.report.ended.kind is EndKind.COMPLETED, (run.report.ended, log[-4000:])
    # TLS 1.3 with the vehicle certificate, the key where the fixture put it
    assert run.cipher == ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)
    assert run.key_source == vehicle_tls.client_key_source
    assert "SDPRequest received: [Security: TLS, Protocol: TCP]" in log
    kind = service[:2]
    assert run.report.protocol == f"iso20-{kind.lower()}"
    # what Josev received is what we sent, in the -20 order, to SessionStopReq
    received = josev_received(log)
    sent = ["supportedAppProtocolReq"] + [e.request for e in run.report.events if isinstance(e, Exchange)]
    assert received == sent, (received, sent)
    assert _collapsed(received) == SETUP + ENERGY[kind], _collapsed(received)
    # the schedule carried a PowerTolerance, our Start confirmed it; Josev answered OK, charged and stopped
    assert re.search(r'"ScheduleExchangeRes": \{.*"PowerTolerance"', log)
    start = re.search(r'\{"PowerDeliveryReq":.*"ChargeProgress":"Start".*', log)
    assert start and '"PowerToleranceAcceptance":"PowerToleranceConfirmed"' in start.group(0)
    assert '"ChargeProgress":"Stop"' in log
    bpt = "BPT_Scheduled_DC_CLReqControlMode" if service == "DC_BPT" else f"Scheduled_{kind}_CLReqControlMode"
    assert f'{{"{kind}_ChargeLoopReq":' in log and f'"{bpt}":' in log
    assert not [f for f in JOSEV_FAILURES if f in log], log[-4000:]
    assert re.search(r'"SessionStopRes": \{"Header": \{[^}]*\}, "ResponseCode": "OK"\}', log)
    assert "Reason: Communication session terminated. EV Info" in log


@pytest.mark.skip(reason="Josev 0.31.2's SECC crashes inside its own -20 AC_BPT handling (INTEROP.md); "
                         "our AC_BPT runs against the bench SECC simulator")
def test_iso20_ac_bpt_against_josev() -> None:
    """Kept as the place for the AC_BPT interop test once Josev's SECC handles AC_BPT."""
