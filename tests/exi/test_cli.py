"""`evcc exi decode|encode|replay` as a test engineer uses it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.exi.conftest import VECTORS

DIN_SDR = "809a0211d63f74d2297ac9119400"
DIN_SDR_JSON = ('{"V2G_Message":{"Header":{"SessionID":"4758FDD348A5EB24"},'
                '"Body":{"ServiceDiscoveryReq":{"ServiceCategory":"EVCharging"}}}}')


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evcc", "exi", *args], input=stdin, capture_output=True,
                          text=True, check=False)


def test_decode_and_encode() -> None:
    out = run("decode", "din", DIN_SDR)
    assert out.returncode == 0 and out.stdout.strip() == DIN_SDR_JSON
    out = run("encode", "din", "-", stdin=DIN_SDR_JSON)
    assert out.returncode == 0 and out.stdout.strip() == DIN_SDR


def test_decode_accepts_a_whole_v2gtp_frame() -> None:
    payload = bytes.fromhex(DIN_SDR)
    frame = bytes([0x01, 0xFE, 0x80, 0x01]) + len(payload).to_bytes(4, "big") + payload
    out = run("decode", "din", frame.hex())
    assert out.returncode == 0 and out.stdout.strip() == DIN_SDR_JSON


def test_errors_are_reported_not_raised() -> None:
    out = run("decode", "din", "81")
    assert out.returncode == 2 and "requires exactly 0x80" in out.stderr and "Traceback" not in out.stderr
    out = run("decode", "din", "zz")
    assert out.returncode == 2 and "not hexadecimal" in out.stderr


def test_replay_of_the_shared_captures() -> None:
    if not VECTORS.exists():
        pytest.skip("SKIPPED: ../shared/vectors is absent")
    out = run("replay", "--vectors", "--quiet", str(VECTORS))
    assert out.returncode == 0, out.stdout[-2000:]
    assert " 0 failed" in out.stdout
