"""Untrusted CAN input never escapes the bridge core or the bench battery (ARCHITECTURE.md "hostile input")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.bms_bridge.state import FrameRejected, InputFresh, InputStale, StopRequested

from .pair import CODEC, Pair

KNOWN_IDS = sorted(CODEC.by_id)
frame_ids = st.one_of(st.sampled_from(KNOWN_IDS), st.integers(0, 0x1FFFFFFF))
payloads = st.binary(min_size=0, max_size=64)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(frame_ids, payloads, st.booleans()), max_size=40))
def test_any_frames_in_any_order_give_only_bridge_events(frames: list[tuple[int, bytes, bool]]) -> None:
    pair = Pair(freshness=0.3)
    pair.run_until(0.2)
    now = pair.now
    for frame_id, data, extended in frames:
        now += 0.005
        for event in pair.core.receive_frame(frame_id, data, now, extended):
            assert isinstance(event, (FrameRejected, InputFresh, InputStale, StopRequested))
        pair.core.handle_timer(now)
        pair.bms.receive_frame(frame_id, data, now, extended)
    pair.vehicle.dc_status(now), pair.vehicle.dc_targets(now), pair.vehicle.dc_limits()
    pair.vehicle.ac_limits(), pair.vehicle.bpt_limits(now)


@given(st.sampled_from([CODEC.message(n) for n in CODEC.frames_of("BMS")]), st.integers(0, 7))
def test_a_wrong_length_is_rejected_by_name(msg: object, cut: int) -> None:
    from cantools.database.can import Message

    assert isinstance(msg, Message)
    pair = Pair()
    data = bytes(max(0, msg.length - 1 - cut))
    events = pair.core.receive_frame(int(msg.frame_id), data, 0.01)
    assert events == [FrameRejected(msg.name, f"{msg.name}: {len(data)} data bytes, expected {msg.length}")]


def test_own_unknown_and_extended_frames_are_ignored_silently() -> None:
    pair = Pair()
    assert pair.core.receive_frame(CODEC.frame_id("EVCC_Status"), bytes(8), 0.0) == []
    assert pair.core.receive_frame(0x123, b"\x01", 0.0) == []
    assert pair.core.receive_frame(CODEC.frame_id("BMS_Status"), bytes(8), 0.0, is_extended=True) == []
    assert pair.core.counters.unknown_frames == 1 and pair.core.values("BMS_Status") is None
