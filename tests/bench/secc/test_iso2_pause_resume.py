"""ISO 15118-2 pause and resume ([V2G2-741]..): SessionStopReq(Pause) after PowerDelivery(Stop), then a second
session that sends the stored SessionID in SessionSetupReq and is answered OK_OldSessionJoined by the same
charger (the paused-session memory its responders share)."""

from __future__ import annotations

from evcc import exi
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.bench.secc.memory import run_in_memory
from evcc.session.battery_model import BatteryModel
from evcc.session.events import EndKind, SessionEnded
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from tests.bench.secc.test_iso2_session_memory import AC_SEQUENCE, DC_SEQUENCE, MAC, collapse


def pause_after(ev: Iso2Evcc, car: BatteryModel, loops: int) -> None:
    """The driver pauses while charging: hook the vehicle's output callback like a BMS request would come."""
    original = car.evse_output
    count = 0

    def output(voltage: float, current: float, now: float) -> None:
        nonlocal count
        count += 1
        if count == loops:
            ev.stop(now, "driver paused", pause=True)
        original(voltage, current, now)

    car.evse_output = output  # type: ignore[method-assign]


def test_dc_pause_then_resume_with_the_stored_session_id() -> None:
    charger_memory: set[bytes] = set()
    car = BatteryModel(capacity_wh=40.0, soc=70.0, target_soc=80.0)
    first = Iso2Evcc(Iso2Config(evcc_id=MAC), car)
    pause_after(first, car, 5)
    secc1 = Iso2Secc(paused=charger_memory)
    result = run_in_memory(first, secc1, now=0.0)
    assert result.ended.kind is EndKind.STOPPED and result.ended.reason == "paused: driver paused"
    assert first.paused and secc1.charging_session == "Pause"
    assert collapse(secc1.received)[-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    assert charger_memory == {first.session_id} and car.soc < car.target_soc

    second = Iso2Evcc(Iso2Config(evcc_id=MAC, resume_session_id=first.session_id), car)
    secc2 = Iso2Secc(paused=charger_memory)
    result = run_in_memory(second, secc2, now=100.0)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert second.resumed and secc2.joined_old_session
    assert second.session_id == first.session_id == secc2.session_id
    assert collapse(secc2.received) == DC_SEQUENCE and car.soc >= car.target_soc
    assert charger_memory == set() and not second.paused


def test_ac_pause_and_resume() -> None:
    charger_memory: set[bytes] = set()
    car = AcBatteryModel(capacity_wh=40.0, soc=70.0, target_soc=80.0)
    config = Iso2Config(evcc_id=MAC, energy_transfer_mode="AC_three_phase_core")
    first = Iso2Evcc(config, car)
    pause_after(first, car, 10)
    run_in_memory(first, Iso2Secc(paused=charger_memory))
    assert first.paused
    second = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode="AC_three_phase_core",
                                 resume_session_id=first.session_id), car)
    secc2 = Iso2Secc(paused=charger_memory)
    result = run_in_memory(second, secc2, now=50.0)
    assert result.ended.kind is EndKind.COMPLETED and second.resumed
    assert collapse(secc2.received) == AC_SEQUENCE


def test_resume_of_an_unknown_session_gets_a_new_one() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, resume_session_id=bytes(range(1, 9))), car)
    secc = Iso2Secc()
    result = run_in_memory(ev, secc)
    assert result.ended.kind is EndKind.COMPLETED and not ev.resumed
    assert ev.session_id == secc.session_id != bytes(range(1, 9))


JOINED = Fault(FaultKind.CODE, "SessionSetupRes", response_code="OK_OldSessionJoined")  # where it does not fit


def test_old_session_joined_for_a_new_session_is_a_protocol_error() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC), car)
    result = run_in_memory(ev, FaultySecc(Iso2Secc(), JOINED))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR
    assert result.ended.reason.startswith("SessionSetupRes OK_OldSessionJoined with SessionID ")
    assert result.ended.reason.endswith("the EV asked for a new session")


def test_old_session_joined_with_another_session_id_is_a_protocol_error() -> None:
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    asked = bytes(range(1, 9))
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, resume_session_id=asked), car)
    result = run_in_memory(ev, FaultySecc(Iso2Secc(), JOINED))
    assert result.ended.kind is EndKind.PROTOCOL_ERROR and f"the EV asked for SessionID {asked.hex()}" in result.ended.reason


def test_pause_asked_before_session_setup_res_uses_the_assigned_session_id() -> None:
    """The stop waits for SessionSetupRes: SessionStopReq(Pause) then carries the SessionID it assigned."""
    memory: set[bytes] = set()
    car = BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC), car)
    secc = Iso2Secc(paused=memory)
    ev.start(0.0)
    ev.stop(0.0, "changed my mind", pause=True)
    for msg in ev.messages_to_send():
        secc.receive_payload(exi.encode(msg), 0.0)
    result = run_in_memory_started(ev, secc)
    assert result.kind is EndKind.STOPPED and ev.paused
    assert secc.received == ["SessionSetupReq", "SessionStopReq"] and memory == {ev.session_id}


def run_in_memory_started(ev: Iso2Evcc, secc: Iso2Secc) -> SessionEnded:
    now = 0.0
    while ev.ended is None:
        now = secc.get_timer() or now + 0.01
        for msg in secc.messages_to_send(now):
            ev.receive_payload(exi.encode(msg), now)
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
    return ev.ended
