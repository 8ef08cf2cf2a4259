"""The README's key-store table, measured: every key store this project can use is probed
(:func:`evcc.hsm.capabilities.probe`) and each signing key is tried as a TLS client key in a real handshake
(TLS 1.2 ECDHE-ECDSA-AES128-SHA256 with a P-256 key; TLS 1.3 with the ISO 15118-20 profile and a P-521 or Ed448
key), then written as a Markdown table between two markers in README.md.

Stores: SoftHSM2 (PKCS#11), tpm2-pkcs11 over swtpm + tpm2-abrmd (PKCS#11), the TPM 2.0 key store over swtpm
(tpm2-pytss; TLS through tpm2-openssl), the software store (bench only).

    python3 -m tests.hsm.store_table --write     # measure and rewrite the README table
    tests/hsm/test_capabilities_table.py         # measure and fail if the README table differs
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
import sys
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from evcc.bench.secc.tls import server_context13
from evcc.errors import EvccError
from evcc.hsm.capabilities import StoreCapabilities, TlsProber, probe
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore, UncheckedToken
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.hsm.softhsm import init_softhsm
from evcc.hsm.swtpm import Swtpm
from evcc.pki.profiles import Suite
from evcc.session.connection import V2G_TLS12_CIPHER, TlsConfig, TlsVersion, prepare
from evcc.session.tls13 import ClientCertificate, SoftStoreKey, TokenKey, TpmKey, VehicleKey, load_client_certificate

from tests.hsm.tpm2_pkcs11_env import Tpm2Worker, shared_bench
from tests.session.tls_pki import Iso20Pki, make_iso20_pki, make_pki

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- key-store table: measured by tests/hsm/store_table.py, do not edit by hand -->"
END = "<!-- end of key-store table -->"
NAMES = {KeyAlgorithm.EC_P256: "P-256", KeyAlgorithm.EC_P521: "P-521", KeyAlgorithm.ED448: "Ed448",
         KeyAlgorithm.X448: "X448"}
ORDER = (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P521, KeyAlgorithm.ED448, KeyAlgorithm.X448)


def _cell(algorithms: frozenset[KeyAlgorithm] | None) -> str:
    if algorithms is None:
        return "not measured"
    return ", ".join(NAMES[a] for a in ORDER if a in algorithms) or "no"


def table(rows: list[tuple[str, StoreCapabilities]]) -> str:
    head = ("| key store | keygen | sign | ECDH | contract import | TLS 1.2 client key | TLS 1.3 client key (-20 profile) |\n"
            "|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {name} | {_cell(c.keygen)} | {_cell(c.sign)} | {_cell(c.ecdh)} | {_cell(c.contract_import)} | "
        f"{_cell(c.tls12)} | {_cell(c.tls13)} |\n" for name, c in rows)


def readme_table(text: str) -> str:
    """The table between the markers in README text ('' if the markers are missing)."""
    if BEGIN not in text or END not in text:
        return ""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_readme(measured: str, path: Path = README) -> None:
    text = path.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{path}: no line {BEGIN!r} to put the table after")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1] if END in rest else rest
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{before}{BEGIN}\n{measured}{END}{after}")
    tmp.replace(path)


class TlsTrial:
    """Real handshakes with a store's key as client key: TLS 1.2 (P-256) and the -20 TLS 1.3 profile."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pki = {Suite.ISO20_P521: make_iso20_pki(folder / "p521", Suite.ISO20_P521),
                    Suite.ISO20_ED448: make_iso20_pki(folder / "ed448", Suite.ISO20_ED448)}
        self.secc12 = make_pki(folder / "secc12")

    def prober(self, key_of: dict[str, object]) -> TlsProber:
        """``key_of``: how to name a store's key to OpenSSL: {"pkcs11": Pkcs11Config} | {"tpm": tcti} | {}."""

        def attempt(store: KeyStore, label: str, algorithm: KeyAlgorithm, version: str) -> str | None:
            key: VehicleKey
            if "pkcs11" in key_of:
                config = key_of["pkcs11"]
                assert isinstance(config, Pkcs11Config)
                key = TokenKey(config, label)
            elif "tpm" in key_of:
                key_file = getattr(store, "key_file")  # TpmKeyStore.key_file
                key = TpmKey(str(key_of["tpm"]), key_file(label), label)
            else:
                assert isinstance(store, SoftKeyStore)
                key = SoftStoreKey(store, label)
            try:
                if version == "1.2":
                    self._tls12(store.public_key(label), key)
                else:
                    self._tls13(store.public_key(label), algorithm, key)
            except (EvccError, ssl.SSLError, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

        return attempt

    def _tls13(self, public: bytes, algorithm: KeyAlgorithm, key: VehicleKey) -> None:
        pki = self.pki[Suite.ISO20_ED448 if algorithm is KeyAlgorithm.ED448 else Suite.ISO20_P521]
        cert = ClientCertificate(pki.vehicle_chain(public, algorithm), key)
        server = server_context13(pki.secc_chain_pem, pki.secc_key_pem, [pki.oem_root])
        client = prepare(TlsConfig(v2g_roots=(pki.v2g_root,), version=TlsVersion.TLS13, client_certificate=cert))
        _handshake(server, client.context, cert)

    def _tls12(self, public: bytes, key: VehicleKey) -> None:
        pki = self.pki[Suite.ISO20_P521]
        cert = ClientCertificate(pki.vehicle_chain(public, KeyAlgorithm.EC_P256), key)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.minimum_version = server.maximum_version = ssl.TLSVersion.TLSv1_2
        server.set_ciphers(V2G_TLS12_CIPHER)
        server.load_cert_chain(str(self.secc12.chain_pem), str(self.secc12.key_pem))
        server.verify_mode = ssl.CERT_REQUIRED
        server.load_verify_locations(cadata=pki.oem_root.public_bytes(Encoding.PEM).decode())
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.minimum_version = client.maximum_version = ssl.TLSVersion.TLSv1_2
        client.set_ciphers(V2G_TLS12_CIPHER)
        client.check_hostname = False
        client.load_verify_locations(cadata=self.secc12.root.public_bytes(Encoding.PEM).decode())
        load_client_certificate(client, cert)
        _handshake(server, client, cert)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, cert: ClientCertificate) -> None:
    """One handshake on loopback; the server must have seen the vehicle certificate."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes | None] = []

    def serve() -> None:
        try:
            raw, _ = listener.accept()
            raw.settimeout(30)
            with server.wrap_socket(raw, server_side=True) as tls:
                seen.append(tls.getpeercert(binary_form=True))
                tls.sendall(tls.recv(1))
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client.wrap_socket(socket.create_connection(listener.getsockname(), timeout=30)) as tls:
            tls.sendall(b"x")
            tls.recv(1)
    finally:
        thread.join(30)
        listener.close()
    leaf = cert.chain[0]
    if not seen or seen[0] != leaf.public_bytes(Encoding.DER):  # type: ignore[union-attr]
        raise OSError("the server did not receive the vehicle certificate")


SOFTHSM, TPM2_PKCS11 = "SoftHSM2 2.6.1 (PKCS#11)", "tpm2-pkcs11 1.9 over swtpm + tpm2-abrmd (PKCS#11)"
TPM, SOFT = "TPM 2.0 key store over swtpm (TpmKeyStore; TLS via tpm2-openssl)", "software store (bench only)"


def _row(name: str, store: KeyStore, key_of: dict[str, object], trial: TlsTrial) -> StoreCapabilities:
    # A token as it is (UncheckedToken): what it does per operation, not what the store then offers.
    tried = UncheckedToken(store) if isinstance(store, Pkcs11KeyStore) else store
    return probe(tried, tls=trial.prober(key_of), name=name)


def tpm2_pkcs11_row(folder: str) -> StoreCapabilities:
    """The tpm2-pkcs11 row, measured in the tpm2-pkcs11 worker process (tests/hsm/tpm2_pkcs11_env)."""
    bench = shared_bench()
    token = Pkcs11KeyStore(bench.config)
    try:
        return _row(TPM2_PKCS11, token, {"pkcs11": bench.config}, TlsTrial(Path(folder)))
    finally:
        token.close()


def measure(folder: Path) -> str:
    trial = TlsTrial(folder / "tls")
    with contextlib.ExitStack() as stack:
        softhsm = init_softhsm(folder / "softhsm")
        token = Pkcs11KeyStore(softhsm)
        stack.callback(token.close)
        rows = [(SOFTHSM, _row(SOFTHSM, token, {"pkcs11": softhsm}, trial))]
        with Tpm2Worker() as worker:
            rows.append((TPM2_PKCS11, worker.call(tpm2_pkcs11_row, str(folder / "tls-tpm2-pkcs11"))))
        from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore

        tpm = stack.enter_context(Swtpm(folder / "swtpm"))
        tpm_store = TpmKeyStore(TpmConfig(tpm.tcti, folder / "tpm-keys"))
        stack.callback(tpm_store.close)
        rows.append((TPM, _row(TPM, tpm_store, {"tpm": tpm.tcti}, trial)))
        soft = SoftKeyStore(SoftKeyStoreConfig(folder / "soft", passphrase=b"store table"))
        rows.append((SOFT, _row(SOFT, soft, {}, trial)))
    return table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="evcc-store-table-") as tmp:
        measured = measure(Path(tmp))
    print(measured, end="")
    if args.write:
        write_readme(measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
