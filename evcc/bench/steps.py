"""Scripted steps of a bench scenario (sans-IO): the EV stops or pauses when its SoC reaches a value (from below
while charging; from above when the SoC started above it: an ISO 15118-20 BPT discharge), and resumes a paused
ISO 15118-2 / -20 session ([V2G2-741]: SessionStopReq ChargingSession=Pause, then SessionSetupReq with the
stored SessionID). The driver watches the vehicle (an observer of :class:`ScaledVehicle`) and asks the running
machine to stop, which it does in order at its next message (PowerDelivery Stop, WeldingDetection, SessionStop).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from evcc.bench.scenario import Step
from evcc.bench.vehicle_sim import VehicleSnapshot


class Pausable(Protocol):
    """The ISO 15118-2 machine's stop (DIN's has no ``pause``: the scenario refuses pause steps for DIN)."""

    def stop(self, now: float, reason: str, pause: bool = False) -> None: ...


class StepDriver:
    def __init__(self, steps: Sequence[Step]) -> None:
        self._steps = list(steps)
        self.machine: object | None = None  # the running EV machine
        self.done: list[str] = []  # what was done, for the report
        self._start_soc: float | None = None  # SoC at the first observation: the side a step's SoC is reached from

    def observe(self, snap: VehicleSnapshot) -> None:
        if self._start_soc is None:
            self._start_soc = snap.soc
        if not self._steps or self.machine is None:
            return
        step = self._steps[0]
        if step.action not in ("pause", "stop") or step.at_soc is None:
            return
        falling = self._start_soc > step.at_soc
        if (snap.soc > step.at_soc) if falling else (snap.soc < step.at_soc):
            return
        self._steps.pop(0)
        reason = step.reason or f"scenario step: {step.action} at SoC {step.at_soc:g} %"
        machine = cast(Pausable, self.machine)
        if step.action == "pause":
            machine.stop(snap.now, reason, pause=True)
        else:
            machine.stop(snap.now, reason)
        self.done.append(f"{step.action} at SoC {snap.soc:.1f} %")

    def resume_after(self) -> float | None:
        """After a paused session: the delay before resuming when the next step is ``resume``, else None."""
        if self._steps and self._steps[0].action == "resume":
            step = self._steps.pop(0)
            self.done.append(f"resume after {step.after_s:g} s")
            return step.after_s
        return None
