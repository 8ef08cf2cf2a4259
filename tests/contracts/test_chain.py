"""V2G chain validation (PKI.md §2): valid chains and each broken variant with its own error."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts import errors as E
from evcc.contracts.chain import POLICY_ISO2, POLICY_ISO20, ChainPolicy, parse_chain, validate_chain
from evcc.pki.generator import TestPki

from contracts_helpers import NOW


def ders(pki: TestPki, leaf: str) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in pki.chain(leaf)]


SECC = ChainPolicy(leaf_usage=frozenset({"digital_signature", "key_agreement"}))


def test_secc_and_cps_chains_validate_against_the_v2g_root(pki2: TestPki) -> None:
    roots = (pki2.certs["oem_root"], pki2.certs["v2g_root"])
    for leaf, policy in (("secc_leaf", SECC), ("cps_leaf", POLICY_ISO2)):
        v = validate_chain(parse_chain(ders(pki2, leaf), policy), roots, NOW, policy)
        assert v.root == pki2.certs["v2g_root"] and v.leaf == pki2.certs[leaf]


def test_iso20_chains(pki20: TestPki, pki448: TestPki) -> None:
    for pki in (pki20, pki448):
        v = validate_chain(parse_chain(ders(pki, "cps_leaf"), POLICY_ISO20), (pki.certs["v2g_root"],), NOW,
                           POLICY_ISO20)
        assert v.root == pki.certs["v2g_root"]


def test_chain_may_carry_its_root(pki2: TestPki) -> None:
    chain = pki2.chain("cps_leaf") + [pki2.certs["v2g_root"]]
    assert validate_chain(chain, (pki2.certs["v2g_root"],), NOW).root == pki2.certs["v2g_root"]


@pytest.mark.parametrize(("leaf", "error"), [
    ("broken_cps_leaf_expired", E.CertificateExpired),
    ("broken_cps_leaf_not_yet_valid", E.CertificateNotYetValid),
    ("broken_cps_leaf_wrong_usage", E.WrongKeyUsage),
    ("broken_rogue_cps_leaf", E.UnknownRoot),
    ("broken_cps_leaf_path_too_long", E.PathTooLong),
])
def test_broken_variants(pki2: TestPki, leaf: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_chain(parse_chain(ders(pki2, leaf), POLICY_ISO2), (pki2.certs["v2g_root"],), NOW)


def test_path_len_constraint_with_room_for_a_cross_certificate(pki2: TestPki) -> None:
    # -20 allows three Sub-CAs by count, but Sub-CA 2's pathLen 0 still forbids the extra CA below it.
    with pytest.raises(E.PathTooLong, match="pathLen 0"):
        validate_chain(pki2.chain("broken_cps_leaf_path_too_long"), (pki2.certs["v2g_root"],), NOW, POLICY_ISO20)


def test_secc_leaf_needs_its_key_usage(pki2: TestPki) -> None:
    with pytest.raises(E.WrongKeyUsage, match="key_agreement|digital_signature"):
        validate_chain(pki2.chain("broken_secc_leaf_wrong_usage"), (pki2.certs["v2g_root"],), NOW, SECC)


def test_time_is_passed_in(pki2: TestPki) -> None:
    chain, roots = pki2.chain("cps_leaf"), (pki2.certs["v2g_root"],)
    with pytest.raises(E.CertificateExpired):
        validate_chain(chain, roots, NOW + timedelta(days=91))
    with pytest.raises(E.CertificateNotYetValid):
        validate_chain(chain, roots, NOW - timedelta(days=2))


def test_no_root_installed_and_wrong_order(pki2: TestPki) -> None:
    with pytest.raises(E.UnknownRoot, match="no installed root has that name"):
        validate_chain(pki2.chain("cps_leaf"), (pki2.certs["mo_root"],), NOW)
    with pytest.raises((E.BadSignature, E.WrongKeyUsage)):
        validate_chain(list(reversed(pki2.chain("cps_leaf"))), (pki2.certs["v2g_root"],), NOW)


def test_sizes_bounded_before_parsing() -> None:
    with pytest.raises(E.ChainTooLarge, match="10240 bytes"):
        parse_chain([os.urandom(10 * 1024)], POLICY_ISO2)
    with pytest.raises(E.ChainTooLarge):
        parse_chain([b"x"] * 9, POLICY_ISO2)
    with pytest.raises(E.MalformedCertificate):
        parse_chain([b"\x30\x03\x02\x01\x00"], POLICY_ISO2)
    with pytest.raises(E.MalformedCertificate):
        parse_chain([], POLICY_ISO2)
