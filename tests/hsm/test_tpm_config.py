"""The daemon's ``[hsm] kind = "tpm"`` (evcc.app.config, evcc.app.compose.open_keystore): tcti and directory
read, each missing key named, the store opened on a real swtpm and usable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evcc.app.compose import open_keystore
from evcc.app.config import parse_config
from evcc.app.errors import AppConfigError
from evcc.hsm.hostcrypto import CURVES
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.tpm_store import TpmKeyStore

SRC = Path("/etc/evcc/evcc.toml")


def _doc(hsm: dict[str, Any]) -> dict[str, Any]:
    return {"plc": {"interface": "eth1"}, "hsm": hsm}


def test_tpm_section_is_read() -> None:
    cfg = parse_config(_doc({"kind": "tpm", "tcti": "device:/dev/tpmrm0", "directory": "tpm-keys"}), SRC)
    assert cfg.hsm.kind == "tpm" and cfg.hsm.tcti == "device:/dev/tpmrm0"
    assert cfg.hsm.directory == Path("/etc/evcc/tpm-keys")


@pytest.mark.parametrize(("hsm", "message"), [
    ({"kind": "tpm", "directory": "keys"}, '[hsm] tcti: missing (required for kind = "tpm")'),
    ({"kind": "tpm", "tcti": "device:/dev/tpmrm0"}, '[hsm] directory: missing (required for kind = "tpm")'),
    ({"kind": "tpm", "tcti": 5, "directory": "keys"}, "[hsm] tcti: expected a string, got 5"),
    ({"kind": "tmp"}, "[hsm] kind: 'tmp' is not one of pkcs11, tpm, soft"),
])
def test_tpm_section_errors_name_the_key(hsm: dict[str, Any], message: str) -> None:
    with pytest.raises(AppConfigError) as err:
        parse_config(_doc(hsm), SRC)
    assert message in str(err.value)


def test_open_keystore_opens_the_tpm(swtpm_tcti: str, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from evcc.hsm.hostcrypto import verify_raw

    (tmp_path / "keys").mkdir()
    cfg = parse_config(_doc({"kind": "tpm", "tcti": swtpm_tcti, "directory": str(tmp_path / "keys")}), SRC)
    store = open_keystore(cfg.hsm)
    try:
        assert isinstance(store, TpmKeyStore)
        info = store.generate("oem", KeyAlgorithm.EC_P256)
        public = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[KeyAlgorithm.EC_P256], info.public)
        assert verify_raw(public, b"m", store.sign("oem", b"m"))
    finally:
        store.close()
