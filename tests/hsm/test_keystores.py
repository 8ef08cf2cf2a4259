"""Key stores against a real SoftHSM2 token and the software store: the same contract for both."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.hsm.hostcrypto import CURVES, verify_raw
from evcc.hsm.keystore import (
    KDF_ISO2,
    KDF_ISO20,
    ConcatKdf,
    InvalidPeerKey,
    KeyAlgorithm,
    KeyExists,
    KeyNotFound,
    KeyStore,
    UnsupportedAlgorithm,
)
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig

EC_ALGS = [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521]


@pytest.fixture(params=["pkcs11", "soft"])
def store(request: pytest.FixtureRequest, softhsm_config: Pkcs11Config, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "pkcs11":
        token = Pkcs11KeyStore(softhsm_config)
        yield token
        token.close()
    else:
        yield SoftKeyStore(SoftKeyStoreConfig(tmp_path / "soft", passphrase=b"bench passphrase"))


def label(kind: str) -> str:
    return f"test/{kind}/{uuid.uuid4().hex[:12]}"


def public_of(alg: KeyAlgorithm, raw: bytes):  # type: ignore[no-untyped-def]
    if alg in CURVES:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[alg], raw)
    return ed448.Ed448PublicKey.from_public_bytes(raw)


def expected_k(private: ec.EllipticCurvePrivateKey, own_public: bytes, alg: KeyAlgorithm, kdf: ConcatKdf) -> bytes:
    z = private.exchange(ec.ECDH(), public_of(alg, own_public))
    return hashlib.new(kdf.hash_name, b"\x00\x00\x00\x01" + z + b"\x01UV").digest()[:kdf.length]


@pytest.mark.parametrize("alg", EC_ALGS + [KeyAlgorithm.ED448], ids=lambda a: a.value)
def test_generate_sign_verify(store: KeyStore, alg: KeyAlgorithm) -> None:
    info = store.generate(label("sign"), alg)
    assert store.public_key(info.label) == info.public
    sig = store.sign(info.label, b"GenChallenge bytes")
    assert len(sig) == {KeyAlgorithm.EC_P256: 64, KeyAlgorithm.EC_P521: 132, KeyAlgorithm.ED448: 114}[alg]
    assert verify_raw(public_of(alg, info.public), b"GenChallenge bytes", sig)
    assert not verify_raw(public_of(alg, info.public), b"other bytes", sig)


@pytest.mark.parametrize(("alg", "kdf"), [(KeyAlgorithm.EC_P256, KDF_ISO2), (KeyAlgorithm.EC_P521, KDF_ISO20)],
                         ids=["p256-sha256", "p521-sha512"])
def test_ecdh_kdf_matches_sp800_56a_on_the_host(store: KeyStore, alg: KeyAlgorithm, kdf: ConcatKdf) -> None:
    info = store.generate(label("ecdh"), alg)
    sender = ec.generate_private_key(CURVES[alg])
    peer = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    k = store.ecdh_kdf(info.label, peer, kdf)
    assert isinstance(k, bytearray) and len(k) == kdf.length
    assert bytes(k) == expected_k(sender, info.public, alg, kdf)


def test_z_extracted_mode_gives_the_same_key(softhsm_config: Pkcs11Config) -> None:
    inside = Pkcs11KeyStore(softhsm_config)
    outside = Pkcs11KeyStore(Pkcs11Config(softhsm_config.module, softhsm_config.token_label,
                                          softhsm_config.user_pin, kdf_in_token=False))
    info = inside.generate(label("kdfmode"), KeyAlgorithm.EC_P256)
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    assert inside.ecdh_kdf(info.label, peer, KDF_ISO2) == outside.ecdh_kdf(info.label, peer, KDF_ISO2)
    inside.close()
    outside.close()


@pytest.mark.parametrize("alg", EC_ALGS + [KeyAlgorithm.ED448], ids=lambda a: a.value)
def test_import_private_then_sign(store: KeyStore, alg: KeyAlgorithm) -> None:
    host: ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey
    if alg in CURVES:
        host = ec.generate_private_key(CURVES[alg])
        raw = bytearray(host.private_numbers().private_value.to_bytes(alg.private_length, "big"))
        public = host.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        host = ed448.Ed448PrivateKey.generate()
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
        raw = bytearray(host.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        public = host.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    info = store.import_private(label("import"), alg, raw)
    assert info.public == public == store.public_key(info.label)
    assert verify_raw(host.public_key(), b"m", store.sign(info.label, b"m"))


def test_ecdh_rejects_bad_peer_points(store: KeyStore) -> None:
    info = store.generate(label("badpeer"), KeyAlgorithm.EC_P256)
    good = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    for bad in (good[:64], good + b"\x00", b"\x02" + good[1:33] + bytes(32), b"\x04" + bytes(64),
                good[:-1] + bytes([good[-1] ^ 1])):
        with pytest.raises(InvalidPeerKey):
            store.ecdh_kdf(info.label, bad, KDF_ISO2)


def test_labels_unique_list_and_delete(store: KeyStore) -> None:
    prefix = label("list")
    a = store.generate(prefix + "/a", KeyAlgorithm.EC_P256)
    store.generate(prefix + "/b", KeyAlgorithm.EC_P256)
    with pytest.raises(KeyExists):
        store.generate(prefix + "/a", KeyAlgorithm.EC_P256)
    assert [k.label for k in store.list(prefix)] == [prefix + "/a", prefix + "/b"]
    assert store.list(prefix)[0].public == a.public
    store.delete(prefix + "/a")
    assert [k.label for k in store.list(prefix)] == [prefix + "/b"]
    for op in (lambda: store.delete(prefix + "/a"), lambda: store.sign(prefix + "/a", b"x"),
               lambda: store.public_key(prefix + "/a")):
        with pytest.raises(KeyNotFound):
            op()


def test_token_keys_are_sensitive_and_not_extractable(token: Pkcs11KeyStore, softhsm_config: Pkcs11Config) -> None:
    gen = token.generate(label("attrs"), KeyAlgorithm.EC_P256)
    raw = bytearray(ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big"))
    imp = token.import_private(label("attrs"), KeyAlgorithm.EC_P256, raw)
    # A second session of this process; the store's session already logged the process in.
    session = pkcs11.lib(softhsm_config.module).get_token(token_label=softhsm_config.token_label).open()
    for lbl in (gen.label, imp.label):
        key = session.get_key(pkcs11.ObjectClass.PRIVATE_KEY, label=lbl)
        assert key[pkcs11.Attribute.SENSITIVE] is True
        assert key[pkcs11.Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.AttributeSensitive):
            key[pkcs11.Attribute.VALUE]
    assert session.get_key(pkcs11.ObjectClass.PRIVATE_KEY, label=gen.label)[pkcs11.Attribute.NEVER_EXTRACTABLE]
    session.close()


def test_x448_is_refused_by_the_token_with_a_clear_error(token: Pkcs11KeyStore) -> None:
    with pytest.raises(UnsupportedAlgorithm, match="X448"):
        token.generate(label("x448"), KeyAlgorithm.X448)
    assert token.supports(KeyAlgorithm.ED448)  # Debian SoftHSM 2.6.1 has CKM_EC_EDWARDS_KEY_PAIR_GEN + EDDSA


def test_soft_store_x448_agreement(tmp_path: Path) -> None:
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"p"))
    info = store.generate("x448", KeyAlgorithm.X448)
    sender = x448.X448PrivateKey.generate()
    z = sender.exchange(x448.X448PublicKey.from_public_bytes(info.public))
    peer = sender.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert bytes(store.ecdh_kdf("x448", peer, KDF_ISO20)) == hashlib.sha512(
        b"\x00\x00\x00\x01" + z + b"\x01UV").digest()[:32]
    with pytest.raises(UnsupportedAlgorithm):
        store.sign("x448", b"m")
