"""Every ISO 15118-20 EVCC timer fires at its table value (evcc.session.iso20.config.ISO_15118_20), on an injected
clock: V2G_EVCC_Msg_Timeout for each request the DC and AC sequences send, the Ongoing, CableCheck, PreCharge and
CommunicationSetup sequence timers; never a moment early; a late answer within the timeout is only reported."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.memory import run_in_memory
from evcc.session.events import EndKind, Exchange, LateResponse
from evcc.session.iso20 import ISO_15118_20
from evcc.session.iso20.values import dc, rational
from tests.session.iso20.helpers import drive, machine
from tests.session.iso20.peer import MiniSecc

MSG_TIMEOUT_CASES = [
    ("DC", "SessionSetupRes", 2.0), ("DC", "AuthorizationSetupRes", 2.0), ("DC", "AuthorizationRes", 2.0),
    ("DC", "ServiceDiscoveryRes", 2.0), ("DC", "ServiceDetailRes", 5.0), ("DC", "ServiceSelectionRes", 2.0),
    ("DC", "DC_ChargeParameterDiscoveryRes", 2.0), ("DC", "ScheduleExchangeRes", 2.0),
    ("DC", "DC_CableCheckRes", 2.0), ("DC", "DC_PreChargeRes", 2.0), ("DC", "PowerDeliveryRes", 2.0),
    ("DC", "DC_ChargeLoopRes", 0.5), ("AC", "AC_ChargeParameterDiscoveryRes", 2.0), ("AC", "AC_ChargeLoopRes", 0.5),
]


def test_table_values() -> None:
    """The table itself: the names the standard uses and the values the tests below rely on."""
    t = ISO_15118_20
    assert t.protocol == "ISO 15118-20"
    assert (t.V2G_EVCC_Ongoing_Timeout, t.V2G_EVCC_CommunicationSetup_Timeout) == (60.0, 20.0)
    assert (t.V2G_EVCC_CableCheck_Timeout, t.V2G_EVCC_PreCharge_Timeout, t.V2G_SECC_Sequence_Timeout) == (40.0, 10.0, 60.0)
    assert all(t.msg_timeout(n) > t.performance_time(n[:-3] + "Res") for n in t.V2G_EVCC_Msg_Timeout)


@pytest.mark.parametrize(("kind", "response", "limit"), MSG_TIMEOUT_CASES)
def test_msg_timeout_fires_at_the_table_value(kind: str, response: str, limit: float) -> None:
    ev = machine(service=kind)
    secc = MiniSecc(kind=kind)
    sent = drive(ev, secc, response)
    assert ISO_15118_20.msg_timeout(response[:-3] + "Req") == limit
    assert ev.get_timer() == pytest.approx(sent + limit)
    ev.handle_timer(sent + limit - 1e-6)
    assert ev.ended is None
    ev.handle_timer(sent + limit)
    assert ev.ended is not None and ev.ended.kind is EndKind.TIMEOUT
    assert ev.ended.timer == "V2G_EVCC_Msg_Timeout" and response in ev.ended.reason
    assert ev.messages_to_send() == [] and ev.get_timer() is None


def _first_answer(events: list[Any], req: str) -> float:
    return next(e.received_at for e in events if isinstance(e, Exchange) and e.request == req)


@pytest.mark.parametrize(("timer", "secc", "req", "limit"), [
    ("V2G_EVCC_Ongoing_Timeout", {"ongoing": 10**9}, "AuthorizationReq", 60.0),
    ("V2G_EVCC_CableCheck_Timeout", {"ongoing": 10**9}, "DC_CableCheckReq", 40.0),
])
def test_ongoing_loops_end_at_their_sequence_timeout(timer: str, secc: dict[str, Any], req: str,
                                                     limit: float) -> None:
    peer = MiniSecc(**secc, response_time=0.05)
    if req == "DC_CableCheckReq":  # Authorization and ScheduleExchange finish, only CableCheck stays Ongoing
        peer.override = {"AuthorizationRes": _finished, "ScheduleExchangeRes": _finished}
    result = run_in_memory(machine(), peer)
    assert result.ended.kind is EndKind.TIMEOUT and result.ended.timer == timer, result.ended
    started = _first_answer(result.events, req) if timer == "V2G_EVCC_Ongoing_Timeout" else \
        next(e.sent_at for e in result.events if isinstance(e, Exchange) and e.request == req)
    assert result.end_time == pytest.approx(started + limit)


def _finished(res: Any) -> None:
    res.EVSEProcessing = "Finished"


def test_precharge_timeout_when_the_voltage_never_matches() -> None:
    def low(res: Any) -> None:
        res.EVSEPresentVoltage = rational(dc(), 100.0)
    result = run_in_memory(machine(), MiniSecc(override={"DC_PreChargeRes": low}, response_time=0.05))
    assert result.ended.kind is EndKind.TIMEOUT and result.ended.timer == "V2G_EVCC_PreCharge_Timeout"
    first = next(e.sent_at for e in result.events if isinstance(e, Exchange) and e.request == "DC_PreChargeReq")
    assert result.end_time == pytest.approx(first + 10.0)


def test_communication_setup_timeout() -> None:
    ev = machine()
    ev.start(0.0, setup_deadline=1.5)
    ev.handle_timer(1.4999)
    assert ev.ended is None
    ev.handle_timer(1.5)
    assert ev.ended is not None and ev.ended.timer == "V2G_EVCC_CommunicationSetup_Timeout"


def test_late_answer_within_the_timeout_is_reported_not_fatal() -> None:
    """0.3 s is over the 0.25 s DC_ChargeLoopRes performance time but under its 0.5 s timeout."""
    result = run_in_memory(machine(), MiniSecc(response_time=0.3))
    assert result.ended.kind is EndKind.COMPLETED
    late = {e.response for e in result.events if isinstance(e, LateResponse)}
    assert late == {"DC_ChargeLoopRes"}
