"""ISO 15118-20 bidirectional mapping (issue 6 point 2): the bridge's vehicle port is the -20 machine's
:class:`~evcc.session.iso20.vehicle.Iso20VehiclePort`, and the BMS_BptLimits / BMS_Energy values the bench
battery sends over the DBC reach the -20 request builders (BPT_DC_CPDReqEnergyTransferMode, ScheduleExchange)
unchanged; at or below the BMS's minimum discharge SoC, or with stale BPT data, nothing is offered back."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bms_bridge.codec import ChargeMode
from evcc.exi import iso20_dc
from evcc.session.battery_model import BatteryModel
from evcc.session.iso20.config import Iso20Config
from evcc.session.iso20.requests import dc_charge_parameters, energy
from evcc.session.iso20.vehicle import Iso20VehiclePort

from .pair import Pair

BPT = Iso20Config(evcc_id="EVCC1", service="DC_BPT")


def _value(r: Any) -> float:
    return float(r.Value * 10**r.Exponent)


def test_bridge_vehicle_is_the_iso20_vehicle_port() -> None:
    pair = Pair(mode=ChargeMode.DC_BPT)
    port: Iso20VehiclePort = pair.vehicle  # mypy checks the structure; isinstance the run-time protocol
    assert isinstance(port, Iso20VehiclePort)


def test_bms_discharge_limits_reach_the_bpt_charge_parameters() -> None:
    pair = Pair(mode=ChargeMode.DC_BPT, model=BatteryModel(soc=60.0))
    pair.bms.max_discharge_current, pair.bms.max_discharge_power = 80.0, 25_000.0
    pair.run_until(0.3)
    fields = dc_charge_parameters(iso20_dc, pair.vehicle, BPT, pair.now)
    mode = fields["BPT_DC_CPDReqEnergyTransferMode"]
    assert _value(mode.EVMaximumDischargeCurrent) == pytest.approx(80.0)
    assert _value(mode.EVMaximumDischargePower) == pytest.approx(25_000.0)
    assert _value(mode.EVMinimumVoltage) == pytest.approx(pair.model.voltage_empty)
    e = energy(pair.vehicle, BPT, pair.now)
    assert e.maximum == pytest.approx((100.0 - 60.0) / 100.0 * pair.model.capacity_wh, abs=10)


def test_no_discharge_at_the_minimum_soc_or_with_stale_bpt_data() -> None:
    pair = Pair(mode=ChargeMode.DC_BPT, model=BatteryModel(soc=20.0), freshness=0.5)
    pair.run_until(0.3)
    mode = dc_charge_parameters(iso20_dc, pair.vehicle, BPT, pair.now)["BPT_DC_CPDReqEnergyTransferMode"]
    assert _value(mode.EVMaximumDischargeCurrent) == 0.0 and _value(mode.EVMaximumDischargePower) == 0.0
    pair.model.soc = 70.0
    pair.bms.silent_frames = frozenset({"BMS_BptLimits"})
    pair.run_until(1.0)
    mode = dc_charge_parameters(iso20_dc, pair.vehicle, BPT, pair.now)["BPT_DC_CPDReqEnergyTransferMode"]
    assert _value(mode.EVMaximumDischargeCurrent) == 0.0
