"""`evcc pki sign-csr`: the test PKI's OEM Sub-CA 2 issues OEM provisioning and vehicle certificates (PKI.md §2
profiles) from PKCS#10 requests, for each suite's key type; a request whose signature does not verify, whose subject
breaks the role's rule, or for which the PKI folder has no suite is refused with one line and exit 2, nothing
written."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from evcc.pki.generator import write_pki
from evcc.pki.profiles import TEST_PCID, Suite

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    write_pki(folder, (Suite.ISO2, Suite.ISO20_P521, Suite.ISO20_ED448), NOW)
    return folder


def request(key: ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey, cn: str, path: Path) -> Path:
    digest = None if isinstance(key, ed448.Ed448PrivateKey) else hashes.SHA256()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, digest))
    path.write_bytes(csr.public_bytes(Encoding.PEM))
    return path


def sign(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evcc", "pki", "sign-csr", *map(str, args), "--now", NOW.isoformat()],
                          capture_output=True, text=True, cwd=ROOT, check=False)


def new_key(suite: Suite) -> ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey:
    if suite is Suite.ISO20_ED448:
        return ed448.Ed448PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1() if suite is Suite.ISO2 else ec.SECP521R1())


@pytest.mark.parametrize("suite", list(Suite))
@pytest.mark.parametrize("role, cn, usage", [("oem-provisioning", TEST_PCID, ("digital_signature", "key_agreement")),
                                             ("vehicle", "WMIEVCCTESTVEHICLE", ("digital_signature",))])
def test_issues_the_profile_from_a_request(pki: Path, tmp_path: Path, suite: Suite, role: str, cn: str,
                                           usage: tuple[str, ...]) -> None:
    key = new_key(suite)
    out = tmp_path / "chain.pem"
    done = sign(request(key, cn, tmp_path / "r.csr"), "--pki", pki, "--role", role, "--out", out)
    assert done.returncode == 0, done.stderr
    leaf, sub2, sub1 = x509.load_pem_x509_certificates(out.read_bytes())
    base = pki / suite.value / "certs"
    assert sub2 == x509.load_pem_x509_certificate((base / "oem_sub_ca_2.pem").read_bytes())
    assert sub1 == x509.load_pem_x509_certificate((base / "oem_sub_ca_1.pem").read_bytes())
    leaf.verify_directly_issued_by(sub2)
    assert leaf.public_key() == key.public_key()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    assert leaf.subject.get_attributes_for_oid(NameOID.DOMAIN_COMPONENT)[0].value == "OEM"
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    bits = ("digital_signature", "content_commitment", "key_encipherment", "key_agreement", "key_cert_sign")
    assert {b for b in bits if getattr(ku.value, b)} == set(usage)
    assert leaf.not_valid_after_utc - NOW == timedelta(days=4 * 365)  # PKI.md §2: 4 years


def test_refuses_a_request_with_a_broken_signature(pki: Path, tmp_path: Path) -> None:
    path = request(ec.generate_private_key(ec.SECP256R1()), TEST_PCID, tmp_path / "r.csr")
    csr = x509.load_pem_x509_csr(path.read_bytes())
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    path.write_bytes(bytes(der))
    done = sign(path, "--pki", pki, "--role", "oem-provisioning", "--out", tmp_path / "out.pem")
    assert done.returncode == 2 and "signature does not verify" in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1 and not (tmp_path / "out.pem").exists()


@pytest.mark.parametrize("role, cn, cause", [("oem-provisioning", "WMI-SHORT", "must be the PCID"),
                                             ("vehicle", "my car", "not 1..64 letters")])
def test_refuses_a_subject_that_breaks_the_role(pki: Path, tmp_path: Path, role: str, cn: str, cause: str) -> None:
    done = sign(request(ec.generate_private_key(ec.SECP256R1()), cn, tmp_path / "r.csr"), "--pki", pki, "--role",
                role, "--out", tmp_path / "out.pem")
    assert done.returncode == 2 and cause in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out.pem").exists()


def test_refuses_a_folder_without_the_suite(tmp_path: Path) -> None:
    only = tmp_path / "pki"
    write_pki(only, (Suite.ISO2,), NOW)
    done = sign(request(ec.generate_private_key(ec.SECP521R1()), TEST_PCID, tmp_path / "r.csr"), "--pki", only,
                "--role", "oem-provisioning", "--out", tmp_path / "out.pem")
    assert done.returncode == 2 and "no iso20-p521 test PKI there" in done.stderr, done.stderr
    garbage = tmp_path / "garbage.csr"
    garbage.write_text("not a request")
    done = sign(garbage, "--pki", only, "--role", "vehicle", "--out", tmp_path / "out.pem")
    assert done.returncode == 2 and "is not a PKCS#10 request" in done.stderr, done.stderr
