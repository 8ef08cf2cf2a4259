"""A charge loop paced like a car's (issue 13 item 3; evcc.session.pacing): the next CurrentDemandReq (DIN SPEC
70121, ISO 15118-2 DC), ChargingStatusReq (ISO 15118-2 AC) or DC_/AC_ChargeLoopReq (ISO 15118-20) goes out no
sooner than the minimum cycle after the previous one; after a paced wait the vehicle's say is read again (its
stop, its target reached); an answer while nothing is asked ends the session with the reason. A charger that holds
the loop for long with valid answers: the session goes on at the car's pace and its record stays bounded.
Virtual time (evcc.bench simulators in memory), so the tests run in a moment whatever the pace."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from evcc.app.config import parse_config
from evcc.app.machines import protocols
from evcc.app.errors import AppConfigError
from evcc.bench.protocols import EvOptions, SeccOptions, plan_for
from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.bench.vehicle_sim import make_vehicle
from evcc.errors import ConfigError
from evcc.session import cli as session_cli
from evcc.session.battery_model import BatteryModel
from evcc.session.checks import MachineCore
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind
from evcc.session.pacing import DEFAULT_MIN_CYCLE, MAX_MIN_CYCLE, check_min_cycle, effective_min_cycle, with_min_cycle
from evcc.session.session_log import SessionLog
from evcc.session.timeouts import DIN_70121
from tests.session.soak_helpers import Pair

LOOPS = {"din": "CurrentDemandReq", "iso2": "CurrentDemandReq", "iso2-ac": "ChargingStatusReq",
         "iso20-dc": "DC_ChargeLoopReq", "iso20-ac": "AC_ChargeLoopReq"}


def _pair(protocol: str, min_cycle: float, secc: SeccOptions | None = None) -> Pair:
    key = "iso2" if protocol == "iso2-ac" else protocol
    plan = plan_for(key, [key])
    vehicle = make_vehicle(20.0, 80.0, 50.0, 1.0)  # far from full: the charger ends the loop (stop_after_loop)
    options = EvOptions(bytes.fromhex("0242ac110002"), current="ac" if protocol == "iso2-ac" else "dc",
                        min_cycle=min_cycle)
    machine = plan.make_machine(options, vehicle)
    assert isinstance(machine, MachineCore)
    pair = Pair(machine, plan.make_responder(secc or SeccOptions(stop_after_loop=8)), SessionLog(), now=1000.0)
    pair.start()
    return pair


def _loop_times(pair: Pair, protocol: str) -> list[float]:
    return [e.sent_at for e in pair.log.exchanges if e.request == LOOPS[protocol]]


@pytest.mark.parametrize("protocol", sorted(LOOPS))
def test_loop_requests_never_come_faster_than_the_minimum_cycle(protocol: str) -> None:
    pair = _pair(protocol, 0.25)
    pair.run()
    ended = pair.ev.ended
    assert ended is not None and ended.kind is EndKind.STOPPED and "the EVSE asks to" in ended.reason, ended
    times = _loop_times(pair, protocol)
    assert len(times) == 8
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.25 - 1e-9, gaps
    assert max(gaps) < 0.25 + 0.05  # and paced at the cycle: the response came well within it


@pytest.mark.parametrize("protocol", sorted(LOOPS))
def test_unpaced_loop_sends_as_soon_as_the_response_is_handled(protocol: str) -> None:
    pair = _pair(protocol, 0.0)
    pair.run()
    assert pair.ev.ended is not None and pair.ev.ended.kind is EndKind.STOPPED
    times = _loop_times(pair, protocol)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and max(gaps) < 0.25  # the simulated charger's response time, no pacing


def test_the_evs_stop_during_a_paced_wait_goes_out_at_the_cycle_instead_of_the_next_loop_request() -> None:
    pair = _pair("din", 0.25)
    pair.run(until=lambda p: p.ev.pacing)
    pair.ev.stop(pair.now, "the driver pressed stop")  # type: ignore[attr-defined]
    pair.run()
    ended = pair.ev.ended
    assert ended is not None and ended.kind is EndKind.STOPPED and ended.reason == "the driver pressed stop"
    requests = [e.request for e in pair.log.exchanges]
    first_after = requests.index("PowerDeliveryReq", requests.index("CurrentDemandReq"))
    assert "CurrentDemandReq" not in requests[first_after:] and requests[-1] == "SessionStopReq"


@pytest.mark.parametrize("protocol", sorted(LOOPS))
def test_an_answer_while_nothing_was_asked_ends_the_session_with_the_reason(protocol: str) -> None:
    """The charger answers twice: the second copy arrives while the EV paces its loop."""
    pair = _pair(protocol, 0.25)
    pair.run(until=lambda p: p.ev.pacing)
    assert pair.last_to_ev is not None
    pair.route.receive(*pair.last_to_ev, pair.now)
    ended = pair.ev.ended
    assert ended is not None and ended.kind is EndKind.PROTOCOL_ERROR
    assert f"{LOOPS[protocol][:-3]}Res while no request was outstanding" in ended.reason, ended.reason


def test_a_charger_that_holds_the_loop_for_minutes_keeps_the_record_bounded() -> None:
    """10 minutes of valid CurrentDemandRes at a car's 0.1 s cycle (6,000 exchanges), then the EVSE stops."""
    car = BatteryModel(capacity_wh=5_000_000.0, soc=10.0, target_soc=100.0)
    ev = DinEvcc(DinConfig(evcc_id=bytes(6), timers=with_min_cycle(DIN_70121, DEFAULT_MIN_CYCLE)), car)
    pair = Pair(ev, DinSecc(config=DinSeccConfig(stop_after_loop=6000)), SessionLog())
    pair.start()
    pair.run()
    ended = pair.ev.ended
    assert ended is not None and ended.kind is EndKind.STOPPED and "StopCharging" in ended.reason
    loop = pair.log.rtt.stats["CurrentDemandRes"]
    assert loop.count == 6000 and pair.now >= 600.0
    assert len(pair.log.exchanges) <= 2000 and pair.log.exchanges.dropped > 0
    assert pair.log.ev_turn.count >= 6000


def test_min_cycle_limits() -> None:
    assert check_min_cycle(0.0) == 0.0 and check_min_cycle(MAX_MIN_CYCLE) == MAX_MIN_CYCLE
    for bad in (-0.1, MAX_MIN_CYCLE + 0.01, float("nan")):
        with pytest.raises(ConfigError, match="--min-cycle"):
            check_min_cycle(bad)
    assert effective_min_cycle(0.1, 0.2) == 0.2 and effective_min_cycle(0.25, 0.1) == 0.25
    assert effective_min_cycle(0.1, 5.0) == MAX_MIN_CYCLE and effective_min_cycle(0.1) == 0.1


def test_session_cli_refuses_a_min_cycle_out_of_range() -> None:
    parser = argparse.ArgumentParser(prog="evcc")
    session_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["session", "--iface", "lo", "--min-cycle", "0.5"])
    out, err = io.StringIO(), io.StringIO()
    assert session_cli.run(args, out, err) == session_cli.EXIT_CONFIG
    assert "--min-cycle 0.5" in err.getvalue() and err.getvalue().count("\n") == 1


def test_daemon_config_key_and_the_machines_it_builds() -> None:
    doc = {"plc": {"interface": "eth1"}, "hsm": {"pin_file": "token.pin"},
           "session": {"protocols": ["din"], "charge_loop_min_cycle_s": 0.25}}
    cfg = parse_config(doc, Path("/etc/evcc/evcc.toml"))
    assert cfg.session.charge_loop_min_cycle_s == 0.25
    made = protocols(cfg.session).makers["din"](bytes(6), BatteryModel(), None)  # type: ignore[arg-type]
    assert isinstance(made, MachineCore) and made.timers.charge_loop_min_cycle == 0.25
    default = parse_config({**doc, "session": {"protocols": ["din"]}}, Path("/etc/evcc/evcc.toml"))
    made = protocols(default.session).makers["din"](bytes(6), BatteryModel(), None)  # type: ignore[arg-type]
    assert isinstance(made, MachineCore) and made.timers.charge_loop_min_cycle == DEFAULT_MIN_CYCLE  # = BMS period
    with pytest.raises(AppConfigError, match=r"\[session\] charge_loop_min_cycle_s: 2(.0)? outside \[0, 0.4\]"):
        parse_config({**doc, "session": {"protocols": ["din"], "charge_loop_min_cycle_s": 2.0}},
                     Path("/etc/evcc/evcc.toml"))
