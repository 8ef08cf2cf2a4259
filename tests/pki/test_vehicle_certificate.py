"""The ISO 15118-20 vehicle certificate (the EV's TLS 1.3 client identity; PKI.md §2 OEM rows): profile
``vehicle_leaf`` under OEM Sub-CA 2 in every suite, digitalSignature only, no extendedKeyUsage; written by
`evcc pki init`; issued for a key held in a token or key store (``vehicle_chain``) and accepted by TLS 1.3."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448

from evcc.pki import cli
from evcc.pki.generator import build_pki, load_private_key, vehicle_chain
from evcc.pki.profiles import TEST_VEHICLE_CN, YEAR, Suite

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def _check_profile(cert: x509.Certificate) -> None:
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not (ku.value.key_agreement or ku.value.key_cert_sign or ku.value.crl_sign or ku.value.key_encipherment
                or ku.value.content_commitment)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == TEST_VEHICLE_CN
    assert cert.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)[0].value == "OEM"
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.value)
def test_vehicle_leaf_in_every_suite(suite: Suite) -> None:
    pki = build_pki(suite, NOW)
    cert = pki.certs["vehicle_leaf"]
    _check_profile(cert)
    assert cert.not_valid_after_utc == NOW + 4 * YEAR
    chain = pki.chain("vehicle_leaf") + [pki.root_of("vehicle_leaf")]
    assert [c.subject for c in chain[1:]] == [pki.certs[n].subject for n in ("oem_sub_ca_2", "oem_sub_ca_1",
                                                                               "oem_root")]
    for child, parent in zip(chain, chain[1:]):
        child.verify_directly_issued_by(parent)


@pytest.mark.parametrize("suite", [Suite.ISO20_P521, Suite.ISO20_ED448], ids=lambda s: s.value)
def test_vehicle_chain_for_a_key_held_elsewhere(suite: Suite) -> None:
    pki = build_pki(suite, NOW)
    held = ec.generate_private_key(ec.SECP521R1()) if suite is Suite.ISO20_P521 else ed448.Ed448PrivateKey.generate()
    leaf, sub2, sub1 = vehicle_chain(pki, held.public_key())
    _check_profile(leaf)
    assert leaf.public_key() == held.public_key()
    assert (sub2, sub1) == (pki.certs["oem_sub_ca_2"], pki.certs["oem_sub_ca_1"])
    leaf.verify_directly_issued_by(sub2)


def test_vehicle_chain_refuses_a_key_that_cannot_sign() -> None:
    pki = build_pki(Suite.ISO20_ED448, NOW)
    with pytest.raises(ValueError, match="X448"):
        vehicle_chain(pki, x448.X448PrivateKey.generate().public_key())


def test_pki_init_writes_the_vehicle_certificate(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pki", "init", str(tmp_path), "--suite", "iso20-p521", "--now", NOW.isoformat()])
    assert args.func(args) == 0
    base = tmp_path / "iso20-p521"
    cert = x509.load_pem_x509_certificate((base / "certs" / "vehicle_leaf.pem").read_bytes())
    _check_profile(cert)
    assert load_private_key(base / "keys" / "vehicle_leaf.key").public_key() == cert.public_key()
    chain = x509.load_pem_x509_certificates((base / "chains" / "vehicle_leaf.pem").read_bytes())
    assert chain[0] == cert and len(chain) == 3
