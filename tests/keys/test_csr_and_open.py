"""The PKCS#10 request assembled in DER with the store's signature (RFC 2986), for every curve a store signs with
(P-256, P-521, Ed448 in SoftHSM2 and the software store): cryptography and `openssl req -verify` accept it; an X448
key cannot sign one. And evcc.hsm.open_store: the kind from the options given, the [hsm] section's options."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.app.config import HsmSettings
from evcc.errors import ConfigError
from evcc.hsm.keystore import KeyAlgorithm, KeyStore, UnsupportedAlgorithm
from evcc.hsm.open_store import StoreOptions, infer_kind, open_store, options_from_hsm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.keys.csr import build_csr, spki_der
from evcc.keys.names import parse_subject

SUBJECT = parse_subject("CN=WMIEVCCTEST0000017,O=evcc test OEM,C=DE,DC=OEM")


def soft_store(tmp: Path) -> SoftKeyStore:
    kek = tmp / "kek"
    kek.write_bytes(secrets.token_bytes(32))
    return SoftKeyStore(SoftKeyStoreConfig(tmp / "keys", kek_file=kek))


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448])
@pytest.mark.parametrize("kind", ["pkcs11", "soft"])
def test_request_signed_in_the_store_verifies(kind: str, algorithm: KeyAlgorithm, tmp_path: Path,
                                              token: Pkcs11KeyStore) -> None:
    store: KeyStore = token if kind == "pkcs11" else soft_store(tmp_path)
    label = f"csr-{uuid.uuid4().hex[:8]}"
    info = store.generate(label, algorithm)
    try:
        csr = build_csr(store, label, algorithm, SUBJECT)
    finally:
        store.delete(label)
    assert csr.is_signature_valid and csr.subject == SUBJECT
    assert csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == spki_der(algorithm,
                                                                                                       info.public)
    path = tmp_path / "r.csr"
    path.write_bytes(csr.public_bytes(Encoding.PEM))
    done = subprocess.run(["openssl", "req", "-in", str(path), "-verify", "-noout"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "verify OK" in done.stdout + done.stderr, done.stderr
    tampered = csr.public_bytes(Encoding.DER).replace(b"WMIEVCCTEST0000017", b"WMIEVCCTEST0000018")
    assert not x509.load_der_x509_csr(tampered).is_signature_valid  # the signature covers the subject


def test_x448_key_cannot_sign_a_request(tmp_path: Path) -> None:
    store = soft_store(tmp_path)
    store.generate("x", KeyAlgorithm.X448)
    with pytest.raises(UnsupportedAlgorithm, match="cannot sign a certificate request"):
        build_csr(store, "x", KeyAlgorithm.X448, SUBJECT)


@pytest.mark.parametrize("options, kind", [
    (StoreOptions(token="t"), "pkcs11"), (StoreOptions(pin_file=Path("p")), "pkcs11"),
    (StoreOptions(pkcs11_module="/m.so"), "pkcs11"), (StoreOptions(tcti="device:/dev/tpmrm0"), "tpm"),
    (StoreOptions(tpm_keys=Path("k")), "tpm"), (StoreOptions(soft_keys=Path("s")), "soft"),
    (StoreOptions(kek_file=Path("k")), "soft"),
])
def test_the_kind_follows_from_the_options_given(options: StoreOptions, kind: str) -> None:
    assert infer_kind(options) == kind


def test_hsm_section_options_and_their_names_in_errors(tmp_path: Path) -> None:
    soft = options_from_hsm(HsmSettings(kind="soft", directory=tmp_path / "absent", kek_file=tmp_path / "kek"))
    assert infer_kind(soft) == "soft"
    with pytest.raises(ConfigError, match=r"^\[hsm\] directory: software key store folder .* does not exist$"):
        open_store(soft)
    (tmp_path / "absent").mkdir()
    with pytest.raises(ConfigError, match=r"^\[hsm\] kek_file: .*kek does not exist$"):
        open_store(soft)
    token = options_from_hsm(HsmSettings(kind="pkcs11", token="evcc", pin_file=tmp_path / "no.pin"))
    assert (token.token, token.pkcs11_module) == ("evcc", HsmSettings.module)
    with pytest.raises(ConfigError, match=r"^\[hsm\] pin_file: cannot read .*no.pin"):
        open_store(token)
    with pytest.raises(ConfigError, match="--pin-file: missing"):
        open_store(StoreOptions(token="evcc"))
