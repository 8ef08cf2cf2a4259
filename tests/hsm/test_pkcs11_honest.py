"""The PKCS#11 key store is honest about its token (issue 11 item 3): no python-pkcs11 exception leaves it (the
key-store error names the call, mechanism and CKR code), points from the token are checked (tpm2-pkcs11's invalid
P-521 DER decoded to the right point, anything else refused, never a wrong key), and what the token can do is
measured (probe) before a session, on SoftHSM2 and on tpm2-pkcs11 over swtpm + tpm2-abrmd (the real case)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import Attribute, ObjectClass

from evcc.hsm.capabilities import Operation
from evcc.hsm.keystore import KDF_ISO2, KeyAlgorithm, KeyStoreError, UnsupportedAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore, ckr_text, decode_point

from tests.hsm.tpm2_pkcs11_env import Tpm2Worker, shared_bench, tpm2_pkcs11_available

P256, P521, ED448, X448 = KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448, KeyAlgorithm.X448


def _point(curve: ec.EllipticCurve) -> bytes:
    return ec.generate_private_key(curve).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _label(kind: str) -> str:
    return f"test/honest/{kind}/{uuid.uuid4().hex[:10]}"


# -- points ------------------------------------------------------------------------------------------------------

def test_ec_points_in_every_encoding_tokens_use() -> None:
    p256, p521 = _point(ec.SECP256R1()), _point(ec.SECP521R1())
    assert decode_point(b"\x04\x41" + p256, P256) == p256  # DER short form
    assert decode_point(b"\x04\x81\x85" + p521, P521) == p521  # DER long form
    assert decode_point(p256, P256) == p256 and decode_point(p521, P521) == p521  # raw point
    edkey = ed448.Ed448PrivateKey.generate().public_key().public_bytes_raw()
    assert decode_point(b"\x04\x39" + edkey, ED448) == edkey


def test_tpm2_pkcs11_p521_short_form_length_is_recovered() -> None:
    """tpm2-pkcs11 1.9 writes ``04 85 04…`` (a short-form length byte 0x85 for 133 bytes): the 133 bytes after it
    are the point. The old reading took 0x85 as "5 length bytes follow" and returned a wrong key silently."""
    p521 = _point(ec.SECP521R1())
    assert decode_point(b"\x04\x85" + p521, P521) == p521


@pytest.mark.parametrize(("der", "algorithm"), [
    (b"\x04\x41" + b"\x04" + b"\x01" * 64, P256),  # right length, not on the curve
    (b"\x04\x85" + b"\x04" + b"\x02" * 132, P521),  # the tpm2-pkcs11 form around a point off the curve
    (b"\x04\x40" + b"\x01" * 64, P256),  # 64 bytes: no form byte
    (b"\x04\x41\x02" + b"\x01" * 64, P256),  # compressed marker, wrong length
    (b"", P256), (b"\x04", P521), (b"\x30\x03\x02\x01\x01", P256),
], ids=["off-curve", "tpm2-off-curve", "short", "form", "empty", "one-byte", "not-octets"])
def test_invalid_points_are_refused_naming_the_bytes(der: bytes, algorithm: KeyAlgorithm) -> None:
    with pytest.raises(KeyStoreError, match=rf"CKA_EC_POINT .*not a valid {algorithm.value} public key"):
        decode_point(der, algorithm)


def test_ckr_codes_are_named() -> None:
    assert ckr_text(pkcs11.exceptions.HostMemory()) == "CKR_HOST_MEMORY (0x2)"
    assert ckr_text(pkcs11.exceptions.AttributeValueInvalid("x")) == "CKR_ATTRIBUTE_VALUE_INVALID (0x13): x"
    assert ckr_text(pkcs11.exceptions.FunctionNotSupported()) == "CKR_FUNCTION_NOT_SUPPORTED (0x54)"
    assert ckr_text(pkcs11.exceptions.TokenNotRecognised()) == "CKR_TOKEN_NOT_RECOGNIZED (0xe1)"


# -- no raw pkcs11 exception ----------------------------------------------------------------------------------------

class _Failing:
    """The real session, except that every object search and object creation fails with CKR_DEVICE_ERROR."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        if name in ("get_objects", "create_object", "generate_keypair", "digest"):
            def fail(*_: object, **__: object) -> Any:
                raise pkcs11.exceptions.DeviceError()
            return fail
        return getattr(self._real, name)


CALLS: dict[str, Callable[[Pkcs11KeyStore, str], object]] = {
    "generate": lambda s, lbl: s.generate(lbl, P256),
    "import_private": lambda s, lbl: s.import_private(lbl, P256, bytearray(b"\x01" * 32)),
    "public_key": lambda s, lbl: s.public_key(lbl),
    "sign": lambda s, lbl: s.sign(lbl, b"m"),
    "ecdh_kdf": lambda s, lbl: s.ecdh_kdf(lbl, _point(ec.SECP256R1()), KDF_ISO2),
    "delete": lambda s, lbl: s.delete(lbl),
    "list": lambda s, lbl: s.list(),
    "pair": lambda s, lbl: s.pair(lbl),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_no_pkcs11_exception_escapes(token: Pkcs11KeyStore, call: str, monkeypatch: pytest.MonkeyPatch) -> None:
    token.capabilities()  # probed on the working session first
    lbl = _label(call)
    monkeypatch.setattr(token, "_session", _Failing(token._session))
    with pytest.raises(KeyStoreError, match=r"CKR_DEVICE_ERROR \(0x30\)") as raised:
        CALLS[call](token, lbl)
    assert not isinstance(raised.value, pkcs11.PKCS11Error)
    assert token.description in str(raised.value)


def test_a_token_error_of_a_real_call_is_named(token: Pkcs11KeyStore) -> None:
    """A key the token will not sign with (CKA_SIGN false, as some provisioning tools write them; python-pkcs11 then
    has no sign() on it): a key-store error naming the key and the attribute, not an AttributeError."""
    lbl = _label("nosign")
    scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    token._session.create_object({
        Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: pkcs11.KeyType.EC, Attribute.LABEL: lbl,
        Attribute.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"), Attribute.VALUE: scalar,
        Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.SIGN: False})
    try:
        with pytest.raises(KeyStoreError, match=r"key .*nosign.* may not sign \(CKA_SIGN is false\)") as raised:
            token.sign(lbl, b"m")
        assert not isinstance(raised.value, pkcs11.PKCS11Error)
    finally:
        token.delete(lbl)


# -- what SoftHSM2 can do -------------------------------------------------------------------------------------------

def test_softhsm_capabilities_are_measured(token: Pkcs11KeyStore) -> None:
    caps = token.capabilities()
    assert caps.keygen == caps.sign == {P256, P521, ED448}
    assert caps.ecdh == {P256, P521}
    assert caps.contract_import == {P256, P521, ED448}
    assert "X448" in caps.why_not(Operation.KEYGEN, X448)
    assert caps.iso2_pnc_problem() is None and caps.iso20_pnc_problem() is None
    assert caps.iso20_algorithms() == (P521,)  # Ed448 needs X448 for the decryption, which SoftHSM 2.6.1 lacks
    assert not [k for k in token.list() if k.label.startswith("evcc-probe/")]  # the probe cleaned up
    assert token.capabilities() is caps  # once per token and process


# -- tpm2-pkcs11 over swtpm + tpm2-abrmd ------------------------------------------------------------------------------

def _outcome(call: Callable[[], object]) -> tuple[str, str]:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the type and text are what the test looks at
        return type(exc).__name__, str(exc)
    return "no error", ""


def tpm2_facts() -> dict[str, Any]:
    """What the PKCS#11 store does on tpm2-pkcs11 (run in the tpm2-pkcs11 worker process: tests/hsm/tpm2_pkcs11_env)."""
    store = Pkcs11KeyStore(shared_bench().config)
    try:
        facts: dict[str, Any] = {"caps": store.capabilities(),
                                 "supports": {a: store.supports(a) for a in (P256, P521, ED448)}}
        info = store.generate(_label("p256"), P256)
        imported = _label("imp")
        facts["refused"] = {
            "ecdh": _outcome(lambda: store.ecdh_kdf(info.label, _point(ec.SECP256R1()), KDF_ISO2)),
            "import": _outcome(lambda: store.import_private(imported, P256, bytearray(b"\x01" * 32))),
            "p521": _outcome(lambda: store.generate(_label("p521"), P521))}
        store.delete(info.label)
        facts["left_by_import"] = [k.label for k in store.list(imported)]
        lbl = _label("p521point")
        made = store._generate(lbl, P521)  # keygen works; signing is what fails
        public_object = store._find(ObjectClass.PUBLIC_KEY, lbl)
        facts["p521"] = (bytes(public_object[Attribute.EC_POINT]) if public_object is not None else b"", made.public,
                         store.public_key(lbl))
        store.delete(lbl)
        p256 = store.generate(_label("p256sign"), P256)
        facts["p256"] = (p256.public, store.sign(p256.label, b"GenChallenge"))
        store.delete(p256.label)
        return facts
    finally:
        store.close()


@pytest.fixture(scope="module")
def tpm2() -> dict[str, Any]:
    if not tpm2_pkcs11_available():
        pytest.fail("tpm2-pkcs11, tpm2-abrmd or dbus-daemon missing: scripts/setup.d/36-tpm-pkcs11.sh")
    with Tpm2Worker() as worker:
        return worker.call(tpm2_facts)


def test_tpm2_pkcs11_capabilities_are_what_it_does(tpm2: dict[str, Any]) -> None:
    """It lists CKM_EC_KEY_PAIR_GEN and CKM_ECDSA (so supports() said yes to P-521), but: P-521 signatures fail
    (CKR_HOST_MEMORY), no CKM_ECDH1_DERIVE, no C_CreateObject of EC private keys, no Ed448."""
    caps = tpm2["caps"]
    assert caps.keygen == {P256, P521} and caps.sign == {P256}
    assert caps.ecdh == frozenset() and caps.contract_import == frozenset()
    assert "CKR_HOST_MEMORY" in caps.why_not(Operation.SIGN, P521)
    assert "ECDH1_DERIVE" in caps.why_not(Operation.ECDH, P256)
    assert "C_CreateObject" in caps.why_not(Operation.IMPORT, P256)
    assert "CKR_ATTRIBUTE_VALUE_INVALID" in caps.why_not(Operation.IMPORT, P256)
    assert tpm2["supports"] == {P256: True, P521: False, ED448: False}
    problem2, problem20 = caps.iso2_pnc_problem(), caps.iso20_pnc_problem()
    assert problem2 is not None and "no ECDH ec-p256" in problem2 and "no contract import ec-p256" in problem2
    assert problem20 is not None and "no sign ec-p521" in problem20 and caps.iso20_algorithms() == ()


def test_tpm2_pkcs11_refuses_up_front_naming_the_cause(tpm2: dict[str, Any]) -> None:
    refused = tpm2["refused"]
    assert refused["ecdh"][0] == "UnsupportedAlgorithm" and "cannot ECDH ec-p256" in refused["ecdh"][1]
    assert "CKM_ECDH1_DERIVE" in refused["ecdh"][1]
    assert refused["import"][0] == "UnsupportedAlgorithm" and "cannot contract import ec-p256" in refused["import"][1]
    assert "CKR_ATTRIBUTE_VALUE_INVALID" in refused["import"][1]
    assert refused["p521"][0] == "UnsupportedAlgorithm" and "cannot sign ec-p521" in refused["p521"][1]
    assert "CKR_HOST_MEMORY" in refused["p521"][1]
    assert tpm2["left_by_import"] == []  # no half pair left by the refused import


def test_tpm2_pkcs11_p521_point_is_decoded_not_guessed(tpm2: dict[str, Any]) -> None:
    """The token's own CKA_EC_POINT bytes for a P-521 key are the invalid ``04 85 04…``; the store returns the
    133-byte point after them, on the curve; a P-256 key's point is proper DER and signs and verifies."""
    from evcc.hsm.hostcrypto import verify_raw

    raw, generated, read_back = tpm2["p521"]
    assert raw[:3] == b"\x04\x85\x04" and generated == raw[2:] and len(generated) == 133 and read_back == generated
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP521R1(), generated)
    public, signature = tpm2["p256"]
    assert verify_raw(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public), b"GenChallenge",
                      signature)
