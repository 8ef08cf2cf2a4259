"""Helpers shared by the contracts tests (time, the CPS signature through the real EXI layer, installation
context)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509

from evcc import exi
from evcc.contracts.install2 import ContractResponse2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.messages20 import response_values_20
from evcc.contracts.provisioning_service import response_body_2, signed_response_2
from evcc.contracts.provisioning_service20 import GRAMMAR as GRAMMAR_20, response_20
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.response2 import response_values
from evcc.contracts.signed import algorithm_of_certificate
from evcc.contracts.store import ContractStore
from evcc.exi.signature import sign_elements
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.pki.generator import TestPki

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SESSION_ID = bytes.fromhex("0102030405060708")


def response_message(sim: ProvisioningSimulator, values: Any, signed: Any | None = None,
                     signature_value: bytes | None = None) -> Any:
    """The CPS-signed response message carrying ``values`` (a -2 CertificateInstallationRes for
    ContractResponse2, a -20 CertificateInstallationRes otherwise), passed through EXI bytes.

    ``signed``: the values the CPS signed, when the message was changed in transit afterwards.
    ``signature_value``: replaces the SignatureValue (a forged or damaged signature)."""
    if isinstance(values, ContractResponse2):
        msg = signed_response_2(signed or values, "CertificateInstallationRes", SESSION_ID, sim.sign)
        msg.Body.CertificateInstallationRes = response_body_2(values, "CertificateInstallationRes")
        header = msg.Header
    else:
        msg = response_20(signed or values, SESSION_ID, NOW)
        cps = sim.pki.certs[sim.cps_leaf]
        msg.Header.Signature = sign_elements(GRAMMAR_20, [("SignedInstallationData", msg.SignedInstallationData)],
                                             sim.sign, algorithm_of_certificate(cps))
        msg.SignedInstallationData = response_20(values, SESSION_ID, NOW).SignedInstallationData
        header = msg.Header
    if signature_value is not None:
        header.Signature.SignatureValue.value = signature_value
    grammar = "iso2" if isinstance(values, ContractResponse2) else "iso20-common"
    return exi.decode(grammar, exi.encode(msg))


def cps_verifier(sim: ProvisioningSimulator, values: Any, signed: Any | None = None,
                 signature_value: bytes | None = None) -> Callable[[x509.Certificate], bool]:
    """The verify callable the EXI layer provides for ``values``: the real CPS signature over the EXI
    fragments of the response message (see :func:`response_message`), checked with the validated CPS leaf."""
    msg = response_message(sim, values, signed, signature_value)
    if isinstance(values, ContractResponse2):
        return response_values(msg, "CertificateInstallationRes")[1]
    return response_values_20(msg)[1]


def make_context(tmp: Path, keystore: KeyStore, pki: TestPki, now: datetime = NOW) -> InstallContext:
    return InstallContext(store=ContractStore(tmp / f"contracts-{uuid.uuid4().hex[:6]}"), keystore=keystore,
                          v2g_roots=(pki.certs["v2g_root"],), now=now, mo_roots=(pki.certs["mo_root"],))


def oem_key_in_store(pki: TestPki, keystore: KeyStore, algorithm: KeyAlgorithm) -> tuple[str, x509.Certificate]:
    """Generate the OEM provisioning key inside the key store and issue its certificate from the test PKI
    (as an OEM's production line would); returns the key label and the certificate."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from evcc.hsm.hostcrypto import CURVES
    from evcc.pki.generator import issue_certificate
    from evcc.pki.profiles import profile_table

    label = f"oem/{uuid.uuid4().hex[:10]}"
    info = keystore.generate(label, algorithm)
    public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], info.public)
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    cert = issue_certificate(profile_table()["oem_prov_leaf"], public, issuer, issuer[1], pki.suite, pki.now)
    return label, cert
