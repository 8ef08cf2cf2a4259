"""Bad input for the TPM key store (issue 11, "Bad input"), on a real swtpm:

- a TPM in dictionary-attack lockout: the DA parameters set with tpm2-tools `tpm2_dictionarylockout` (one try),
  lockout provoked with a DA-protected key that has a password (a wrong password at TPM2_Sign). The store's keys are
  all noDA with an empty password (evcc.hsm.tpm_store), so lockout does not block them: generate, sign, ECDH,
  contract import and the -20 storage key keep working while the other key is refused with TPM_RC_LOCKOUT;
- a busy TPM: a TCTI in front of the swtpm answers TPM2_Sign with TPM_RC_RETRY / TPM_RC_YIELDED / TPM_RC_TESTING.
  ESAPI resubmits such a command a bounded number of times (tss2-esys 3.2: 5 submissions in all) before it
  gives up: a short busy spell is invisible, a TPM that stays busy is one line naming the key and the response code, and
  the key stays usable once the TPM answers again (its file untouched);
- a TPM that is absent: `evcc run --check` exits 2 with one line naming [hsm] and the TCTI;
- a wrong password: the owner hierarchy with a password (test_tpm_store.py), out of object memory
  (test_tpm_store.py), a blob from another TPM or damaged (test_tpm_store.py, test_tpm_install20.py).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tpm2_pytss import ESAPI, PyTCTI, TCTILdr  # type: ignore[import-untyped]
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_PT, TPM2_RC, TPM2_ST  # type: ignore[import-untyped]
from tpm2_pytss.TSS2_Exception import TSS2_Exception  # type: ignore[import-untyped]
from tpm2_pytss.types import (  # type: ignore[import-untyped]
    TPM2B_SENSITIVE_CREATE,
    TPMS_SENSITIVE_CREATE,
    TPMT_SIG_SCHEME,
    TPMT_TK_HASHCHECK,
)

from evcc.hsm.hostcrypto import CURVES, verify_raw
from evcc.hsm.keystore import KDF_ISO2, KeyAlgorithm
from evcc.hsm.swtpm import Swtpm
from evcc.hsm.tpm_objects import key_template, srk_template
from evcc.hsm.tpm_store import TpmConfig, TpmError, TpmKeyStore

ROOT = Path(__file__).resolve().parents[2]
TPM_CC_SIGN = 0x0000015D
TPMA_NODA = 0x00000400
TPM_PT_PERMANENT_IN_LOCKOUT = 0x00000200


@pytest.fixture()
def tpm(tmp_path: Path) -> Iterator[Swtpm]:
    with Swtpm(tmp_path / "tpm-state") as t:
        yield t


def _in_lockout(esys: ESAPI) -> bool:
    _, data = esys.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT.PERMANENT, 1)
    return bool(int(data.data.tpmProperties[0].value) & TPM_PT_PERMANENT_IN_LOCKOUT)


def _sign_scheme() -> tuple[object, object]:
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
    scheme.details.ecdsa.hashAlg = TPM2_ALG.SHA256
    return scheme, TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=0x40000007)  # TPM_RH_NULL


def test_tpm_in_dictionary_attack_lockout_does_not_block_the_stores_nodA_keys(tpm: Swtpm, tmp_path: Path) -> None:
    if shutil.which("tpm2_dictionarylockout") is None:
        pytest.fail("tpm2-tools missing: scripts/setup.d/32-tpm.sh")
    store = TpmKeyStore(TpmConfig(tpm.tcti, tmp_path / "keys"))
    esys = None
    try:
        before = store.generate("contract-before", KeyAlgorithm.EC_P256)
        store.create_storage_key("storage20")
        # one failed authorisation locks the TPM out for 10 minutes
        subprocess.run(["tpm2_dictionarylockout", "--setup-parameters", "--max-tries=1", "--recovery-time=600",
                        "--lockout-recovery-time=600", "-T", tpm.tcti], check=True, capture_output=True, timeout=60)
        esys = ESAPI(tpm.tcti)
        srk, *_ = esys.create_primary(TPM2B_SENSITIVE_CREATE(), srk_template(), ESYS_TR.RH_OWNER)
        template = key_template(KeyAlgorithm.EC_P256)
        template.publicArea.objectAttributes &= ~TPMA_NODA  # a DA-protected key with a password
        sensitive = TPM2B_SENSITIVE_CREATE(sensitive=TPMS_SENSITIVE_CREATE(userAuth=b"right"))
        private, public, *_ = esys.create(srk, sensitive, template)
        da_key = esys.load(srk, private, public)
        esys.flush_context(srk)
        scheme, ticket = _sign_scheme()
        digest = bytes(32)
        esys.tr_set_auth(da_key, b"wrong")
        with pytest.raises(TSS2_Exception) as failed:
            esys.sign(da_key, digest, scheme, ticket)
        assert failed.value.error == TPM2_RC.AUTH_FAIL
        assert _in_lockout(esys)
        esys.tr_set_auth(da_key, b"right")
        with pytest.raises(TSS2_Exception) as locked:
            esys.sign(da_key, digest, scheme, ticket)
        assert locked.value.error == TPM2_RC.LOCKOUT  # the DA key is refused even with its password
        esys.flush_context(da_key)

        # the store's keys are noDA with an empty password: every operation still works
        public_before = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[KeyAlgorithm.EC_P256], before.public)
        assert verify_raw(public_before, b"m", store.sign("contract-before", b"m"))
        fresh = store.generate("made-in-lockout", KeyAlgorithm.EC_P256)
        peer = ec.generate_private_key(ec.SECP256R1())
        point = peer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        assert len(store.ecdh_kdf("made-in-lockout", point, KDF_ISO2)) == KDF_ISO2.length
        imported = store.import_private("imported-in-lockout", KeyAlgorithm.EC_P256,
                                        bytearray(peer.private_numbers().private_value.to_bytes(32, "big")))
        assert imported.public == point and fresh.public != point
        assert store.storage_parent("storage20").aes_bits == 256
        assert _in_lockout(esys)  # still locked out after all that
    finally:
        if esys is not None:
            esys.close()
        store.close()


class BusyTpm(PyTCTI):  # type: ignore[misc]
    """A TCTI in front of a real TPM that answers the next ``busy`` commands ``command`` with ``rc`` (a 10-byte
    response header, as a TPM that is busy does) and passes everything else through."""

    def __init__(self, tcti: str, command: int, rc: int) -> None:
        super().__init__(max_size=4096)
        self._inner = TCTILdr.parse(tcti)
        self._command = command
        self._rc = rc
        self.busy = 0
        self.refused = 0
        self._answer: bytes | None = None

    def do_transmit(self, command: bytes) -> None:
        code = struct.unpack(">I", command[6:10])[0]
        if code == self._command and self.busy > 0:
            self.busy -= 1
            self.refused += 1
            self._answer = struct.pack(">HII", 0x8001, 10, self._rc)
            return
        self._answer = None
        self._inner.transmit(command)

    def do_receive(self, timeout: int) -> bytes:
        if self._answer is not None:
            answer, self._answer = self._answer, None
            return answer
        received: bytes = self._inner.receive(timeout)
        return received

    def do_finalize(self) -> None:
        self._inner.close()


@pytest.mark.parametrize(("rc", "name"), [(0x922, "TPM_RC_RETRY"), (0x908, "TPM_RC_YIELDED"),
                                          (0x90A, "TPM_RC_TESTING")])
def test_busy_tpm_is_retried_a_bounded_number_of_times(tpm: Swtpm, tmp_path: Path, rc: int, name: str) -> None:
    proxy = BusyTpm(tpm.tcti, TPM_CC_SIGN, rc)
    store = TpmKeyStore(TpmConfig(proxy, tmp_path / "keys"))  # ESAPI takes a TCTI object as well as a string
    try:
        info = store.generate("contract", KeyAlgorithm.EC_P256)
        public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[KeyAlgorithm.EC_P256], info.public)
        key_file = store.key_file("contract").read_bytes()

        proxy.busy = 3  # a short busy spell: ESAPI resubmits, the caller sees a signature
        assert verify_raw(public, b"m", store.sign("contract", b"m"))
        assert proxy.refused == 3 and proxy.busy == 0

        proxy.busy, proxy.refused = 1000, 0  # a TPM that stays busy: bounded, then one line
        with pytest.raises(TpmError) as err:
            store.sign("contract", b"m")
        message = str(err.value)
        assert "\n" not in message and "'contract'" in message and name in message, message
        assert 2 <= proxy.refused <= 10, proxy.refused  # bounded (tss2-esys 3.2: 5 submissions in all)
        print(f"busy TPM: {proxy.refused} submissions of TPM2_Sign before: {message}")

        proxy.busy = 0  # the TPM answers again: the key is there and signs
        assert verify_raw(public, b"n", store.sign("contract", b"n"))
        assert store.key_file("contract").read_bytes() == key_file
    finally:
        store.close()


def test_run_check_with_an_absent_tpm_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    cfg = tmp_path / "evcc.toml"
    cfg.write_text(f'[plc]\ninterface = "lo"\n[session]\nprotocols = ["iso20-dc"]\ntls = false\n'
                   f'[contracts]\ndirectory = "{tmp_path / "contracts"}"\n'
                   f'[hsm]\nkind = "tpm"\ntcti = "device:/dev/evcc-no-such-tpm"\ndirectory = "{tmp_path / "keys"}"\n')
    done = subprocess.run([sys.executable, "-m", "evcc", "run", "--check", "--config", str(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TSS2_LOG": "all+none"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if "evcc run" in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "[hsm]" in lines[0] and "TPM connection to 'device:/dev/evcc-no-such-tpm' failed" in lines[0], lines
    assert [f for f in (tmp_path / "keys").rglob("*") if f.is_file()] == []  # no key file written
