"""The hostile-charger suite for ISO 15118-20 (issue 7 acceptance; the faults of issue 4 point 5), message faults in
memory on an injected clock: the -20 EVCC machine for DC (Scheduled), AC (Dynamic) and DC_BPT (Dynamic) against
the bench's -20 SECC responder wrapped by the fault layer (evcc.bench.secc.hostile), every payload with its V2GTP
payload type. At each response of the session (PowerDeliveryRes twice: Start and Stop): a FAILED code, a wrong
SessionID, a delay past V2G_EVCC_Msg_Timeout (fires at the value of the -20 table, ISO_15118_20), silence, a
response of the wrong type and garbage EXI each end the session in order with the fault named in the report,
nothing raises, and the same process then completes a normal -20 session. Stalled answers run into the -20
sequence timers (Ongoing, CableCheck, PreCharge)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from evcc.bench.secc.faults import Fault, FaultKind, FaultSpecError
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso20_responder import Iso20Secc, ac_secc, dc_secc
from evcc.bench.secc.memory import PairResult, run_in_memory
from evcc.session.events import EndKind, Exchange
from evcc.session.iso2 import AcBatteryModel
from evcc.session.iso20 import ISO_15118_20, Iso20Config, Iso20Evcc
from tests.bench.secc.hostile_helpers import START, Run, faulty_run

EVCC_ID = "0242AC110002"
COMMON = ("SessionSetupRes", "AuthorizationSetupRes", "AuthorizationRes", "ServiceDiscoveryRes", "ServiceDetailRes",
          "ServiceSelectionRes")


@dataclass(frozen=True)
class Case20:
    """One -20 energy service and control mode: the EV configuration, the SECC, the responses of a session."""

    name: str
    service: str
    control_mode: str
    responses: tuple[tuple[str, int], ...]  # (response element name, occurrence)
    make_responder: Callable[[], Iso20Secc]

    def machine(self) -> Iso20Evcc:
        car = AcBatteryModel(capacity_wh=400.0, soc=79.0, target_soc=80.0)
        config = Iso20Config(evcc_id=EVCC_ID, service=self.service,  # type: ignore[arg-type]
                             control_mode=self.control_mode)  # type: ignore[arg-type]
        return Iso20Evcc(config, car)

    @property
    def loop(self) -> str:
        return f"{self.service[:2]}_ChargeLoopRes"


def _once(*names: str) -> tuple[tuple[str, int], ...]:
    return tuple((n, 1) for n in names)


DC_RESPONSES = _once(*COMMON, "DC_ChargeParameterDiscoveryRes", "ScheduleExchangeRes", "DC_CableCheckRes",
                     "DC_PreChargeRes", "PowerDeliveryRes", "DC_ChargeLoopRes") + (("PowerDeliveryRes", 2),) + \
    _once("DC_WeldingDetectionRes", "SessionStopRes")
AC_RESPONSES = _once(*COMMON, "AC_ChargeParameterDiscoveryRes", "ScheduleExchangeRes", "PowerDeliveryRes",
                     "AC_ChargeLoopRes") + (("PowerDeliveryRes", 2),) + _once("SessionStopRes")
CASES = {
    "iso20-dc": Case20("iso20-dc", "DC", "Scheduled", DC_RESPONSES, dc_secc),
    "iso20-ac": Case20("iso20-ac", "AC", "Dynamic", AC_RESPONSES, ac_secc),
    "iso20-dc-bpt": Case20("iso20-dc-bpt", "DC_BPT", "Dynamic", DC_RESPONSES, dc_secc),
}


def _label(response: tuple[str, int]) -> str:
    return response[0] if response[1] == 1 else f"{response[0]}#{response[1]}"


EVERY_RESPONSE = [pytest.param(c, r, id=f"{c.name}-{_label(r)}") for c in CASES.values() for r in c.responses]


def hostile_run(case: Case20, fault: Fault) -> Run:
    """A faulty -20 session, then a normal one in the same process: the second must complete."""
    run = faulty_run(case.machine(), case.make_responder(), fault, ISO_15118_20)
    assert_normal_session(case)
    return run


def assert_normal_session(case: Case20) -> PairResult:
    secc = case.make_responder()
    result = run_in_memory(case.machine(), secc, START)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.record.energy_delivered_wh > 0 and not secc.record.errors
    return result


def _fault(kind: FaultKind, response: tuple[str, int], **kw: Any) -> Fault:
    return Fault(kind, response[0], occurrence=response[1], **kw)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_listed_responses_are_those_of_a_normal_session(case: Case20) -> None:
    secc = case.make_responder()
    result = run_in_memory(case.machine(), secc, START)
    assert result.ended.kind is EndKind.COMPLETED
    assert (secc.record.selected_service, secc.record.control_mode) == (case.service, case.control_mode)
    received = [r.replace("Req", "Res") for r in secc.record.received]
    listed = [n for n, _ in case.responses]
    assert list(dict.fromkeys(received)) == list(dict.fromkeys(listed))
    assert received.count("PowerDeliveryRes") == 2  # Start, then Stop


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_failed_response_code_is_reported(case: Case20, response: tuple[str, int]) -> None:
    run = hostile_run(case, _fault(FaultKind.CODE, response))
    ended = run.result.ended
    assert ended.kind is EndKind.FAILED_RESPONSE and ended.response_code == "FAILED", ended
    assert ended.reason == f"{response[0]}: FAILED"
    assert run.requests[-1][0] == response[0].replace("Res", "Req")  # nothing sent after it


@pytest.mark.parametrize(("case", "response"), [(CASES["iso20-dc"], r) for r in DC_RESPONSES[1::3]],
                         ids=lambda v: _label(v) if isinstance(v, tuple) else None)
@pytest.mark.parametrize("code", ["FAILED_SequenceError", "FAILED_UnknownSession"])
def test_other_failed_codes_are_reported_with_the_code(case: Case20, response: tuple[str, int], code: str) -> None:
    ended = hostile_run(case, _fault(FaultKind.CODE, response, response_code=code)).result.ended
    assert ended.kind is EndKind.FAILED_RESPONSE and ended.response_code == code
    assert ended.reason == f"{response[0]}: {code}"


@pytest.mark.parametrize(("case", "response"), [pytest.param(c, r, id=f"{c.name}-{_label(r)}") for c in CASES.values()
                                               for r in c.responses if r[0] != "SessionSetupRes"])
def test_wrong_session_id_is_reported(case: Case20, response: tuple[str, int]) -> None:
    ended = hostile_run(case, _fault(FaultKind.SESSION_ID, response)).result.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR
    assert f"{response[0]} carries SessionID" in ended.reason, ended


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_delay_past_the_msg_timeout_fires_at_the_iso20_table_value(case: Case20, response: tuple[str, int]) -> None:
    run = hostile_run(case, _fault(FaultKind.DELAY, response))
    ended = run.result.ended
    request = response[0].replace("Res", "Req")
    limit = ISO_15118_20.msg_timeout(request)
    assert ended.kind is EndKind.TIMEOUT and ended.timer == "V2G_EVCC_Msg_Timeout", ended
    assert ended.reason == f"V2G_EVCC_Msg_Timeout ({limit} s) expired waiting for {response[0]}"
    name, sent_at = run.requests[-1]
    assert name == request and run.result.end_time - sent_at == pytest.approx(limit, abs=1e-9)
    assert run.applied == [f"delay: {response[0]} held back {limit + 0.5:.3f} s"]


def test_the_iso20_msg_timeouts_differ_by_message() -> None:
    """The delay test above is not the -2 table again: -20 has 0.5 s in the charge loops, 5 s for ServiceDetail."""
    assert ISO_15118_20.msg_timeout("DC_ChargeLoopReq") == 0.5 == ISO_15118_20.msg_timeout("AC_ChargeLoopReq")
    assert ISO_15118_20.msg_timeout("ServiceDetailReq") == 5.0
    assert ISO_15118_20.msg_timeout("PowerDeliveryReq") == 2.0


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_silence_ends_with_the_msg_timeout(case: Case20, response: tuple[str, int]) -> None:
    run = hostile_run(case, _fault(FaultKind.SILENCE, response))
    ended = run.result.ended
    assert ended.kind is EndKind.TIMEOUT and ended.timer == "V2G_EVCC_Msg_Timeout", ended
    assert ended.reason.endswith(f"waiting for {response[0]}")
    assert run.requests[-1][0] == response[0].replace("Res", "Req")


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_response_of_the_wrong_type_is_reported(case: Case20, response: tuple[str, int]) -> None:
    run = hostile_run(case, _fault(FaultKind.UNEXPECTED, response))
    ended = run.result.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR, ended
    sent_instead = run.applied[0].split(" -> ")[-1] if " -> " in run.applied[0] else response[0]
    assert ended.reason.startswith(f"unexpected {sent_instead} while waiting for"), ended


@pytest.mark.parametrize(("case", "response"), EVERY_RESPONSE)
def test_garbage_exi_is_reported_as_undecodable(case: Case20, response: tuple[str, int]) -> None:
    ended = hostile_run(case, _fault(FaultKind.GARBAGE_EXI, response)).result.ended
    assert ended.kind is EndKind.PROTOCOL_ERROR, ended
    assert ended.reason.startswith(f"undecodable ISO 15118-20 message while waiting for {response[0]}")


@pytest.mark.parametrize(
    ("case", "response", "timer"),
    [(CASES["iso20-dc"], "AuthorizationRes", "V2G_EVCC_Ongoing_Timeout"),
     (CASES["iso20-dc"], "ScheduleExchangeRes", "V2G_EVCC_Ongoing_Timeout"),
     (CASES["iso20-dc"], "DC_CableCheckRes", "V2G_EVCC_CableCheck_Timeout"),
     (CASES["iso20-dc"], "DC_PreChargeRes", "V2G_EVCC_PreCharge_Timeout"),
     (CASES["iso20-dc-bpt"], "DC_CableCheckRes", "V2G_EVCC_CableCheck_Timeout"),
     (CASES["iso20-ac"], "ScheduleExchangeRes", "V2G_EVCC_Ongoing_Timeout")],
    ids=lambda v: v.name if isinstance(v, Case20) else None,
)
def test_stalled_charger_runs_into_the_iso20_sequence_timer(case: Case20, response: str, timer: str) -> None:
    run = hostile_run(case, Fault(FaultKind.STALL, response, delay=1.0))  # a slow loop: one round a second
    ended = run.result.ended
    limit = getattr(ISO_15118_20, timer)
    assert ended.kind is EndKind.TIMEOUT and ended.timer == timer, ended
    assert ended.reason.startswith(f"{timer} ({limit} s) expired")
    request = response.replace("Res", "Req")
    first = next(t for n, t in run.requests if n == request)
    assert run.result.end_time - first == pytest.approx(limit, abs=0.01)  # the first request armed the timer
    assert len([n for n, _ in run.requests if n == request]) >= limit - 2  # the EV kept asking meanwhile


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_fault_by_message_index_and_occurrence(case: Case20) -> None:
    normal = case.make_responder()
    run_in_memory(case.machine(), normal, START)
    eighth = normal.record.received[7].replace("Req", "Res")  # AuthorizationRes came twice (Ongoing, Finished)
    by_index = hostile_run(case, Fault(FaultKind.CODE, 7)).result.ended
    assert by_index.reason == f"{eighth}: FAILED" and eighth == f"{case.service[:2]}_ChargeParameterDiscoveryRes"
    third = hostile_run(case, Fault(FaultKind.SILENCE, case.loop, occurrence=3))
    assert [n for n, _ in third.requests].count(case.loop.replace("Res", "Req")) == 3
    assert third.result.ended.timer == "V2G_EVCC_Msg_Timeout"


def test_late_but_within_the_timeout_is_only_noted() -> None:
    case = CASES["iso20-dc"]
    run = hostile_run(case, Fault(FaultKind.DELAY, "DC_ChargeLoopRes", occurrence=2, delay=0.4))  # < 0.5 s
    assert run.result.ended.kind is EndKind.COMPLETED
    loops = [e for e in run.result.events if isinstance(e, Exchange) and e.request == "DC_ChargeLoopReq"]
    assert loops[1].latency == pytest.approx(0.405)  # the SECC's 5 ms response time plus the delay


@pytest.mark.parametrize("kind", [FaultKind.DISCONNECT, FaultKind.OVERSIZED, FaultKind.TRUNCATED,
                                  FaultKind.WRONG_VERSION, FaultKind.WRONG_PAYLOAD_TYPE])
def test_frame_faults_need_a_transport(kind: FaultKind) -> None:
    case = CASES["iso20-ac"]
    with pytest.raises(FaultSpecError, match="need a transport"):
        run_in_memory(case.machine(), FaultySecc(case.make_responder(), Fault(kind, "ServiceDiscoveryRes")), START)
    assert_normal_session(case)
