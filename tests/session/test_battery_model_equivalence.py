"""The bench battery model (evcc.session.battery_model, evcc.session.ac_vehicle.AcBatteryModel) remembers its
vehicle-port answers (benchmarks/session20_bench.py): it must answer exactly what the plain computation answers.

The plain computation is the previous implementation, kept here as the reference (:class:`PlainBattery`,
:class:`PlainAcBattery`). Random sequences (Hypothesis) of port questions, charger output (charging and BPT
discharging), AC supply and assignments to any field from outside (equal values of another type, -0.0, the same
object again, readiness and error codes) are run on both; every answer must have the same type and the same
``repr`` (exact floats, int vs float, the sign of zero), or both must raise the same exception, and the models
end in the same state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.session.ac_vehicle import AcBatteryModel, AcLimits
from evcc.session.attach_vehicle import LabVehicle, VehicleConfig
from evcc.session.battery_model import BatteryModel, BptLimits, EnergyRequest
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets, EVErrorCode


@dataclass
class PlainBattery:
    """The battery model before its answers were remembered (reference only)."""

    capacity_wh: float = 50_000.0
    soc: float = 40.0
    target_soc: float = 80.0
    voltage_empty: float = 330.0
    voltage_full: float = 400.0
    max_voltage: float = 420.0
    max_current: float = 200.0
    max_power: float = 80_000.0
    ready: bool = True
    error: EVErrorCode = "NO_ERROR"
    delivered_wh: float = 0.0
    discharged_wh: float = 0.0
    max_discharge_current: float = 100.0
    max_discharge_power: float = 30_000.0
    min_discharge_soc: int = 20
    departure_time: float | None = None
    _last: float | None = field(default=None, repr=False)

    def dc_status(self, now: float) -> DcStatus:
        return DcStatus(ready=self.ready, soc=int(self.soc), error=self.error)

    def dc_limits(self) -> DcLimits:
        return DcLimits(
            max_voltage=self.max_voltage, max_current=self.max_current, max_power=self.max_power,
            energy_capacity=self.capacity_wh, energy_request=self._energy_to_target(),
            full_soc=100, bulk_soc=80,
        )

    def dc_targets(self, now: float) -> DcTargets:
        done = self.soc >= self.target_soc
        current = 0.0 if done else min(self.max_current, self.max_power / self.battery_voltage(now))
        left = self.target_soc - self.soc
        if 0 < left < 5:
            current *= max(0.2, left / 5)
        power = current * self.battery_voltage(now)
        remaining = self._energy_to_target() / power * 3600 if power > 0 else 0.0
        return DcTargets(
            voltage=min(self.max_voltage, self.battery_voltage(now) + 10.0), current=current,
            charging_complete=done, bulk_complete=self.soc >= 80.0, remaining_time_to_full=remaining,
        )

    def battery_voltage(self, now: float) -> float:
        return self.voltage_empty + (self.voltage_full - self.voltage_empty) * self.soc / 100.0

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        if self._last is not None and now > self._last and current != 0 and voltage > 0:
            wh = voltage * current * (now - self._last) / 3600.0
            self.delivered_wh += wh
            if wh < 0:
                self.discharged_wh -= wh
            self.soc = max(0.0, min(100.0, self.soc + wh / self.capacity_wh * 100.0))
        self._last = now

    def bpt_limits(self, now: float) -> BptLimits:
        return BptLimits(self.max_discharge_current, self.max_discharge_power, self.min_discharge_soc,
                         self.voltage_empty)

    def energy_request(self, now: float) -> EnergyRequest:
        down_to = (self.min_discharge_soc - self.soc) / 100.0 * self.capacity_wh
        full = (100.0 - self.soc) / 100.0 * self.capacity_wh
        return EnergyRequest(target=self._energy_to_target(), minimum=min(0.0, down_to), maximum=max(0.0, full),
                             departure_time=self.departure_time)

    def _energy_to_target(self) -> float:
        return max(0.0, (self.target_soc - self.soc) / 100.0 * self.capacity_wh)


@dataclass
class PlainAcBattery(PlainBattery):
    ac_max_voltage: float = 250.0
    ac_max_current: float = 16.0
    ac_min_current: float = 6.0

    def ac_limits(self) -> AcLimits:
        return AcLimits(
            energy_request=max(0.0, (self.target_soc - self.soc) / 100.0 * self.capacity_wh),
            max_voltage=self.ac_max_voltage, max_current=self.ac_max_current, min_current=self.ac_min_current,
        )

    def ac_charging_complete(self, now: float) -> bool:
        return self.soc >= self.target_soc

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        current = max(0.0, min(self.ac_max_current, max_current))
        self.evse_output(voltage * phases, current, now)


QUESTIONS = ("dc_status", "dc_limits", "dc_targets", "battery_voltage", "bpt_limits", "energy_request",
             "ac_limits", "ac_charging_complete")
NO_NOW = {"dc_limits", "ac_limits"}
NUMBER_FIELDS = ("capacity_wh", "soc", "target_soc", "voltage_empty", "voltage_full", "max_voltage", "max_current",
                 "max_power", "max_discharge_current", "max_discharge_power", "ac_max_voltage", "ac_max_current",
                 "ac_min_current")
SAME_OBJECT = object()  # "assign the field's present value again"

numbers = st.one_of(
    st.floats(min_value=-50.0, max_value=1e6, allow_nan=False),
    st.integers(min_value=0, max_value=500),  # equal to a float the model may hold: 80 vs 80.0
    st.sampled_from([0.0, -0.0, 80.0, 100.0, 50.0, 1e9]),
)
assignments = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(NUMBER_FIELDS), st.one_of(numbers, st.just(SAME_OBJECT))),
    st.tuples(st.just("set"), st.just("ready"), st.booleans()),
    st.tuples(st.just("set"), st.just("error"), st.sampled_from(["NO_ERROR", "FAILED_RESSTemperatureInhibit"])),
    st.tuples(st.just("set"), st.just("min_discharge_soc"), st.integers(min_value=0, max_value=100)),
    st.tuples(st.just("set"), st.just("departure_time"), st.one_of(st.none(), st.floats(0, 1e5))),
)
steps = st.floats(min_value=-0.5, max_value=30.0, allow_nan=False)  # seconds; now and then backwards
operations = st.lists(st.one_of(
    st.tuples(st.just("ask"), st.sampled_from(QUESTIONS)),
    st.tuples(st.just("ask"), st.sampled_from(QUESTIONS)),  # questions twice as often: repeats hit the memo
    st.tuples(st.just("output"), st.floats(-10.0, 900.0), st.floats(-300.0, 400.0), steps),
    st.tuples(st.just("supply"), st.floats(0.0, 400.0), st.floats(-5.0, 80.0), st.sampled_from([1, 3]), steps),
    st.tuples(st.just("tick"), steps),
    assignments,
), max_size=80)
starts = st.fixed_dictionaries({
    "capacity_wh": st.sampled_from([40.0, 400.0, 50_000.0, 1e9]),
    "soc": st.floats(0.0, 100.0), "target_soc": st.sampled_from([80.0, 100.0, 80]),
})


def outcome(call: Any) -> str:
    """The answer's exact form (type and repr: every float digit, int vs float, -0.0), or the exception."""
    try:
        value = call()
    except Exception as exc:  # noqa: BLE001 - the reference raises the same on the same input
        return f"raises {type(exc).__name__}"
    return f"{type(value).__name__} {value!r}"


def state(model: Any) -> str:
    """Every field of the reference model, exactly (the remembered answers are no fields of it)."""
    return repr({f.name: getattr(model, f.name) for f in fields(PlainAcBattery)})


def run_both(start: dict[str, Any], ops: list[tuple[Any, ...]]) -> None:
    new, plain = AcBatteryModel(**start), PlainAcBattery(**start)
    now = 0.0
    for op in ops:
        kind = op[0]
        if kind == "ask":
            name = op[1]
            args = () if name in NO_NOW else (now,)
            assert outcome(lambda: getattr(new, name)(*args)) == outcome(lambda: getattr(plain, name)(*args)), \
                (name, state(plain))
            continue
        now += op[-1] if kind in ("output", "supply", "tick") else 0.0
        if kind == "output":
            assert outcome(lambda: new.evse_output(op[1], op[2], now)) == outcome(
                lambda: plain.evse_output(op[1], op[2], now))
        elif kind == "supply":
            assert outcome(lambda: new.ac_supply(op[1], op[2], op[3], now)) == outcome(
                lambda: plain.ac_supply(op[1], op[2], op[3], now))
        elif kind == "set":
            name, value = op[1], op[2]
            for model in (new, plain):
                setattr(model, name, getattr(model, name) if value is SAME_OBJECT else value)
        assert state(new) == state(plain)


@settings(max_examples=300, deadline=None)
@given(starts, operations)
def test_answers_identical_to_the_plain_computation(start: dict[str, Any], ops: list[tuple[Any, ...]]) -> None:
    run_both(start, ops)


def test_a_charge_loop_like_the_benchmarks_asks() -> None:
    """The -20 DC_BPT order (limits on arrival, output, then status/targets/energy/BPT), charging then
    discharging, 2000 messages: identical answers throughout."""
    ops: list[tuple[Any, ...]] = []
    for i in range(2000):
        current = 150.0 if i < 1200 else -80.0
        ops += [("ask", "dc_limits"), ("output", 400.0, current, 0.25), ("ask", "dc_status"), ("ask", "dc_targets"),
                ("ask", "battery_voltage"), ("ask", "energy_request"), ("ask", "bpt_limits"), ("ask", "ac_limits"),
                ("ask", "ac_limits")]
    run_both({"capacity_wh": 400.0, "soc": 70.0, "target_soc": 80.0}, ops)


def test_unchanged_inputs_give_the_same_answer_object_and_any_assignment_a_new_one() -> None:
    car = AcBatteryModel(capacity_wh=40_000.0, soc=70.0, target_soc=80.0)
    bpt, status, limits, ac = car.bpt_limits(0.0), car.dc_status(0.0), car.dc_limits(), car.ac_limits()
    targets, energy = car.dc_targets(0.0), car.energy_request(0.0)
    assert car.bpt_limits(5.0) is bpt and car.dc_status(5.0) is status and car.dc_limits() is limits
    assert car.ac_limits() is ac and car.dc_targets(5.0) is targets and car.energy_request(5.0) is energy
    car.evse_output(400.0, 100.0, 1.0)
    car.evse_output(400.0, 100.0, 2.0)  # the SoC moves: SoC answers are new, the others stay
    assert 70.0 < car.soc < 71.0 and car.bpt_limits(2.0) is bpt and car.dc_status(2.0) is status
    assert car.dc_limits() is not limits and car.dc_limits().energy_request < limits.energy_request  # type: ignore[operator]
    car.max_discharge_current = 100.0  # an equal value assigned is still an assignment
    assert car.bpt_limits(2.0) is not bpt and car.bpt_limits(2.0) == bpt
    car.min_discharge_soc = 30
    assert car.bpt_limits(2.0).min_discharge_soc == 30
    car.error = "FAILED_RESSTemperatureInhibit"
    assert car.dc_status(2.0).error == "FAILED_RESSTemperatureInhibit"


def test_the_lab_vehicles_pack_voltage_reaches_every_answer() -> None:
    lab = LabVehicle(VehicleConfig(start_soc=50.0, target_soc=80.0, capacity_kwh=1.0, pack_voltage=(40.0, 60.0)))
    assert lab.battery_voltage(0.0) == 50.0 and lab.dc_targets(0.0).voltage == 60.0
    assert lab.bpt_limits(0.0).min_voltage == 40.0 and lab.dc_limits().max_voltage == 63.0


def test_an_overridden_battery_voltage_that_reads_now_is_asked_each_time() -> None:
    class Sagging(BatteryModel):
        def battery_voltage(self, now: float) -> float:
            return 350.0 - now

    car = Sagging(soc=50.0, target_soc=80.0)
    assert car.dc_targets(0.0).voltage == 360.0 and car.dc_targets(10.0).voltage == 350.0


def test_equality_and_repr_know_nothing_of_the_memo() -> None:
    a, b = BatteryModel(soc=50.0), BatteryModel(soc=50.0)
    a.dc_limits()
    a.dc_status(0.0)
    assert a == b and repr(a) == repr(b) and "Memo" not in repr(a)
    assert repr(AcBatteryModel(soc=50.0)).replace("AcBatteryModel", "PlainAcBattery") == repr(PlainAcBattery(soc=50.0))
    assert not math.isnan(a.dc_limits().energy_request or 0.0)
