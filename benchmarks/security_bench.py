"""Security path figures (ISO 15118 issue 3 targets): a GenChallenge signature in SoftHSM2 and a complete signed
AuthorizationReq (target <= 2 ms), EV-side processing of a -2 CertificateInstallationRes from EXI bytes
(decode, four digests, CPS signature, chains, ECDH in SoftHSM2, KDF, AES-CBC, [V2G2-823], import, store write;
<= 20 ms), and the same for a -20 secp521r1 CertificateInstallationRes (<= 50 ms). The responses come from the
test provisioning service answering requests signed in the token. Prints medians and ratios to target; never
asserts timings.

Run: python3 benchmarks/security_bench.py [--rounds N] [--disk]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcc import exi
from evcc.contracts.install_common import InstallContext
from evcc.contracts.messages2 import authorization_req, certificate_installation_req
from evcc.contracts.messages20 import certificate_installation_req as req20
from evcc.contracts.messages20 import decode_response_20, install_from_message_20
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.response2 import SIGNED_ELEMENTS, decode_response, install_from_message
from evcc.contracts.signed import check_signature
from evcc.contracts.store import ContractStore
from evcc.exi.signature import ECDSA_SHA256, ECDSA_SHA512
from evcc.hsm.hostcrypto import CURVES
from evcc.hsm.keystore import KDF_ISO2, KDF_ISO20, KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.hsm.softhsm import init_softhsm
from evcc.pki.generator import TestPki, build_pki, issue_certificate
from evcc.pki.profiles import TEST_PCID, Suite, profile_table

SESSION_ID = bytes(8)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def report(name: str, samples: list[float], target_ms: float) -> None:
    m = median_ms(samples)
    p90 = sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000
    print(f"{name:64s} median {m:7.3f} ms  p90 {p90:7.3f} ms  target {target_ms:5.1f} ms  "
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


def responses(token: KeyStore, pki: TestPki, label: str, oem_cert: x509.Certificate, suite: Suite,
              now: datetime, rounds: int) -> list[bytes]:
    """EXI bytes of ``rounds`` responses from the test provisioning service to requests signed in the token."""
    service = ProvisioningService(ProvisioningSimulator(pki))
    roots = [pki.certs["v2g_root"]]
    out = []
    for _ in range(rounds):
        if suite is Suite.ISO2:
            req = exi.encode(certificate_installation_req(SESSION_ID, oem_cert, roots, token, label))
            out.append(exi.encode(service.answer(exi.decode("iso2", req), now)))
        else:
            req = exi.encode(req20(SESSION_ID, int(now.timestamp()), [oem_cert] + pki.chain("oem_sub_ca_2"), roots,
                                   token, label, KeyAlgorithm.EC_P521))
            out.append(exi.encode(service.answer(exi.decode("iso20-common", req), now)))
    return out


def installation(token: Pkcs11KeyStore, tmp: Path, suite: Suite, alg: KeyAlgorithm, now: datetime, rounds: int,
                 target: float) -> None:
    pki = build_pki(suite, now)
    label = f"bench/oem/{suite.value}"
    oem_cert = oem(pki, token, alg, label)
    ctx = InstallContext(ContractStore(tmp / f"store-{suite.value}"), token, (pki.certs["v2g_root"],), now,
                         (pki.certs["mo_root"],))
    samples, decode_s, sig_s = [], [], []
    for data in responses(token, pki, label, oem_cert, suite, now, rounds):
        t = time.perf_counter()
        if suite is Suite.ISO2:
            c = install_from_message(decode_response(data), oem_key_label=label, ctx=ctx)
        else:
            c = install_from_message_20(decode_response_20(data), pcid=TEST_PCID, ecdh_key_label=label, ctx=ctx)
        samples.append(time.perf_counter() - t)
        ctx.store.remove(c.contract_id)
        token.delete(c.key_label or "")
        grammar = "iso2" if suite is Suite.ISO2 else "iso20-common"
        t = time.perf_counter()
        exi.decode_named(grammar, data)
        decode_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        signature_only(data, suite)
        sig_s.append(time.perf_counter() - t)
    tag = "-2" if suite is Suite.ISO2 else "-20 P-521"
    report(f"  step: {tag} EXI decode of the response ({len(data)} bytes)", decode_s, 1.0)
    report(f"  step: {tag} digests + CPS signature check", sig_s, 1.0)
    name = ("-2 CertificateInstallationRes from EXI: all steps + store" if suite is Suite.ISO2
            else "-20 P-521 CertificateInstallationRes from EXI: all steps + store")
    report(name, samples, target)


def signature_only(data: bytes, suite: Suite) -> None:
    if suite is Suite.ISO2:
        msg = decode_response(data)
        body = msg.Body.CertificateInstallationRes
        assert body is not None
        check_signature("iso2-fragment", msg.Header.Signature, msg, [(n, getattr(body, n)) for n in SIGNED_ELEMENTS],
                        x509.load_der_x509_certificate(body.SAProvisioningCertificateChain.Certificate), ECDSA_SHA256)
    else:
        res = decode_response_20(data)
        check_signature("iso20-common-fragment", res.Header.Signature, res,
                        [("SignedInstallationData", res.SignedInstallationData)],
                        x509.load_der_x509_certificate(res.CPSCertificateChain.Certificate), ECDSA_SHA512)


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

        gen_challenge = bytes(range(16))
        report("signed AuthorizationReq (sign_elements, SoftHSM2, EXI encode)",
               timed(lambda: exi.encode(authorization_req(SESSION_ID, gen_challenge, token, key.label)),
                     args.rounds * 4), 2.0)
        print("  (steps have no target of their own: 'target 1.0' only scales the ratio column)")
        for suite, alg, target in ((Suite.ISO2, KeyAlgorithm.EC_P256, 20.0),
                                   (Suite.ISO20_P521, KeyAlgorithm.EC_P521, 50.0)):
            installation(token, Path(tmp), suite, alg, now, args.rounds, target)
        token.close()


if __name__ == "__main__":
    main()
