"""EXI codec benchmark (issues 2 and 17): figures and ratios, no assertions.

    python3 benchmarks/exi_bench.py [--callgrind] [--c-bench PATH]

From Python: median decode and encode time of -2 SessionSetupReq, -2 CurrentDemandReq, -20 DC_ChargeLoopReq,
a -2 PaymentDetailsReq with a contract chain (~1.9 kB) and a CertificateInstallationRes (~4 kB); the same for the
Rust core alone (native/exi-core/examples/bench.rs); for the four messages of issue 17 the ratio of the Rust core
and of Python to the C reference (libcbv2g) and of Python to the Rust core; allocations per decode; the import
time of evcc.exi and the extension's size. Wall-clock figures depend on the machine's load (a shared 2-core
machine varies by 2x and more): `--callgrind` also counts instructions per operation under valgrind (repeatable
under load) of the Rust core and of the Python calls (`exi.decode`/`exi.encode`, hash seed fixed), and prints the
ratios core/C and Python/core from them.

C reference (libcbv2g at EVerest/libcbv2g 54fed4d, built with gcc -O3, the same bytes; a small harness outside this
repository: decode_iso2_exiDocument / decode_iso20_dc_exiDocument into a static struct, encode into a 16 kB buffer,
medians of 31 batches of 2,000, and under callgrind the difference of two batch sizes). The nanoseconds are the
issue 17 table (2 vCPU of this machine kind, idle); every message re-encodes byte-identically with libcbv2g.
`--c-bench PATH` runs such a harness (stdin `name<TAB>grammar<TAB>hex` lines, stdout `name<TAB>decode ns<TAB>encode ns`
lines, like examples/bench.rs) on the same bytes in the same run and uses its figures instead of the table's.
Targets: Rust core <= C on every row; Python <= 3x the Rust core on the small messages.
References: Josev (EXIficient in a JVM) 6-15 ms per message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evcc import exi  # noqa: E402
from evcc.exi import iso2, iso20_dc  # noqa: E402

# name -> (decode ns, encode ns, decode instructions, encode instructions) of libcbv2g -O3 (see the docstring).
C_REFERENCE: dict[str, tuple[float, float, int, int]] = {
    "-2 CurrentDemandReq": (732, 543, 11_416, 9_787),
    "-20 DC_ChargeLoopReq": (489, 391, 6_575, 5_751),
    "-2 PaymentDetailsReq": (22_589, 15_153, 291_567, 261_413),
    "-2 CertificateInstallationRes": (51_185, 34_712, 617_975, 552_682),
}
SMALL = ("-2 CurrentDemandReq", "-20 DC_ChargeLoopReq")

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


def python_blocks(grammar: str, data: bytes) -> int:
    """Memory blocks (pymalloc and the objects' allocations) a decoded value keeps alive: its allocations."""
    exi.decode(grammar, data)
    before = sys.getallocatedblocks()
    value = exi.decode(grammar, data)
    after = sys.getallocatedblocks()
    del value
    return after - before


def rust_core(rows: list[tuple[str, str, bytes]]) -> dict[str, tuple[float, float, int]]:
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
        name, dec, enc, blocks = line.split("\t")
        res[name] = (float(dec) / 1000, float(enc) / 1000, int(blocks))
    return res


def c_bench(rows: list[tuple[str, str, bytes]]) -> dict[str, tuple[float, float]]:
    """Live figures of an external C harness (`--c-bench PATH`), ns per operation; {} without one."""
    if "--c-bench" not in sys.argv:
        return {}
    exe = sys.argv[sys.argv.index("--c-bench") + 1]
    feed = "".join(f"{n}\t{g}\t{d.hex()}\n" for n, g, d in rows if n in C_REFERENCE)
    out = subprocess.run([exe], input=feed, capture_output=True, text=True)
    res = {}
    for line in out.stdout.splitlines():
        cols = line.split("\t")
        res[cols[0]] = (float(cols[1]), float(cols[2]))
    return res


def callgrind_per_op(cmd_of: Callable[[int], list[str]], runs: tuple[int, int],
                     env_of: Callable[[int], dict[str, str]], stdin: str | None = None) -> int | None:
    """Instructions per operation under callgrind: the difference of two run lengths, divided by it; None
    without valgrind or when callgrind printed no total."""
    counts = []
    for n in runs:
        try:
            out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd_of(n)],
                                 input=stdin, capture_output=True, text=True, env=env_of(n))
        except FileNotFoundError:
            return None
        found = [ln for ln in out.stderr.splitlines() if "Collected" in ln]
        if not found:
            return None
        counts.append(int(found[0].split()[-1]))
    return (counts[1] - counts[0]) // (runs[1] - runs[0])


def core_instructions(name: str, grammar: str, data: bytes, side: str) -> int | None:
    """Instructions per operation of the Rust core (callgrind; difference of two batch sizes), None without
    valgrind."""
    exe = ROOT / "native/target/release/examples/bench"
    return callgrind_per_op(lambda n: [str(exe)], (20, 220),
                            lambda n: dict(os.environ, BENCH_ROUNDS="1", BENCH_BATCH=str(n), BENCH_ONLY=side),
                            stdin=f"{name}\t{grammar}\t{data.hex()}\n")


def python_loop(side: str, index: int, n: int) -> None:
    """`--loop SIDE INDEX N`: N calls of exi.decode or exi.encode on message INDEX (run under callgrind)."""
    name, grammar, msg = messages()[index]
    data = exi.encode(msg)  # type: ignore[arg-type]
    exi.decode(grammar, data)
    if side == "decode":
        for _ in range(n):
            exi.decode(grammar, data)
    else:
        for _ in range(n):
            exi.encode(msg)  # type: ignore[arg-type]


def python_instructions(index: int, side: str) -> int | None:
    """Instructions per exi.decode/exi.encode call from Python (callgrind; difference of two loop lengths, hash
    seed fixed so that dict layouts repeat), None without valgrind."""
    return callgrind_per_op(lambda n: [sys.executable, __file__, "--loop", side, str(index), str(n)], (100, 600),
                            lambda n: dict(os.environ, PYTHONHASHSEED="0"))


def main() -> None:
    if "--loop" in sys.argv:
        at = sys.argv.index("--loop")
        python_loop(sys.argv[at + 1], int(sys.argv[at + 2]), int(sys.argv[at + 3]))
        return
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
        print(f"\n{'Rust core alone':32s} {'decode us':>10s} {'encode us':>10s} {'heap blocks/decode':>19s}")
        for name, _, data in rows:
            d, e, b = core[name]
            print(f"{name:32s} {d:10.3f} {e:10.3f} {b:19d}")
        live_c = c_bench(rows)
        print(f"\nIssue 17: ns per operation decode / encode, ratio = this / C (<= 1.0 is the target for the core); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; C figures "
              + ("measured now (--c-bench)" if live_c else "from the issue 17 table"))
        print(f"{'message':30s} {'C (libcbv2g)':>15s} {'Rust core':>15s} {'core/C':>11s} {'Python':>15s} "
              f"{'py/C':>11s} {'py/core':>11s} {'alloc/dec core, py':>19s}")
        py_core: dict[str, tuple[float, float]] = {}
        for name, grammar, data in rows:
            if name not in C_REFERENCE:
                continue
            cd, ce = live_c.get(name, C_REFERENCE[name][:2])
            rd, re_, blocks = core[name][0] * 1000, core[name][1] * 1000, core[name][2]
            msg = next(m for n, _, m in messages() if n == name)
            n = 2000 if len(data) < 500 else 500
            pd = per_call(lambda d: exi.decode(grammar, d), data, n) * 1000
            pe = per_call(exi.encode, msg, n) * 1000
            py_core[name] = (pd / rd, pe / re_)
            print(f"{name:30s} {cd:7,.0f}/{ce:7,.0f} {rd:7,.0f}/{re_:7,.0f} {rd / cd:5.2f}/{re_ / ce:5.2f} "
                  f"{pd:7,.0f}/{pe:7,.0f} {pd / cd:5.2f}/{pe / ce:5.2f} {pd / rd:5.1f}/{pe / re_:5.1f} "
                  f"{blocks:9d}, {python_blocks(grammar, data):d}")
        small = [n for n, _, _ in rows if n in SMALL]
        print("Python / Rust core (wall, target <= 3.0 on the small messages): "
              + "; ".join(f"{n} decode {py_core[n][0]:.2f}, encode {py_core[n][1]:.2f}" for n in small))
        if "--callgrind" in sys.argv:
            print("\nInstructions per operation (callgrind), decode / encode; core/C and Python/core from them")
            print(f"{'message':30s} {'C':>17s} {'Rust core':>17s} {'core/C':>11s} {'Python':>17s} {'py/core':>11s}")
            for index, (name, grammar, data) in enumerate(rows):
                if name not in C_REFERENCE:
                    continue
                _, _, ci_d, ci_e = C_REFERENCE[name]
                rd_i = core_instructions(name, grammar, data, "decode")
                re_i = core_instructions(name, grammar, data, "encode")
                pd_i = python_instructions(index, "decode")
                pe_i = python_instructions(index, "encode")
                if rd_i is None or re_i is None or pd_i is None or pe_i is None:
                    print("valgrind not available")
                    break
                print(f"{name:30s} {ci_d:8,d}/{ci_e:8,d} {rd_i:8,d}/{re_i:8,d} {rd_i / ci_d:5.2f}/{re_i / ci_e:5.2f} "
                      f"{pd_i:8,d}/{pe_i:8,d} {pd_i / rd_i:5.2f}/{pe_i / re_i:5.2f}")
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
