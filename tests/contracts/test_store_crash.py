"""Crash safety: a writer installing/updating/removing contracts is SIGKILLed at random points; the store
must always reopen, and every installed contract must be complete with its key present and matching."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.contracts.store import ContractStore, Lifecycle
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig

WRITER = Path(__file__).with_name("crash_writer.py")
ROUNDS = 12


def check_consistent(store_dir: Path, key_dir: Path) -> tuple[int, int]:
    store = ContractStore(store_dir)  # must open: never corrupt
    keys = SoftKeyStore(SoftKeyStoreConfig(key_dir, passphrase=b"crash test"))
    installed = [c for c in store.list() if c.lifecycle is Lifecycle.INSTALLED]
    for c in installed:  # never half-installed: chain, key and matching public key
        assert c.chain and c.key_label and c.not_after is not None
        leaf = x509.load_der_x509_certificate(c.chain[0])
        pub = leaf.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        assert verify_raw(pub, b"probe", keys.sign(c.key_label, b"probe"))
    orphans = store.orphan_key_labels(k.label for k in keys.list())
    for label in orphans:  # what a crash may leave: an unreferenced key, cleaned at start
        keys.delete(label)
    return len(installed), len(orphans)


def test_sigkill_at_random_points_never_corrupts(tmp_path: Path) -> None:
    store_dir, key_dir = tmp_path / "store", tmp_path / "keys"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    seen_contracts = 0
    for round_ in range(ROUNDS):
        proc = subprocess.Popen([sys.executable, str(WRITER), str(store_dir), str(key_dir), str(round_)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == b"ready\n", proc.stderr.read() if proc.stderr else line
            time.sleep(rng.uniform(0.005, 0.3))
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
        installed, _ = check_consistent(store_dir, key_dir)
        seen_contracts = max(seen_contracts, installed)
    assert seen_contracts > 0  # the writer did get work done between kills
