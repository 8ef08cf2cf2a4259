"""ISO 15118-20 TLS 1.3 mutual-authentication handshake time on loopback (issue 7 target: <= 15 ms with the vehicle
key in SoftHSM2).

The EV side is the product's code (evcc.session.connection.open_connection with one prepared context); the SECC is a
separate process (blocking OpenSSL sockets, the bench server context requiring a vehicle certificate), so the two
sides do not share a GIL. Two figures per key location:

* ``handshake``: TCP connect to the EV's side of the TLS 1.3 handshake done (CertificateVerify signed by the key);
* ``+ first echo``: the same plus one V2GTP message echoed back, i.e. the SECC has verified the vehicle chain;
* ``EV process CPU``: CPU time of the EV process per session (connect, handshake, echo, close), which a loaded
  machine does not inflate the way it inflates wall time.

Key locations: SoftHSM2 through OpenSSL's pkcs11-provider (P-521 and Ed448, when the provider is installed) and
the software key store (P-521). Prints medians, p90 and the ratio to the target; never asserts timings.

Run: python3 benchmarks/tls_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evcc.bench.secc.tls import server_context13  # noqa: E402
from evcc.hsm.keystore import KeyAlgorithm  # noqa: E402
from evcc.hsm.pkcs11_store import Pkcs11KeyStore  # noqa: E402
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig  # noqa: E402
from evcc.hsm.softhsm import init_softhsm  # noqa: E402
from evcc.pki.profiles import Suite  # noqa: E402
from evcc.session import tls_openssl, v2gtp  # noqa: E402
from evcc.session.connection import PreparedTls, TlsConfig, TlsVersion, open_connection, prepare  # noqa: E402
from evcc.session.tls13 import ClientCertificate, SoftStoreKey, TokenKey  # noqa: E402
from tests.session.tls_pki import Iso20Pki, make_iso20_pki  # noqa: E402

TARGET_MS = 15.0


def serve(chain: str, key: str, oem_root: str) -> None:
    """The SECC process: accept, handshake, echo one V2GTP message, close; forever (killed by the parent)."""
    ctx = server_context13(Path(chain), Path(key), [Path(oem_root)])
    listener = socket.create_server(("::1", 0), family=socket.AF_INET6, backlog=16)
    print(listener.getsockname()[1], flush=True)
    while True:
        raw, _ = listener.accept()
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio does on the EV side
        try:
            with ctx.wrap_socket(raw, server_side=True) as tls:
                header = read_exactly(tls, 8)
                tls.sendall(header + read_exactly(tls, int.from_bytes(header[4:], "big")))
                tls.recv(1)
        except (ssl.SSLError, OSError, EOFError) as exc:
            print(f"SECC: {exc}", file=sys.stderr)


def read_exactly(tls: ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = tls.recv(n - len(data))
        if not chunk:
            raise EOFError("the EV closed the connection")
        data += chunk
    return data


async def one(port: int, tls: PreparedTls) -> tuple[float, float]:
    t0 = time.perf_counter()
    conn = await open_connection("::1", port, tls=tls)
    t1 = time.perf_counter()
    conn.send(v2gtp.EXI_ENCODED, b"\x80\x20")
    if await conn.receive(5.0) is None:
        raise RuntimeError("the SECC did not echo")
    t2 = time.perf_counter()
    conn.close()
    return t1 - t0, t2 - t0


def measure(pki: Iso20Pki, folder: Path, cert: ClientCertificate, rounds: int
            ) -> tuple[list[float], list[float], float]:
    (folder / "oem_root.pem").write_bytes(pki.oem_root.public_bytes(Encoding.PEM))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(pki.secc_chain_pem), str(pki.secc_key_pem),
         str(folder / "oem_root.pem")], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        tls = prepare(TlsConfig(v2g_roots=(pki.v2g_root,), version=TlsVersion.TLS13, client_certificate=cert))

        async def run() -> tuple[list[float], list[float], float]:
            hs: list[float] = []
            echo: list[float] = []
            for i in range(rounds + 3):
                if i == 3:  # after the warm-up
                    cpu = time.process_time()
                a, b = await one(port, tls)
                if i >= 3:
                    hs.append(a)
                    echo.append(b)
            return hs, echo, (time.process_time() - cpu) / rounds

        return asyncio.run(run())
    finally:
        server.kill()
        server.wait()


def report(name: str, samples: list[float]) -> None:
    m = statistics.median(samples) * 1000
    p90 = sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000
    print(f"{name:58s} median {m:7.2f} ms  p90 {p90:7.2f} ms  target {TARGET_MS:4.1f} ms  ratio {m / TARGET_MS:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--serve", nargs=3, metavar=("CHAIN", "KEY", "OEM_ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    print(f"TLS 1.3 mutual handshake, EV <-> SECC process on ::1, {args.rounds} rounds, {ssl.OPENSSL_VERSION}")
    with tempfile.TemporaryDirectory(prefix="evcc-tls-bench-") as tmp:
        base = Path(tmp)
        config = init_softhsm(base / "softhsm")
        cases: list[tuple[str, Suite, KeyAlgorithm, str]] = []
        if tls_openssl.pkcs11_provider_installed():
            cases += [("SoftHSM2 via pkcs11-provider, P-521", Suite.ISO20_P521, KeyAlgorithm.EC_P521, "token"),
                      ("SoftHSM2 via pkcs11-provider, Ed448", Suite.ISO20_ED448, KeyAlgorithm.ED448, "token")]
        else:
            print("pkcs11-provider not installed: token cases skipped (scripts/setup.d/35-tls.sh)")
        cases.append(("software key store, P-521", Suite.ISO20_P521, KeyAlgorithm.EC_P521, "soft"))
        soft = SoftKeyStore(SoftKeyStoreConfig(base / "soft", passphrase=b"bench"))
        for i, (name, suite, algorithm, where) in enumerate(cases):
            folder = base / f"case{i}"
            pki = make_iso20_pki(folder, suite)
            label = f"vehicle-bench-{i}"
            cert: ClientCertificate
            if where == "token":
                store = Pkcs11KeyStore(config)
                info = store.generate(label, algorithm)
                store.close()
                cert = ClientCertificate(pki.vehicle_chain(info.public, algorithm), TokenKey(config, label))
            else:
                info = soft.generate(label, algorithm)
                cert = ClientCertificate(pki.vehicle_chain(info.public, algorithm), SoftStoreKey(soft, label))
            hs, echo, cpu = measure(pki, folder, cert, args.rounds)
            report(f"{name}: handshake", hs)
            report(f"{name}: handshake + first echo", echo)
            print(f"{name + ': EV process CPU per session':58s} {cpu * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
