"""Independent cross-check (INTEROP.md): a CertificateInstallationRes made by Josev's SECC code (PyPI iso15118
0.31.2, its own venv from scripts/setup.d/30-security.sh, its EXI codec on Java 17) is decoded by evcc.exi, its
CPS signature verified, and its contract key decrypted by our code with Josev's OEM key imported into SoftHSM2.

Finding: the eMAID of Josev's shipped PKI, UKSWI123456791A, has a wrong ISO 15118-2 Annex H check character
(expected 5), so the unchanged response is rejected by our eMAID check before anything is decrypted. The second
case regenerates Josev's PKI with only that CN corrected (its configs/contractLeafCert.cnf); everything else
(keys, certificates, encryption, signature, EXI) is still Josev's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evcc import exi
from evcc.contracts import errors as E
from evcc.contracts.emaid import check_character
from evcc.contracts.install_common import InstallContext
from evcc.contracts.messages2 import chain_ders
from evcc.contracts.response2 import SIGNED_ELEMENTS, decode_response, install_from_message
from evcc.contracts.signed import check_signature
from evcc.contracts.store import ContractStore
from evcc.exi.signature import ECDSA_SHA256
from evcc.hsm.hostcrypto import encode_public, verify_raw
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore

VENV_PYTHON = Path(os.environ.get("EVCC_JOSEV_VENV", "/opt/evcc-test/josev-venv")) / "bin" / "python"
DRIVER = Path(__file__).with_name("josev_cert_install_res.py")
JOSEV_EMAID = "UKSWI123456791A"


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{cmd[0]} failed: {done.stderr[-2000:]}"
    return done.stdout


def _josev_pki(base: Path, fix_emaid: bool) -> Path:
    """Copy iso15118/shared/pki out of the installed package and run its create_certs.sh -v iso-2."""
    if not VENV_PYTHON.exists():
        pytest.fail(f"Josev venv missing at {VENV_PYTHON}: scripts/setup.d/30-security.sh creates it")
    package = _run([str(VENV_PYTHON), "-c", "import iso15118, os; print(os.path.dirname(iso15118.__file__))"])
    pki = base / ("pki-fixed" if fix_emaid else "pki")
    shutil.copytree(Path(package.strip()) / "shared" / "pki", pki)
    if fix_emaid:
        cnf = pki / "configs" / "contractLeafCert.cnf"
        fixed = JOSEV_EMAID[:14] + check_character(JOSEV_EMAID[:14])
        cnf.write_text(cnf.read_text().replace(JOSEV_EMAID, fixed))
    _run(["bash", "create_certs.sh", "-v", "iso-2"], cwd=pki)
    return pki


def _josev_response(pki: Path) -> bytes:
    out = _run([str(VENV_PYTHON), str(DRIVER), f"{pki}/"])
    return bytes.fromhex(out.strip().splitlines()[-1])


def _cert(pki: Path, name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate((pki / "iso15118_2" / "certs" / name).read_bytes())


def _import_oem_key(pki: Path, token: Pkcs11KeyStore) -> str:
    keys = pki / "iso15118_2" / "private_keys"
    password = (keys / "oemLeafPassword.txt").read_text().strip().encode()
    key = serialization.load_pem_private_key((keys / "oemLeaf.key").read_bytes(), password)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    label = f"oem/josev/{uuid.uuid4().hex[:8]}"
    token.import_private(label, KeyAlgorithm.EC_P256, bytearray(key.private_numbers().private_value.to_bytes(32, "big")))
    return label


def _context(tmp: Path, token: Pkcs11KeyStore, pki: Path) -> InstallContext:
    now = datetime.now(timezone.utc)  # Josev's certificates start when the fixture made them, after NOW
    return InstallContext(ContractStore(tmp / f"store-{uuid.uuid4().hex[:6]}"), token,
                          (_cert(pki, "v2gRootCACert.der"),), now, (_cert(pki, "moRootCACert.der"),))


@pytest.fixture(scope="module")
def josev(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bytes]]:
    base = tmp_path_factory.mktemp("josev")
    out = {}
    for fixed in (False, True):
        pki = _josev_pki(base, fixed)
        out["fixed" if fixed else "shipped"] = (pki, _josev_response(pki))
    return out


@pytest.mark.interop
def test_josev_response_decodes_and_its_cps_signature_verifies(josev) -> None:  # type: ignore[no-untyped-def]
    pki, data = josev["shipped"]
    msg = decode_response(data)
    assert exi.encode(msg) == data  # byte-exact round trip of a foreign encoder's output
    body = msg.Body.CertificateInstallationRes
    assert body.ResponseCode == "OK" and body.eMAID.value == JOSEV_EMAID
    assert chain_ders(body.SAProvisioningCertificateChain)[0] == (pki / "iso15118_2/certs/cpsLeafCert.der").read_bytes()
    check_signature("iso2-fragment", msg.Header.Signature, msg, [(n, getattr(body, n)) for n in SIGNED_ELEMENTS],
                    _cert(pki, "cpsLeafCert.der"), ECDSA_SHA256)
    with pytest.raises(E.SignatureValueInvalid):  # and only Josev's CPS key made it
        check_signature("iso2-fragment", msg.Header.Signature, msg,
                        [(n, getattr(body, n)) for n in SIGNED_ELEMENTS], _cert(pki, "oemLeafCert.der"), ECDSA_SHA256)


@pytest.mark.interop
def test_josev_shipped_emaid_has_a_wrong_check_character(josev, token: Pkcs11KeyStore, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pki, data = josev["shipped"]
    ctx = _context(tmp_path, token, pki)
    label = _import_oem_key(pki, token)
    before = token.list("contract/")
    with pytest.raises(E.InvalidIdentifier, match="check character 'A', expected '5'"):
        install_from_message(decode_response(data), oem_key_label=label, ctx=ctx)
    assert ctx.store.list() == [] and token.list("contract/") == before


@pytest.mark.interop
def test_josev_response_decrypts_into_the_token_with_josev_oem_key(josev, token: Pkcs11KeyStore,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    pki, data = josev["fixed"]
    ctx = _context(tmp_path, token, pki)
    label = _import_oem_key(pki, token)
    contract = install_from_message(decode_response(data), oem_key_label=label, ctx=ctx)
    josev_contract = _cert(pki, "contractLeafCert.der")
    assert contract.chain[0] == josev_contract.public_bytes(serialization.Encoding.DER)
    assert contract.emaid == JOSEV_EMAID[:14] + "5"
    # the recovered key is Josev's contractLeaf.key: same public key, and it signs for Josev's certificate
    assert token.public_key(contract.key_label or "") == encode_public(josev_contract.public_key())  # type: ignore[arg-type]
    sig = token.sign(contract.key_label or "", b"GenChallenge0123")
    assert verify_raw(josev_contract.public_key(), b"GenChallenge0123", sig)  # type: ignore[arg-type]
    keys = pki / "iso15118_2" / "private_keys"
    josev_key = serialization.load_pem_private_key(
        (keys / "contractLeaf.key").read_bytes(), (keys / "contractLeafPassword.txt").read_text().strip().encode())
    assert josev_key.public_key() == josev_contract.public_key()
