"""The README's key-store table is a measurement (issue 11 item 4): SoftHSM2, tpm2-pkcs11 over swtpm + tpm2-abrmd,
the TPM 2.0 key store over swtpm and the software store are probed again (keygen per curve, sign, ECDH, contract
import, TLS 1.2 and TLS 1.3 handshakes with the store's key) and the table in README.md must say the same."""

from __future__ import annotations

from pathlib import Path

from tests.hsm.store_table import BEGIN, README, measure, readme_table


def test_readme_key_store_table_is_the_measurement(tmp_path: Path) -> None:
    measured = measure(tmp_path)
    written = readme_table(README.read_text())
    assert written, f"README.md has no key-store table ({BEGIN})"
    assert written == measured, ("README.md's key-store table differs from the measurement; "
                                 "run python3 -m tests.hsm.store_table --write\n" + measured)
