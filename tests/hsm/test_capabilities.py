"""What each key store can do, decided before a session (issue 11 item 4): the probe through the key-store port
(software store, TPM 2.0 key store over swtpm), a store giving wrong answers found out, the -20 key families a
car offers with its store, and `evcc run --check` naming a store that cannot do the configured Plug & Charge
(tpm2-pkcs11 over swtpm + tpm2-abrmd) with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evcc.hsm.capabilities import Operation, StoreCapabilities, pnc_problems, probe
from evcc.hsm.keystore import ConcatKdf, KeyAlgorithm, KeyInfo, KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig

from tests.hsm.tpm2_pkcs11_env import Tpm2Pkcs11, tpm2_pkcs11_available

P256, P521, ED448, X448 = KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448, KeyAlgorithm.X448
ROOT = Path(__file__).resolve().parents[2]


def test_software_store_can_do_everything(tmp_path: Path) -> None:
    store = SoftKeyStore(SoftKeyStoreConfig(tmp_path / "soft", passphrase=b"caps"))
    caps = probe(store)
    assert caps.keygen == caps.contract_import == {P256, P521, ED448, X448}
    assert caps.sign == {P256, P521, ED448} and caps.ecdh == {P256, P521, X448}
    assert caps.tls12 is None and caps.tls13 is None  # not measured without a TLS prober
    assert caps.iso20_algorithms() == (P521, ED448)
    assert pnc_problems(caps, ("iso2", "iso20-dc"), "contract", ED448) == []
    assert store.list() == []  # the probe left nothing behind


def test_tpm_offers_p521_not_ed448(swtpm_tcti: str, tmp_path: Path) -> None:
    from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore

    store = TpmKeyStore(TpmConfig(swtpm_tcti, tmp_path / "tpm"))
    try:
        caps = probe(store)
        assert store.list() == []
    finally:
        store.close()
    assert caps.keygen == caps.sign == caps.ecdh == caps.contract_import == {P256, P521}
    assert caps.iso20_algorithms() == (P521,)
    assert caps.iso2_pnc_problem() is None and caps.iso20_pnc_problem() is None
    assert pnc_problems(caps, ("iso20-dc",), "contract", P521) == []
    [problem] = pnc_problems(caps, ("iso20-dc",), "contract", ED448)
    assert "with ec-p521 keys only" in problem and "OEM provisioning key is ed448" in problem
    assert pnc_problems(caps, ("iso20-dc",), "external", ED448) == []


class Lying:
    """A working store whose answers are wrong: signatures by another key, K off by one bit."""

    def __init__(self, real: KeyStore) -> None:
        self.real = real
        self.description = "lying store"

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        return self.real.generate(label, algorithm)

    def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        return self.real.import_private(label, algorithm, private)

    def public_key(self, label: str) -> bytes:
        return self.real.public_key(label)

    def sign(self, label: str, message: bytes) -> bytes:
        return self.real.sign(label, message + b"?")

    def ecdh_kdf(self, label: str, peer: bytes, kdf: ConcatKdf) -> bytearray:
        k = self.real.ecdh_kdf(label, peer, kdf)
        k[0] ^= 1
        return k

    def delete(self, label: str) -> None:
        self.real.delete(label)

    def list(self, prefix: str = "") -> list[KeyInfo]:
        return self.real.list(prefix)


def test_wrong_answers_are_unsupported(tmp_path: Path) -> None:
    caps = probe(Lying(SoftKeyStore(SoftKeyStoreConfig(tmp_path / "soft", passphrase=b"caps"))), (P256,))
    assert caps.keygen == {P256} and caps.sign == caps.ecdh == caps.contract_import == frozenset()
    assert "does not verify" in caps.why_not(Operation.SIGN, P256)
    assert "differs from the host" in caps.why_not(Operation.ECDH, P256)
    assert "does not verify" in caps.why_not(Operation.IMPORT, P256)


def test_problems_name_what_is_missing() -> None:
    none: frozenset[KeyAlgorithm] = frozenset()
    caps = StoreCapabilities("token T", frozenset({P256, P521}), frozenset({P256}), none, none,
                             reasons={(Operation.SIGN, P521): "C_Sign failed: CKR_HOST_MEMORY (0x2)"})
    problems = pnc_problems(caps, ("iso2", "din", "iso20-ac"), "contract")
    assert problems[0].startswith("token T cannot do ISO 15118-2 Plug & Charge: no ECDH ec-p256 (not offered)")
    assert "no sign ec-p521 (C_Sign failed: CKR_HOST_MEMORY (0x2))" in problems[1]
    assert pnc_problems(caps, ("din",), "contract") == [] and pnc_problems(caps, ("iso2",), "external") == []


def _config(folder: Path, hsm: str, protocols: str = '["iso20-dc"]') -> Path:
    path = folder / "evcc.toml"
    path.write_text(f'[plc]\ninterface = "lo"\n[session]\nprotocols = {protocols}\ntls = false\n'
                    f'[contracts]\ndirectory = "{folder / "contracts"}"\n[hsm]\n{hsm}\n')
    return path


def test_run_check_names_a_store_that_cannot_do_pnc(tmp_path: Path) -> None:
    """tpm2-pkcs11 as [hsm]: `evcc run --check` exits 2 naming the store and what -20 Plug & Charge misses; the
    same configuration with external payment is valid."""
    if not tpm2_pkcs11_available():
        pytest.fail("tpm2-pkcs11, tpm2-abrmd or dbus-daemon missing: scripts/setup.d/36-tpm-pkcs11.sh")
    pin = tmp_path / "pin"
    pin.write_text("1234\n")
    with Tpm2Pkcs11(tmp_path / "bench") as bench:
        hsm = f'kind = "pkcs11"\nmodule = "{bench.config.module}"\ntoken = "{bench.config.token_label}"\n' \
              f'pin_file = "{pin}"'
        done = subprocess.run([sys.executable, "-m", "evcc", "run", "--check", "--config", _config(tmp_path, hsm)],
                              env=bench._env(), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "cannot do ISO 15118-20 Plug & Charge" in done.stderr and "evcc-tpm2-pkcs11" in done.stderr
        assert "no sign ec-p521" in done.stderr and "CKR_HOST_MEMORY" in done.stderr
        assert "Traceback" not in done.stderr
        external = _config(tmp_path, hsm).read_text().replace("tls = false", 'tls = false\npayment = "external"')
        (tmp_path / "external.toml").write_text(external)
        done = subprocess.run([sys.executable, "-m", "evcc", "run", "--check", "--config", tmp_path / "external.toml"],
                              env=bench._env(), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, (done.stdout, done.stderr)


def test_run_check_accepts_a_store_that_can(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    kek = tmp_path / "kek.bin"
    kek.write_bytes(bytes(range(32)))
    cfg = _config(tmp_path, f'kind = "soft"\ndirectory = "{tmp_path / "keys"}"\nkek_file = "{kek}"',
                  '["iso20-dc", "iso2"]')
    done = subprocess.run([sys.executable, "-m", "evcc", "run", "--check", "--config", cfg], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and "valid" in done.stdout, (done.stdout, done.stderr)
    assert SoftKeyStore(SoftKeyStoreConfig(tmp_path / "keys", kek_file=kek)).list() == []  # probe keys deleted
