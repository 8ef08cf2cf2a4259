"""Security path figures (ISO 15118 issue 3 targets): a GenChallenge signature in SoftHSM2 and a complete signed
AuthorizationReq (target <= 2 ms), EV-side processing of a -2 CertificateInstallationRes from EXI bytes
(decode, four digests, CPS signature, chains, ECDH in SoftHSM2, KDF, AES-CBC, [V2G2-823], import, store write;
<= 20 ms), and the same for a -20 secp521r1 CertificateInstallationRes (<= 50 ms). The responses come from the
test provisioning service answering requests signed in the token. Prints medians and ratios to target; never
asserts timings.

The TPM 2.0 key store (issue 11) is measured beside SoftHSM2 on a private swtpm (no resource manager): keygen,
sign, ECDH (TPM2_ECDH_ZGen + host KDF), contract import (TPM2_Import), the whole -2 and -20 (secp521r1)
CertificateInstallationRes processing, and the -20 TPM_EncryptedPrivateKey path (TPM2_Import under the -20
storage key); then what a discrete TPM would add (an estimate, labelled as such: nothing here measures one).

Run: python3 benchmarks/security_bench.py [--rounds N] [--disk] [--stores softhsm,tpm]
"""

from __future__ import annotations

import argparse
import re
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
from evcc.hsm.swtpm import Swtpm, swtpm_available
from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
from evcc.hsm.tpm_wrap import StorageParent
from evcc.pki.generator import TestPki, build_pki, issue_certificate
from evcc.pki.profiles import TEST_PCID, Suite, profile_table

SESSION_ID = bytes(8)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


FIGURES: dict[tuple[str, str], float] = {}  # (row, store) -> median ms, for the side-by-side table


def report(name: str, samples: list[float], target_ms: float, store: str = "SoftHSM2") -> None:
    m = median_ms(samples)
    FIGURES[(re.sub(r" \(\d+ bytes\)", "", name.strip()), store)] = m
    p90 = sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000
    print(f"{name:64s} median {m:7.3f} ms  p90 {p90:7.3f} ms  target {target_ms:5.1f} ms  "
          f"ratio {m / target_ms:5.2f}  [{store}]")


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
              now: datetime, rounds: int, tpm_storage: StorageParent | None = None) -> list[bytes]:
    """EXI bytes of ``rounds`` responses from the test provisioning service to requests signed in the token
    (-20 with ``tpm_storage``: TPM_EncryptedPrivateKey for that TPM storage key)."""
    service = ProvisioningService(ProvisioningSimulator(pki), tpm_storage=tpm_storage)
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


def installation(token: KeyStore, tmp: Path, suite: Suite, alg: KeyAlgorithm, now: datetime, rounds: int,
                 target: float, store: str = "SoftHSM2", tpm_storage: str | None = None) -> None:
    pki = build_pki(suite, now)
    label = f"bench/oem/{suite.value}"
    oem_cert = oem(pki, token, alg, label)
    ctx = InstallContext(ContractStore(tmp / f"store-{suite.value}-{store}-{tpm_storage}"), token,
                         (pki.certs["v2g_root"],), now, (pki.certs["mo_root"],))
    parent = None
    if tpm_storage is not None and isinstance(token, TpmKeyStore):
        token.create_storage_key(tpm_storage)
        parent = token.storage_parent(tpm_storage)
    samples, decode_s, sig_s = [], [], []
    for data in responses(token, pki, label, oem_cert, suite, now, rounds, parent):
        t = time.perf_counter()
        if suite is Suite.ISO2:
            c = install_from_message(decode_response(data), oem_key_label=label, ctx=ctx)
        else:
            c = install_from_message_20(decode_response_20(data), pcid=TEST_PCID, ecdh_key_label=label, ctx=ctx,
                                        tpm_storage_key_label=tpm_storage)
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
    token.delete(label)
    if tpm_storage is not None:
        token.delete(tpm_storage)
    tag = "-2" if suite is Suite.ISO2 else "-20 P-521" if tpm_storage is None else "-20 TPM blob"
    report(f"  step: {tag} EXI decode of the response ({len(data)} bytes)", decode_s, 1.0, store)
    report(f"  step: {tag} digests + CPS signature check", sig_s, 1.0, store)
    name = ("-2 CertificateInstallationRes from EXI: all steps + store" if suite is Suite.ISO2
            else "-20 P-521 CertificateInstallationRes from EXI: all steps + store")
    if tpm_storage is not None:
        name = "-20 TPM_EncryptedPrivateKey CertificateInstallationRes: all + store"
    report(name, samples, target, store)


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


def store_figures(token: KeyStore, store: str, tmp: Path, now: datetime, rounds: int) -> None:
    """Every figure for one key store (``store``: its name in the output)."""
    print(f"--- key store: {token.description}")
    counter = iter(range(10**6))
    for alg in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521):
        report(f"  step: key generation ({alg.value})",
               timed(lambda a=alg: token.generate(f"bench/gen/{a.value}/{next(counter)}", a),  # type: ignore[misc]
                     max(5, rounds // 4)), 1.0, store)
    key = token.generate("bench/challenge", KeyAlgorithm.EC_P256)
    report("GenChallenge signature (P-256)",
           timed(lambda: token.sign(key.label, b"0123456789abcdef"), rounds * 4), 2.0, store)
    for alg in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521):
        peer = ec.generate_private_key(CURVES[alg]).public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint)
        k = token.generate(f"bench/ecdh/{alg.value}", alg)
        kdf = KDF_ISO2 if alg is KeyAlgorithm.EC_P256 else KDF_ISO20
        report(f"  step: ECDH+KDF with the key in the store ({alg.value})",
               timed(lambda: token.ecdh_kdf(k.label, peer, kdf), rounds), 1.0, store)

        def import_one(a: KeyAlgorithm = alg) -> None:
            d = ec.generate_private_key(CURVES[a]).private_numbers().private_value
            label = f"bench/imp/{a.value}/{next(counter)}"
            token.import_private(label, a, bytearray(d.to_bytes(a.private_length, "big")))
        report(f"  step: contract key import ({alg.value})", timed(import_one, rounds), 1.0, store)
    gen_challenge = bytes(range(16))
    report("signed AuthorizationReq (sign_elements, EXI encode)",
           timed(lambda: exi.encode(authorization_req(SESSION_ID, gen_challenge, token, key.label)),
                 rounds * 4), 2.0, store)
    print("  (steps have no target of their own: 'target 1.0' only scales the ratio column)")
    for suite, alg, target in ((Suite.ISO2, KeyAlgorithm.EC_P256, 20.0),
                               (Suite.ISO20_P521, KeyAlgorithm.EC_P521, 50.0)):
        installation(token, tmp, suite, alg, now, rounds, target, store)
    if isinstance(token, TpmKeyStore):
        installation(token, tmp, Suite.ISO20_P521, KeyAlgorithm.EC_P521, now, rounds, 50.0, store,
                     tpm_storage="bench/tpm-storage-20")
    for info in token.list("bench/"):
        token.delete(info.label)


# What a discrete TPM (SPI, e.g. Infineon SLB 9670/9672, ST ST33TPHF, Nuvoton NPCT75x) takes per command:
# ESTIMATES from the range of published vendor and community figures, not measured here.
DTPM_ESTIMATE_MS = {"TPM2_Sign ECDSA P-256": (20, 60), "TPM2_ECDH_ZGen P-256": (20, 60),
                    "TPM2_Load": (10, 40), "TPM2_Import": (20, 50), "TPM2_ContextLoad": (2, 10),
                    "TPM2_Create ECC P-256": (50, 200), "TPM2_CreatePrimary ECC P-256": (50, 300)}
# TPM commands of one -2 CertificateInstallationRes in TpmKeyStore: ECDH (ContextLoad SRK, Load OEM key,
# ECDH_ZGen), import (ContextLoad SRK, Import), check after import (ContextLoad SRK, Load); flushes not counted.
ISO2_INSTALL_COMMANDS = ("TPM2_ContextLoad", "TPM2_Load", "TPM2_ECDH_ZGen P-256", "TPM2_ContextLoad", "TPM2_Import",
                         "TPM2_ContextLoad", "TPM2_Load")


def side_by_side() -> None:
    stores = sorted({s for _, s in FIGURES}, key=lambda s: s != "SoftHSM2")
    if len(stores) < 2:
        return
    print("\nside by side (median ms; ratio = TPM / SoftHSM2):")
    rows = list(dict.fromkeys(name for name, _ in FIGURES))
    for name in rows:
        cells = [FIGURES.get((name, s)) for s in stores]
        text = "  ".join(f"{s} {c:8.3f}" if c is not None else f"{s} {'-':>8s}" for s, c in zip(stores, cells))
        ratio = f"x{cells[1] / cells[0]:6.1f}" if cells[0] and cells[1] else ""
        print(f"  {name:66s} {text}  {ratio}")


def dtpm_note() -> None:
    low = sum(DTPM_ESTIMATE_MS[c][0] for c in ISO2_INSTALL_COMMANDS)
    high = sum(DTPM_ESTIMATE_MS[c][1] for c in ISO2_INSTALL_COMMANDS)
    print("\nwhat a discrete TPM adds (ESTIMATE, typical SPI TPM 2.0 figures, not measured here):")
    for command, (a, b) in DTPM_ESTIMATE_MS.items():
        print(f"  {command:32s} ~{a}-{b} ms per command")
    print(f"  -2 CertificateInstallationRes: {len(ISO2_INSTALL_COMMANDS)} TPM commands -> ~{low}-{high} ms on a "
          f"discrete TPM on top of the host part (target 20 ms: a discrete TPM alone exceeds it; a firmware TPM "
          f"(fTPM in a TEE) is closer to swtpm's figures)")
    print("  -20: most discrete TPMs offer P-256/P-384 only; without P-521 a TPM car cannot do -20 SECP521 PnC "
          "(TpmKeyStore.supports asks the TPM)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--disk", action="store_true",
                    help="keep the SoftHSM token and the store on disk (default: /dev/shm when present, to time "
                         "the software instead of this machine's ext4 write latency)")
    ap.add_argument("--stores", default="softhsm,tpm",
                    help="comma-separated key stores to measure: softhsm, tpm (private swtpm)")
    args = ap.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    now = datetime.now(timezone.utc)
    base = None if args.disk or not Path("/dev/shm").is_dir() else "/dev/shm"
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        print(f"token, TPM key files and store folder: {tmp} ({'tmpfs' if base else 'disk'})")
        if "softhsm" in stores:
            token = Pkcs11KeyStore(init_softhsm(Path(tmp) / "hsm", label="bench"))
            store_figures(token, "SoftHSM2", Path(tmp), now, args.rounds)
            token.close()
        if "tpm" in stores:
            if not swtpm_available():
                print("TPM: swtpm not installed (scripts/setup.d/32-tpm.sh): no TPM figures")
            else:
                with Swtpm(Path(tmp) / "swtpm-state") as tpm:
                    store = TpmKeyStore(TpmConfig(tpm.tcti, Path(tmp) / "tpm-keys"))
                    store_figures(store, "TPM/swtpm", Path(tmp), now, args.rounds)
                    store.close()
                side_by_side()
                dtpm_note()


if __name__ == "__main__":
    main()
