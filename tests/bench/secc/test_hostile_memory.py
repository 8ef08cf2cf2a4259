"""The hostile-charger suite, message faults (issue 4 point 5), in memory on an injected clock: DIN SPEC 70121 DC,
ISO 15118-2 DC and AC EVCC machines against their SECC responders wrapped by the fault layer
(evcc.bench.secc.hostile). For every response of a session: a FAILED code, a wrong SessionID, a delay past
V2G_EVCC_Msg_Timeout (DIN Table 75, ISO 15118-2 Table 109: fires at the standard's value), silence, a response
of the wrong type and garbage EXI each end the session in order with the fault named in the report, nothing
raises, and a normal session then completes. Stalled answers run into the sequence timers (Table 77 / 111).
ISO 15118-20: test_hostile_iso20_memory.py (the same layer, the -20 responders unchanged)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Fault, FaultKind, FaultSpecError
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.bench.secc.memory import PairResult, SeccResponder, run_in_memory
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind, Exchange
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.machine import EvccMachine
from evcc.session.timeouts import DIN_70121, ISO_15118_2, EvccTimers
from tests.bench.secc.hostile_helpers import START, Run, Stamped, faulty_run

MAC = bytes.fromhex("0242ac110002")


@dataclass(frozen=True)
class Case:
    """One protocol/energy transfer pairing: the EV machine, the SECC responder, the responses of a session."""

    name: str
    timers: EvccTimers
    responses: tuple[str, ...]
    make_machine: Callable[[], EvccMachine]
    make_responder: Callable[[], SeccResponder]


def _din() -> EvccMachine:
    return DinEvcc(DinConfig(evcc_id=MAC), BatteryModel(capacity_wh=40.0, soc=79.0, target_soc=80.0))


def _iso2_dc() -> EvccMachine:
    return Iso2Evcc(Iso2Config(evcc_id=MAC), BatteryModel(capacity_wh=40.0, soc=79.0, target_soc=80.0))


def _iso2_ac() -> EvccMachine:
    car = AcBatteryModel(capacity_wh=20.0, soc=79.0, target_soc=80.0)
    return Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode="AC_three_phase_core"), car)


DC_TAIL = ("ChargeParameterDiscoveryRes", "CableCheckRes", "PreChargeRes", "PowerDeliveryRes", "CurrentDemandRes",
           "WeldingDetectionRes", "SessionStopRes")
CASES = {
    "din": Case("din", DIN_70121, ("SessionSetupRes", "ServiceDiscoveryRes", "ServicePaymentSelectionRes",
                                   "ContractAuthenticationRes") + DC_TAIL, _din, DinSecc),
    "iso2-dc": Case("iso2-dc", ISO_15118_2, ("SessionSetupRes", "ServiceDiscoveryRes", "PaymentServiceSelectionRes",
                                             "AuthorizationRes") + DC_TAIL, _iso2_dc, Iso2Secc),
    "iso2-ac": Case("iso2-ac", ISO_15118_2, ("SessionSetupRes", "ServiceDiscoveryRes", "PaymentServiceSelectionRes",
                                             "AuthorizationRes", "ChargeParameterDiscoveryRes", "PowerDeliveryRes",
                                             "ChargingStatusRes", "SessionStopRes"), _iso2_ac, Iso2Secc),
}
EVERY_RESPONSE = [pytest.param(c, r, id=f"{c.name}-{r}") for c in CASES.values() for r in c.responses]


def hostile_run(case: Case, fault: Fault) -> Run:
    """A faulty session, then a normal one in the same process: the second must complete."""
    grammar = "din" if case.name == "din" else "iso2"
    run = faulty_run(case.make_machine(), case.make_responder(), fault, case.timers, grammar)
    assert_normal_session(case)
    return run


def assert_normal_session(case: Case) -> PairResult:
    secc = case.make_responder()
    result = run_in_memory(case.make_machine(), secc, START)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    return result


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_listed_responses_are_those_of_a_normal_session(case: Case) -> None:
    secc = case.make_responder()
    result = run_in_memory(case.make_machine(), secc, START)
    assert result.ended.kind is EndKind.COMPLETED
    received = [r.replace("Req", "Res") for r in secc.received]  # type: ignore[attr-defined]
    assert list(dict.fromkeys(received)) == list(case.responses)


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
@pytest.mark.parametrize("code", ["FAILED", "FAILED_SequenceError"])
def test_failed_response_code_is_reported(case: Case, response: str, code: str) -> None:
    run = hostile_run(case, Fault(FaultKind.CODE, response, response_code=code))
    ended = run.result.ended
    assert ended.kind is EndKind.FAILED_RESPONSE and ended.response_code == code
    assert ended.reason == f"{response}: {code}"


@pytest.mark.parametrize(("case", "response"), [p for p in EVERY_RESPONSE if p.values[1] != "SessionSetupRes"])
def test_wrong_session_id_is_reported(case: Case, response: str) -> None:
    ended = hostile_run(case, Fault(FaultKind.SESSION_ID, response)).result.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR
    assert f"{response} carries SessionID" in ended.reason


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_delay_past_the_msg_timeout_fires_at_the_standard_value(case: Case, response: str) -> None:
    run = hostile_run(case, Fault(FaultKind.DELAY, response))
    ended = run.result.ended
    request = response.replace("Res", "Req")
    limit = case.timers.msg_timeout(request)
    assert ended.kind is EndKind.TIMEOUT and ended.timer == "V2G_EVCC_Msg_Timeout"
    assert ended.reason == f"V2G_EVCC_Msg_Timeout ({limit} s) expired waiting for {response}"
    name, sent_at = run.requests[-1]
    assert name == request and run.result.end_time - sent_at == pytest.approx(limit, abs=1e-9)
    assert run.applied == [f"delay: {response} held back {limit + 0.5:.3f} s"]


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_silence_ends_with_the_msg_timeout(case: Case, response: str) -> None:
    run = hostile_run(case, Fault(FaultKind.SILENCE, response))
    assert run.result.ended.kind is EndKind.TIMEOUT and run.result.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert run.result.ended.reason.endswith(f"waiting for {response}")
    assert run.requests[-1][0] == response.replace("Res", "Req")


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_response_of_the_wrong_type_is_reported(case: Case, response: str) -> None:
    run = hostile_run(case, Fault(FaultKind.UNEXPECTED, response))
    ended = run.result.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR and ended.reason.startswith("unexpected ")
    sent_instead = run.applied[0].split(" -> ")[-1] if " -> " in run.applied[0] else response
    assert ended.reason.startswith(f"unexpected {sent_instead} while waiting for")


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_garbage_exi_is_reported_as_undecodable(case: Case, response: str) -> None:
    ended = hostile_run(case, Fault(FaultKind.GARBAGE_EXI, response)).result.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR and "undecodable" in ended.reason
    assert "SE(*)" in ended.reason  # the codec's own words about what was wrong


@pytest.mark.parametrize(
    ("case", "response", "timer"),
    [(CASES["din"], "ContractAuthenticationRes", "V2G_EVCC_Ongoing_Timeout"),
     (CASES["din"], "ChargeParameterDiscoveryRes", "V2G_EVCC_Ongoing_Timeout"),
     (CASES["din"], "CableCheckRes", "V2G_EVCC_CableCheck_Timeout"),
     (CASES["din"], "PreChargeRes", "V2G_EVCC_PreCharge_Timeout"),
     (CASES["iso2-dc"], "AuthorizationRes", "V2G_EVCC_Ongoing_Timeout"),
     (CASES["iso2-dc"], "ChargeParameterDiscoveryRes", "V2G_EVCC_Ongoing_Timeout"),
     (CASES["iso2-dc"], "CableCheckRes", "V2G_EVCC_CableCheck_Timeout"),
     (CASES["iso2-dc"], "PreChargeRes", "V2G_EVCC_PreCharge_Timeout"),
     (CASES["iso2-ac"], "AuthorizationRes", "V2G_EVCC_Ongoing_Timeout")],
    ids=lambda v: v.name if isinstance(v, Case) else None,
)
def test_stalled_charger_runs_into_the_sequence_timer(case: Case, response: str, timer: str) -> None:
    run = hostile_run(case, Fault(FaultKind.STALL, response, delay=1.0))  # a slow loop: one round a second
    ended = run.result.ended
    limit = getattr(case.timers, timer)
    assert ended.kind is EndKind.TIMEOUT and ended.timer == timer, ended
    assert ended.reason.startswith(f"{timer} ({limit} s) expired")
    request = response.replace("Res", "Req")
    first = next(t for n, t in run.requests if n == request)
    assert run.result.end_time - first == pytest.approx(limit, abs=0.01)  # the first request armed the timer
    assert len([n for n, _ in run.requests if n == request]) >= limit - 2  # the EV kept asking meanwhile


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_fault_by_message_index_and_occurrence(case: Case) -> None:
    by_index = hostile_run(case, Fault(FaultKind.CODE, 2)).result.ended
    assert by_index.reason == f"{case.responses[2]}: FAILED"
    loop = "ChargingStatusRes" if case.name == "iso2-ac" else "CurrentDemandRes"
    third = hostile_run(case, Fault(FaultKind.SILENCE, loop, occurrence=3))
    assert [n for n, _ in third.requests].count(loop.replace("Res", "Req")) == 3
    assert third.result.ended.timer == "V2G_EVCC_Msg_Timeout"


@pytest.mark.parametrize("kind", [FaultKind.DISCONNECT, FaultKind.OVERSIZED, FaultKind.TRUNCATED,
                                  FaultKind.WRONG_VERSION, FaultKind.WRONG_PAYLOAD_TYPE])
def test_frame_faults_need_a_transport(kind: FaultKind) -> None:
    case = CASES["din"]
    with pytest.raises(FaultSpecError, match="need a transport"):
        run_in_memory(case.make_machine(), FaultySecc(case.make_responder(), Fault(kind, "ServiceDiscoveryRes")), 0.0)
    assert Fault(kind).needs_transport
    assert_normal_session(case)


def test_delay_without_a_timer_table_or_seconds_is_refused() -> None:
    with pytest.raises(FaultSpecError, match="timer table"):
        FaultySecc(DinSecc(), Fault(FaultKind.DELAY, "CableCheckRes"))
    explicit = FaultySecc(Stamped(DinSecc(), "din"), Fault(FaultKind.DELAY, "CableCheckRes", delay=1.0))
    result = run_in_memory(_din(), explicit, START)
    assert result.ended.kind is EndKind.COMPLETED  # 1 s is within the 2 s V2G_EVCC_Msg_Timeout
    late = [e for e in result.events if isinstance(e, Exchange) and e.request == "CableCheckReq"]
    assert late[0].latency == pytest.approx(1.005)
