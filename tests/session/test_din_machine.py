"""DIN EVCC machine details that the paired tests do not reach: the charger's reported output is checked
against the vehicle's limits before the vehicle ever sees it."""

from __future__ import annotations

from evcc.exi import din
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinEvcc, State
from evcc.session.din.values import message, pv
from evcc.session.events import EndKind
from tests.session.test_din_fuzz import _advance


def _current_demand_res(voltage: float, current: float) -> din.CurrentDemandResType:
    status = din.DC_EVSEStatusType(EVSEStatusCode="EVSE_Ready", NotificationMaxDelay=0, EVSENotification="None")
    return din.CurrentDemandResType(
        ResponseCode="OK", DC_EVSEStatus=status, EVSEPresentVoltage=pv(voltage, "V"),
        EVSEPresentCurrent=pv(current, "A"), EVSECurrentLimitAchieved=False, EVSEVoltageLimitAchieved=False,
        EVSEPowerLimitAchieved=False,
    )


def _in_current_demand() -> tuple[DinEvcc, float]:
    for k in range(8, 30):
        ev, now = _advance(k)
        if ev.state is State.WAIT_CURRENT_DEMAND_RES:
            return ev, now
    raise AssertionError("never reached CurrentDemand")


def test_overvoltage_report_stops_in_order_and_is_not_fed_to_the_vehicle() -> None:
    ev, now = _in_current_demand()
    assert isinstance(ev.vehicle, BatteryModel)
    soc_before = ev.vehicle.soc
    ev.receive_message(message(ev.session_id, "CurrentDemandRes", _current_demand_res(900.0, 100.0)), now + 1)
    assert ev.state is State.WAIT_POWER_DELIVERY_STOP_RES
    assert ev.stop_reason == (EndKind.STOPPED, "EVSEPresentVoltage 900.0 V is outside 0..420 V")
    assert ev.vehicle.soc == soc_before
    (req,) = ev.messages_to_send()
    assert req.Body.PowerDeliveryReq is not None and req.Body.PowerDeliveryReq.ReadyToChargeState is False


def test_negative_current_report_stops() -> None:
    ev, now = _in_current_demand()
    ev.receive_message(message(ev.session_id, "CurrentDemandRes", _current_demand_res(380.0, -50.0)), now + 1)
    assert ev.stop_reason is not None and "EVSEPresentCurrent -50.0 A" in ev.stop_reason[1]
