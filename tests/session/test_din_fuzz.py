"""Hostile input never crashes the DIN EVCC machine: after k good exchanges, any schema-valid DIN message (random
sample from the codec's grammar walk) or any byte string either continues the session or ends it with a
reason; no exception escapes and nothing is sent after the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.bench.secc.din_responder import DinSecc
from evcc.exi._api import _codec
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.din.values import message
from tests.session.fuzz_helpers import run_exchanges, check_after, check_bytes_ending

MAC = bytes.fromhex("0242ac110002")


def _advance(k: int) -> tuple[DinEvcc, float]:
    ev = DinEvcc(DinConfig(evcc_id=MAC), BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0))
    return run_exchanges(ev, DinSecc(), k, step=0.01)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=2**31))
def test_any_valid_din_message_in_any_state(k: int, seed: int) -> None:
    ev, now = _advance(k)
    sample = _codec("din").sample("V2G_Message", seed)
    ev.receive_message(sample, now + 0.01)
    check_after(ev)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.binary(max_size=200))
def test_any_bytes_in_any_state(k: int, data: bytes) -> None:
    ev, now = _advance(k)
    was_done = ev.done
    ev.receive_payload(data, now + 0.01)
    check_after(ev)
    check_bytes_ending(ev, was_done)


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**31))
def test_expected_response_with_random_content(k: int, seed: int) -> None:
    """The response the state waits for, with the session's SessionID and random (schema-valid) content."""
    ev, now = _advance(k)
    if ev.done:
        return
    expected = ev.state.value.split(" ")[0]
    body = _codec("din").sample(expected, seed)
    ev.receive_message(message(ev.session_id, expected, body), now + 0.01)
    check_after(ev)
