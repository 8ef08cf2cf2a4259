"""The TPM 2.0 key store against a real software TPM (swtpm, no resource manager): every method of the key-store
port, curves as the TPM reports them, persistence over a TPM power cycle, more keys than the TPM has object slots,
keys usable by OpenSSL's tpm2 provider, and each bad input as a one-line KeyStoreError with nothing lost."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from evcc.hsm.hostcrypto import CURVES, encode_public, verify_raw
from evcc.hsm.keystore import (
    KDF_ISO2,
    KDF_ISO20,
    InvalidPeerKey,
    KeyAlgorithm,
    KeyExists,
    KeyNotFound,
    KeyStoreError,
    UnsupportedAlgorithm,
)
from evcc.hsm.swtpm import Swtpm
from evcc.hsm.tpm_store import TpmConfig, TpmError, TpmKeyStore

EC = (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521)


@pytest.fixture()
def store(swtpm_tcti: str, tmp_path: Path) -> Iterator[TpmKeyStore]:
    s = TpmKeyStore(TpmConfig(swtpm_tcti, tmp_path / "tpm-keys"))
    yield s
    s.close()


def _public(algorithm: KeyAlgorithm, point: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], point)


def _tools(tcti: str, *args: str) -> str:
    result = subprocess.run(["tpm2_" + args[0], *args[1:]], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "TPM2TOOLS_TCTI": tcti}, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


def test_supports_what_the_tpm_lists(store: TpmKeyStore, swtpm_tcti: str) -> None:
    listed = _tools(swtpm_tcti, "getcap", "ecc-curves")
    assert store.supports(KeyAlgorithm.EC_P256) == ("NIST_P256" in listed)
    assert store.supports(KeyAlgorithm.EC_P521) == ("NIST_P521" in listed)
    assert not store.supports(KeyAlgorithm.ED448) and not store.supports(KeyAlgorithm.X448)
    for algorithm in (KeyAlgorithm.ED448, KeyAlgorithm.X448):
        with pytest.raises(UnsupportedAlgorithm):
            store.generate(f"no-{algorithm.value}", algorithm)
        with pytest.raises(UnsupportedAlgorithm):
            store.import_private(f"no-{algorithm.value}", algorithm, bytearray(algorithm.private_length))
    assert store.list() == []


@pytest.mark.parametrize("algorithm", EC, ids=lambda a: a.value)
def test_generate_sign_ecdh(store: TpmKeyStore, algorithm: KeyAlgorithm) -> None:
    """[V2G2-771] raw r||s over SHA-256 (P-256) / SHA-512 (P-521); [V2G2-818]/[V2G20-2535] ECDH + KDF."""
    if not store.supports(algorithm):
        pytest.skip(f"this TPM has no {algorithm.value}")
    info = store.generate("oem", algorithm)
    assert info.algorithm is algorithm and store.public_key("oem") == info.public
    width = algorithm.private_length
    message = os.urandom(100)
    signature = store.sign("oem", message)
    assert len(signature) == 2 * width
    assert verify_raw(_public(algorithm, info.public), message, signature)
    assert not verify_raw(_public(algorithm, info.public), message + b"x", signature)
    peer = ec.generate_private_key(CURVES[algorithm])
    for kdf in (KDF_ISO2, KDF_ISO20):
        z = peer.exchange(ec.ECDH(), _public(algorithm, info.public))
        expected = hashlib.new(kdf.hash_name, b"\0\0\0\1" + z + b"\x01\x55\x56").digest()[:kdf.length]
        k = store.ecdh_kdf("oem", encode_public(peer.public_key()), kdf)
        assert isinstance(k, bytearray) and bytes(k) == expected
    with pytest.raises(InvalidPeerKey):
        bad = bytearray(encode_public(peer.public_key()))
        bad[-1] ^= 1
        store.ecdh_kdf("oem", bytes(bad), KDF_ISO2)


@pytest.mark.parametrize("algorithm", EC, ids=lambda a: a.value)
def test_import_private_signs_and_leaves_no_plaintext(store: TpmKeyStore, algorithm: KeyAlgorithm,
                                                       tmp_path: Path) -> None:
    """[V2G2-823]: the imported contract key is usable in the TPM; the scalar is nowhere in the key files."""
    if not store.supports(algorithm):
        pytest.skip(f"this TPM has no {algorithm.value}")
    key = ec.generate_private_key(CURVES[algorithm])
    raw = key.private_numbers().private_value.to_bytes(algorithm.private_length, "big")
    private = bytearray(raw)
    info = store.import_private("contract/x", algorithm, private)
    assert info.public == encode_public(key.public_key()) == store.public_key("contract/x")
    message = b"GenChallenge"
    assert verify_raw(key.public_key(), message, store.sign("contract/x", message))
    for path in (tmp_path / "tpm-keys").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert raw not in data and raw.hex().encode() not in data
    with pytest.raises(ValueError):
        store.import_private("contract/zero", algorithm, bytearray(algorithm.private_length))


def test_labels_list_delete(store: TpmKeyStore) -> None:
    a = store.generate("contract/a", KeyAlgorithm.EC_P256)
    store.generate("oem/b", KeyAlgorithm.EC_P256)
    with pytest.raises(KeyExists):
        store.generate("contract/a", KeyAlgorithm.EC_P256)
    assert [k.label for k in store.list()] == ["contract/a", "oem/b"]
    assert store.list("contract/") == [a]
    store.delete("contract/a")
    assert [k.label for k in store.list()] == ["oem/b"]
    for call in (lambda: store.sign("contract/a", b"m"), lambda: store.public_key("contract/a"),
                 lambda: store.delete("contract/a"), lambda: store.ecdh_kdf("nope", bytes(65), KDF_ISO2)):
        with pytest.raises(KeyNotFound) as err:
            call()
        assert "not" in _one_line(err.value) or "no key" in _one_line(err.value)
    with pytest.raises(ValueError):
        store.generate("", KeyAlgorithm.EC_P256)


def test_more_keys_than_object_slots_without_resource_manager(store: TpmKeyStore, swtpm_tcti: str) -> None:
    """Every transient object is flushed: 10 keys used in turn on a TPM with 3 object slots, none left loaded."""
    slots = _tools(swtpm_tcti, "getcap", "properties-fixed")
    assert re.search(r"TPM2_PT_HR_TRANSIENT_MIN:\s*raw: 0x3\b", slots), "swtpm is expected to have 3 slots"
    infos = [store.generate(f"k{i}", KeyAlgorithm.EC_P256) for i in range(10)]
    for _ in range(2):
        for info in infos:
            assert verify_raw(_public(info.algorithm, info.public), b"m", store.sign(info.label, b"m"))
    assert "0x80" not in _tools(swtpm_tcti, "getcap", "handles-transient")


def test_keys_survive_a_tpm_power_cycle(tmp_path: Path) -> None:
    """A restart (new swtpm process on the same state, new store on the same folder) keeps every key usable."""
    key = ec.generate_private_key(ec.SECP256R1())
    with Swtpm(tmp_path / "tpm-state") as tpm:
        first = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
        oem = first.generate("oem", KeyAlgorithm.EC_P256)
        first.import_private("contract/1", KeyAlgorithm.EC_P256,
                             bytearray(key.private_numbers().private_value.to_bytes(32, "big")))
        first.close()
        tpm.stop()
        tpm.start()
        second = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
        try:
            assert {k.label for k in second.list()} == {"oem", "contract/1"}
            assert verify_raw(key.public_key(), b"after", second.sign("contract/1", b"after"))
            assert verify_raw(_public(oem.algorithm, oem.public), b"after", second.sign("oem", b"after"))
        finally:
            second.close()


def _openssl(tcti: str, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60, check=False,
                          env={**os.environ, "TPM2OPENSSL_TCTI": tcti})


def test_openssl_tpm2_provider_uses_the_store_key(store: TpmKeyStore, swtpm_tcti: str, tmp_path: Path) -> None:
    """The key file is a TSS2 PRIVATE KEY under parent 0x40000001 that tpm2-openssl loads (TLS uses this)."""
    info = store.generate("vehicle-tls", KeyAlgorithm.EC_P256)
    key_file = store.key_file("vehicle-tls")
    assert key_file.read_bytes().count(b"-----BEGIN TSS2 PRIVATE KEY-----") == 1
    message = tmp_path / "message"
    message.write_bytes(os.urandom(64))
    providers = ("-provider", "tpm2", "-provider", "default")
    signed = _openssl(swtpm_tcti, "pkeyutl", "-sign", *providers, "-inkey", str(key_file), "-rawin",
                      "-digest", "sha256", "-in", str(message))
    assert signed.returncode == 0, signed.stderr.decode()
    public = _public(KeyAlgorithm.EC_P256, info.public)
    public.verify(signed.stdout, message.read_bytes(), ec.ECDSA(hashes.SHA256()))
    csr = _openssl(swtpm_tcti, "req", "-new", *providers, "-key", str(key_file), "-subj", "/CN=VIN-TEST",
                   "-outform", "DER")
    assert csr.returncode == 0, csr.stderr.decode()
    request = x509.load_der_x509_csr(csr.stdout)
    assert request.is_signature_valid
    assert encode_public(request.public_key()) == info.public  # type: ignore[arg-type]
    pub = _openssl(swtpm_tcti, "pkey", *providers, "-in", str(key_file), "-pubout")
    assert encode_public(load_pem_public_key(pub.stdout)) == info.public  # type: ignore[arg-type]


# -- bad input: each a one-line KeyStoreError, nothing lost ---------------------------------------------------


def test_tpm_absent(tmp_path: Path) -> None:
    with Swtpm() as tpm:
        tcti = tpm.tcti
    with pytest.raises(KeyStoreError) as err:
        TpmKeyStore(TpmConfig(tcti, tmp_path / "keys"))
    text = _one_line(err.value)
    assert tcti in text and "0x" in text
    with pytest.raises(KeyStoreError) as err:
        TpmKeyStore(TpmConfig("nosuchtcti:x", tmp_path / "keys"))
    assert "nosuchtcti" in _one_line(err.value)


def test_damaged_key_file(store: TpmKeyStore, tmp_path: Path) -> None:
    info = store.generate("oem", KeyAlgorithm.EC_P256)
    store.generate("other", KeyAlgorithm.EC_P256)
    path = store.key_file("oem")
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(KeyStoreError) as err:
        store.sign("oem", b"m")
    assert "'oem'" in _one_line(err.value) and "damaged" in str(err.value)
    # a flipped bit inside the wrapped private part: the TPM's integrity check refuses it
    from evcc.hsm.tpm_objects import KeyFile
    key = KeyFile.decode(original)
    blob = bytearray(key.private.marshal())
    blob[-5] ^= 0x01
    from tpm2_pytss.types import TPM2B_PRIVATE  # type: ignore[import-untyped]
    path.write_bytes(KeyFile(key.label, None, key.public, TPM2B_PRIVATE.unmarshal(bytes(blob))[0]).encode())
    with pytest.raises(TpmError) as tpm_err:
        store.sign("oem", b"m")
    text = _one_line(tpm_err.value)
    assert "'oem'" in text and "TPM_RC_INTEGRITY" in text and "0x" in text
    path.write_bytes(original)
    assert verify_raw(_public(info.algorithm, info.public), b"m", store.sign("oem", b"m"))
    assert len(store.list()) == 2


def test_key_file_from_another_tpm(tmp_path: Path, swtpm_tcti: str) -> None:
    keys = tmp_path / "keys"
    mine = TpmKeyStore(TpmConfig(swtpm_tcti, keys))
    info = mine.generate("oem", KeyAlgorithm.EC_P256)
    with Swtpm() as other_tpm:
        other = TpmKeyStore(TpmConfig(other_tpm.tcti, keys))
        try:
            for call in (lambda: other.sign("oem", b"m"), lambda: other.ecdh_kdf("oem", info.public, KDF_ISO2)):
                with pytest.raises(TpmError) as err:
                    call()
                text = _one_line(err.value)
                assert "'oem'" in text and "Load" in text and "TPM_RC_" in text
        finally:
            other.close()
    assert verify_raw(_public(info.algorithm, info.public), b"m", mine.sign("oem", b"m"))
    mine.close()


def test_tpm_out_of_object_memory(store: TpmKeyStore, swtpm_tcti: str) -> None:
    """Another client holding every transient slot (no resource manager): a one-line TPM_RC_OBJECT_MEMORY error
    naming the key and what was tried; the key works again once the slots are free."""
    from tpm2_pytss import ESAPI  # type: ignore[import-untyped]
    from tpm2_pytss.constants import ESYS_TR  # type: ignore[import-untyped]
    from tpm2_pytss.types import TPM2B_SENSITIVE_CREATE  # type: ignore[import-untyped]

    from evcc.hsm.tpm_objects import srk_template

    info = store.generate("oem", KeyAlgorithm.EC_P256)
    other = ESAPI(swtpm_tcti)
    handles = []
    try:
        for _ in range(3):
            handles.append(other.create_primary(TPM2B_SENSITIVE_CREATE(), srk_template(), ESYS_TR.RH_OWNER)[0])
        with pytest.raises(TpmError) as err:
            store.sign("oem", b"m")
        text = _one_line(err.value)
        assert "TPM_RC_OBJECT_MEMORY" in text and "signing with key 'oem'" in text, text
    finally:
        for handle in handles:
            other.flush_context(handle)
        other.close()
    assert verify_raw(_public(info.algorithm, info.public), b"m", store.sign("oem", b"m"))


def test_owner_hierarchy_with_a_password(tmp_path: Path) -> None:
    """The store uses the owner hierarchy with an empty authorisation; a TPM whose owner set a password refuses
    the storage key: a one-line TPM_RC_BAD_AUTH error naming what was tried, no key file left behind."""
    with Swtpm() as tpm:
        _tools(tpm.tcti, "changeauth", "-c", "owner", "owner-secret")
        store = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
        try:
            with pytest.raises(TpmError) as err:
                store.generate("oem", KeyAlgorithm.EC_P256)
            text = _one_line(err.value)
            assert "TPM_RC_BAD_AUTH" in text and "CreatePrimary" in text, text
            assert store.list() == [] and not list((tmp_path / "keys").rglob("*.pem"))
        finally:
            store.close()
