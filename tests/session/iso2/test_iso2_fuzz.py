"""Hostile input never crashes the ISO 15118-2 EVCC machine (DC and AC): after k good exchanges, any
schema-valid -2 message (random sample from the codec's grammar walk), the expected response with random
content, or any byte string either continues the session or ends it with a reason; no exception escapes and
nothing is sent after the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc import exi
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.exi._api import _codec
from evcc.session.events import EndKind
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.values import message

MAC = bytes.fromhex("0242ac110002")
MODES = st.sampled_from(["DC_extended", "AC_three_phase_core"])


def advance(k: int, mode: str = "DC_extended") -> tuple[Iso2Evcc, float]:
    car = AcBatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode), car)  # type: ignore[arg-type]
    secc = Iso2Secc()
    now = 0.0
    ev.start(now)
    for _ in range(k):
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
        now += 0.01
        for msg in secc.messages_to_send(now):
            ev.receive_payload(exi.encode(msg), now)
        if ev.done:
            break
    ev.messages_to_send()
    ev.events()
    return ev, now


def _check_after(ev: Iso2Evcc) -> None:
    if ev.done:
        assert ev.ended is not None and ev.ended.reason
        assert ev.messages_to_send() == [] and ev.get_timer() is None
    else:
        assert ev.get_timer() is not None  # waiting for something, with a deadline


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=2**31), MODES)
def test_any_valid_iso2_message_in_any_state(k: int, seed: int, mode: str) -> None:
    ev, now = advance(k, mode)
    ev.receive_message(_codec("iso2").sample("V2G_Message", seed), now + 0.01)
    _check_after(ev)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.binary(max_size=200), MODES)
def test_any_bytes_in_any_state(k: int, data: bytes, mode: str) -> None:
    ev, now = advance(k, mode)
    was_done = ev.done
    ev.receive_payload(data, now + 0.01)
    _check_after(ev)
    if not was_done and ev.done:
        assert ev.ended is not None and ev.ended.kind in (EndKind.PROTOCOL_ERROR, EndKind.FAILED_RESPONSE, EndKind.STOPPED)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**31), MODES, st.booleans())
def test_expected_response_with_random_content(k: int, seed: int, mode: str, ok: bool) -> None:
    """The response the state waits for, with the session's SessionID and random (schema-valid) content; half
    of them with ResponseCode OK so that the handlers see the random values."""
    ev, now = advance(k, mode)
    if ev.done:
        return
    expected = ev.state.value.split(" ")[0]
    body = _codec("iso2").sample(expected, seed)
    if ok:
        body.ResponseCode = "OK"
    ev.receive_message(message(ev.session_id, expected, body), now + 0.01)
    _check_after(ev)
