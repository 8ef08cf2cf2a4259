"""The reason a session ended when something fails while it is already stopping (evcc.session.checks.ending), for
DIN SPEC 70121, ISO 15118-2 and ISO 15118-20 against the bench SECC simulators: the EV's first stop reason stays
(kind and text) and the failure is added as detail; a stop after a completed charge gives way to the failure."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.bench.secc.iso20_responder import Iso20Secc
from evcc.bench.secc.memory import run_in_memory
from evcc.session.battery_model import BatteryModel
from evcc.session.checks import ending
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import EndKind
from evcc.session.iso2 import Iso2Config, Iso2Evcc
from evcc.session.iso2.ac_vehicle import AcBatteryModel
from evcc.session.iso20 import Iso20Config, Iso20Evcc

MAC = bytes.fromhex("0242ac110002")


def _pair(protocol: str, fault: Fault) -> tuple[Any, Any]:
    if protocol == "din":
        return (DinEvcc(DinConfig(evcc_id=MAC), BatteryModel(capacity_wh=40.0, soc=79.0, target_soc=80.0)),
                FaultySecc(DinSecc(), fault))
    if protocol == "iso2":
        return (Iso2Evcc(Iso2Config(evcc_id=MAC), BatteryModel(capacity_wh=40.0, soc=79.0, target_soc=80.0)),
                FaultySecc(Iso2Secc(), fault))
    return (Iso20Evcc(Iso20Config(evcc_id=MAC.hex()), AcBatteryModel(capacity_wh=40.0, soc=79.0, target_soc=80.0)),
            FaultySecc(Iso20Secc(kind="DC"), fault))


PROTOCOLS = ["din", "iso2", "iso20"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failed_session_stop_keeps_the_first_stop_reason(protocol: str) -> None:
    ev, secc = _pair(protocol, Fault(FaultKind.CODE, "SessionStopRes"))
    ev.stop(0.0, "driver unplugged")  # before the session exists: it stops right after SessionSetupRes
    result = run_in_memory(ev, secc)
    assert result.ended.kind is EndKind.STOPPED
    assert result.ended.reason == "driver unplugged (then SessionStopRes: FAILED)"
    assert result.ended.response_code == "FAILED" and result.ended.state.startswith("SessionStopRes")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_silent_charger_while_stopping_keeps_the_first_stop_reason(protocol: str) -> None:
    ev, secc = _pair(protocol, Fault(FaultKind.SILENCE, "SessionStopRes"))
    ev.stop(0.0, "driver unplugged")
    result = run_in_memory(ev, secc)
    assert result.ended.kind is EndKind.STOPPED and result.ended.timer == "V2G_EVCC_Msg_Timeout"
    assert result.ended.reason.startswith("driver unplugged (then V2G_EVCC_Msg_Timeout (")
    assert result.ended.reason.endswith("expired waiting for SessionStopRes)")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failed_session_stop_after_a_completed_charge_is_a_failure(protocol: str) -> None:
    ev, secc = _pair(protocol, Fault(FaultKind.CODE, "SessionStopRes"))
    result = run_in_memory(ev, secc)
    assert result.ended.kind is EndKind.FAILED_RESPONSE and result.ended.response_code == "FAILED"
    assert result.ended.reason == "SessionStopRes: FAILED"
    assert not result.ended.ok


def test_ending_rules() -> None:
    first = (EndKind.STOPPED, "BMS fault")
    assert ending(None, EndKind.TIMEOUT, "t") == (EndKind.TIMEOUT, "t")
    assert ending(first, *first) == first  # the stop itself finishing
    assert ending(first, EndKind.PROTOCOL_ERROR, "x") == (EndKind.STOPPED, "BMS fault (then x)")
    assert ending((EndKind.COMPLETED, "done"), EndKind.FAILED_RESPONSE, "y") == (EndKind.FAILED_RESPONSE, "y")
