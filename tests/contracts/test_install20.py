"""ISO 15118-20 CertificateInstallation decryption ([V2G20-2491..2502], [V2G20-2535]): secp521r1 in a real
SoftHSM2 token, X448 in the software store, AAD/SKI encoding, GCM and key checks with the store unchanged."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, x448
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.contracts import errors as E
from evcc.contracts.install20 import (
    EcdhCurve,
    SignedInstallationData20,
    SkiEncoding,
    aad,
    install_contract_20,
)
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, UnsupportedAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.pki.generator import TestPki, alt_key_extension, issue_certificate
from evcc.pki.profiles import TEST_PCID, profile_table

from contracts_helpers import NOW, cps_verifier, make_context, oem_key_in_store

EMAID = "NN123ABCDEFGHIT"


@pytest.fixture()
def p521(tmp_path: Path, token: Pkcs11KeyStore, pki20: TestPki):  # type: ignore[no-untyped-def]
    ctx = make_context(tmp_path, token, pki20)
    label, cert = oem_key_in_store(pki20, token, KeyAlgorithm.EC_P521)
    return ctx, ProvisioningSimulator(pki20), label, cert


@pytest.fixture()
def x448_setup(tmp_path: Path, pki448: TestPki):  # type: ignore[no-untyped-def]
    """Ed448 PKI; the OEM's X448 alternate key lives in the software store (no token here supports X448)."""
    keys = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "keys", passphrase=b"bench"))
    ctx = make_context(tmp_path, keys, pki448)
    sign_label = f"oem/{uuid.uuid4().hex[:8]}"
    alt_label = sign_label + "/x448"
    signing = keys.generate(sign_label, KeyAlgorithm.ED448)
    alt = keys.generate(alt_label, KeyAlgorithm.X448)
    from cryptography.hazmat.primitives.asymmetric import ed448
    issuer = (pki448.certs["oem_sub_ca_2"], pki448.signing_key("oem_sub_ca_2"))
    cert = issue_certificate(profile_table()["oem_prov_leaf"], ed448.Ed448PublicKey.from_public_bytes(signing.public),
                             issuer, issuer[1], pki448.suite, NOW,
                             (alt_key_extension(x448.X448PublicKey.from_public_bytes(alt.public)),))
    return ctx, ProvisioningSimulator(pki448), alt_label, cert


def test_secp521_installation_into_the_token(p521) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, label, oem_cert = p521
    data = sim.certificate_installation_20(oem_cert, TEST_PCID, EMAID, NOW)
    assert len(data.dh_public_key) == 133 and len(data.encrypted_private_key) == 94
    c = install_contract_20(data, cps_verifier(sim, data), pcid=TEST_PCID, ecdh_key_label=label, ctx=ctx)
    assert c.emaid == EMAID and ctx.store.list() == [c]
    leaf = x509.load_der_x509_certificate(c.chain[0])
    sig = ctx.keystore.sign(c.key_label, b"challenge")
    assert len(sig) == 132 and verify_raw(leaf.public_key(), b"challenge", sig)  # type: ignore[arg-type]


def test_x448_installation_into_the_software_store(x448_setup) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, alt_label, oem_cert = x448_setup
    data = sim.certificate_installation_20(oem_cert, TEST_PCID, EMAID, NOW, curve=EcdhCurve.X448)
    assert len(data.dh_public_key) == 56 and len(data.encrypted_private_key) == 84
    c = install_contract_20(data, cps_verifier(sim, data), pcid=TEST_PCID, ecdh_key_label=alt_label, ctx=ctx)
    leaf = x509.load_der_x509_certificate(c.chain[0])
    assert ctx.keystore.public_key(c.key_label) == leaf.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_x448_key_cannot_go_into_the_token(token: Pkcs11KeyStore) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        token.import_private("contract/x448", KeyAlgorithm.X448, bytearray(os.urandom(56)))


@pytest.mark.parametrize(("sender", "receiver", "ok"), [
    (SkiEncoding.HEX_TEXT, SkiEncoding.HEX_TEXT, True), (SkiEncoding.RAW, SkiEncoding.RAW, True),
    (SkiEncoding.RAW, SkiEncoding.HEX_TEXT, False), (SkiEncoding.HEX_TEXT, SkiEncoding.RAW, False)])
def test_ski_encoding_is_a_setting(p521, sender: SkiEncoding, receiver: SkiEncoding, ok: bool) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, label, oem_cert = p521
    data = sim.certificate_installation_20(oem_cert, TEST_PCID, EMAID, NOW, ski_encoding=sender)
    if ok:
        install_contract_20(data, cps_verifier(sim, data), pcid=TEST_PCID, ecdh_key_label=label, ctx=ctx,
                            ski_encoding=receiver)
    else:
        with pytest.raises(E.DecryptionFailed, match="AES-GCM"):
            install_contract_20(data, cps_verifier(sim, data), pcid=TEST_PCID, ecdh_key_label=label, ctx=ctx,
                                ski_encoding=receiver)
        assert ctx.store.list() == []


def seal(oem_cert: x509.Certificate, plaintext: bytes, chain: tuple[bytes, ...], cps: tuple[bytes, ...]
         ) -> SignedInstallationData20:
    """Hand-made secp521r1 SignedInstallationData with an arbitrary plaintext (for malformed-key cases)."""
    eph = ec.generate_private_key(ec.SECP521R1())
    z = eph.exchange(ec.ECDH(), oem_cert.public_key())  # type: ignore[arg-type]
    k = hashlib.sha512(b"\x00\x00\x00\x01" + z + b"\x01UV").digest()[:32]
    iv = os.urandom(12)
    leaf = x509.load_der_x509_certificate(chain[0])
    ct = AESGCM(k).encrypt(iv, plaintext, aad(TEST_PCID, leaf, SkiEncoding.HEX_TEXT))
    return SignedInstallationData20(chain, EcdhCurve.SECP521,
                                    eph.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
                                    iv + ct, cps)


@pytest.mark.parametrize("case", ["padding_bits", "zero_key", "other_key", "gcm_tag", "dh_length", "dh_point",
                                  "enc_length", "pcid"])
def test_rejections_leave_the_store_unchanged(p521, case: str) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, label, oem_cert = p521
    data = sim.certificate_installation_20(oem_cert, TEST_PCID, EMAID, NOW)
    pcid, expected = TEST_PCID, E.InstallationRejected
    if case == "padding_bits":
        data, expected = seal(oem_cert, b"\xff" + sim.issued_keys[-1][1:], data.contract_chain, data.cps_chain), \
            E.KeyMismatch
    elif case == "zero_key":
        data, expected = seal(oem_cert, bytes(66), data.contract_chain, data.cps_chain), E.KeyMismatch
    elif case == "other_key":
        other = ec.generate_private_key(ec.SECP521R1()).private_numbers().private_value.to_bytes(66, "big")
        data, expected = seal(oem_cert, other, data.contract_chain, data.cps_chain), E.KeyMismatch
    elif case == "gcm_tag":
        blob = bytearray(data.encrypted_private_key)
        blob[-1] ^= 1
        data, expected = dataclasses.replace(data, encrypted_private_key=bytes(blob)), E.DecryptionFailed
    elif case == "dh_length":
        data, expected = dataclasses.replace(data, dh_public_key=data.dh_public_key[:65]), E.DhPublicKeyInvalid
    elif case == "dh_point":
        data, expected = dataclasses.replace(data, dh_public_key=b"\x04" + bytes(132)), E.DhPublicKeyInvalid
    elif case == "enc_length":
        data, expected = dataclasses.replace(data, encrypted_private_key=data.encrypted_private_key[:84]), \
            E.DecryptionFailed
    elif case == "pcid":
        pcid, expected = "WMIEVCCTEST000001", E.InvalidIdentifier
    before = ctx.keystore.list("contract/")
    with pytest.raises(expected):
        install_contract_20(data, cps_verifier(sim, data), pcid=pcid, ecdh_key_label=label, ctx=ctx)
    assert ctx.store.list() == [] and ctx.keystore.list("contract/") == before


def test_x448_with_ed448_contract_certificate_is_named_as_open_question(x448_setup, pki448: TestPki) -> None:  # type: ignore[no-untyped-def]
    ctx, sim, alt_label, oem_cert = x448_setup
    data = sim.certificate_installation_20(oem_cert, TEST_PCID, EMAID, NOW, curve=EcdhCurve.X448)
    ed_chain = tuple(c.public_bytes(Encoding.DER) for c in pki448.chain("contract_2"))  # Ed448 leaf
    from evcc.contracts.provisioning_sim import x448_alternate_key
    eph = x448.X448PrivateKey.generate()
    z = eph.exchange(x448_alternate_key(oem_cert))
    k = hashlib.sha512(b"\x00\x00\x00\x01" + z + b"\x01UV").digest()[:32]
    iv = os.urandom(12)
    ct = AESGCM(k).encrypt(iv, os.urandom(56), aad(TEST_PCID, pki448.certs["contract_2"], SkiEncoding.HEX_TEXT))
    data = dataclasses.replace(data, contract_chain=ed_chain, encrypted_private_key=iv + ct,
                               dh_public_key=eph.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    with pytest.raises(E.KeyMismatch, match="open interop question"):
        install_contract_20(data, cps_verifier(sim, data), pcid=TEST_PCID, ecdh_key_label=alt_label, ctx=ctx)
    assert ctx.store.list() == []
