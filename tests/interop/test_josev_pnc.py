"""Interop with an independent charger (INTEROP.md): ISO 15118-2 DC Plug & Charge over TLS 1.2 against Josev's
SECC, with CertificateInstallation: `evcc session --auth pnc --tls` has no contract yet, so it sends a
CertificateInstallationReq signed with the OEM provisioning key in a SoftHSM2 token, installs what Josev answers
(its CPS signature checked, the contract key decrypted into the token), then PaymentDetails and the signed
AuthorizationReq, CurrentDemand, and SessionStop.

Josev encrypts its own contractLeaf.key for its own OEM provisioning certificate, so the EV uses Josev's PKI:
its OEM key is imported into the token, its V2G root is the trusted root (TLS and the CPS chain). Josev's
shipped contract eMAID has a wrong check character (tests/contracts/test_josev_interop.py); the PKI here is
Josev's with only that corrected. The DC lab options are those of test_josev_eim.py (EVSEPresentVoltage 1 V,
slow JVM codec, EVSEMaximumVoltageLimit 40 V: a 30..36 V lab pack).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.bench.secc.link import VethLink
from evcc.contracts.store import ContractStore
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.session.attach import PROTOCOLS
from evcc.session.connection import TlsConfig
from tests.interop.conftest import evcc_session
from tests.interop.josev import JosevSecc, fixed_emaid
from tests.interop.test_josev_eim import check_stopped_in_order, josev_received

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def josev(link: VethLink, josev_pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JosevSecc]:
    env = {"SECC_ENFORCE_TLS": "True", "AUTH_MODES": "PNC", "PROTOCOLS": "ISO_15118_2"}
    with JosevSecc(link, tmp_path_factory.mktemp("josev-pnc"), josev_pki, env) as secc:
        secc.warm_up([PROTOCOLS["iso2"].offer], TlsConfig((josev_pki / "iso15118_2/certs/v2gRootCACert.der",)))
        yield secc


def import_josev_oem_key(pki: Path, token: Pkcs11KeyStore) -> str:
    keys = pki / "iso15118_2" / "private_keys"
    password = (keys / "oemLeafPassword.txt").read_text().strip().encode()
    key = serialization.load_pem_private_key((keys / "oemLeaf.key").read_bytes(), password)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    label = f"oem/josev/{uuid.uuid4().hex[:8]}"
    token.import_private(label, KeyAlgorithm.EC_P256, bytearray(key.private_numbers().private_value.to_bytes(32, "big")))
    return label


def test_iso2_dc_pnc_tls12_with_certificate_installation_against_josev(
        josev: JosevSecc, link: VethLink, josev_pki: Path, token: Pkcs11KeyStore, softhsm_config: Pkcs11Config,
        tmp_path: Path) -> None:
    certs = josev_pki / "iso15118_2" / "certs"
    oem_label = import_josev_oem_key(josev_pki, token)
    pin = tmp_path / "pin"
    pin.write_text(softhsm_config.user_pin + "\n")
    store = tmp_path / "contracts"
    mark = josev.mark()
    run = evcc_session(
        link, tmp_path / "pnc.json", "--protocol", "iso2", "--dc", "--auth", "pnc", "--tls",
        "--v2g-root", str(certs / "v2gRootCACert.der"), "--mo-root", str(certs / "moRootCACert.der"),
        "--contracts", str(store), "--token", softhsm_config.token_label, "--pin-file", str(pin),
        "--pkcs11-module", softhsm_config.module, "--oem-key", oem_label, "--oem-cert", str(certs / "oemLeafCert.der"),
        "--pack-voltage", "30:36", "--precharge-tolerance", "40", "--charge-seconds", "1.0", "--min-msg-timeout", "1.5")
    check_stopped_in_order(run)
    assert run.report["tls_cipher"] == "ECDHE-ECDSA-AES128-SHA256" and run.report["secc"]["security"] == "TLS"
    sent = run.types("EV->SECC")
    assert sent[:6] == ["supportedAppProtocolReq", "SessionSetupReq", "ServiceDiscoveryReq",
                        "PaymentServiceSelectionReq", "CertificateInstallationReq", "PaymentDetailsReq"]
    assert sent[6] == "AuthorizationReq" and "CurrentDemandReq" in sent and "WeldingDetectionReq" in sent
    # the contract Josev issued is now in our store, its key in the token
    installed = ContractStore(store).list()
    assert len(installed) == 1 and installed[0].emaid == fixed_emaid()
    assert installed[0].chain[0] == (certs / "contractLeafCert.der").read_bytes()
    assert installed[0].key_label in [k.label for k in token.list("contract/")]
    log = josev.log_since(mark)
    received = josev_received(log)
    assert received[:7] == ["supportedAppProtocolReq", "SessionSetupReq", "ServiceDiscoveryReq",
                            "PaymentServiceSelectionReq", "CertificateInstallationReq", "PaymentDetailsReq",
                            "AuthorizationReq"]
    assert received[-1] == "SessionStopReq" and '"SelectedPaymentOption":"Contract"' in log
    assert '"ResponseCode": "OK"' in log and "iso15118 state: CurrentDemand" in log
