"""Key pairs in the PKCS#11 token (real SoftHSM2): every key the store makes, generated or imported, is a private
and a public object with the same label and the same CKA_ID (what pkcs11-provider pairs them by); keys written
by earlier versions (no CKA_ID; imported without a public object) still work and ``pair`` upgrades them once.
The software store hands a signing key to TLS as PKCS#8 PEM through a public method."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyNotFound, KeyStoreError, UnsupportedAlgorithm
from evcc.hsm.pkcs11_store import EC_PARAMS, KEY_ID_BYTES, Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig

ALGS = [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448]


def _label(kind: str) -> str:
    return f"pair/{kind}/{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def session(softhsm_config: Pkcs11Config, token: Pkcs11KeyStore) -> Any:
    """A second session of this process (the store's session logged the process in) to look at the objects."""
    s = pkcs11.lib(softhsm_config.module).get_token(token_label=softhsm_config.token_label).open(rw=True)
    yield s
    s.close()


def _objects(session: Any, label: str) -> dict[ObjectClass, list[Any]]:
    return {cls: list(session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)}


def _point(obj: Any) -> bytes:
    der = bytes(obj[Attribute.EC_POINT])
    return der[3:] if der[1] == 0x81 else der[2:]


def _raw(alg: KeyAlgorithm) -> tuple[bytearray, bytes]:
    if alg is KeyAlgorithm.ED448:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
        ed = ed448.Ed448PrivateKey.generate()
        return (bytearray(ed.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())),
                ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    curve = ec.SECP256R1() if alg is KeyAlgorithm.EC_P256 else ec.SECP521R1()
    key = ec.generate_private_key(curve)
    return (bytearray(key.private_numbers().private_value.to_bytes(alg.private_length, "big")),
            key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.value)
def test_generated_pair_shares_one_cka_id(token: Pkcs11KeyStore, session: Any, alg: KeyAlgorithm) -> None:
    info = token.generate(_label("gen"), alg)
    objs = _objects(session, info.label)
    (private,), (public,) = objs[ObjectClass.PRIVATE_KEY], objs[ObjectClass.PUBLIC_KEY]
    key_id = bytes(private[Attribute.ID])
    assert len(key_id) == KEY_ID_BYTES and bytes(public[Attribute.ID]) == key_id
    assert _point(public) == info.public
    other = token.generate(_label("gen"), alg)
    assert bytes(_objects(session, other.label)[ObjectClass.PRIVATE_KEY][0][Attribute.ID]) != key_id
    assert token.pair(info.label) == key_id  # already paired: nothing changes


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.value)
def test_imported_key_gets_its_public_object(token: Pkcs11KeyStore, session: Any, alg: KeyAlgorithm) -> None:
    raw, public_point = _raw(alg)
    info = token.import_private(_label("imp"), alg, raw)
    objs = _objects(session, info.label)
    (private,), (public,) = objs[ObjectClass.PRIVATE_KEY], objs[ObjectClass.PUBLIC_KEY]
    assert bytes(private[Attribute.ID]) == bytes(public[Attribute.ID]) and len(bytes(public[Attribute.ID])) == 16
    assert _point(public) == public_point == info.public == token.public_key(info.label)
    assert public[Attribute.PRIVATE] is False and private[Attribute.SENSITIVE] is True
    assert [k.public for k in token.list(info.label)] == [public_point]
    token.delete(info.label)
    assert _objects(session, info.label) == {ObjectClass.PRIVATE_KEY: [], ObjectClass.PUBLIC_KEY: []}


def test_failed_import_leaves_no_half_pair(token: Pkcs11KeyStore, session: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The token refuses the private object after the public one was written (here: a session whose
    C_CreateObject of private keys fails): the public object is removed again, the error goes out."""
    token.capabilities()  # probed on the real session (once per token and process)
    real = token._session

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def create_object(self, attrs: dict[Any, Any]) -> Any:
            if attrs[Attribute.CLASS] == ObjectClass.PRIVATE_KEY:
                raise pkcs11.exceptions.DeviceMemory()
            return real.create_object(attrs)

    monkeypatch.setattr(token, "_session", Refusing())
    lbl = _label("refused")
    with pytest.raises(KeyStoreError, match=r"C_CreateObject .* CKR_DEVICE_MEMORY \(0x31\)"):
        token.import_private(lbl, KeyAlgorithm.EC_P256, _raw(KeyAlgorithm.EC_P256)[0])
    assert _objects(session, lbl) == {ObjectClass.PRIVATE_KEY: [], ObjectClass.PUBLIC_KEY: []}


def _legacy_imported(session: Any, label: str) -> bytes:
    """As earlier versions imported: one private object, the EC point in its CKA_ID, no public object."""
    raw, point = _raw(KeyAlgorithm.EC_P256)
    session.create_object({
        Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.EC, Attribute.LABEL: label,
        Attribute.ID: point, Attribute.EC_PARAMS: EC_PARAMS[KeyAlgorithm.EC_P256], Attribute.VALUE: bytes(raw),
        Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True, Attribute.DERIVE: True})
    return point


def _legacy_generated(session: Any, label: str) -> bytes:
    """As earlier versions generated: a pair without CKA_ID."""
    no = pkcs11.DEFAULT
    pub, _ = session.generate_keypair(
        KeyType.EC, store=True, label=label, mechanism=Mechanism.EC_KEY_PAIR_GEN,
        public_template={Attribute.EC_PARAMS: EC_PARAMS[KeyAlgorithm.EC_P256], Attribute.VERIFY: True,
                         Attribute.TOKEN: True, Attribute.ENCRYPT: no, Attribute.WRAP: no, Attribute.ID: b""},
        private_template={Attribute.SIGN: True, Attribute.DERIVE: True, Attribute.SENSITIVE: True,
                          Attribute.EXTRACTABLE: False, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                          Attribute.DECRYPT: no, Attribute.UNWRAP: no, Attribute.ID: b""})
    return _point(pub)


def test_legacy_imported_key_still_works_and_pairs_once(token: Pkcs11KeyStore, session: Any) -> None:
    lbl = _label("old-imp")
    point = _legacy_imported(session, lbl)
    assert token.public_key(lbl) == point
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    assert verify_raw(pub, b"m", token.sign(lbl, b"m"))
    assert token.pair(lbl) == point
    (public,) = _objects(session, lbl)[ObjectClass.PUBLIC_KEY]
    assert _point(public) == point and bytes(public[Attribute.ID]) == point
    assert token.pair(lbl) == point and len(_objects(session, lbl)[ObjectClass.PUBLIC_KEY]) == 1


def test_legacy_generated_pair_gets_a_shared_id(token: Pkcs11KeyStore, session: Any) -> None:
    lbl = _label("old-gen")
    point = _legacy_generated(session, lbl)
    objs = _objects(session, lbl)
    assert not bytes(objs[ObjectClass.PRIVATE_KEY][0][Attribute.ID] or b"")
    key_id = token.pair(lbl)
    assert key_id == hashlib.sha1(bytes(objs[ObjectClass.PUBLIC_KEY][0][Attribute.EC_POINT])).digest()
    objs = _objects(session, lbl)
    assert {bytes(o[Attribute.ID]) for os_ in objs.values() for o in os_} == {key_id}
    assert token.public_key(lbl) == point


def test_pair_of_a_missing_key_names_it(token: Pkcs11KeyStore) -> None:
    with pytest.raises(KeyNotFound, match="nothing-here"):
        token.pair("nothing-here")


@pytest.mark.parametrize("alg", [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448],
                         ids=lambda a: a.value)
def test_soft_store_hands_a_signing_key_to_tls_as_pem(tmp_path: Path, alg: KeyAlgorithm) -> None:
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"p"))
    info = store.generate("tls", alg)
    pem = store.private_key_pem("tls")
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_pem_private_key(bytes(pem), None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) == info.public
    else:
        assert isinstance(key, ed448.Ed448PrivateKey)
        assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == info.public


def test_soft_store_refuses_x448_for_tls_and_unknown_labels(tmp_path: Path) -> None:
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"p"))
    store.generate("x", KeyAlgorithm.X448)
    with pytest.raises(UnsupportedAlgorithm, match="X448"):
        store.private_key_pem("x")
    with pytest.raises(KeyNotFound):
        store.private_key_pem("none")
