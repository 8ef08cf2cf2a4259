"""PowerToleranceAcceptance (ISO 15118-20 §8.3.4.8 PowerDeliveryReq, Scheduled_EVPPTControlMode; XSD
powerToleranceAcceptanceType): present exactly when the selected ScheduleTuple's PowerSchedule carries a
PowerTolerance, PowerToleranceConfirmed unless the configuration says the vehicle cannot follow within it; the
SECC's tolerance answers (OK_PowerToleranceConfirmed, WARNING_PowerToleranceNotConfirmed) are notes, its FAILED
answer ends the session. Against the hand-built peer and against the bench SECC simulator, which insists on the
element whenever it offered a tolerance (as Josev's SECC does)."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig
from evcc.session.events import EndKind, ResponseNote
from tests.session.iso20.helpers import machine, pair, run_typed
from tests.session.iso20.peer import MiniSecc


def _start(secc: MiniSecc) -> Any:
    """The PowerDeliveryReq(Start) the EV sent."""
    return next(r for n, r in zip(secc.received, secc.requests) if n == "PowerDeliveryReq"
                and r.ChargeProgress == "Start")


@pytest.mark.parametrize("service", ["DC", "AC", "DC_BPT", "AC_BPT"])
def test_tolerance_offered_is_confirmed(service: str) -> None:
    result, secc = pair(machine(service=service), MiniSecc(kind=service[:2], power_tolerance=2000.0))
    mode = _start(secc).EVPowerProfile.Scheduled_EVPPTControlMode
    assert mode.SelectedScheduleTupleID == 1
    assert mode.PowerToleranceAcceptance == "PowerToleranceConfirmed"
    assert result.ended.kind is EndKind.COMPLETED, result.ended


def test_vehicle_that_cannot_follow_does_not_confirm() -> None:
    result, secc = pair(machine(confirm_power_tolerance=False), MiniSecc(power_tolerance=500.0))
    assert _start(secc).EVPowerProfile.Scheduled_EVPPTControlMode.PowerToleranceAcceptance == \
        "PowerToleranceNotConfirmed"
    assert result.ended.kind is EndKind.COMPLETED


def test_no_tolerance_no_acceptance() -> None:
    """The element is optional (minOccurs 0): without a PowerTolerance the EV leaves it out."""
    result, secc = pair(machine(), MiniSecc())
    assert _start(secc).EVPowerProfile.Scheduled_EVPPTControlMode.PowerToleranceAcceptance is None
    assert result.ended.kind is EndKind.COMPLETED


def test_dynamic_mode_has_no_acceptance() -> None:
    result, secc = pair(machine(control_mode="Dynamic"), MiniSecc(power_tolerance=2000.0))
    profile = _start(secc).EVPowerProfile
    assert profile.Scheduled_EVPPTControlMode is None and profile.Dynamic_EVPPTControlMode is not None
    assert result.ended.kind is EndKind.COMPLETED


@pytest.mark.parametrize("code", ["OK_PowerToleranceConfirmed", "WARNING_PowerToleranceNotConfirmed"])
def test_tolerance_answer_is_noted_and_charging_goes_on(code: str) -> None:
    def answer(res: Any) -> None:
        if not getattr(answer, "done", False):  # the Start answer only; the Stop answer stays OK
            res.ResponseCode = code
            answer.done = True  # type: ignore[attr-defined]
    result, secc = pair(machine(), MiniSecc(power_tolerance=2000.0, override={"PowerDeliveryRes": answer}))
    assert result.ended.kind is EndKind.COMPLETED
    assert ResponseNote("PowerDeliveryRes", code) in result.events
    assert "DC_ChargeLoopReq" in secc.received


def test_tolerance_failed_ends_the_session() -> None:
    def refuse(res: Any) -> None:
        res.ResponseCode = "FAILED_PowerToleranceNotConfirmed"
    result, secc = pair(machine(confirm_power_tolerance=False),
                        MiniSecc(power_tolerance=2000.0, override={"PowerDeliveryRes": refuse}))
    assert result.ended.kind is EndKind.FAILED_RESPONSE
    assert result.ended.response_code == "FAILED_PowerToleranceNotConfirmed"
    assert "DC_ChargeLoopReq" not in secc.received


def test_selected_tuple_keeps_its_tolerance() -> None:
    ev = machine()
    pair(ev, MiniSecc(power_tolerance=1234.0))
    assert ev.schedule is not None and ev.schedule.power_tolerance == 1234.0


@pytest.mark.parametrize(("confirm", "code"), [(True, "OK_PowerToleranceConfirmed"),
                                               (False, "WARNING_PowerToleranceNotConfirmed")])
@pytest.mark.parametrize("service", ["DC", "AC_BPT"])
def test_against_the_simulator(service: str, confirm: bool, code: str) -> None:
    secc = Iso20Secc(kind=service[:2], config=Iso20SeccConfig(power_tolerance=2000.0))  # type: ignore[arg-type]
    result = run_typed(machine(service=service, confirm_power_tolerance=confirm), secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    expected = "PowerToleranceConfirmed" if confirm else "PowerToleranceNotConfirmed"
    assert secc.record.power_tolerance_acceptance == expected and not secc.record.errors
    assert ResponseNote("PowerDeliveryRes", code) in result.events


def test_simulator_refuses_a_missing_acceptance(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EV that leaves PowerToleranceAcceptance out after a tolerance was offered: the simulator answers
    FAILED_PowerToleranceNotConfirmed and the EV ends with that code."""
    from evcc.session.iso20 import schedule
    monkeypatch.setattr(schedule, "tolerance_acceptance", lambda s, confirm: None)
    secc = Iso20Secc(kind="DC", config=Iso20SeccConfig(power_tolerance=2000.0))
    result = run_typed(machine(), secc)
    assert result.ended.response_code == "FAILED_PowerToleranceNotConfirmed"
    assert secc.record.power_tolerance_acceptance is None

