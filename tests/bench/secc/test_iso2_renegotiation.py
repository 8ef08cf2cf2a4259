"""ISO 15118-2 renegotiation (§8.4.3.9 ChargeProgress=Renegotiate), EV machine against the SECC simulator in
memory: the SECC asks (EVSENotification=ReNegotiation after N loop messages) or the vehicle asks
(ScheduleRenegotiationPort); PowerDelivery(Renegotiate) -> ChargeParameterDiscovery with its Ongoing loop -> the
new tuple in PowerDelivery(Start) -> the loop again, DC without a second CableCheck/PreCharge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from evcc import exi
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import SeccResponder
from evcc.session.battery_model import BatteryModel
from evcc.session.events import EndKind, Exchange, Renegotiated
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.config import EnergyTransferMode, State
from evcc.session.vehicle import ScheduleRenegotiationPort
from tests.bench.secc.test_iso2_session_memory import MAC, collapse, run

DC_WITH_RENEGOTIATION = [
    "SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq", "AuthorizationReq",
    "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
    "PowerDeliveryReq", "ChargeParameterDiscoveryReq", "PowerDeliveryReq", "CurrentDemandReq",
    "PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq",
]
AC_WITH_RENEGOTIATION = [
    "SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq", "AuthorizationReq",
    "ChargeParameterDiscoveryReq", "PowerDeliveryReq", "ChargingStatusReq", "PowerDeliveryReq",
    "ChargeParameterDiscoveryReq", "PowerDeliveryReq", "ChargingStatusReq", "PowerDeliveryReq", "SessionStopReq",
]


@dataclass
class RenegotiatingBattery(BatteryModel):
    """A car that wants new schedules once, when its state of charge passes ``renegotiate_at``."""

    renegotiate_at: float = 75.0
    asked: bool = False

    def wants_renegotiation(self, now: float) -> bool:
        if self.asked or self.soc < self.renegotiate_at:
            return False
        self.asked = True
        return True


@dataclass
class RenegotiatingAcBattery(AcBatteryModel, RenegotiatingBattery):
    pass


def _renegotiated(events: Sequence[object]) -> list[Renegotiated]:
    return [e for e in events if isinstance(e, Renegotiated)]


@pytest.mark.parametrize(("mode", "sequence", "loop"), [
    ("DC_extended", DC_WITH_RENEGOTIATION, "CurrentDemandReq"),
    ("AC_three_phase_core", AC_WITH_RENEGOTIATION, "ChargingStatusReq"),
])
def test_secc_triggered_renegotiation_selects_the_new_schedule_and_completes(
        mode: EnergyTransferMode, sequence: list[str], loop: str) -> None:
    config = Iso2SeccConfig(sa_schedules=(100_000.0,), renegotiate_after=5,
                            renegotiated_schedules=(30_000.0, 45_000.0, 20_000.0))
    result, secc, car = run(secc_config=config, mode=mode)
    assert result.ended.kind is EndKind.COMPLETED, (result.ended, secc.errors)
    assert collapse(secc.received) == sequence and not secc.errors
    assert secc.renegotiations == 1 and secc.sa_schedule_tuple_id == 2  # 45 kW, the most power of the new offer
    assert _renegotiated(result.events) == [Renegotiated("EVSE", 2)]
    # the notification came with the 5th loop message; PowerDelivery(Renegotiate) right after it
    assert secc.received[secc.received.index(loop) + 5] == "PowerDeliveryReq"
    # the renegotiated ChargeParameterDiscovery went through its own Ongoing round
    assert secc.received.count("ChargeParameterDiscoveryReq") == 4
    assert car.soc >= car.target_soc


def test_dc_renegotiation_keeps_the_power_stage_no_second_cable_check() -> None:
    result, secc, _ = run(secc_config=Iso2SeccConfig(renegotiate_after=3))
    assert result.ended.kind is EndKind.COMPLETED
    assert secc.received.count("CableCheckReq") == 3 and secc.received.count("PreChargeReq") >= 1
    first_pd = secc.received.index("PowerDeliveryReq")
    assert "CableCheckReq" not in secc.received[first_pd:] and "PreChargeReq" not in secc.received[first_pd:]


@pytest.mark.parametrize("mode", ["DC_extended", "AC_single_phase_core"])
def test_ev_triggered_renegotiation(mode: EnergyTransferMode) -> None:
    car = (RenegotiatingAcBattery if mode.startswith("AC") else RenegotiatingBattery)(
        capacity_wh=40.0, soc=70.0, target_soc=80.0, renegotiate_at=74.0)
    assert isinstance(car, ScheduleRenegotiationPort)
    result, secc, _ = run(car=car, mode=mode)
    assert result.ended.kind is EndKind.COMPLETED, (result.ended, secc.errors)
    assert secc.renegotiations == 1 and not secc.renegotiation_asked
    assert _renegotiated(result.events) == [Renegotiated("EV", 2)]  # default new offer: 20 kW, 40 kW
    assert collapse(secc.received) == (AC_WITH_RENEGOTIATION if mode.startswith("AC") else DC_WITH_RENEGOTIATION)


def test_a_vehicle_without_the_port_is_never_asked() -> None:
    result, secc, _ = run()
    assert result.ended.kind is EndKind.COMPLETED and secc.renegotiations == 0
    assert not _renegotiated(result.events)


def _step(ev: Iso2Evcc, secc: SeccResponder, now: float) -> float:
    """One turn of the in-memory pairing (as evcc.bench.secc.memory.run_in_memory) on an injected clock."""
    for msg in ev.messages_to_send():
        secc.receive_payload(exi.encode(msg), now)
    now = max(now, min(t for t in (ev.get_timer(), secc.get_timer()) if t is not None))
    for msg in secc.messages_to_send(now):
        ev.receive_payload(exi.encode(msg), now)
    ev.handle_timer(now)
    return now


def _until_renegotiating(mode: EnergyTransferMode = "DC_extended") -> tuple[Iso2Evcc, Iso2Secc, float]:
    car = (AcBatteryModel if mode.startswith("AC") else BatteryModel)(capacity_wh=40.0, soc=70.0, target_soc=80.0)
    ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode), car)
    secc = Iso2Secc(config=Iso2SeccConfig(renegotiate_after=2))
    now = 0.0
    ev.start(now)
    while ev.state is not State.WAIT_CHARGE_PARAMETER_DISCOVERY_RES or ev.renegotiation is None:
        now = _step(ev, secc, now)
        assert ev.ended is None
    return ev, secc, now


def test_renegotiated_ongoing_loop_is_bounded_by_v2g_evcc_ongoing_timeout() -> None:
    ev, secc, now = _until_renegotiating("AC_three_phase_core")
    stalled = FaultySecc(secc, Fault(FaultKind.STALL, "ChargeParameterDiscoveryRes"))  # the new Ongoing loop
    began = now
    while ev.ended is None:
        now = _step(ev, stalled, now)
    assert ev.ended.kind is EndKind.TIMEOUT and ev.ended.timer == "V2G_EVCC_Ongoing_Timeout"
    assert ev.ended.state == "ChargeParameterDiscoveryRes"
    assert 60.0 <= now - began <= 60.0 + 2 * secc.config.response_time


def test_stop_during_renegotiation_goes_through_power_delivery_stop() -> None:
    ev, secc, now = _until_renegotiating()
    ev.stop(now, "driver unplugs")
    while ev.ended is None:
        now = _step(ev, secc, now)
    assert ev.ended.kind is EndKind.STOPPED and ev.ended.reason == "driver unplugs"
    assert collapse(secc.received)[-4:] == ["ChargeParameterDiscoveryReq", "PowerDeliveryReq", "WeldingDetectionReq",
                                            "SessionStopReq"]
    assert secc.charge_progress == "Stop" and not secc.errors
    assert [e for e in ev.events() if isinstance(e, Exchange)]
