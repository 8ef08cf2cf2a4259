"""The ISO 15118-20 EVCC machine against the hand-built peer (tests/session/iso20/peer.py), in memory on an
injected clock, every message through the EXI codec: complete sessions for DC, AC, DC_BPT, AC_BPT in Scheduled
and Dynamic control; discharging under BPT; payload types; FAILED codes, SessionID, unexpected messages, EVSE
notifications, pause and resume, schedule checks, implausible charger output."""

from __future__ import annotations

from typing import Any

import pytest

from evcc import exi
from evcc.session.events import ChargingStarted, EndKind
from evcc.session.iso20 import State
from evcc.session.iso20.values import PAYLOAD_AC, PAYLOAD_COMMON, PAYLOAD_DC, common, number, rational
from tests.session.iso20.helpers import COMBINATIONS, answer, car, drive, machine, pair
from tests.session.iso20.peer import MiniSecc

DC_SEQUENCE = ["SessionSetupReq", "AuthorizationSetupReq", "AuthorizationReq", "AuthorizationReq",
               "ServiceDiscoveryReq", "ServiceDetailReq", "ServiceSelectionReq", "DC_ChargeParameterDiscoveryReq",
               "ScheduleExchangeReq", "ScheduleExchangeReq", "DC_CableCheckReq", "DC_CableCheckReq"]


def _value(r: Any) -> float:
    """A RationalNumberType the schema requires, as a float."""
    value = number(r)
    assert value is not None
    return value


@pytest.mark.parametrize(("service", "mode"), COMBINATIONS)
def test_complete_session(service: str, mode: str) -> None:
    vehicle = car()
    ev = machine(vehicle, service=service, control_mode=mode)
    result, secc = pair(ev)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert vehicle.soc >= 80.0
    assert secc.received[-1] == "SessionStopReq" and secc.requests[-1].ChargingSession == "Terminate"
    assert any(isinstance(e, ChargingStarted) for e in result.events)
    selection = secc.requests[secc.received.index("ServiceSelectionReq")]
    assert selection.SelectedEnergyTransferService.ServiceID == {"AC": 1, "DC": 2, "AC_BPT": 5, "DC_BPT": 6}[service]
    assert selection.SelectedEnergyTransferService.ParameterSetID == (1 if mode == "Scheduled" else 2)
    loop = secc.requests[secc.received.index(f"{service[:2]}_ChargeLoopReq")]
    prefix = "BPT_" if service.endswith("BPT") else ""
    assert getattr(loop, f"{prefix}{mode}_{service[:2]}_CLReqControlMode") is not None
    start = secc.requests[secc.received.index("PowerDeliveryReq")]
    assert start.ChargeProgress == "Start"
    if mode == "Scheduled":
        assert start.EVPowerProfile.Scheduled_EVPPTControlMode.SelectedScheduleTupleID == 1
    if service.startswith("DC"):
        assert secc.received[:len(DC_SEQUENCE)] == DC_SEQUENCE
        assert secc.received[-2] == "DC_WeldingDetectionReq"


@pytest.mark.parametrize("service", ["DC", "AC"])
def test_messages_travel_in_their_payload_types(service: str) -> None:
    ev = machine(service=service)
    seen: dict[str, int] = {}
    secc = MiniSecc(kind=service)
    ev.start(0.0)
    now = 0.0
    while not ev.done:
        for msg in ev.messages_to_send():
            name = exi.decode_named("iso20-common" if msg._schema == "iso20_common" else f"iso20-{service.lower()}",
                                    exi.encode(msg)).name
            seen[name] = ev.payload_type_of(msg)
            secc.receive_payload(exi.encode(msg), now)
        now += 0.02
        for msg in secc.messages_to_send(now):
            ev.receive_typed(PAYLOAD_COMMON if msg._schema == "iso20_common" else
                             (PAYLOAD_DC if service == "DC" else PAYLOAD_AC), exi.encode(msg), now)
    assert ev.ended is not None and ev.ended.ok, ev.ended
    energy = PAYLOAD_DC if service == "DC" else PAYLOAD_AC
    assert seen["SessionSetupReq"] == seen["PowerDeliveryReq"] == seen["SessionStopReq"] == PAYLOAD_COMMON
    assert seen[f"{service}_ChargeLoopReq"] == seen[f"{service}_ChargeParameterDiscoveryReq"] == energy
    assert ev.payload_types == {PAYLOAD_COMMON, energy}


def test_wrong_payload_type_ends_the_session() -> None:
    ev = machine(service="DC")
    ev.start(0.0)
    ev.receive_typed(PAYLOAD_AC, b"\x80", 0.1)
    assert ev.ended is not None and "payload type 0x8003" in ev.ended.reason


@pytest.mark.parametrize("service", ["DC_BPT", "AC_BPT"])
def test_bpt_scheduled_discharges_then_charges(service: str) -> None:
    """The schedule gives back 10 kW for 60 s, then charges: the vehicle follows, within its limits."""
    vehicle = car(soc=60.0, target=62.0)
    ev = machine(vehicle, service=service, control_mode="Scheduled")
    secc = MiniSecc(kind=service[:2], schedule_entries=((60, -10_000.0), (86_400, 20_000.0)))
    result, _ = pair(ev, secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert vehicle.discharged_wh > 100.0 and vehicle.soc >= 62.0
    if service == "DC_BPT":
        currents = [_value(r.BPT_Scheduled_DC_CLReqControlMode.EVTargetCurrent) for r in secc.requests
                    if hasattr(r, "BPT_Scheduled_DC_CLReqControlMode")]
        assert min(currents) < 0 and max(currents) > 0
        assert min(currents) >= -vehicle.max_discharge_current


def test_bpt_dynamic_discharge_stops_at_the_minimum_soc() -> None:
    """The EVSE asks for -20 kW; below its minimum SoC the vehicle reports discharge limits of 0."""
    vehicle = car(soc=21.0, target=80.0, min_discharge_soc=20)
    ev = machine(vehicle, service="DC_BPT", control_mode="Dynamic")
    secc = MiniSecc(kind="DC", dynamic_power=-20_000.0)
    drive(ev, secc, "DC_ChargeLoopRes")
    now = 100.0
    while vehicle.soc > 20.0 and not ev.done:
        answer(ev, secc, now)
        now += 0.02
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
    last = secc.requests[-1].BPT_Dynamic_DC_CLReqControlMode
    assert number(last.EVMaximumDischargePower) == 0.0 and number(last.EVMaximumDischargeCurrent) == 0.0


def test_discharge_current_in_a_charge_only_session_stops() -> None:
    ev = machine(service="DC", control_mode="Dynamic")
    secc = MiniSecc(kind="DC", dynamic_power=-10_000.0)
    result, _ = pair(ev, secc)
    assert result.ended.kind is EndKind.STOPPED and "EVSEPresentCurrent" in result.ended.reason


@pytest.mark.parametrize("response", ["SessionSetupRes", "AuthorizationRes", "ServiceDetailRes",
                                      "DC_ChargeParameterDiscoveryRes", "ScheduleExchangeRes", "DC_CableCheckRes",
                                      "DC_PreChargeRes", "PowerDeliveryRes", "DC_ChargeLoopRes", "SessionStopRes"])
def test_failed_response_code_ends_the_session(response: str) -> None:
    def fail(res: Any) -> None:
        res.ResponseCode = "FAILED_SequenceError"
    result, _ = pair(machine(), MiniSecc(override={response: fail}))
    assert result.ended.kind is EndKind.FAILED_RESPONSE
    assert result.ended.response_code == "FAILED_SequenceError" and response in result.ended.reason


def test_wrong_session_id_ends_the_session() -> None:
    def other(res: Any) -> None:
        res.Header.SessionID = bytes(8 * [0xEE])
    result, _ = pair(machine(), MiniSecc(override={"ServiceDiscoveryRes": other}))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR and "SessionID eeeeeeeeeeeeeeee" in result.ended.reason


def test_unexpected_message_ends_the_session() -> None:
    ev = machine()
    secc = MiniSecc()
    drive(ev, secc, "ServiceDiscoveryRes")
    c = common()
    stray = c.SessionStopResType(Header=c.MessageHeaderType(SessionID=ev.session_id, TimeStamp=1), ResponseCode="OK")
    ev.receive_payload(exi.encode(stray), 5.0)
    assert ev.ended is not None and ev.ended.kind is EndKind.PROTOCOL_ERROR
    assert ev.ended.reason == "unexpected SessionStopRes while waiting for ServiceDiscoveryRes"


def test_eim_warning_stops_in_order() -> None:
    def refuse(res: Any) -> None:
        res.ResponseCode, res.EVSEProcessing = "WARNING_EIMAuthorizationFailure", "Finished"
    result, secc = pair(machine(), MiniSecc(override={"AuthorizationRes": refuse}))
    assert result.ended.kind is EndKind.STOPPED and "WARNING_EIMAuthorizationFailure" in result.ended.reason
    assert secc.received[-1] == "SessionStopReq"


def test_service_not_offered_stops_in_order() -> None:
    result, secc = pair(machine(service="DC_BPT"), MiniSecc(services=(2,)))
    assert result.ended.kind is EndKind.STOPPED and "DC_BPT" in result.ended.reason
    assert secc.received[-1] == "SessionStopReq"


@pytest.mark.parametrize("note", ["Terminate", "Pause", "ScheduleRenegotiation"])
def test_evse_notification_stops_in_order(note: str) -> None:
    def notify(res: Any) -> None:
        res.EVSEStatus = common().EVSEStatusType(NotificationMaxDelay=5, EVSENotification=note)
    ev = machine()
    result, secc = pair(ev, MiniSecc(override={"PowerDeliveryRes": notify}))
    assert result.ended.kind is EndKind.STOPPED and note in result.ended.reason
    progress = [r.ChargeProgress for r in secc.requests if hasattr(r, "ChargeProgress")]
    assert progress == ["Start", "Stop"] and "DC_WeldingDetectionReq" in secc.received
    assert secc.requests[-1].ChargingSession == ("Pause" if note == "Pause" else "Terminate")
    assert ev.paused is (note == "Pause")


def test_go_to_pause_pauses() -> None:
    def go(res: Any) -> None:
        res.GoToPause = True
    ev = machine()
    result, secc = pair(ev, MiniSecc(override={"ScheduleExchangeRes": go}, ongoing=0))
    assert ev.paused and secc.requests[-1].ChargingSession == "Pause"
    assert "GoToPause" in result.ended.reason


def test_pause_then_resume_with_the_stored_session_id() -> None:
    ev = machine()
    secc = MiniSecc()
    drive(ev, secc, "DC_ChargeLoopRes")
    ev.stop(50.0, "driver", pause=True)
    now = 50.0
    while not ev.done:
        answer(ev, secc, now)
        now += 0.02
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
    assert ev.paused and secc.requests[-1].ChargingSession == "Pause"
    again = machine(resume_session_id=ev.session_id)
    secc.received.clear()
    result, _ = pair(again, secc)
    assert again.resumed and result.ended.kind is EndKind.COMPLETED
    assert secc.requests[-len(secc.received)].Header.SessionID == ev.session_id


def test_old_session_joined_without_asking_is_refused() -> None:
    def joined(res: Any) -> None:
        res.ResponseCode = "OK_OldSessionJoined"
    result, _ = pair(machine(), MiniSecc(override={"SessionSetupRes": joined}))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR and "OK_OldSessionJoined" in result.ended.reason


def test_bad_schedule_is_reported() -> None:
    def duplicate(res: Any) -> None:
        mode = res.Scheduled_SEResControlMode
        if mode is not None:
            mode.ScheduleTuple = [mode.ScheduleTuple[0], mode.ScheduleTuple[0]]
    result, _ = pair(machine(), MiniSecc(override={"ScheduleExchangeRes": duplicate}, ongoing=0))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR and "not unique" in result.ended.reason


def test_power_profile_never_exceeds_the_vehicle() -> None:
    vehicle = car(max_power=40_000.0)
    result, secc = pair(machine(vehicle), MiniSecc(schedule_power=150_000.0))
    start = secc.requests[secc.received.index("PowerDeliveryReq")]
    entries = start.EVPowerProfile.EVPowerProfileEntries.EVPowerProfileEntry
    assert [number(e.Power) for e in entries] == [40_000.0]
    assert result.ended.ok


def test_stop_before_session_setup_waits_for_the_session_id() -> None:
    ev = machine()
    secc = MiniSecc()
    ev.start(0.0)
    ev.stop(0.0, "driver unplugged")
    for msg in ev.messages_to_send():
        secc.receive_payload(exi.encode(msg), 0.0)
    answer(ev, secc, 0.1)
    assert ev.state is State.WAIT_SESSION_STOP_RES
    stop: Any = ev.messages_to_send()[0]
    assert stop.Header.SessionID == secc.session_id


def test_rational_saturates_and_rounds() -> None:
    c = common()
    assert (rational(c, 12.345).Value, rational(c, 12.345).Exponent) == (12345, -3)
    assert number(rational(c, 123.456)) == pytest.approx(123.46)  # the finest exponent whose Value fits a short
    assert number(rational(c, 1e30)) == 32767 * 10**7
    assert number(rational(c, float("nan"))) == 0.0
    assert number(rational(c, -80_000.0)) == -80_000.0
