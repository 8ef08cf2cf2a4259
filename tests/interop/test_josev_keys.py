"""The factory flow from the command line against an independent charger (INTEROP.md): the vehicle key generated in
SoftHSM2 by `evcc keys generate`, its request from `evcc keys csr`, the certificate issued by `openssl x509 -req`
with Josev's own OEM Sub-CA 2 (its PKI from create_certs.sh), `evcc keys import-cert` verifying it to Josev's OEM
root, then `evcc session --protocol iso20-dc --tls` as its own process in the EV namespace against Josev's SECC
(ISO 15118-20 DC, TLS 1.3 with mutual authentication), the chain taken from the key store. (Josev's DC EVSE
announces a maximum power that allows less than its own minimum current: the EV asks for what the maximum allows
and records the deviation, issue 19.)

Josev's TLS 1.3 is P-256 only: the session needs `--lab-tls13-p256` (LAB PEERS ONLY), and fails without it. What
Josev's simulated EVSE needs from the lab vehicle (a PreCharge tolerance, charging complete one second into the loop,
one warm-up session for its JVM codec) is as in test_josev_iso20.py. Josev's log is read for the session, so it
cannot pass on our side alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.bench.secc.link import VethLink
from evcc.hsm.pkcs11_store import Pkcs11Config
from evcc.session import tls_openssl
from evcc.session.connection import TlsConfig, TlsVersion, prepare
from evcc.session.iso20.config import ISO_15118_20
from evcc.session.tls13 import ClientCertificate, SoftStoreKey, TokenKey
from tests.interop.conftest import ROOT, EvccRun, evcc_session
from tests.interop.josev import JosevSecc
from tests.interop.test_josev_iso20 import (JOSEV_FAILURES, JOSEV_KEY_PASSWORD, JOSEV_TLS13, _relaxed, _session,
                                            config, josev_received)

pytestmark = pytest.mark.interop
VEHICLE_SUBJECT = "CN=WMIEVCCTESTVEHICLE,O=evcc test OEM,C=DE,DC=OEM"
JOSEV_CAR = ["--start-soc", "75", "--target-soc", "76", "--capacity-kwh", "0.4", "--charge-seconds", "1",
             "--precharge-tolerance", "1000"]


def evcc(*args: str | Path) -> str:
    done = subprocess.run([sys.executable, "-m", "evcc", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _der_to_pem(path: Path) -> bytes:
    return x509.load_der_x509_certificate(path.read_bytes()).public_bytes(Encoding.PEM)


@pytest.fixture(scope="module")
def provisioned(josev_pki: Path, softhsm_config: Pkcs11Config, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[list[str], str]:
    """The vehicle key and certificate put in place with the CLI; returns the store options and the key label."""
    if not tls_openssl.pkcs11_provider_installed():
        pytest.fail("OpenSSL pkcs11-provider missing: scripts/setup installs it (bookworm-backports)")
    tmp = tmp_path_factory.mktemp("josev-keys")
    pin = tmp / "pin"
    pin.write_text(softhsm_config.user_pin + "\n")
    store = ["--token", softhsm_config.token_label, "--pin-file", str(pin)]
    label = f"josev-vehicle-{uuid.uuid4().hex[:8]}"
    evcc("keys", "generate", label, "--curve", "p256", *store)
    csr = tmp / "vehicle.csr"
    evcc("keys", "csr", label, "--subject", VEHICLE_SUBJECT, "--role", "vehicle", "--out", csr, *store)
    certs, keys = josev_pki / "iso15118_2" / "certs", josev_pki / "iso15118_2" / "private_keys"
    ext = tmp / "vehicle.ext"
    ext.write_text("[v3]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n")
    leaf = tmp / "leaf.pem"
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(certs / "oemSubCA2Cert.pem"),
                    "-CAkey", str(keys / "oemSubCA2.key"), "-passin", f"pass:{JOSEV_KEY_PASSWORD.decode()}",
                    "-set_serial", "77", "-days", "30", "-sha256", "-extfile", str(ext), "-extensions", "v3",
                    "-out", str(leaf)], check=True, capture_output=True)
    chain = tmp / "chain.pem"
    chain.write_bytes(leaf.read_bytes() + _der_to_pem(certs / "oemSubCA2Cert.der")
                      + _der_to_pem(certs / "oemSubCA1Cert.der"))
    evcc("keys", "import-cert", label, chain, "--root", certs / "oemRootCACert.pem", *store)
    return store, label


@pytest.fixture(scope="module")
def josev_dc(link: VethLink, josev_pki: Path, provisioned: tuple[list[str], str], softhsm_config: Pkcs11Config,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[JosevSecc]:
    """Josev's -20 DC SECC (TLS 1.3 enforced, EIM), its JVM codec warmed by one relaxed in-process session that uses
    the same stored key and chain."""
    _, label = provisioned
    env = {"SECC_ENFORCE_TLS": "True", "ENABLE_TLS_1_3": "True", "AUTH_MODES": "EIM", "PROTOCOLS": "ISO_15118_20_DC"}
    from evcc.keys.certs import Pkcs11CertStore

    certs = Pkcs11CertStore(softhsm_config)
    stored = certs.load(label)
    certs.close()
    key: TokenKey | SoftStoreKey = TokenKey(softhsm_config, label)
    tls = prepare(TlsConfig(v2g_roots=(josev_pki / "iso15118_2" / "certs" / "v2gRootCACert.pem",),
                            version=TlsVersion.TLS13, tls13=JOSEV_TLS13, client_certificate=ClientCertificate(stored,
                                                                                                            key)))
    with JosevSecc(link, tmp_path_factory.mktemp("josev-keys-dc"), josev_pki, env) as secc:
        since = secc.mark()
        asyncio.run(_session(link, tls, config("DC", _relaxed(ISO_15118_20))))
        secc.wait_for("UDP server has been resumed", 30.0, since)
        yield secc


def _run(link: VethLink, tmp: Path, josev_pki: Path, provisioned: tuple[list[str], str], *extra: str) -> EvccRun:
    store, label = provisioned
    return evcc_session(link, tmp / "report.json", "--protocol", "iso20-dc", "--tls", "--v2g-root",
                        str(josev_pki / "iso15118_2" / "certs" / "v2gRootCACert.pem"), "--vehicle-key", label,
                        *store, *JOSEV_CAR, *extra)


def test_cli_provisioned_vehicle_key_in_an_iso20_dc_session_against_josev(
        josev_dc: JosevSecc, link: VethLink, josev_pki: Path, provisioned: tuple[list[str], str],
        tmp_path: Path) -> None:
    mark = josev_dc.mark()
    run = _run(link, tmp_path, josev_pki, provisioned, "--lab-tls13-p256")
    log = josev_dc.log_since(mark)
    assert run.status == 0, (run.stdout, run.stderr, log[-3000:])
    assert run.report["tls_version"] == "TLSv1.3" and run.report["lab_tls13_p256"] is True
    assert "pkcs11-provider" in run.report["tls_client_key"] and provisioned[1] in run.report["tls_client_key"]
    assert "LAB: TLS 1.3 also offered prime256v1" in run.stdout
    assert "SDPRequest received: [Security: TLS, Protocol: TCP]" in log
    assert josev_received(log) == run.types("EV->SECC"), (josev_received(log), run.types("EV->SECC"))
    assert josev_received(log)[-1] == "SessionStopReq" and "DC_ChargeLoopReq" in josev_received(log)
    assert not [f for f in JOSEV_FAILURES if f in log], log[-3000:]


def test_without_the_lab_option_josev_refuses_the_iso20_groups(
        josev_dc: JosevSecc, link: VethLink, josev_pki: Path, provisioned: tuple[list[str], str],
        tmp_path: Path) -> None:
    run = _run(link, tmp_path, josev_pki, provisioned)
    assert run.status == 1 and run.report["outcome"] == "connection failed", (run.stdout, run.stderr)
    assert run.report["lab_tls13_p256"] is False and "Traceback" not in run.stderr
