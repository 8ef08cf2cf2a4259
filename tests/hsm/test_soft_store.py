"""Software key store: encrypted at rest, 0600 files, KEK checks, logged as bench only."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.errors import ConfigError
from evcc.hsm.keystore import KeyAlgorithm, KeyStoreError
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig


def test_files_are_0600_and_hold_no_plaintext_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        store = SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"secret"))
    assert "software key store (bench only)" in caplog.text
    host = ec.generate_private_key(ec.SECP256R1())
    scalar = host.private_numbers().private_value.to_bytes(32, "big")
    store.import_private("contract/a", KeyAlgorithm.EC_P256, bytearray(scalar))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        data = p.read_bytes()
        assert scalar not in data and scalar.hex().encode() not in data and scalar.hex().upper().encode() not in data


def test_wrong_passphrase_and_tampering_detected(tmp_path: Path) -> None:
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"right"))
    store.generate("k", KeyAlgorithm.EC_P256)
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"wrong"))
    reopened = SoftKeyStore(SoftKeyStoreConfig(tmp_path, passphrase=b"right"))
    assert reopened.sign("k", b"m")
    key_file = next((tmp_path / "keys").glob("*.json"))
    doc = json.loads(key_file.read_text())
    doc["ciphertext"] = doc["ciphertext"][:-2] + ("00" if doc["ciphertext"][-2:] != "00" else "11")
    key_file.write_text(json.dumps(doc))
    with pytest.raises(KeyStoreError, match="does not decrypt"):
        reopened.sign("k", b"m")


def test_kek_file(tmp_path: Path) -> None:
    kek = tmp_path / "kek.bin"
    kek.write_bytes(os.urandom(32))
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "s", kek_file=kek))
    store.generate("k", KeyAlgorithm.EC_P521)
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(32))
    with pytest.raises(KeyStoreError):
        SoftKeyStore(SoftKeyStoreConfig(tmp_path / "s", kek_file=other)).sign("k", b"m")
    other.write_bytes(b"short")
    with pytest.raises(ConfigError):
        SoftKeyStore(SoftKeyStoreConfig(tmp_path / "s", kek_file=other))
    with pytest.raises(ConfigError):
        SoftKeyStore(SoftKeyStoreConfig(tmp_path / "s"))
