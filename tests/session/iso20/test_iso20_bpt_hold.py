"""DC_BPT and AC_BPT Dynamic at the vehicle's minimum SoC while the grid still asks for power back
(evcc.session.iso20.bpt_hold): the vehicle reports discharge limits of 0 and holds 0 (never below its minimum),
then ends in order after Iso20Config.no_discharge_hold with SessionStopReq EVTerminationCode
NoDischargeAllowed; a DC charger that keeps discharging regardless is stopped at once; charge from the EVSE
resets the hold. Against the bench's -20 SECC (which respects the EV's limits, as a charger should) and the
hand-built peer (which does not)."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig
from evcc.session.events import EndKind, Exchange
from evcc.session.iso20.bpt_hold import RAMP_DOWN, TERMINATION_CODE
from evcc.session.iso20.values import number
from tests.session.iso20.helpers import Recorder, car, machine, pair, run_typed
from tests.session.iso20.peer import MiniSecc

HOLD = 5.0  # s; the default is 60 s
MIN_SOC = 20
STEPS = 50_000  # a few thousand suffice; a session that never ends fails fast


def _discharge_limits(requests: list[tuple[str, Any]], mode: str) -> list[tuple[float, float]]:
    out = []
    for name, msg in requests:
        m = getattr(msg, mode, None) if name.endswith("ChargeLoopReq") else None
        if m is not None:
            out.append((number(m.EVMaximumDischargePower) or 0.0, float(msg.DisplayParameters.PresentSOC)))
    return out


@pytest.mark.parametrize("service", ["DC_BPT", "AC_BPT"])
def test_grid_asking_for_power_back_at_the_minimum_soc_ends_in_order(service: str) -> None:
    vehicle = car(soc=21.0, target=80.0, min_discharge_soc=MIN_SOC)
    ev = machine(vehicle, service=service, control_mode="Dynamic", no_discharge_hold=HOLD)
    secc = Recorder(Iso20Secc(kind="DC" if service == "DC_BPT" else "AC",
                              config=Iso20SeccConfig(dynamic_power=-20_000.0)))
    result = run_typed(ev, secc, max_steps=STEPS)
    assert result.ended.kind is EndKind.STOPPED, result.ended
    assert "can give nothing back" in result.ended.reason and f"{HOLD:.0f} s" in result.ended.reason
    assert vehicle.discharged_wh > 0  # it gave back down to its minimum ...
    assert vehicle.soc >= MIN_SOC - 0.5  # ... and no further (the EVSE follows the zero limits)
    limits = _discharge_limits(secc.requests, f"BPT_Dynamic_{service[:2]}_CLReqControlMode")
    assert limits[0][0] > 0 and all(power == 0.0 for power, soc in limits if soc <= MIN_SOC)
    held = [i for i, (power, _) in enumerate(limits) if power == 0.0]
    assert held and held == list(range(held[0], len(limits)))  # once at the minimum it stays at 0
    names = secc.names()
    assert names[-1] == "SessionStopReq" and secc.last("PowerDeliveryReq").ChargeProgress == "Stop"
    if service == "DC_BPT":
        assert names[-2] == "DC_WeldingDetectionReq"
    stop = secc.last("SessionStopReq")
    assert stop.ChargingSession == "Terminate" and stop.EVTerminationCode == TERMINATION_CODE
    assert stop.EVTerminationExplanation.startswith("the vehicle can give nothing back")


def test_hold_lasts_no_discharge_hold_seconds() -> None:
    vehicle = car(soc=20.0, target=80.0, min_discharge_soc=MIN_SOC)  # at the minimum from the start
    ev = machine(vehicle, service="AC_BPT", control_mode="Dynamic", no_discharge_hold=HOLD)
    secc = MiniSecc(kind="AC", dynamic_power=-20_000.0)
    result, _ = pair(ev, secc, STEPS)
    assert result.ended.kind is EndKind.STOPPED, result.ended
    assert vehicle.discharged_wh == 0.0 and vehicle.soc == 20.0  # AC: the EV's own charger held 0 throughout
    first_loop = next(e.sent_at for e in result.events if isinstance(e, Exchange) and e.request == "AC_ChargeLoopReq")
    assert HOLD <= result.end_time - first_loop <= HOLD + 1.0


def test_dc_charger_that_keeps_discharging_is_stopped_at_once() -> None:
    """The hand-built peer ignores the EV's zero discharge limits: the EV stops within RAMP_DOWN, not HOLD."""
    vehicle = car(soc=21.0, target=80.0, min_discharge_soc=MIN_SOC)
    ev = machine(vehicle, service="DC_BPT", control_mode="Dynamic", no_discharge_hold=60.0)
    secc = MiniSecc(kind="DC", dynamic_power=-20_000.0)
    result, _ = pair(ev, secc, STEPS)
    assert result.ended.kind is EndKind.STOPPED, result.ended
    assert "keeps discharging" in result.ended.reason
    assert vehicle.soc >= MIN_SOC - 1.0  # about RAMP_DOWN s of the charger's discharge, no more
    assert ev.no_discharge_since is not None and result.end_time - ev.no_discharge_since < RAMP_DOWN + 1.0
    assert secc.requests[-1].EVTerminationCode == TERMINATION_CODE


def test_charge_from_the_evse_resets_the_hold() -> None:
    """The grid asks for power back for 3 s at the minimum (hold 5 s), then charges: the session completes."""
    vehicle = car(soc=20.0, target=22.0, min_discharge_soc=MIN_SOC)
    secc = MiniSecc(kind="AC", dynamic_power=-20_000.0)

    def grid(res: object) -> None:
        if secc.loops == 300:  # 300 loop messages at 0.01 s: 3 s of holding
            secc.dynamic_power = 11_000.0
    secc.override["AC_ChargeLoopRes"] = grid
    ev = machine(vehicle, service="AC_BPT", control_mode="Dynamic", no_discharge_hold=HOLD)
    result, _ = pair(ev, secc, STEPS)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert vehicle.soc >= 22.0 and ev.no_discharge_since is None


def test_no_discharge_hold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="no_discharge_hold"):
        machine(service="DC_BPT", no_discharge_hold=0.0)
