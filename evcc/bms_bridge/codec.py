"""Frames of dbc/evcc_bms.dbc <-> checked signal values (cantools underneath).

Decoding is strict because the bus is untrusted (ARCHITECTURE.md "hostile input is normal"): the length must
equal the DBC length, every signal must lie inside its DBC range; otherwise :class:`BmsFrameError` names the
frame and the signal. Encoding clamps each value into its DBC range first (the session may hand over a
charger limit the DBC cannot carry), so it never fails on a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cantools
from cantools.database.can import Database, Message
from cantools.database.errors import Error as CantoolsError

from evcc.bms_bridge.errors import BmsFrameError, BridgeConfigError
from evcc.bms_bridge.modes import DEFAULT_DBC, REQUIRED_FRAMES, ChargeMode

__all__ = ["DEFAULT_DBC", "REQUIRED_FRAMES", "BmsCodec", "ChargeMode", "load_codec"]  # the modes re-exported

PROTOCOL_VERSION = 1
MAX_STANDARD_ID = 0x7FF

Values = dict[str, float]


EVCC_FRAMES = ("EVCC_Status", "EVCC_EvsePresent", "EVCC_EvseMaxLimits", "EVCC_EvseMinLimits", "EVCC_Diagnostics")


@dataclass(frozen=True)
class BmsCodec:
    """The loaded DBC. ``sender`` frames are the ones this side transmits; the others it receives."""

    db: Database
    by_id: Mapping[int, Message]

    def message(self, name: str) -> Message:
        return self.db.get_message_by_name(name)

    def frame_id(self, name: str) -> int:
        return int(self.message(name).frame_id)

    def frames_of(self, sender: str) -> tuple[str, ...]:
        return tuple(m.name for m in self.db.messages if sender in m.senders)

    def decode(self, frame_id: int, data: bytes) -> tuple[str, Values]:
        """Name and physical values of a known frame; :class:`BmsFrameError` for anything wrong."""
        msg = self.by_id.get(frame_id)
        if msg is None:
            raise BmsFrameError(f"unknown frame id 0x{frame_id:X}")
        if len(data) != msg.length:
            raise BmsFrameError(f"{msg.name}: {len(data)} data bytes, expected {msg.length}")
        try:
            raw = msg.decode(bytes(data), decode_choices=False, scaling=True)
        except (CantoolsError, ValueError) as exc:
            raise BmsFrameError(f"{msg.name}: undecodable: {exc}") from None
        if not isinstance(raw, dict):
            raise BmsFrameError(f"{msg.name}: container frames are not part of this DBC")
        values: Values = {}
        for sig in msg.signals:
            value = raw[sig.name]
            if not isinstance(value, (int, float)):
                raise BmsFrameError(f"{msg.name}.{sig.name}: not a number")
            lo, hi = sig.minimum, sig.maximum
            if (lo is not None and value < lo - 1e-9) or (hi is not None and value > hi + 1e-9):
                raise BmsFrameError(f"{msg.name}.{sig.name} = {value:g} outside {lo:g}..{hi:g} {sig.unit or ''}"
                                    .rstrip())
            values[sig.name] = float(value)
        return msg.name, values

    def encode(self, name: str, values: Mapping[str, float]) -> bytes:
        """Bytes of frame ``name``; missing signals are 0, every value clamped into its DBC range."""
        msg = self.message(name)
        clamped: dict[str, float] = {}
        for sig in msg.signals:
            value = float(values.get(sig.name, 0.0))
            if sig.minimum is not None:
                value = max(value, sig.minimum)
            if sig.maximum is not None:
                value = min(value, sig.maximum)
            clamped[sig.name] = round((value - sig.offset) / sig.scale) * sig.scale + sig.offset
        return bytes(msg.encode(clamped, scaling=True, strict=False))


def load_codec(path: Path = DEFAULT_DBC) -> BmsCodec:
    """Load and check the DBC (strict: overlapping signals or bad lengths are errors)."""
    try:
        db = cantools.database.load_file(str(path), database_format="dbc", strict=True)
    except (OSError, UnicodeDecodeError, CantoolsError) as exc:
        raise BridgeConfigError(f"bms_bridge.dbc: cannot load {path}: {exc}") from None
    if not isinstance(db, Database):
        raise BridgeConfigError(f"bms_bridge.dbc: {path} is not a CAN database")
    names = {m.name for m in db.messages}
    needed = {f for frames in REQUIRED_FRAMES.values() for f in frames} | set(EVCC_FRAMES) | {"BMS_Timing"}
    if needed - names:
        raise BridgeConfigError(f"bms_bridge.dbc: {path} lacks frames {sorted(needed - names)}")
    return BmsCodec(db=db, by_id={int(m.frame_id): m for m in db.messages})
