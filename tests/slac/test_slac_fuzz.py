"""Hostile input never escapes the EV SLAC machine, and the frame parser raises only FrameError (ISO 15118-3
Annex A frames: short, long, wrong MMV, wrong RunID, mutated)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from slac_harness import EV_MAC, Pairing, evse_mac

from evcc.plc import slac_mme as sm
from evcc.plc.frames import decode_frame, encode_frame
from evcc.plc.mme import FrameError, MMType, Mode, mmtype
from evcc.slac.machine import State


def _valid_frames(run_id: bytes) -> list[bytes]:
    src = evse_mac(1)
    return [
        encode_frame(EV_MAC, src, mmtype(MMType.CM_SLAC_PARM, Mode.CNF), sm.CmSlacParmCnf(EV_MAC, run_id)),
        encode_frame(EV_MAC, src, mmtype(MMType.CM_ATTEN_CHAR, Mode.IND),
                     sm.CmAttenCharInd(EV_MAC, run_id, 10, (30,) * 58)),
        encode_frame(EV_MAC, src, mmtype(MMType.CM_SLAC_MATCH, Mode.CNF),
                     sm.CmSlacMatch(EV_MAC, src, run_id, b"\x01" * 7, b"\x02" * 16)),
        encode_frame(EV_MAC, src, mmtype(MMType.CM_VALIDATE, Mode.CNF), sm.CmValidate(0, 0, 4)),
        # deviations the EV tolerates and counts (issue #14): the fuzz runs over those paths too
        encode_frame(EV_MAC, src, mmtype(MMType.CM_SLAC_PARM, Mode.CNF),
                     sm.CmSlacParmCnf(EV_MAC, run_id, 0, 10, b"\x00" * 6, 0)),
        encode_frame(EV_MAC, src, mmtype(MMType.CM_ATTEN_CHAR, Mode.IND),
                     sm.CmAttenCharInd(EV_MAC, run_id, 11, (30,) * 58)) + bytes(197),
        encode_frame(EV_MAC, src, mmtype(MMType.CM_VALIDATE, Mode.CNF), sm.CmValidate(7, 0, 4)),
        bytes.fromhex("02000000ee01") + bytes(6) + b"\x88\xe1\x01\x09\x60\x00\x00\x01" + bytes(46),
        bytes.fromhex("02000000ee01") + bytes(6) + b"\x88\xe1\x00\xb9\xa0\x00\xb0\x52\x00\x01" + bytes(44),
    ]


def _machine_in(state_step: int) -> Pairing:
    p = Pairing([25])
    p.plug_in_fresh()
    targets = [State.WAIT_FOR_SLAC_PARM_CNF, State.WAIT_FOR_ATTEN_CHAR_IND, State.WAIT_FOR_SLAC_MATCH_CNF,
               State.WAIT_FOR_LINK]
    want = targets[state_step % len(targets)]
    p.bench.run_until(lambda: p.ev.state is want, p.bench.now + 5)
    return p


PAIRINGS = [_machine_in(i) for i in range(4)]


def _mutate(frame: bytes, data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["short", "long", "mmv", "runid", "flip", "random"]))
    if kind == "short":
        return frame[: data.draw(st.integers(0, len(frame) - 1))]
    if kind == "long":
        return frame + data.draw(st.binary(min_size=1, max_size=1600))
    if kind == "mmv":
        return frame[:14] + bytes([data.draw(st.integers(0, 255))]) + frame[15:]
    if kind == "runid":
        return frame.replace(PAIRINGS[0].ev.run_id, data.draw(st.binary(min_size=8, max_size=8)))
    if kind == "flip":
        out = bytearray(frame)
        for _ in range(data.draw(st.integers(1, 8))):
            out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
        return bytes(out)
    return data.draw(st.binary(max_size=200))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_machine_never_raises(data: st.DataObject) -> None:
    p = PAIRINGS[data.draw(st.integers(0, len(PAIRINGS) - 1))]
    base = data.draw(st.sampled_from(_valid_frames(p.ev.run_id)))
    frame = _mutate(base, data)
    p.ev.receive_frame(frame, p.bench.now)
    p.ev.handle_timer(p.bench.now + data.draw(st.floats(0, 20)))
    p.ev.frames_to_send()
    p.ev.events()
    assert len(p.ev.deviations) <= p.ev.deviations.max_kinds


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_parser_raises_only_frame_error(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(_valid_frames(b"R" * 8)))
    frame = _mutate(base, data)
    try:
        decode_frame(frame)
    except FrameError as exc:
        assert str(exc)


def test_random_frames_against_every_state() -> None:
    rnd = random.Random(3)
    for p in PAIRINGS:
        for _ in range(2000):
            base = rnd.choice(_valid_frames(p.ev.run_id))
            frame = bytearray(base)
            frame[rnd.randrange(14, len(frame))] = rnd.randrange(256)
            p.ev.receive_frame(bytes(frame), p.bench.now)
        p.ev.events()
