"""ISO 15118-2 EIM, AC and DC: the EV machine against the SECC responder in memory, on an injected clock.

Complete DC and AC sessions; SAScheduleTuple selection checked by the SECC; with the shared fault layer
(evcc.bench.secc.hostile) every FAILED code ends the session with the code, a wrong SessionID and an unexpected
message end it in order; every timer fires at the value of
ISO 15118-2 Table 109/111 with the standard's name; pause and resume with the stored SessionID."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_builders import BUILDERS
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.limit_plan import ChargerLimits
from evcc.bench.secc.memory import PairResult, SeccResponder, run_in_memory
from evcc.session.battery_model import BatteryModel
from evcc.session.events import ChargingStarted, EndKind, Exchange, LateResponse
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.config import EnergyTransferMode
from evcc.session.iso2.values import message
from evcc.session.timeouts import ISO_15118_2

MAC = bytes.fromhex("0242ac110002")
DC_SEQUENCE = [
    "SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq", "AuthorizationReq",
    "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
    "PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq",
]
AC_SEQUENCE = [
    "SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq", "AuthorizationReq",
    "ChargeParameterDiscoveryReq", "PowerDeliveryReq", "ChargingStatusReq", "PowerDeliveryReq", "SessionStopReq",
]
DC_RESPONSES = sorted({r.replace("Req", "Res") for r in DC_SEQUENCE})
AC_ONLY_RESPONSES = ["ChargingStatusRes"]


def battery(ac: bool = False) -> BatteryModel:
    return (AcBatteryModel if ac else BatteryModel)(capacity_wh=40.0, soc=70.0, target_soc=80.0)


def run(
    fault: Fault | None = None, secc_config: Iso2SeccConfig | None = None, car: BatteryModel | None = None,
    mode: EnergyTransferMode = "DC_extended", **config: object,
) -> tuple[PairResult, Iso2Secc, BatteryModel]:
    car = car or battery(mode.startswith("AC"))
    secc = Iso2Secc(config=secc_config or Iso2SeccConfig())
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode, **config), car)  # type: ignore[arg-type]
    responder: SeccResponder = secc if fault is None else FaultySecc(secc, fault)
    return run_in_memory(ev, responder, now=1000.0), secc, car


def collapse(names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def test_complete_dc_session_reaches_target_soc_and_session_stop() -> None:
    result, secc, car = run()
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert result.ended.reason == "charging complete: the vehicle reached its target"
    assert collapse(secc.received) == DC_SEQUENCE
    assert car.soc >= car.target_soc and secc.charging_session == "Terminate"
    assert secc.received.count("CurrentDemandReq") > 20
    assert secc.received.count("CableCheckReq") == 3  # two Ongoing rounds, then Finished
    assert secc.received.count("AuthorizationReq") == 2  # one Ongoing round
    assert any(isinstance(e, ChargingStarted) for e in result.events)
    exchanges = [e for e in result.events if isinstance(e, Exchange)]
    assert len(exchanges) == len(secc.received) and all(e.latency == pytest.approx(0.005) for e in exchanges)
    assert not any(isinstance(e, LateResponse) for e in result.events) and not secc.errors


@pytest.mark.parametrize("mode", ["AC_three_phase_core", "AC_single_phase_core"])
def test_complete_ac_session_with_charging_status_loop(mode: EnergyTransferMode) -> None:
    result, secc, car = run(mode=mode)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert collapse(secc.received) == AC_SEQUENCE
    assert secc.energy_mode == mode and car.soc >= car.target_soc
    assert "CableCheckReq" not in secc.received and "WeldingDetectionReq" not in secc.received
    # 16 A on-board charger: three phases charge three times as fast as one
    loops = secc.received.count("ChargingStatusReq")
    assert (200 < loops < 300) if mode == "AC_three_phase_core" else (700 < loops < 900)


def test_the_tuple_with_the_most_power_is_selected_and_the_profile_respects_it() -> None:
    result, secc, car = run(secc_config=Iso2SeccConfig(sa_schedules=(30_000.0, 60_000.0, 45_000.0)))
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.sa_schedule_tuple_id == 2


def test_the_profile_is_capped_at_a_pmax_below_the_vehicle_maximum() -> None:
    """[V2G2-294]: with PMax 5 kW (the car takes 80 kW) the ChargingProfile stays within it, or the SECC would
    answer FAILED_ChargingProfileInvalid (test_iso2_responder.py)."""
    result, secc, _ = run(secc_config=Iso2SeccConfig(sa_schedules=(5_000.0,)))
    assert result.ended.kind is EndKind.COMPLETED and secc.sa_schedule_tuple_id == 1


def test_max_entries_sa_schedule_tuple_bounds_entries_per_tuple_not_the_tuples() -> None:
    """MaxEntriesSAScheduleTuple read per tuple (evcc.session.iso2.schedules; the session-side tests are in
    tests/session/iso2/test_schedules.py): three one-entry tuples for a limit of 2 are no deviation; a PMaxSchedule
    of three entries (the SECC's pmax_steps) goes on with one deviation recorded."""
    result, secc, _ = run(secc_config=Iso2SeccConfig(sa_schedules=(1e4, 2e4, 3e4)), max_entries_sa_schedule_tuple=2)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.sa_schedule_tuple_id == 3 and not result.events.deviations
    steps = ChargerLimits(pmax_steps=((0.0, 50_000.0), (5.0, 30_000.0), (10.0, 20_000.0)))
    result, secc, _ = run(secc_config=Iso2SeccConfig(limits=steps), max_entries_sa_schedule_tuple=2)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.sa_schedule_tuple_id == 1 and not secc.limit_check.violations
    assert [(d.field, d.value, d.expected) for d in result.events.deviations.deviations()] == [
        ("ChargeParameterDiscoveryRes SAScheduleTuple entries", "3 in SAScheduleTuple 1 PMaxSchedule", "at most 2")]


@pytest.mark.parametrize(("response", "mode"), [(r, "DC_extended") for r in DC_RESPONSES] + [
    ("ChargingStatusRes", "AC_three_phase_core"), ("PowerDeliveryRes", "AC_three_phase_core")])
def test_failed_response_code_ends_the_session_with_the_code(response: str, mode: EnergyTransferMode) -> None:
    result, secc, _ = run(Fault(FaultKind.CODE, response), mode=mode)
    assert result.ended.kind is EndKind.FAILED_RESPONSE
    assert result.ended.reason == f"{response}: FAILED" and result.ended.response_code == "FAILED"
    assert secc.received[-1] == response.replace("Res", "Req")  # nothing sent after the failure


@pytest.mark.parametrize(
    ("response", "code"),
    [("SessionSetupRes", "FAILED_SequenceError"), ("ServiceDiscoveryRes", "FAILED_UnknownSession"),
     ("PaymentServiceSelectionRes", "FAILED_PaymentSelectionInvalid"),
     ("PaymentServiceSelectionRes", "FAILED_NoChargeServiceSelected"),
     ("ChargeParameterDiscoveryRes", "FAILED_WrongEnergyTransferMode"),
     ("ChargeParameterDiscoveryRes", "FAILED_WrongChargeParameter"),
     ("PowerDeliveryRes", "FAILED_TariffSelectionInvalid"), ("PowerDeliveryRes", "FAILED_ChargingProfileInvalid"),
     ("PowerDeliveryRes", "FAILED_PowerDeliveryNotApplied"), ("CurrentDemandRes", "FAILED_ContactorError"),
     ("AuthorizationRes", "FAILED_CertificateRevoked"), ("WeldingDetectionRes", "FAILED_SequenceError")],
)
def test_each_specific_failed_code_is_reported(response: str, code: str) -> None:
    result, _, _ = run(Fault(FaultKind.CODE, response, response_code=code))
    assert result.ended.kind is EndKind.FAILED_RESPONSE and result.ended.response_code == code
    assert result.ended.state.startswith(response)


def test_secc_refuses_a_mode_it_does_not_have_and_the_ev_stops_before_asking() -> None:
    result, secc, _ = run(secc_config=Iso2SeccConfig(energy_modes=("AC_three_phase_core",)))
    assert result.ended.kind is EndKind.STOPPED
    assert result.ended.reason == "the EVSE offers ['AC_three_phase_core'], the vehicle needs DC_extended"
    assert collapse(secc.received) == ["SessionSetupReq", "ServiceDiscoveryReq", "SessionStopReq"]


def test_no_external_payment_offered_stops_in_order() -> None:
    result, secc, _ = run(secc_config=Iso2SeccConfig(payment_options=("Contract",)))
    assert result.ended.kind is EndKind.STOPPED and "does not offer ExternalPayment" in result.ended.reason
    assert secc.received[-1] == "SessionStopReq"


@pytest.mark.parametrize("response", ["ServiceDiscoveryRes", "AuthorizationRes", "CableCheckRes", "CurrentDemandRes"])
def test_wrong_session_id_is_an_orderly_protocol_stop(response: str) -> None:
    result, secc, _ = run(Fault(FaultKind.SESSION_ID, response))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert f"{response} carries SessionID" in result.ended.reason
    assert secc.received[-1] == response.replace("Res", "Req")


def test_unexpected_message_is_an_orderly_protocol_stop() -> None:
    result, _, _ = run(Fault(FaultKind.UNEXPECTED, "PreChargeRes", replacement="CableCheckRes"))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason == "unexpected CableCheckRes while waiting for PreChargeRes"


class AcAnswer:
    """The SECC answers CurrentDemandReq with the ChargingStatusRes it would send in an AC session (no DC session
    has one for the fault layer's ``unexpected`` to repeat)."""

    def __init__(self, inner: Iso2Secc) -> None:
        self.inner = inner

    def receive_payload(self, data: bytes, now: float) -> None:
        self.inner.receive_payload(data, now)

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def messages_to_send(self, now: float) -> list[Any]:
        out = self.inner.messages_to_send(now)
        ac = message(self.inner.session_id, *BUILDERS["ChargingStatusRes"](self.inner, None, "OK"))
        return [ac if m.Body.CurrentDemandRes is not None else m for m in out]


def test_ac_message_in_a_dc_session_is_unexpected() -> None:
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC), battery())
    result = run_in_memory(ev, AcAnswer(Iso2Secc()))
    assert result.ended.reason == "unexpected ChargingStatusRes while waiting for CurrentDemandRes"


@pytest.mark.parametrize(
    ("response", "limit", "mode"),
    [("SessionSetupRes", 2.0, "DC_extended"), ("ChargeParameterDiscoveryRes", 2.0, "DC_extended"),
     ("PowerDeliveryRes", 5.0, "DC_extended"), ("CurrentDemandRes", 0.25, "DC_extended"),
     ("ChargingStatusRes", 2.0, "AC_three_phase_core"), ("SessionStopRes", 2.0, "AC_single_phase_core")],
)
def test_v2g_evcc_msg_timeout_fires_at_table_109_value(response: str, limit: float, mode: EnergyTransferMode) -> None:
    result, _, _ = run(Fault(FaultKind.SILENCE, response), mode=mode)
    assert result.ended.kind is EndKind.TIMEOUT and result.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert result.ended.reason == f"V2G_EVCC_Msg_Timeout ({limit} s) expired waiting for {response}"
    exchanges = [e for e in result.events if isinstance(e, Exchange)]
    sent_at = exchanges[-1].received_at if exchanges else 1000.0
    assert result.end_time - sent_at == pytest.approx(limit)
    assert ISO_15118_2.msg_timeout(response.replace("Res", "Req")) == limit


def test_delay_just_under_the_timeout_is_late_but_accepted() -> None:
    result, _, _ = run(Fault(FaultKind.DELAY, "PowerDeliveryRes", delay=4.9))
    assert result.ended.kind is EndKind.COMPLETED
    late = [e for e in result.events if isinstance(e, LateResponse)]
    assert late and {e.response for e in late} == {"PowerDeliveryRes"} and late[0].budget == 4.5


def test_current_demand_res_over_25ms_is_reported_late_and_past_250ms_ends() -> None:
    result, _, _ = run(Fault(FaultKind.DELAY, "CurrentDemandRes", delay=0.03))
    assert result.ended.kind is EndKind.COMPLETED
    assert {e.response for e in result.events if isinstance(e, LateResponse)} == {"CurrentDemandRes"}
    result, _, _ = run(Fault(FaultKind.DELAY, "CurrentDemandRes", delay=0.3))
    assert result.ended.timer == "V2G_EVCC_Msg_Timeout" and "CurrentDemandRes" in result.ended.reason


@pytest.mark.parametrize(
    ("response", "timer", "limit"),
    [("AuthorizationRes", "V2G_EVCC_Ongoing_Timeout", 60.0),
     ("ChargeParameterDiscoveryRes", "V2G_EVCC_Ongoing_Timeout", 60.0),
     ("CableCheckRes", "V2G_EVCC_CableCheck_Timeout", 40.0)],
)
def test_loop_timers_fire_at_the_standard_value(response: str, timer: str, limit: float) -> None:
    result, secc, _ = run(Fault(FaultKind.STALL, response))
    assert result.ended.kind is EndKind.TIMEOUT and result.ended.timer == timer
    first = next(e for e in result.events if isinstance(e, Exchange) and e.request == response.replace("Res", "Req"))
    start = first.received_at if timer == "V2G_EVCC_Ongoing_Timeout" else first.sent_at
    assert result.end_time - start == pytest.approx(limit)
    assert secc.received.count(response.replace("Res", "Req")) > 100


def test_precharge_timeout_7s_when_the_voltage_never_matches() -> None:
    result, _, _ = run(secc_config=Iso2SeccConfig(precharge_step=0.0))
    assert result.ended.timer == "V2G_EVCC_PreCharge_Timeout"
    assert result.ended.reason.startswith("V2G_EVCC_PreCharge_Timeout (7.0 s)")


def test_communication_setup_timeout_covers_session_setup() -> None:
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC), battery())
    ev.start(10.0, setup_deadline=30.0)
    assert ev.get_timer() == 12.0  # V2G_EVCC_Msg_Timeout of SessionSetupReq comes first
    ev.messages_to_send()
    ev2 = Iso2Evcc(Iso2Config(evcc_id=MAC), battery())
    ev2.start(10.0, setup_deadline=11.0)
    ev2.handle_timer(11.0)
    assert ev2.ended is not None and ev2.ended.timer == "V2G_EVCC_CommunicationSetup_Timeout"
    assert ISO_15118_2.V2G_EVCC_CommunicationSetup_Timeout == 20.0


@pytest.mark.parametrize("mode", ["DC_extended", "AC_three_phase_core"])
def test_evse_stop_charging_notification_stops_in_order(mode: EnergyTransferMode) -> None:
    result, secc, car = run(secc_config=Iso2SeccConfig(stop_after_loop=5), mode=mode)
    assert result.ended.kind is EndKind.STOPPED and "StopCharging" in result.ended.reason
    tail = ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"] if mode.startswith("DC") \
        else ["PowerDeliveryReq", "SessionStopReq"]
    assert collapse(secc.received)[-len(tail):] == tail
    assert car.soc < car.target_soc


def test_vehicle_error_before_power_goes_straight_to_session_stop() -> None:
    car = battery()
    car.error = "FAILED_RESSTemperatureInhibit"
    result, secc, _ = run(car=car)
    assert result.ended.kind is EndKind.STOPPED and "FAILED_RESSTemperatureInhibit" in result.ended.reason
    assert collapse(secc.received)[-2:] == ["CableCheckReq", "SessionStopReq"]
    assert "PowerDeliveryReq" not in secc.received


def test_service_detail_for_a_value_added_service_then_it_is_selected() -> None:
    result, secc, _ = run(secc_config=Iso2SeccConfig(value_added_services=(3, 4)), service_detail_ids=(4, 9))
    assert result.ended.kind is EndKind.COMPLETED
    assert collapse(secc.received)[:4] == ["SessionSetupReq", "ServiceDiscoveryReq", "ServiceDetailReq",
                                           "PaymentServiceSelectionReq"]
    assert secc.received.count("ServiceDetailReq") == 1  # 9 was not offered
