"""Bad input to `evcc keys` on every key store: a certificate that does not match its key, a chain that does not
verify to the given roots, a request subject that is not a PCID / vehicle name, a label that exists, a locked or
absent store, an unreadable chain, a deletion nobody confirmed. Each: exit 2, one line naming the key and the cause,
no traceback, and the store exactly as before (every file / every token object compared)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.keys.conftest import PCID_SUBJECT, VEHICLE_SUBJECT, Done, Store, evcc


def refused(done: Done, label: str, cause: str) -> None:
    assert done.status == 2, (done.out, done.err)
    assert "Traceback" not in done.err, done.err
    lines = done.error_lines()
    assert len(lines) == 1, done.err
    assert label in lines[0] and cause in lines[0], lines[0]


@pytest.fixture()
def vehicle(store: Store, pki: Path, tmp_path: Path) -> str:
    """A P-256 key with a request and its certificate issued (not imported): ``tmp_path/chain.pem``."""
    label = store.label("vehicle")
    assert evcc("keys", "generate", label, "--curve", "p256", *store.options).status == 0
    csr = tmp_path / "v.csr"
    assert evcc("keys", "csr", label, "--subject", VEHICLE_SUBJECT, "--role", "vehicle", "--out", csr,
                *store.options).status == 0
    assert evcc("pki", "sign-csr", csr, "--pki", pki, "--role", "vehicle", "--out", tmp_path / "chain.pem").status == 0
    return label


def test_certificate_of_another_key_is_refused(store: Store, vehicle: str, pki: Path) -> None:
    before = store.snapshot()
    other = pki / "iso2" / "chains" / "vehicle_leaf.pem"  # the test PKI's own vehicle key
    refused(evcc("keys", "import-cert", vehicle, other, *store.options), vehicle, "does not match the key")
    assert store.snapshot() == before


def test_chain_that_does_not_verify_to_the_roots_is_refused(store: Store, vehicle: str, pki: Path,
                                                            tmp_path: Path) -> None:
    before = store.snapshot()
    wrong_root = pki / "iso2" / "certs" / "v2g_root.pem"
    refused(evcc("keys", "import-cert", vehicle, tmp_path / "chain.pem", "--root", wrong_root, *store.options),
            vehicle, "does not verify to the configured roots")
    leaf_only = tmp_path / "leaf.pem"  # the Sub-CAs left out: the leaf's issuer is not a root either
    leaf_only.write_text(
        (tmp_path / "chain.pem").read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    refused(evcc("keys", "import-cert", vehicle, leaf_only, "--root", pki / "iso2" / "certs" / "oem_root.pem",
                 *store.options), vehicle, "does not verify to the configured roots")
    assert store.snapshot() == before


def test_vehicle_certificate_imported_as_oem_provisioning_is_refused(store: Store, vehicle: str,
                                                                      tmp_path: Path) -> None:
    before = store.snapshot()
    refused(evcc("keys", "import-cert", vehicle, tmp_path / "chain.pem", "--role", "oem-provisioning",
                 *store.options), vehicle, "lacks keyAgreement")
    assert store.snapshot() == before


@pytest.mark.parametrize("role, subject, cause", [
    ("oem-provisioning", "CN=WMI-EVCC-TEST-17,O=evcc test OEM,C=DE,DC=OEM", "must be the PCID"),
    ("oem-provisioning", "CN=wmievcctest0000017", "must be the PCID"),
    ("oem-provisioning", "O=evcc test OEM,C=DE", "has no CN"),
    ("vehicle", "CN=my car", "is not 1..64 letters"),
    ("vehicle", "no equals sign", "is not an RFC 4514 name"),
])
def test_request_subject_not_a_pcid_or_vehicle_name(store: Store, vehicle: str, tmp_path: Path, role: str,
                                                    subject: str, cause: str) -> None:
    before = store.snapshot()
    out = tmp_path / "bad.csr"
    refused(evcc("keys", "csr", vehicle, "--subject", subject, "--role", role, "--out", out, *store.options),
            vehicle, cause)
    assert not out.exists() and store.snapshot() == before


def test_label_that_exists_is_refused(store: Store, vehicle: str) -> None:
    before = store.snapshot()
    refused(evcc("keys", "generate", vehicle, "--curve", "p521", *store.options), vehicle, "exists")
    assert store.snapshot() == before


def test_unknown_label_unreadable_chain_and_unconfirmed_delete(store: Store, vehicle: str, tmp_path: Path) -> None:
    before = store.snapshot()
    missing = store.label("missing")
    refused(evcc("keys", "import-cert", missing, tmp_path / "chain.pem", *store.options), missing, "no key")
    refused(evcc("keys", "csr", missing, "--subject", PCID_SUBJECT, "--role", "oem-provisioning", *store.options),
            missing, "no key")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    refused(evcc("keys", "import-cert", vehicle, garbage, *store.options), vehicle, "not a PEM or DER certificate")
    refused(evcc("keys", "import-cert", vehicle, tmp_path / "absent.pem", *store.options), vehicle,
            "No such file")
    refused(evcc("keys", "delete", vehicle, *store.options), vehicle, "give --yes")
    assert store.snapshot() == before


@pytest.mark.parametrize("store", ["pkcs11", "soft"], indirect=True)  # a TPM store has no lock of its own here
def test_locked_store_is_refused(store: Store, tmp_path: Path) -> None:
    """A wrong PIN (PKCS#11), a KEK that does not open the folder's keys (software)."""
    label = store.label("locked")
    if store.kind == "pkcs11":
        pin = tmp_path / "wrong-pin"
        pin.write_text("999999\n")
        options = [*store.options[:2], "--pin-file", str(pin)]
        cause = "login"
    else:
        assert evcc("keys", "generate", store.label("present"), "--curve", "p256", *store.options).status == 0
        kek = tmp_path / "other-kek.bin"
        kek.write_bytes(secrets.token_bytes(32))
        options = [*store.options[:2], "--kek-file", str(kek)]
        cause = "another KEK"
    before = store.snapshot()
    refused(evcc("keys", "generate", label, "--curve", "p256", *options), label, cause)
    assert store.snapshot() == before


def test_absent_store_is_refused(store: Store, tmp_path: Path) -> None:
    label = store.label("absent")
    if store.kind == "pkcs11":
        options, cause = ["--token", "no-such-token", *store.options[2:]], "no-such-token"
    elif store.kind == "tpm":
        options, cause = ["--tcti", "swtpm:host=127.0.0.1,port=1", *store.options[2:]], "TPM"
    else:
        options, cause = ["--soft-keys", str(tmp_path / "nowhere"), *store.options[2:]], "does not exist"
    before = store.snapshot()
    refused(evcc("keys", "generate", label, "--curve", "p256", *options), label, cause)
    folder = ["--tpm-keys" if store.kind == "tpm" else "--soft-keys", str(tmp_path / "nowhere")]
    if store.kind != "pkcs11":
        refused(evcc("keys", "list", *store.options[:2 if store.kind == "tpm" else 0], *folder,
                     *([] if store.kind == "tpm" else store.options[2:])), "keys list", "does not exist")
        assert not (tmp_path / "nowhere").exists()
    assert store.snapshot() == before


def test_store_options_of_two_kinds_or_none(tmp_path: Path) -> None:
    refused(evcc("keys", "list", "--token", "t", "--soft-keys", str(tmp_path)), "keys list", "more than one key store")
    refused(evcc("keys", "list"), "keys list", "no key store")
    refused(evcc("keys", "list", "--config", str(tmp_path / "evcc.toml"), "--token", "t"), "keys list",
            "not both")
