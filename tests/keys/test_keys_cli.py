"""`evcc keys` as the factory line and the workshop run it, on every key store (SoftHSM2 token, TPM 2.0 on swtpm,
software store), each command its own process: generate inside the store, a PKCS#10 request signed in the store,
the certificate issued from it by the test PKI (`evcc pki sign-csr`) or by `openssl x509 -req`, import-cert, list,
export-public, delete."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from tests.keys.conftest import PCID_SUBJECT, VEHICLE_SUBJECT, Store, evcc

CURVE_OF_SUITE = {"iso2": "p256", "iso20-p521": "p521"}


def _ok(*args: str | Path) -> str:
    done = evcc(*args)
    assert done.status == 0, (args, done.out, done.err)
    assert "Traceback" not in done.err
    return done.out


def openssl_issue(csr: Path, pki: Path, suite: str, out: Path) -> None:
    """The OEM Sub-CA 2 of the test PKI issues a certificate from ``csr`` with `openssl x509 -req` (OpenSSL checks
    the request's self-signature), then the chain file: leaf, Sub-CA 2, Sub-CA 1."""
    base = pki / suite
    ext = out.with_suffix(".ext")
    ext.write_text("[v3]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, "
                   "keyAgreement\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")
    leaf = out.with_suffix(".leaf.pem")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(base / "certs" / "oem_sub_ca_2.pem"),
                    "-CAkey", str(base / "keys" / "oem_sub_ca_2.key"), "-set_serial", "4242", "-days", "365",
                    "-sha256" if suite == "iso2" else "-sha512", "-extfile", str(ext), "-extensions", "v3",
                    "-out", str(leaf)], check=True, capture_output=True)
    out.write_bytes(leaf.read_bytes() + (base / "certs" / "oem_sub_ca_2.pem").read_bytes()
                    + (base / "certs" / "oem_sub_ca_1.pem").read_bytes())


@pytest.mark.parametrize("issuer", ["evcc-pki", "openssl"])
@pytest.mark.parametrize("suite", ["iso2", "iso20-p521"])
def test_factory_flow_generate_csr_issue_import_list_export_delete(store: Store, pki: Path, tmp_path: Path,
                                                                   suite: str, issuer: str) -> None:
    label = store.label("vehicle")
    curve = CURVE_OF_SUITE[suite]
    assert f"key {label!r} ({curve}) generated" in _ok("keys", "generate", label, "--curve", curve, *store.options)
    csr_path = tmp_path / "vehicle.csr"
    _ok("keys", "csr", label, "--subject", VEHICLE_SUBJECT, "--role", "vehicle", "--out", csr_path, *store.options)
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid and csr.subject == x509.Name.from_rfc4514_string(VEHICLE_SUBJECT)
    verify = subprocess.run(["openssl", "req", "-in", str(csr_path), "-verify", "-noout"], capture_output=True,
                            text=True, check=False)
    assert verify.returncode == 0 and "verify OK" in verify.stdout + verify.stderr, verify.stderr
    chain = tmp_path / "vehicle-chain.pem"
    if issuer == "evcc-pki":
        _ok("pki", "sign-csr", csr_path, "--pki", pki, "--role", "vehicle", "--out", chain)
    else:
        openssl_issue(csr_path, pki, suite, chain)
    root = pki / suite / "certs" / "oem_root.pem"
    out = _ok("keys", "import-cert", label, chain, "--root", root, *store.options)
    assert "2 Sub-CA(s) stored" in out and "verified to the given roots" in out

    listing = _ok("keys", "list", *store.options)
    row = next(line for line in listing.splitlines() if line.startswith(label + " "))
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    assert store.kind in row.split() and curve in row.split()
    assert "CN=WMIEVCCTESTVEHICLE" in row and "CN=OEMSubCA2" in row
    assert f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M}Z" in row and "EXPIRES SOON" not in row
    soon = next(line for line in _ok("keys", "list", "--window-days", "4000", *store.options).splitlines()
                if line.startswith(label + " "))
    assert soon.endswith("EXPIRES SOON"), soon

    public = load_pem_public_key(_ok("keys", "export-public", label, *store.options).encode())
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki == leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki == csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    assert "deleted" in _ok("keys", "delete", label, "--yes", *store.options)
    assert label not in _ok("keys", "list", *store.options)
    again = evcc("keys", "export-public", label, *store.options)
    assert again.status == 2 and label in again.error_lines()[0]


def test_oem_provisioning_request_carries_the_pcid(store: Store, pki: Path, tmp_path: Path) -> None:
    label = store.label("oem")
    _ok("keys", "generate", label, "--curve", "p256", *store.options)
    csr_path = tmp_path / "oem.csr"
    _ok("keys", "csr", label, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", "--out", csr_path,
        *store.options)
    chain = tmp_path / "oem.pem"
    _ok("pki", "sign-csr", csr_path, "--pki", pki, "--role", "oem-provisioning", "--out", chain)
    _ok("keys", "import-cert", label, chain, "--role", "oem-provisioning", "--root",
        pki / "iso2" / "certs" / "oem_root.pem", *store.options)
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement  # PKI.md §2: OEM provisioning leaf
    assert "CN=WMIEVCCTEST0000017" in _ok("keys", "list", *store.options)
    _ok("keys", "delete", label, "--yes", *store.options)


def test_csr_to_stdout_and_a_reimport_replaces_the_chain(store: Store, pki: Path, tmp_path: Path) -> None:
    label = store.label("renew")
    _ok("keys", "generate", label, "--curve", "p256", *store.options)
    pem = _ok("keys", "csr", label, "--subject", VEHICLE_SUBJECT, "--role", "vehicle", *store.options)
    (tmp_path / "r.csr").write_text(pem)
    first, second = tmp_path / "first.pem", tmp_path / "second.pem"
    _ok("pki", "sign-csr", tmp_path / "r.csr", "--pki", pki, "--role", "vehicle", "--out", first,
        "--now", "2026-01-01T00:00:00+00:00")
    _ok("pki", "sign-csr", tmp_path / "r.csr", "--pki", pki, "--role", "vehicle", "--out", second)
    _ok("keys", "import-cert", label, first, *store.options)
    _ok("keys", "import-cert", label, second, *store.options)
    row = next(line for line in _ok("keys", "list", *store.options).splitlines() if line.startswith(label + " "))
    newest = x509.load_pem_x509_certificates(second.read_bytes())[0]
    assert f"{newest.not_valid_after_utc:%Y-%m-%d %H:%M}Z" in row
    _ok("keys", "delete", label, "--yes", *store.options)
