"""Hostile input never crashes the ISO 15118-20 EVCC machine (DC, AC, the BPT variants, both control modes):
after k good exchanges, any schema-valid -20 message (random sample of the codec's grammar walk, common or
energy schema set), the awaited response with random content, or any byte string either continues the session
or ends it with a reason; no exception escapes and nothing is sent after the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc import exi
from evcc.exi._api import _codec
from evcc.session.iso20 import Iso20Evcc
from evcc.session.iso20.values import grammar_of
from tests.session.fuzz_helpers import run_exchanges, check_after
from tests.session.iso20.helpers import COMBINATIONS, car, machine
from tests.session.iso20.peer import MiniSecc

SETUPS = st.sampled_from(COMBINATIONS)
COMMON_ROOTS = ("SessionSetupRes", "AuthorizationSetupRes", "AuthorizationRes", "ServiceDiscoveryRes",
                "ServiceDetailRes", "ServiceSelectionRes", "ScheduleExchangeRes", "PowerDeliveryRes", "SessionStopRes",
                "MeteringConfirmationRes", "CertificateInstallationRes")


def advance(k: int, setup: tuple[str, str]) -> tuple[Iso20Evcc, float]:
    service, mode = setup
    return run_exchanges(machine(car(), service=service, control_mode=mode), MiniSecc(kind=service[:2]), k, step=0.02)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=25), st.integers(min_value=0, max_value=2**31), SETUPS, st.booleans())
def test_any_valid_message_in_any_state(k: int, seed: int, setup: tuple[str, str], energy: bool) -> None:
    ev, now = advance(k, setup)
    grammar = ev.energy_grammar if energy else "iso20-common"
    roots = [f"{setup[0][:2]}_ChargeLoopRes", f"{setup[0][:2]}_ChargeParameterDiscoveryRes"] if energy else COMMON_ROOTS
    name = roots[seed % len(roots)]
    ev.receive_message(name, _codec(_module(grammar)).sample(name, seed), now + 0.01)
    check_after(ev)


def _module(grammar: str) -> str:
    return {"iso20-common": "iso20_common", "iso20-dc": "iso20_dc", "iso20-ac": "iso20_ac"}[grammar]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=25), st.binary(max_size=200), SETUPS)
def test_any_bytes_in_any_state(k: int, data: bytes, setup: tuple[str, str]) -> None:
    ev, now = advance(k, setup)
    ev.receive_payload(data, now + 0.01)
    check_after(ev)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=25), st.integers(min_value=0, max_value=2**31), SETUPS, st.booleans())
def test_awaited_response_with_random_content(k: int, seed: int, setup: tuple[str, str], ok: bool) -> None:
    """The response the state waits for, with the session's SessionID and random (schema-valid) content; half of
    them with ResponseCode OK so that the handlers see the random values."""
    ev, now = advance(k, setup)
    if ev.done:
        return
    expected = ev.state.response
    res = _codec(_module(grammar_of(expected))).sample(expected, seed)
    res.Header.SessionID = ev.session_id
    if ok:
        res.ResponseCode = "OK"
    ev.receive_message(expected, res, now + 0.01)
    check_after(ev)
    for msg in ev.messages_to_send():  # whatever it sends is a valid -20 message
        exi.encode(msg)
