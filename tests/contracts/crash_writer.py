"""Writer process for test_store_crash: installs, re-prioritises, updates and removes contracts in a loop
until it is killed. Usage: python crash_writer.py <store dir> <key dir> <seed>"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.contracts.install2 import install_contract_2, update_contract_2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore, Lifecycle
from evcc.hsm.keystore import KeyAlgorithm, KeyNotFound
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.pki.generator import build_pki, issue_certificate
from evcc.pki.profiles import Suite, TEST_EMAIDS, profile_table

EMAIDS = TEST_EMAIDS


def main() -> None:
    store_dir, key_dir, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    pki = build_pki(Suite.ISO2, now)
    keys = SoftKeyStore(SoftKeyStoreConfig(key_dir, passphrase=b"crash test"))
    label = f"oem/{seed}"
    info = keys.generate(label, KeyAlgorithm.EC_P256)
    oem_cert = issue_certificate(profile_table()["oem_prov_leaf"],
                                 ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), info.public),
                                 (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2")),
                                 pki.signing_key("oem_sub_ca_2"), Suite.ISO2, now)
    store = ContractStore(store_dir)
    ctx = InstallContext(store, keys, (pki.certs["v2g_root"],), now, (pki.certs["mo_root"],))
    sim = ProvisioningSimulator(pki)

    def verify(res: object) -> Callable[[x509.Certificate], bool]:
        # Stand-in for the EXI signature check (not under test here): the validated CPS leaf must be ours.
        return lambda leaf: leaf == pki.certs["cps_leaf"]

    print("ready", flush=True)
    while True:
        contracts = [c for c in store.list() if c.lifecycle is Lifecycle.INSTALLED]
        op = rng.random()
        if op < 0.4 or not contracts:
            res = sim.certificate_installation_2(oem_cert, rng.choice(EMAIDS), now)
            install_contract_2(res, verify(res), oem_key_label=label, ctx=ctx, priority=rng.randrange(10))
        elif op < 0.6:
            c = rng.choice(contracts)
            store.set_priority(c.contract_id, rng.randrange(10))
        elif op < 0.8:
            c = rng.choice(contracts)
            res = sim.certificate_update_2(x509.load_der_x509_certificate(c.chain[0]), c.emaid, now)
            update_contract_2(res, verify(res), old_contract_id=c.contract_id, ctx=ctx)
        else:
            c = rng.choice(contracts)
            store.remove(c.contract_id)
            try:
                keys.delete(c.key_label or "")
            except KeyNotFound:
                pass


if __name__ == "__main__":
    main()
