"""DIN SPEC 70121 DC EIM: the EV machine against the SECC responder in memory, on an injected clock.

A complete session to the target SoC; each fault (the shared layer, evcc.bench.secc.hostile) ends in order with
the right reason; every timer fires at the value of DIN SPEC 70121 Table 75/77 (timer names as the standard's)."""

from __future__ import annotations

import pytest

from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.memory import PairResult, run_din_in_memory, run_in_memory
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import ChargingStarted, EndKind, Exchange, LateResponse
from evcc.session.timeouts import DIN_70121

MAC = bytes.fromhex("0242ac110002")
FULL_SEQUENCE = [
    "SessionSetupReq", "ServiceDiscoveryReq", "ServicePaymentSelectionReq", "ContractAuthenticationReq",
    "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
    "PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq",
]


def battery() -> BatteryModel:
    return BatteryModel(capacity_wh=40.0, soc=70.0, target_soc=80.0)


def run(
    fault: Fault | None = None, secc_config: DinSeccConfig | None = None, car: BatteryModel | None = None
) -> tuple[PairResult, DinSecc, BatteryModel]:
    car = car or battery()
    secc = DinSecc(config=secc_config or DinSeccConfig())
    ev = DinEvcc(DinConfig(evcc_id=MAC), car)
    return run_in_memory(ev, secc if fault is None else FaultySecc(secc, fault), now=1000.0), secc, car


def _collapse(names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def test_complete_session_reaches_target_soc_and_session_stop() -> None:
    result, secc, car = run()
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert _collapse(secc.received) == FULL_SEQUENCE
    assert car.soc >= car.target_soc
    assert secc.received.count("CurrentDemandReq") > 20
    assert secc.received.count("CableCheckReq") == 3  # two Ongoing rounds, then Finished
    assert any(isinstance(e, ChargingStarted) for e in result.events)
    exchanges = [e for e in result.events if isinstance(e, Exchange)]
    assert len(exchanges) == len(secc.received) and all(e.latency == pytest.approx(0.005) for e in exchanges)
    assert not any(isinstance(e, LateResponse) for e in result.events)


@pytest.mark.parametrize(
    "response",
    ["SessionSetupRes", "ServiceDiscoveryRes", "ServicePaymentSelectionRes", "ContractAuthenticationRes",
     "ChargeParameterDiscoveryRes", "CableCheckRes", "PreChargeRes", "PowerDeliveryRes", "CurrentDemandRes",
     "WeldingDetectionRes", "SessionStopRes"],
)
def test_failed_response_code_ends_the_session_with_the_code(response: str) -> None:
    result, secc, _ = run(Fault(FaultKind.CODE, response))
    assert result.ended.kind is EndKind.FAILED_RESPONSE
    assert result.ended.reason == f"{response}: FAILED" and result.ended.response_code == "FAILED"
    assert secc.received[-1] == response.replace("Res", "Req")  # nothing sent after the failure


def test_failed_sequence_error_code_is_reported() -> None:
    result, _, _ = run(Fault(FaultKind.CODE, "PreChargeRes", response_code="FAILED_SequenceError"))
    assert result.ended.response_code == "FAILED_SequenceError"


@pytest.mark.parametrize("response", ["ServiceDiscoveryRes", "CableCheckRes", "CurrentDemandRes"])
def test_wrong_session_id_is_an_orderly_protocol_stop(response: str) -> None:
    result, secc, _ = run(Fault(FaultKind.SESSION_ID, response))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert f"{response} carries SessionID" in result.ended.reason
    assert secc.received[-1] == response.replace("Res", "Req")


def test_unexpected_message_is_an_orderly_protocol_stop() -> None:
    result, _, _ = run(Fault(FaultKind.UNEXPECTED, "PreChargeRes", replacement="CableCheckRes"))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason == "unexpected CableCheckRes while waiting for PreChargeRes"


@pytest.mark.parametrize(
    ("response", "limit"), [("SessionSetupRes", 2.0), ("ChargeParameterDiscoveryRes", 2.0), ("CurrentDemandRes", 0.25)]
)
def test_v2g_evcc_msg_timeout_fires_at_table_75_value(response: str, limit: float) -> None:
    result, secc, _ = run(Fault(FaultKind.SILENCE, response))
    assert result.ended.kind is EndKind.TIMEOUT and result.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert result.ended.reason == f"V2G_EVCC_Msg_Timeout ({limit} s) expired waiting for {response}"
    sent_at = _last_request_time(result)
    assert result.end_time - sent_at == pytest.approx(limit)


def _last_request_time(result: PairResult) -> float:
    exchanges = [e for e in result.events if isinstance(e, Exchange)]
    # the unanswered request left right when the last answered one arrived
    return exchanges[-1].received_at if exchanges else 1000.0


def test_delay_just_under_the_timeout_is_late_but_accepted() -> None:
    result, _, _ = run(Fault(FaultKind.DELAY, "SessionSetupRes", delay=1.9))
    assert result.ended.kind is EndKind.COMPLETED
    late = [e for e in result.events if isinstance(e, LateResponse)]
    assert late and late[0].response == "SessionSetupRes" and late[0].budget == 1.5


def test_delay_past_the_timeout_ends_the_session() -> None:
    result, _, _ = run(Fault(FaultKind.DELAY, "CurrentDemandRes", delay=0.3))
    assert result.ended.timer == "V2G_EVCC_Msg_Timeout" and "CurrentDemandRes" in result.ended.reason


def test_current_demand_res_over_25ms_is_reported_late() -> None:
    result, _, _ = run(Fault(FaultKind.DELAY, "CurrentDemandRes", delay=0.03))
    assert result.ended.kind is EndKind.COMPLETED
    late = {e.response for e in result.events if isinstance(e, LateResponse)}
    assert late == {"CurrentDemandRes"}
    assert DIN_70121.performance_time("CurrentDemandRes") == 0.025


@pytest.mark.parametrize(
    ("response", "timer", "limit"),
    [
        ("ContractAuthenticationRes", "V2G_EVCC_Ongoing_Timeout", 60.0),
        ("ChargeParameterDiscoveryRes", "V2G_EVCC_Ongoing_Timeout", 60.0),
        ("CableCheckRes", "V2G_EVCC_CableCheck_Timeout", 40.0),
    ],
)
def test_loop_timers_fire_at_the_standard_value(response: str, timer: str, limit: float) -> None:
    result, secc, _ = run(Fault(FaultKind.STALL, response))
    assert result.ended.kind is EndKind.TIMEOUT and result.ended.timer == timer
    first = next(e for e in result.events if isinstance(e, Exchange) and e.request == response.replace("Res", "Req"))
    # Ongoing timer starts with the first Ongoing answer; CableCheck timer with the first CableCheckReq
    start = first.received_at if timer == "V2G_EVCC_Ongoing_Timeout" else first.sent_at
    assert result.end_time - start == pytest.approx(limit)
    assert secc.received.count(response.replace("Res", "Req")) > 100


def test_precharge_timeout_7s_when_the_voltage_never_matches() -> None:
    result, _, _ = run(secc_config=DinSeccConfig(precharge_step=0.0))
    assert result.ended.timer == "V2G_EVCC_PreCharge_Timeout"
    assert result.ended.reason.startswith("V2G_EVCC_PreCharge_Timeout (7.0 s)")


def test_communication_setup_timeout_covers_session_setup() -> None:
    car = battery()
    ev = DinEvcc(DinConfig(evcc_id=MAC), car)
    ev.start(10.0, setup_deadline=11.0)
    assert ev.get_timer() == 11.0
    ev.handle_timer(11.0)
    assert ev.ended is not None and ev.ended.timer == "V2G_EVCC_CommunicationSetup_Timeout"


def test_evse_stop_charging_notification_stops_in_order() -> None:
    result, secc, car = run(secc_config=DinSeccConfig(stop_after_loop=5))
    assert result.ended.kind is EndKind.STOPPED
    assert "StopCharging" in result.ended.reason
    assert _collapse(secc.received)[-4:] == ["CurrentDemandReq", "PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    assert secc.received.count("CurrentDemandReq") == 5
    assert car.soc < car.target_soc


def test_ev_stop_request_goes_through_power_delivery_and_welding() -> None:
    car = battery()
    secc = DinSecc()
    ev = DinEvcc(DinConfig(evcc_id=MAC), car)

    original = car.evse_output
    count = 0

    def output(voltage: float, current: float, now: float) -> None:
        nonlocal count
        count += 1
        if count == 3:
            ev.stop(now, "driver pressed stop")
        original(voltage, current, now)

    car.evse_output = output  # type: ignore[method-assign]
    result = run_din_in_memory(ev, secc)
    assert result.ended.kind is EndKind.STOPPED and result.ended.reason == "driver pressed stop"
    assert _collapse(secc.received)[-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]


def test_vehicle_error_before_power_goes_straight_to_session_stop() -> None:
    car = battery()
    car.error = "FAILED_RESSTemperatureInhibit"
    result, secc, _ = run(car=car)
    assert result.ended.kind is EndKind.STOPPED and "FAILED_RESSTemperatureInhibit" in result.ended.reason
    assert _collapse(secc.received)[-2:] == ["CableCheckReq", "SessionStopReq"]
    assert "PowerDeliveryReq" not in secc.received


def test_garbage_from_the_secc_is_an_orderly_protocol_stop() -> None:
    ev = DinEvcc(DinConfig(evcc_id=MAC), battery())
    ev.start(0.0)
    ev.receive_payload(b"\x80\x9a\xff\xff\xff", 0.1)
    assert ev.ended is not None and ev.ended.kind is EndKind.PROTOCOL_ERROR
    assert ev.ended.reason.startswith("undecodable DIN message while waiting for SessionSetupRes")
    assert ev.messages_to_send()[1:] == []


def test_stop_before_session_setup_res_uses_the_assigned_session_id() -> None:
    """A stop asked for before SessionSetupRes waits for the SessionID, then SessionStopReq carries it."""
    secc = DinSecc()
    ev = DinEvcc(DinConfig(evcc_id=MAC), battery())
    ev.stop(0.0, "unplugged at once")
    result = run_din_in_memory(ev, secc)
    assert result.ended.kind is EndKind.STOPPED and result.ended.reason == "unplugged at once"
    assert secc.received == ["SessionSetupReq", "SessionStopReq"]
    assert ev.session_id != bytes(8)
