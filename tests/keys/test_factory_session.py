"""The factory flow from the command line alone, then a charging session with what it produced: `evcc keys
generate` + `csr` in the key store, the vehicle certificate issued from the request by `evcc pki sign-csr` or by
`openssl x509 -req`, `evcc keys import-cert`, then `evcc session --protocol iso20-dc --tls` (its own process in the
EV network namespace, the chain taken from the store) against our ISO 15118-20 SECC simulator across a veth pair,
which requires the vehicle certificate (TLS 1.3 mutual authentication) and trusts the test PKI's OEM root.
Key stores: a SoftHSM2 token (the key used through OpenSSL's pkcs11-provider), a TPM 2.0 on swtpm (through
tpm2-openssl) and the software store.

`--lab-tls13-p256` against a simulator whose TLS 1.3 is P-256 only (as Josev's): refused without the option (the
-20 groups and signature algorithms only), completed with it, and the report says so."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.tls import server_context13
from evcc.hsm.pkcs11_store import Pkcs11Config
from evcc.hsm.swtpm import Swtpm
from evcc.session import tls_openssl, tls_tpm
from evcc.session.tls13 import ISO20_TLS13, Tls13Profile
from tests.keys.conftest import VEHICLE_SUBJECT, evcc
from tests.keys.test_keys_cli import openssl_issue
from tests.session.test_session_cli import QUICK_CAR, check_complete, evcc_session
from tests.session.test_session_cli20 import Charger, run_against

P256_ONLY = Tls13Profile(groups=("prime256v1",), signature_algorithms=("ecdsa_secp256r1_sha256",))


def store_options(kind: str, tmp: Path, softhsm: Pkcs11Config, tcti: str | None = None) -> list[str]:
    if kind == "pkcs11":
        pin = tmp / "pin"
        pin.write_text(softhsm.user_pin + "\n")
        return ["--token", softhsm.token_label, "--pin-file", str(pin)]
    if kind == "tpm":
        assert tcti is not None
        (tmp / "tpm-keys").mkdir()
        return ["--tcti", tcti, "--tpm-keys", str(tmp / "tpm-keys")]
    folder, kek = tmp / "soft-keys", tmp / "kek.bin"
    folder.mkdir()
    kek.write_bytes(secrets.token_bytes(32))
    return ["--soft-keys", str(folder), "--kek-file", str(kek)]


def factory(options: list[str], pki: Path, tmp: Path, suite: str, issuer: str, netns: str | None = None) -> str:
    """What the factory line does, command by command (in network namespace ``netns``); returns the key's label."""
    with in_netns(netns):
        return _factory(options, pki, tmp, suite, issuer)


def _factory(options: list[str], pki: Path, tmp: Path, suite: str, issuer: str) -> str:
    label = f"vehicle-{uuid.uuid4().hex[:8]}"
    curve = "p256" if suite == "iso2" else "p521"
    csr, chain = tmp / "vehicle.csr", tmp / "vehicle.pem"
    steps: list[list[str | Path]] = [
        ["keys", "generate", label, "--curve", curve, *options],
        ["keys", "csr", label, "--subject", VEHICLE_SUBJECT, "--role", "vehicle", "--out", csr, *options],
    ]
    for step in steps:
        done = evcc(*step)
        assert done.status == 0, (step, done.err)
    if issuer == "evcc-pki":
        done = evcc("pki", "sign-csr", csr, "--pki", pki, "--role", "vehicle", "--out", chain)
        assert done.status == 0, done.err
    else:
        openssl_issue(csr, pki, suite, chain)
    done = evcc("keys", "import-cert", label, chain, "--root", pki / suite / "certs" / "oem_root.pem", *options)
    assert done.status == 0, done.err
    return label


def charger(pki: Path, suite: str, profile: Tls13Profile = ISO20_TLS13) -> Charger:
    base = pki / suite
    return Charger(tls=server_context13(base / "chains" / "secc_leaf.pem", base / "keys" / "secc_leaf.key",
                                        [base / "certs" / "oem_root.pem"], profile))


@pytest.fixture(params=["pkcs11", "tpm", "soft"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "pkcs11" and not tls_openssl.pkcs11_provider_installed():
        pytest.fail("OpenSSL pkcs11-provider missing: scripts/setup installs it (bookworm-backports)")
    if request.param == "tpm" and not tls_tpm.tpm2_provider_installed():
        pytest.fail("OpenSSL tpm2 provider missing: scripts/setup installs tpm2-openssl")
    return str(request.param)


@pytest.fixture()
def options(kind: str, tmp_path: Path, softhsm_config: Pkcs11Config, veth: VethLink) -> Iterator[list[str]]:
    """The store's options; a TPM is a private swtpm in the EV namespace (its TCP port is on that namespace's
    loopback, where `evcc session` runs), and every `evcc keys` command runs there too (factory())."""
    if kind != "tpm":
        yield store_options(kind, tmp_path, softhsm_config)
        return
    with in_netns(veth.ev_netns):
        tpm = Swtpm(tmp_path / "swtpm")
        tcti = tpm.start()
    try:
        yield store_options(kind, tmp_path, softhsm_config, tcti)
    finally:
        with in_netns(veth.ev_netns):
            tpm.close()


@pytest.mark.parametrize("issuer", ["evcc-pki", "openssl"])
def test_factory_flow_then_iso20_dc_session_over_tls13(veth: VethLink, tmp_path: Path, pki: Path, kind: str,
                                                       options: list[str], issuer: str) -> None:
    label = factory(options, pki, tmp_path, "iso20-p521", issuer, veth.ev_netns)
    run, record = run_against(veth, tmp_path, charger(pki, "iso20-p521"), "--protocol", "iso20-dc", "--tls",
                              "--v2g-root", str(pki / "iso20-p521" / "certs" / "v2g_root.pem"),
                              "--vehicle-key", label, *options, *QUICK_CAR)
    check_complete(run)
    assert run.report["tls_version"] == "TLSv1.3" and run.report["tls_cipher"] == "TLS_AES_256_GCM_SHA384"
    source = run.report["tls_client_key"]
    assert label in source and {"pkcs11": "pkcs11-provider", "tpm": "tpm2-openssl", "soft": "software key store"}[kind] in source
    assert run.report["lab_tls13_p256"] is False and "LAB:" not in run.stdout
    assert record.negotiated == ["iso20-dc"] and not record.errors


def test_lab_tls13_p256_against_a_p256_only_charger(veth: VethLink, tmp_path: Path, pki: Path,
                                                    softhsm_config: Pkcs11Config) -> None:
    options = store_options("pkcs11" if tls_openssl.pkcs11_provider_installed() else "soft", tmp_path,
                            softhsm_config)
    label = factory(options, pki, tmp_path, "iso2", "evcc-pki")
    args = ["--protocol", "iso20-dc", "--tls", "--v2g-root", str(pki / "iso2" / "certs" / "v2g_root.pem"),
            "--vehicle-key", label, *options, *QUICK_CAR]
    run, _ = run_against(veth, tmp_path, charger(pki, "iso2", P256_ONLY), *args)
    assert run.status == 1 and run.report["outcome"] == "connection failed", (run.stdout, run.stderr)
    run, _ = run_against(veth, tmp_path, charger(pki, "iso2", P256_ONLY), *args, "--lab-tls13-p256")
    check_complete(run)
    assert run.report["tls_version"] == "TLSv1.3" and run.report["lab_tls13_p256"] is True
    assert "LAB: TLS 1.3 also offered prime256v1 / ecdsa_secp256r1_sha256" in run.stdout


def test_session_without_a_stored_certificate_names_the_key(veth: VethLink, tmp_path: Path, pki: Path,
                                                            softhsm_config: Pkcs11Config) -> None:
    options = store_options("soft", tmp_path, softhsm_config)
    label = f"bare-{uuid.uuid4().hex[:8]}"
    assert evcc("keys", "generate", label, "--curve", "p521", *options).status == 0
    run, _ = run_against(veth, tmp_path, Charger(), "--protocol", "iso20-dc", "--tls", "--v2g-root",
                         str(pki / "iso20-p521" / "certs" / "v2g_root.pem"), "--vehicle-key", label, *options)
    assert run.status == 2 and f"--vehicle-key {label}: no certificate stored" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr



def test_session_takes_the_store_from_the_configuration_as_keys_does(veth: VethLink, tmp_path: Path, pki: Path,
                                                                     softhsm_config: Pkcs11Config) -> None:
    """`--config evcc.toml` names the store for both commands (its [hsm] section: here the software store)."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "kek.bin").write_bytes(secrets.token_bytes(32))
    cfg = tmp_path / "evcc.toml"
    cfg.write_text(f'[plc]\ninterface = "ev0"\n[hsm]\nkind = "soft"\ndirectory = "{tmp_path / "keys"}"\n'
                   f'kek_file = "{tmp_path / "kek.bin"}"\n')
    label = factory(["--config", str(cfg)], pki, tmp_path, "iso20-p521", "evcc-pki", veth.ev_netns)
    run, _ = run_against(veth, tmp_path, charger(pki, "iso20-p521"), "--protocol", "iso20-dc", "--tls",
                         "--v2g-root", str(pki / "iso20-p521" / "certs" / "v2g_root.pem"), "--vehicle-key", label,
                         "--config", str(cfg), *QUICK_CAR)
    check_complete(run)
    assert "software key store" in run.report["tls_client_key"] and label in run.report["tls_client_key"]
    both = asyncio.run(evcc_session(veth, tmp_path, "--iface", "ev0", "--protocol", "iso20-dc", "--tls",
                                    "--v2g-root", str(pki / "iso20-p521" / "certs" / "v2g_root.pem"),
                                    "--vehicle-key", label, "--config", str(cfg), "--soft-keys", str(tmp_path)))
    assert both.status == 2 and "give the configuration or the key store's options, not both" in both.stderr
