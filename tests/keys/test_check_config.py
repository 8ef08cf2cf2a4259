"""`evcc keys --config evcc.toml` (the store of [hsm], the key roles of [session] vehicle_key_label and [contracts]
oem_key_label, the expiry window of [contracts]) and `evcc run --check`, which reports a missing or mismatched key or
certificate by name and warns about OEM provisioning and vehicle certificates expiring within the window."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest

from tests.keys.conftest import PCID_SUBJECT, VEHICLE_SUBJECT, Done, evcc


def config(tmp: Path, pki: Path, window_days: int = 30, vehicle_chain: Path | None = None) -> Path:
    path = tmp / "evcc.toml"
    path.write_text(f"""
[plc]
interface = "lo"
[session]
protocols = ["iso20-dc"]
tls = true
v2g_roots = ["{pki / 'iso20-p521' / 'certs' / 'v2g_root.pem'}"]
vehicle_chain = "{vehicle_chain or tmp / 'vehicle.pem'}"
vehicle_key_label = "vehicle-{tmp.name[-8:]}"
[contracts]
directory = "{tmp / 'contracts'}"
expiry_window_days = {window_days}
oem_key_label = "oem-{tmp.name[-8:]}"
oem_cert = "{tmp / 'oem.pem'}"
[hsm]
kind = "soft"
directory = "{tmp / 'keys'}"
kek_file = "{tmp / 'kek.bin'}"
""")
    return path


def ok(done: Done) -> str:
    assert done.status == 0, (done.out, done.err)
    return done.out


@pytest.fixture()
def factory(tmp_path: Path, pki: Path) -> Path:
    """A car provisioned with `evcc keys --config` only: the OEM provisioning (P-521) and vehicle keys, their requests
    (the role from the configuration), certificates issued by the test PKI, imported."""
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    (folder / "keys").mkdir()
    (folder / "kek.bin").write_bytes(secrets.token_bytes(32))
    cfg = config(folder, pki)
    for name, subject, role in (("vehicle", VEHICLE_SUBJECT, "vehicle"), ("oem", PCID_SUBJECT, "oem-provisioning")):
        label = f"{name}-{folder.name[-8:]}"
        ok(evcc("keys", "generate", label, "--curve", "p521", "--config", cfg))
        ok(evcc("keys", "csr", label, "--subject", subject, "--out", folder / f"{name}.csr", "--config", cfg))
        ok(evcc("pki", "sign-csr", folder / f"{name}.csr", "--pki", pki, "--role", role, "--out",
                folder / f"{name}.pem"))
        ok(evcc("keys", "import-cert", label, folder / f"{name}.pem", "--root",
                pki / "iso20-p521" / "certs" / "oem_root.pem", "--config", cfg))
    return folder


def test_list_shows_the_roles_of_the_configuration(factory: Path, pki: Path) -> None:
    listing = ok(evcc("keys", "list", "--config", factory / "evcc.toml")).splitlines()
    tag = factory.name[-8:]
    vehicle = next(line for line in listing if line.startswith(f"vehicle-{tag} "))
    oem = next(line for line in listing if line.startswith(f"oem-{tag} "))
    assert " vehicle " in vehicle and "CN=WMIEVCCTESTVEHICLE" in vehicle and "EXPIRES SOON" not in vehicle
    assert " oem-provisioning " in oem and "CN=WMIEVCCTEST0000017" in oem
    config(factory, pki, window_days=3650)  # certificates of 4 years: inside a 10-year window
    listing = ok(evcc("keys", "list", "--config", factory / "evcc.toml")).splitlines()
    assert all(line.endswith("EXPIRES SOON") for line in listing[1:]), listing


def test_run_check_accepts_the_provisioned_car(factory: Path) -> None:
    out = ok(evcc("run", "--check", "--config", factory / "evcc.toml"))
    assert out.strip().endswith(": valid") and "warning" not in out


def test_run_check_warns_about_certificates_expiring_within_the_window(factory: Path, pki: Path) -> None:
    out = ok(evcc("run", "--check", "--config", config(factory, pki, window_days=3650)))
    warnings = [line for line in out.splitlines() if ": warning: " in line]
    tag = factory.name[-8:]
    assert any("vehicle certificate" in w and f"vehicle-{tag}" in w and "expires" in w for w in warnings), out
    assert any("OEM provisioning certificate" in w and f"oem-{tag}" in w for w in warnings), out
    assert out.strip().endswith(": valid")


def test_run_check_names_a_missing_key(factory: Path) -> None:
    cfg = factory / "evcc.toml"
    tag = factory.name[-8:]
    ok(evcc("keys", "delete", f"oem-{tag}", "--yes", "--config", cfg))
    done = evcc("run", "--check", "--config", cfg)
    assert done.status == 2 and "Traceback" not in done.err, done.err
    assert f"[contracts] oem_key_label 'oem-{tag}': no such key" in done.err


def test_run_check_names_a_certificate_of_another_key(factory: Path, pki: Path) -> None:
    other = pki / "iso20-p521" / "chains" / "vehicle_leaf.pem"
    cfg = config(factory, pki, vehicle_chain=other)
    done = evcc("run", "--check", "--config", cfg)
    assert done.status == 2, (done.out, done.err)
    assert f"[session] vehicle_chain {other}: vehicle certificate" in done.err
    assert f"does not match key 'vehicle-{factory.name[-8:]}'" in done.err and "valid" not in done.out
