"""Hostile input never crashes the ISO 15118-2 EVCC machine (DC and AC): after k good exchanges, any
schema-valid -2 message (random sample from the codec's grammar walk), the expected response with random
content, or any byte string either continues the session or ends it with a reason; no exception escapes and
nothing is sent after the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.exi._api import _codec
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.values import message
from tests.session.fuzz_helpers import run_exchanges, check_after, check_bytes_ending

MAC = bytes.fromhex("0242ac110002")
MODES = st.sampled_from(["DC_extended", "AC_three_phase_core"])


def advance(k: int, mode: str = "DC_extended") -> tuple[Iso2Evcc, float]:
    car = AcBatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode), car)  # type: ignore[arg-type]
    return run_exchanges(ev, Iso2Secc(), k, step=0.01)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=2**31), MODES)
def test_any_valid_iso2_message_in_any_state(k: int, seed: int, mode: str) -> None:
    ev, now = advance(k, mode)
    ev.receive_message(_codec("iso2").sample("V2G_Message", seed), now + 0.01)
    check_after(ev)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.binary(max_size=200), MODES)
def test_any_bytes_in_any_state(k: int, data: bytes, mode: str) -> None:
    ev, now = advance(k, mode)
    was_done = ev.done
    ev.receive_payload(data, now + 0.01)
    check_after(ev)
    check_bytes_ending(ev, was_done)


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
    check_after(ev)
