"""EXI codec benchmark (issue 2): figures and ratios, no assertions.

    python3 benchmarks/exi_bench.py

From Python: median decode and encode time of -2 SessionSetupReq, -2 CurrentDemandReq, -20 DC_ChargeLoopReq,
a -2 PaymentDetailsReq with a contract chain (~1.9 kB) and a CertificateInstallationRes (~4 kB); the same for the
Rust core alone (native/exi-core/examples/bench.rs); the import time of evcc.exi and the extension's size.
Targets: <= 5 us per small message from Python, <= 50 us for the 4 kB one, <= 1 us in Rust for small ones.
References: Josev (EXIficient in a JVM) 6-15 ms per message; libcbv2g (C) 0.1-0.6 us.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evcc import exi  # noqa: E402
from evcc.exi import iso2, iso20_dc  # noqa: E402

SID = bytes.fromhex("4758FDD348A5EB24")


def pv(m: int, unit: str, v: int) -> iso2.PhysicalValueType:
    return iso2.PhysicalValueType(Multiplier=m, Unit=unit, Value=v)


def v2g(**body: object) -> iso2.V2G_Message:
    return iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=SID), Body=iso2.BodyType(**body))


def chain(n_sub: int, size: int, seed: int) -> iso2.CertificateChainType:
    blob = lambda k: bytes((seed * 31 + k * 7 + i) % 251 for i in range(size))  # noqa: E731
    return iso2.CertificateChainType(Id=None, Certificate=blob(0),
                                     SubCertificates=iso2.SubCertificatesType(Certificate=[blob(k + 1) for k in range(n_sub)]))


def messages() -> list[tuple[str, str, object]]:
    status = iso2.DC_EVStatusType(EVReady=True, EVErrorCode="NO_ERROR", EVRESSSOC=55)
    current_demand = v2g(CurrentDemandReq=iso2.CurrentDemandReqType(
        DC_EVStatus=status, EVTargetCurrent=pv(0, "A", 120), EVMaximumVoltageLimit=pv(0, "V", 420),
        EVMaximumCurrentLimit=pv(0, "A", 200), EVMaximumPowerLimit=pv(3, "W", 80), BulkChargingComplete=False,
        ChargingComplete=False, RemainingTimeToFullSoC=pv(0, "s", 1800), RemainingTimeToBulkSoC=pv(0, "s", 1200),
        EVTargetVoltage=pv(0, "V", 400)))
    session_setup = v2g(SessionSetupReq=iso2.SessionSetupReqType(EVCCID=bytes.fromhex("0A0B0C0D0E0F")))
    payment = v2g(PaymentDetailsReq=iso2.PaymentDetailsReqType(
        eMAID="DEABCC123ABC56", ContractSignatureCertChain=chain(2, 620, 1)))
    install_res = v2g(CertificateInstallationRes=iso2.CertificateInstallationResType(
        ResponseCode="OK",
        SAProvisioningCertificateChain=chain(2, 640, 2),
        ContractSignatureCertChain=iso2.CertificateChainType(
            Id="id1", Certificate=chain(0, 640, 3).Certificate,
            SubCertificates=iso2.SubCertificatesType(Certificate=[chain(0, 640, 4).Certificate, chain(0, 640, 5).Certificate])),
        ContractSignatureEncryptedPrivateKey=iso2.ContractSignatureEncryptedPrivateKeyType(Id="id2", value=bytes(48)),
        DHpublickey=iso2.DiffieHellmanPublickeyType(Id="id3", value=b"\x04" + bytes(64)),
        eMAID=iso2.EMAIDType(Id="id4", value="DEABCC123ABC56")))
    loop = iso20_dc.DC_ChargeLoopReqType(
        Header=iso20_dc.MessageHeaderType(SessionID=SID, TimeStamp=1718607534), MeterInfoRequested=False,
        EVPresentVoltage=iso20_dc.RationalNumberType(Exponent=0, Value=400),
        BPT_Scheduled_DC_CLReqControlMode=iso20_dc.BPT_Scheduled_DC_CLReqControlModeType(
            EVTargetCurrent=iso20_dc.RationalNumberType(Exponent=0, Value=20),
            EVTargetVoltage=iso20_dc.RationalNumberType(Exponent=0, Value=400)))
    return [("-2 SessionSetupReq", "iso2", session_setup), ("-2 CurrentDemandReq", "iso2", current_demand),
            ("-20 DC_ChargeLoopReq", "iso20-dc", loop), ("-2 PaymentDetailsReq", "iso2", payment),
            ("-2 CertificateInstallationRes", "iso2", install_res)]


def per_call(fn, arg, n: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(15):
        t = time.perf_counter()
        for _ in range(n):
            fn(arg)
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def rust_core(rows: list[tuple[str, str, bytes]]) -> dict[str, tuple[float, float]]:
    native = ROOT / "native"
    build = subprocess.run(["cargo", "build", "-q", "--release", "--example", "bench", "-p", "evcc-exi-core"],
                           cwd=native, capture_output=True, text=True)
    if build.returncode != 0:
        print("rust bench did not build:", build.stderr[-500:])
        return {}
    feed = "".join(f"{n}\t{g}\t{d.hex()}\n" for n, g, d in rows)
    out = subprocess.run([str(native / "target/release/examples/bench")], input=feed, capture_output=True, text=True)
    res = {}
    for line in out.stdout.splitlines():
        name, dec, enc = line.split("\t")
        res[name] = (float(dec) / 1000, float(enc) / 1000)
    return res


def main() -> None:
    rows = []
    print(f"{'message':32s} {'bytes':>6s} {'py decode us':>13s} {'py encode us':>13s} {'target':>7s} "
          f"{'vs Josev 6ms':>12s}")
    for name, grammar, msg in messages():
        data = exi.encode(msg)  # type: ignore[arg-type]
        assert exi.decode(grammar, data) == msg
        n = 2000 if len(data) < 500 else 500
        dec = per_call(lambda d: exi.decode(grammar, d), data, n)
        enc = per_call(exi.encode, msg, n)
        target = 5.0 if len(data) < 500 else 50.0
        print(f"{name:32s} {len(data):6d} {dec:13.2f} {enc:13.2f} {target:7.0f} {6000 / max(dec, enc):11.0f}x")
        rows.append((name, grammar, data))
    core = rust_core(rows)
    if core:
        print(f"\n{'Rust core alone':32s} {'decode us':>10s} {'encode us':>10s}  (target <= 1 us small; libcbv2g 0.1-0.6)")
        for name, _, data in rows:
            d, e = core[name]
            print(f"{name:32s} {d:10.3f} {e:10.3f}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import evcc.exi"], env=env, check=True)
        t1 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        times.append((t1 - t) - (time.perf_counter() - t1))
    print(f"\nimport evcc.exi: {statistics.median(times) * 1e3:.1f} ms over a bare interpreter start "
          "(schema-set modules load on first use)")
    t = time.perf_counter()
    exi.decode("iso2", rows[0][2])
    print(f"first iso2 decode (loads the iso2 classes): {(time.perf_counter() - t) * 1e3:.1f} ms")
    so = next((ROOT / "evcc").glob("_exi*.so"), None)
    if so:
        print(f"extension size: {so.stat().st_size / 1e6:.2f} MB ({so.name})")


if __name__ == "__main__":
    main()
