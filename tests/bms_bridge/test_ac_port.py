"""AC over the bridge (issue 6 point 2, issue 7 AC): :class:`BridgeVehicle` is the AC vehicle port
(evcc.session.ac_vehicle.AcVehiclePort) the ISO 15118-2 and -20 AC machines call. BMS_AcRequest reaches
AC_EVChargeParameter; the EVSE's offer goes back in EVCC_EvsePresent (AcNominalVoltage, AcMaxCurrent); the
bench battery charges through the bridge until BMS_ChargingComplete ends the session in order. The bridge is
stepped on the same injected clock as the in-memory pairing (the responder moves it before answering)."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.iso20_responder import Iso20Secc
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.bench.secc.memory import run_in_memory
from evcc.bms_bridge.codec import ChargeMode
from evcc.bms_bridge.state import SessionStage, SessionStatus
from evcc.session.ac_vehicle import AcVehiclePort
from evcc.session.battery_model import BatteryModel
from evcc.session.events import EndKind
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso20 import Iso20Config
from evcc.session.iso20.machine import Iso20Evcc

from .pair import Pair

CHARGING = SessionStatus(stage=SessionStage.CHARGING, energy_transfer=ChargeMode.AC, contactors_wanted=True)


def test_bridge_vehicle_is_the_ac_vehicle_port() -> None:
    pair = Pair(mode=ChargeMode.AC)
    port: AcVehiclePort = pair.vehicle  # mypy checks the structure; isinstance the run-time protocol
    assert isinstance(port, AcVehiclePort)


def test_ac_limits_and_their_safe_values_when_stale() -> None:
    pair = Pair(mode=ChargeMode.AC, freshness=0.5)
    pair.bms.ac_max_current = 16.0
    pair.run_until(0.3)
    ac = pair.vehicle.ac_limits()
    assert (ac.max_voltage, ac.max_current, ac.min_current) == (230.0, 16.0, 6.0)
    assert ac.energy_request == pytest.approx(20_000.0, abs=10) and ac.departure_time is None
    pair.bms.silent_frames = frozenset({"BMS_AcRequest"})
    pair.run_until(1.0)
    assert "BMS_AcRequest stale" in pair.stops()[0][1].detail
    assert pair.vehicle.ac_limits().max_current == 0.0


def test_ac_supply_goes_to_the_bms_and_closes_the_relay_without_voltage_matching() -> None:
    pair = Pair(mode=ChargeMode.AC)
    pair.run_until(0.3)
    pair.core.set_session(CHARGING)
    pair.vehicle.ac_supply(230.0, 16.0, 3, pair.now)
    pair.run_until(0.6)
    assert pair.bms.contactors_closed
    present = pair.bms.evcc_status
    assert present["EVCC_ContactorCloseRequest"] == 1
    pair.core.set_session(SessionStatus(stage=SessionStage.IDLE))
    pair.run_until(0.9)
    assert not pair.bms.contactors_closed


class _Stepped:
    """Moves the bridge pair to the responder's clock before each answer (one clock for both)."""

    pair: Pair

    def messages_to_send(self, now: float) -> list[Any]:
        self.pair.run_until(now)
        out: list[Any] = super().messages_to_send(now)  # type: ignore[misc]
        return out


class SteppedIso2Secc(_Stepped, Iso2Secc):
    pass


class SteppedIso20Secc(_Stepped, Iso20Secc):
    pass


def _charging_pair(soc: float) -> Pair:
    pair = Pair(mode=ChargeMode.AC, model=BatteryModel(capacity_wh=30.0, soc=soc, target_soc=80.0))
    pair.run_until(0.3)
    pair.core.set_session(CHARGING)
    return pair


def test_iso2_ac_session_over_the_bridge_until_the_bms_is_complete() -> None:
    pair = _charging_pair(78.0)
    secc = SteppedIso2Secc()
    secc.pair = pair
    ev = Iso2Evcc(Iso2Config(evcc_id=bytes(6), energy_transfer_mode="AC_three_phase_core",
                             payment="ExternalPayment"), pair.vehicle)
    result = run_in_memory(ev, secc, now=pair.now)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert pair.model.soc >= 80.0 and "ChargingStatusReq" in secc.received
    assert secc.received[-2:] == ["PowerDeliveryReq", "SessionStopReq"]
    assert pair.bms.evcc_status and pair.core.evse_present[0] == pytest.approx(230.0)


def test_iso20_ac_session_over_the_bridge_until_the_bms_is_complete() -> None:
    pair = _charging_pair(79.0)
    secc = SteppedIso20Secc(kind="AC")
    secc.pair = pair
    ev = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", service="AC", unix_time_offset=1_700_000_000.0), pair.vehicle)
    result = run_in_memory(ev, secc, now=pair.now)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert "AC_ChargeLoopReq" in secc.record.received and secc.record.received[-1] == "SessionStopReq"
    assert pair.model.soc >= 80.0
