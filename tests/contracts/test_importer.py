"""Import a contract from PEM files (written by `evcc pki init`) into SoftHSM2 and the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from evcc.contracts.errors import KeyMismatch
from evcc.contracts.importer import import_contract_files
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import write_pki
from evcc.pki.profiles import Suite

from contracts_helpers import NOW, make_context


def test_import_from_generated_files(tmp_path: Path, token: Pkcs11KeyStore) -> None:
    pki = write_pki(tmp_path / "pki", (Suite.ISO2,), NOW)[Suite.ISO2]
    base = tmp_path / "pki" / "iso2"
    ctx = make_context(tmp_path, token, pki)
    c = import_contract_files(base / "chains" / "contract_1.pem", base / "keys" / "contract_1.key", ctx, priority=2)
    assert c.emaid == "DE8AA0012345670" and ctx.store.list() == [c]
    leaf = x509.load_der_x509_certificate(c.chain[0])
    assert verify_raw(leaf.public_key(), b"m", token.sign(c.key_label, b"m"))  # type: ignore[arg-type]
    with pytest.raises(KeyMismatch, match="does not belong"):
        import_contract_files(base / "chains" / "contract_2.pem", base / "keys" / "contract_1.key", ctx)
    assert ctx.store.list() == [c]
