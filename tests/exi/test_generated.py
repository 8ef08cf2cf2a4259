"""The committed generated code is exactly what the generator makes from ../shared/schemas, and the stubs of the
native module and of the generated modules agree with the runtime (mypy's stubtest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.exi.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_the_schemas() -> None:
    if not (SHARED / "schemas").exists():
        pytest.skip(f"SKIPPED: {SHARED / 'schemas'} is absent, the generated code cannot be checked")
    out = subprocess.run([sys.executable, str(ROOT / "native" / "codegen" / "generate.py"), "--check",
                          "--schemas", str(SHARED / "schemas")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_generated_files_carry_the_header_and_schema_hashes() -> None:
    for path in [*(ROOT / "native/exi-core/src/generated").glob("*.rs"), *(ROOT / "evcc/exi/_generated").glob("*.py")]:
        head = path.read_text().splitlines()[0]
        assert "@generated" in head, path
    iso2 = (ROOT / "native/exi-core/src/generated/iso2.rs").read_text()
    assert "iso15118_2/V2G_CI_MsgBody.xsd" in iso2 and len(iso2.split("V2G_CI_MsgBody.xsd ")[1].split()[0]) == 64


def test_stubs_agree_with_the_runtime() -> None:
    modules = ["evcc._exi"] + [f"evcc.exi._generated.{m}" for m in
                               ("sap", "din", "iso2", "xmldsig", "iso20_common", "iso20_ac", "iso20_dc", "iso20_wpt",
                                "iso20_acdp")]
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", *modules], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
