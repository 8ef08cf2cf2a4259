"""Fuzz target ``py-bms-can``: the BMS CAN decoder and the bridge core behind it (dbc/evcc_bms.dbc, BMS.md;
evcc/bms_bridge/codec.py, core.py, vehicle.py).

Input layout: byte 0 = charge mode (bits 0-1), session charging (bit 2), contactors wanted (bit 3); then frames
until the input ends, each: a selector byte
(below the number of DBC frames: that frame's id; else up to 0xEF: an 11-bit id from the next 2 bytes; else a
29-bit extended id from the next 4), a length byte (bit 7 clear: 0-8 bytes, classic CAN; set: a CAN FD length up
to 64) and the data. Each frame goes to :meth:`BmsCodec.decode` (only BmsFrameError may come out; a decoded
frame must re-encode to the same values) and to :meth:`BridgeCore.receive_frame` with ``handle_timer``
and the vehicle port's reads (``frames_due`` once at the end), which must raise nothing at all (they drop bad
frames as events).
"""

from __future__ import annotations

from evcc.bms_bridge.codec import ChargeMode, load_codec
from evcc.bms_bridge.config import BridgeConfig, CanBusConfig
from evcc.bms_bridge.core import BridgeCore
from evcc.bms_bridge.errors import BmsFrameError
from evcc.bms_bridge.state import SessionStage, SessionStatus
from evcc.bms_bridge.vehicle import BridgeVehicle
from evcc.errors import EvccError

EXPECTED: tuple[type[BaseException], ...] = (BmsFrameError,)
MAX_LEN = 2048

CODEC = load_codec()
IDS = tuple(sorted(CODEC.by_id))
FD_LENGTHS = (12, 16, 20, 24, 32, 48, 64)
STEP_S = 0.01


class _Input:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    @property
    def left(self) -> bool:
        return self.pos < len(self.data)


def _frames(data: bytes) -> list[tuple[int, bytes, bool]]:
    src, frames = _Input(data), []
    while src.left:
        selector = src.take(1)[0]
        if selector < len(IDS):
            frame_id, extended = IDS[selector], False
        elif selector < 0xF0:
            frame_id, extended = int.from_bytes(src.take(2), "big") & 0x7FF, False
        else:
            frame_id, extended = int.from_bytes(src.take(4), "big") & 0x1FFFFFFF, True
        size = src.take(1)
        length = 0 if not size else (FD_LENGTHS[size[0] % len(FD_LENGTHS)] if size[0] & 0x80 else size[0] % 9)
        frames.append((frame_id, src.take(length), extended))
    return frames


def test_one(data: bytes) -> None:
    if not data:
        return
    mode = ChargeMode(data[0] & 0x03)
    core = BridgeCore(BridgeConfig(bus=CanBusConfig("virtual", "fuzz"), mode=mode), CODEC, started=0.0)
    vehicle = BridgeVehicle(core)
    core.set_session(SessionStatus(stage=SessionStage.CHARGING if data[0] & 0x04 else SessionStage.IDLE,
                                   energy_transfer=mode, contactors_wanted=bool(data[0] & 0x08)))
    now = 0.0
    for frame_id, payload, extended in _frames(data[1:]):
        now += STEP_S
        if not extended:
            try:
                name, values = CODEC.decode(frame_id, payload)
            except BmsFrameError:
                pass
            else:
                again = CODEC.decode(frame_id, CODEC.encode(name, values))[1]
                for signal in CODEC.message(name).signals:
                    assert abs(again[signal.name] - values[signal.name]) <= abs(signal.scale) / 2, (
                        f"{name}.{signal.name}: {values[signal.name]} re-encodes as {again[signal.name]}")
        try:
            core.receive_frame(frame_id, payload, now, extended)
            core.handle_timer(now)
            core.contactor_request()
            vehicle.dc_status(now), vehicle.dc_targets(now), vehicle.dc_limits()
            vehicle.ac_limits(), vehicle.bpt_limits(now)
        except EvccError as exc:
            raise AssertionError(f"the bridge core let {type(exc).__name__} escape: {exc}") from exc
    try:
        core.frames_due(now)  # what the bridge then sends (once per input: encoding is the slow part)
    except EvccError as exc:
        raise AssertionError(f"frames_due let {type(exc).__name__} escape: {exc}") from exc
