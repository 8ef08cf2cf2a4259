"""Test PKI generator (PKI.md §2): profiles, layout, permissions, broken variants, `evcc pki init`."""

from __future__ import annotations

import argparse
import json
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.serialization import load_der_public_key

from evcc.pki import cli
from evcc.pki.generator import OID_SUBJECT_ALT_PUBLIC_KEY_INFO, X448_ALT_KEY_NAME, build_pki, load_private_key
from evcc.pki.profiles import PROFILES, TEST_EMAIDS, TEST_PCID, Suite

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


@pytest.fixture(scope="module", params=list(Suite), ids=lambda s: s.value)
def pki(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return build_pki(request.param, NOW)


def test_every_profile_has_its_constraints_and_usage(pki) -> None:  # type: ignore[no-untyped-def]
    for p in PROFILES:
        cert = pki.certs[p.name]
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert bc.critical and ku.critical
        assert bc.value.ca is p.ca
        if p.ca:
            assert bc.value.path_length == p.path_len
            assert ku.value.key_cert_sign and ku.value.crl_sign
        else:
            assert not ku.value.key_cert_sign
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        dc = cert.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)[0].value
        assert (cn, dc) == (p.cn, p.dc)
        assert cert.not_valid_after_utc == NOW + p.not_after
        assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_key_algorithm_per_suite(pki) -> None:  # type: ignore[no-untyped-def]
    key = pki.certs["cps_leaf"].public_key()
    if pki.suite is Suite.ISO2:
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
        assert pki.certs["cps_leaf"].signature_hash_algorithm.name == "sha256"
    elif pki.suite is Suite.ISO20_P521:
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp521r1"
        assert pki.certs["cps_leaf"].signature_hash_algorithm.name == "sha512"
    else:
        assert isinstance(key, ed448.Ed448PublicKey)


def test_chains_link_to_their_roots(pki) -> None:  # type: ignore[no-untyped-def]
    for leaf in ("secc_leaf", "oem_prov_leaf", "contract_1", "cps_leaf"):
        chain = pki.chain(leaf) + [pki.root_of(leaf)]
        assert len(chain) == 4  # leaf + two Sub-CAs + root
        for child, parent in zip(chain, chain[1:]):
            child.verify_directly_issued_by(parent)


def test_leaf_names_are_valid_identifiers(pki) -> None:  # type: ignore[no-untyped-def]
    from evcc.contracts.emaid import parse_emaid, validate_pcid
    assert validate_pcid(pki.certs["oem_prov_leaf"].subject.get_attributes_for_oid(
        x509.NameOID.COMMON_NAME)[0].value) == TEST_PCID
    for name, emaid in zip(("contract_1", "contract_2", "contract_3"), TEST_EMAIDS):
        cn = pki.certs[name].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert parse_emaid(str(cn)).normalized == emaid


def test_broken_variants(pki) -> None:  # type: ignore[no-untyped-def]
    c = pki.certs
    assert c["broken_cps_leaf_expired"].not_valid_after_utc < NOW
    assert c["broken_cps_leaf_not_yet_valid"].not_valid_before_utc > NOW
    assert not c["broken_cps_leaf_wrong_usage"].extensions.get_extension_for_class(
        x509.KeyUsage).value.digital_signature
    assert c["broken_rogue_root"].subject == c["v2g_root"].subject
    assert c["broken_rogue_root"].public_key() != c["v2g_root"].public_key()
    assert len(pki.chain("broken_cps_leaf_path_too_long")) == 4
    assert c["broken_contract_expired"].not_valid_after_utc < NOW


def test_ed448_oem_leaf_carries_x448_alternate_key() -> None:
    pki = build_pki(Suite.ISO20_ED448, NOW)
    ext = pki.certs["oem_prov_leaf"].extensions.get_extension_for_oid(OID_SUBJECT_ALT_PUBLIC_KEY_INFO)
    alt = load_der_public_key(ext.value.value)  # type: ignore[attr-defined]
    assert isinstance(alt, x448.X448PublicKey)
    key = pki.keys[X448_ALT_KEY_NAME]
    assert isinstance(key, x448.X448PrivateKey) and key.public_key() == alt


def test_cli_init_writes_layout_with_private_keys_0600(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "pki"
    args = parser.parse_args(["pki", "init", str(out), "--suite", "iso2", "--now", NOW.isoformat()])
    assert args.func(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suites"] == ["iso2"] and manifest["pcid"] == TEST_PCID
    base = out / "iso2"
    assert stat.S_IMODE((base / "keys").stat().st_mode) == 0o700
    for key_file in (base / "keys").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = load_private_key(base / "keys" / "cps_leaf.key")
    cert = x509.load_pem_x509_certificate((base / "certs" / "cps_leaf.pem").read_bytes())
    assert cert.public_key() == key.public_key()
    chain = x509.load_pem_x509_certificates((base / "chains" / "contract_1.pem").read_bytes())
    assert len(chain) == 3 and chain[0] == x509.load_der_x509_certificate(
        (base / "certs" / "contract_1.der").read_bytes())
    assert NOW - timedelta(days=2) < cert.not_valid_before_utc < NOW


def test_cli_rejects_naive_time(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pki", "init", str(tmp_path), "--now", "2030-01-01T00:00:00"])
    assert args.func(args) == 2
