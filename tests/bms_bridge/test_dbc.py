"""The DBC (dbc/evcc_bms.dbc) loads strictly, follows its own conventions, and the README is generated from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cantools

ROOT = Path(__file__).resolve().parents[2]
DBC = ROOT / "dbc" / "evcc_bms.dbc"


def _db() -> cantools.database.can.Database:
    db = cantools.database.load_file(str(DBC), strict=True)
    assert isinstance(db, cantools.database.can.Database)
    return db


def test_every_frame_is_cyclic_at_100_ms_with_11_bit_ids_in_its_range() -> None:
    db = _db()
    assert len(db.messages) == 12
    for msg in db.messages:
        assert msg.cycle_time == 100, msg.name
        assert not msg.is_extended_frame, msg.name
        sender = msg.senders[0]
        assert msg.name.startswith(sender + "_"), msg.name
        assert 0x6A0 <= msg.frame_id <= 0x6A6 if sender == "BMS" else 0x6B0 <= msg.frame_id <= 0x6B4
        for sig in msg.signals:
            assert sig.name.startswith(sender + "_"), sig.name
            assert sig.byte_order == "little_endian", sig.name
            assert sig.minimum is not None and sig.maximum is not None, sig.name


def test_both_directions_carry_a_protocol_version_and_an_alive_counter() -> None:
    db = _db()
    for frame, prefix in (("BMS_Status", "BMS"), ("EVCC_Status", "EVCC")):
        names = {s.name for s in db.get_message_by_name(frame).signals}
        assert {f"{prefix}_ProtocolVersion", f"{prefix}_AliveCounter"} <= names


def test_physical_ranges_fit_the_raw_bits() -> None:
    for msg in _db().messages:
        for sig in msg.signals:
            raw_lo = -(1 << (sig.length - 1)) if sig.is_signed else 0
            raw_hi = (1 << (sig.length - 1)) - 1 if sig.is_signed else (1 << sig.length) - 1
            lo, hi = sorted((raw_lo * sig.scale + sig.offset, raw_hi * sig.scale + sig.offset))
            assert sig.minimum is not None and sig.maximum is not None, f"{sig.name}: no DBC range"
            assert lo <= sig.minimum and sig.maximum <= hi + 1e-9, (sig.name, lo, hi)


def test_error_codes_are_the_iso_dc_ev_error_codes_of_the_vehicle_port() -> None:
    from typing import get_args

    from evcc.session.vehicle import EVErrorCode

    choices = _db().get_message_by_name("BMS_Status").get_signal_by_name("BMS_ErrorCode").choices
    assert choices is not None
    assert {str(v) for v in choices.values()} == set(get_args(EVErrorCode))


def test_readme_is_generated_from_the_dbc() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "dbc_readme.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    text = (ROOT / "dbc" / "README.md").read_text(encoding="utf-8")
    for msg in _db().messages:
        assert f"0x{msg.frame_id:03X} {msg.name}" in text
