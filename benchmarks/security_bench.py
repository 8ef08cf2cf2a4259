"""Security path figures (ISO 15118 issue 3 targets): GenChallenge signature in SoftHSM2 (target <= 2 ms),
EV-side processing of a -2 CertificateInstallationRes without the EXI part (<= 20 ms with EXI), and the -20
secp521r1 path (<= 50 ms). Prints medians and ratios to target; never asserts timings.

Run: python3 benchmarks/security_bench.py [--rounds N]
The EXI digests and the XML signature are not in these figures yet (evcc.exi pending): the -2/-20 paths time a
real ECDSA verification of the CPS signature over a 32-byte stand-in digest instead.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc.contracts.install2 import install_contract_2
from evcc.contracts.install20 import install_contract_20
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import ContractStore
from evcc.hsm.hostcrypto import CURVES, verify_raw
from evcc.hsm.keystore import KDF_ISO2, KDF_ISO20, KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm
from evcc.pki.generator import TestPki, build_pki, issue_certificate
from evcc.pki.profiles import TEST_PCID, Suite, profile_table


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def report(name: str, samples: list[float], target_ms: float) -> None:
    m = median_ms(samples)
    p90 = sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000
    print(f"{name:58s} median {m:7.3f} ms  p90 {p90:7.3f} ms  target {target_ms:5.1f} ms  "
          f"ratio {m / target_ms:5.2f}")


def oem(pki: TestPki, keys: KeyStore, alg: KeyAlgorithm, label: str):  # type: ignore[no-untyped-def]
    info = keys.generate(label, alg)
    pub = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[alg], info.public)
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    return issue_certificate(profile_table()["oem_prov_leaf"], pub, issuer, issuer[1], pki.suite, pki.now)


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--disk", action="store_true",
                    help="keep the SoftHSM token and the store on disk (default: /dev/shm when present, to time "
                         "the software instead of this machine's ext4 write latency)")
    args = ap.parse_args()
    now = datetime.now(timezone.utc)
    base = None if args.disk or not Path("/dev/shm").is_dir() else "/dev/shm"
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        print(f"token and store folder: {tmp} ({'tmpfs' if base else 'disk'})")
        token = Pkcs11KeyStore(init_softhsm(Path(tmp) / "hsm", label="bench"))
        print(f"key store: {token.description}")
        key = token.generate("bench/challenge", KeyAlgorithm.EC_P256)
        report("GenChallenge signature (P-256, SoftHSM2)",
               timed(lambda: token.sign(key.label, b"0123456789abcdef"), args.rounds * 4), 2.0)

        for alg in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521):
            peer = ec.generate_private_key(CURVES[alg]).public_key().public_bytes(
                Encoding.X962, PublicFormat.UncompressedPoint)
            k = token.generate(f"bench/ecdh/{alg.value}", alg)
            kdf = KDF_ISO2 if alg is KeyAlgorithm.EC_P256 else KDF_ISO20
            report(f"  step: ECDH+KDF in token ({alg.value})",
                   timed(lambda: token.ecdh_kdf(k.label, peer, kdf), args.rounds), target_ms=1.0)
            counter = iter(range(10**6))

            def import_one(a: KeyAlgorithm = alg) -> None:
                d = ec.generate_private_key(CURVES[a]).private_numbers().private_value
                label = f"bench/imp/{a.value}/{next(counter)}"
                token.import_private(label, a, bytearray(d.to_bytes(a.private_length, "big")))
            report(f"  step: C_CreateObject token key import ({alg.value})", timed(import_one, args.rounds), 1.0)
        print("  (steps have no target of their own: 'target 1.0' only scales the ratio column)")

        for suite, alg, target in ((Suite.ISO2, KeyAlgorithm.EC_P256, 20.0),
                                   (Suite.ISO20_P521, KeyAlgorithm.EC_P521, 50.0)):
            pki = build_pki(suite, now)
            oem_cert = oem(pki, token, alg, f"bench/oem/{suite.value}")
            sim = ProvisioningSimulator(pki)
            ctx = InstallContext(ContractStore(Path(tmp) / f"store-{suite.value}"), token,
                                 (pki.certs["v2g_root"],), now, (pki.certs["mo_root"],))
            samples = []
            for _ in range(args.rounds):
                if suite is Suite.ISO2:
                    values = sim.certificate_installation_2(oem_cert, "DE8AA0012345670", now)
                else:
                    values = sim.certificate_installation_20(oem_cert, TEST_PCID, "DE8AA0012345670", now)
                digest = hashlib.sha256(repr(values).encode()).digest()
                sig = sim.sign(digest)

                def verify(leaf, d=digest, s=sig):  # type: ignore[no-untyped-def]
                    return verify_raw(leaf.public_key(), d, s)

                t = time.perf_counter()
                if suite is Suite.ISO2:
                    c = install_contract_2(values, verify, oem_key_label=f"bench/oem/{suite.value}", ctx=ctx)
                else:
                    c = install_contract_20(values, verify, pcid=TEST_PCID,  # type: ignore[arg-type]
                                            ecdh_key_label=f"bench/oem/{suite.value}", ctx=ctx)
                samples.append(time.perf_counter() - t)
                ctx.store.remove(c.contract_id)
                token.delete(c.key_label or "")
            name = ("-2 installation: chain+sig+ECDH+KDF+CBC+823+import+store" if suite is Suite.ISO2
                    else "-20 P-521: chain+sig+ECDH+KDF+GCM+checks+import+store")
            report(name + " (no EXI)", samples, target)
        token.close()


if __name__ == "__main__":
    main()
