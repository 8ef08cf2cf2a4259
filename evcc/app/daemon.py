"""The daemon loop (SERVICE.md "systemd"), the asyncio adapter around the composed parts:

    READY=1 = the configuration is valid, the interface exists, the key store (token) is open and logged in,
              the TLS identity loaded, and the D-Bus name is owned: the HMI can talk to the service
    then      the BMS bridge opens (DBC, CAN bus; cantools and python-can load here, after READY: a failure is
              one line and exit status 3 like any start error, with STATUS= naming it)
    loop: wait for fresh BMS data -> one attempt (SLAC, SDP, session) -> publish -> rest -> again
          (the session stack is imported at the first attempt)
    BMS StopRequested during a session -> the machine stops in order (PowerDelivery stop, SessionStop)
    BMS_PauseRequest set during a session (the driver's "pause charging" or a charging timer, relayed by the VCU)
              -> the -2/-20 machine ends with SessionStop Pause (ISO 15118-2 [V2G2-741]..; -20 ChargingSession
              Pause); no session starts while it is set; once it clears (or at the next plug-in: the BMS data went
              stale and came back) the next attempt asks to continue the paused session (SessionSetupReq with its
              SessionID; a charger that no longer knows it starts a new one)
    every session starts with empty Session.Errors (the last session's stay until then)
    after every session the Contract objects follow the store (CertificateInstallation of a contract asked for
              with Manager.RequestInstallation, evcc.app.pending; CertificateUpdate)
    SIGTERM/SIGINT -> STOPPING=1, the active session stops in order (cut after [session] stop_timeout_s), exit 0
              at any point of the loop: waiting for BMS data, SLAC, SDP, TCP/TLS connect (nothing to end in
              order: cut at once), the session, the rest between sessions
    WATCHDOG=1 every half WatchdogSec while the event loop runs
    loop lag: a probe measures how late a 0.1 s timer fires; the maximum over the last minute is Session.LoopLag
              on D-Bus (ms), p99 and max go into each "session ended" log line and the STATUS= line
    D-Bus lost for good (the HMI service could not reconnect and own its name again): STOPPING=1, the session
              ends in order, exit 3, so that systemd restarts the service (never alive without its API)

Session state goes to D-Bus (Session.State with StateChanged(old, new, reason), SoC, power, energy) and to the
BMS (EVCC_SessionStage, contactor close wish) as the machine moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from evcc.app.cancel import cancel_and_wait
from evcc.app.compose import Parts
from evcc.app.notify import LagWindow, Notifier
from evcc.app.progress import CONTACTOR_STAGES, PROTOCOL_CODES, EnergyMeter, classify, end_state
from evcc.bms_bridge.modes import ChargeMode
from evcc.bms_bridge.state import (
    BridgeEvent, FrameRejected, Protocol as BmsProtocol, InputFresh, InputStale, SessionStage, SessionStatus, StopRequested,
)
from evcc.errors import EvccError
from evcc.hmi.names import SessionState
from evcc.session.limits import Allowance

if TYPE_CHECKING:
    from evcc.app.attempt import Attempt, Outcome
    from evcc.bms_bridge.aio import BmsBridge

LOG = logging.getLogger(__name__)
BMS_WAIT_POLL_S = 0.05
LAG_PROBE_S = 0.1  # the loop-lag probe's timer
LAG_PUBLISH_S = 1.0  # Session.LoopLag refresh
EXIT_API_LOST = 3  # evcc.app.cli's "platform refused" status
VALUES_PERIOD_S = 0.25  # SoC, power, energy to D-Bus while a session runs (the service throttles further)
PHASES = {"slac": (SessionState.SLAC, SessionStage.SLAC, "SLAC: matching with the charger"),
          "sdp": (SessionState.SETUP, SessionStage.SETUP, "looking for the charger (SDP)"),
          "connect": (SessionState.SETUP, SessionStage.SETUP, "connecting to the charger")}


class Daemon:
    def __init__(self, parts: Parts, notifier: Notifier, watchdog_s: float | None,
                 clock: Callable[[], float] = time.monotonic,
                 attempt_class: type[Attempt] | None = None) -> None:
        self.parts = parts
        self.attempt_class = attempt_class  # None: evcc.app.attempt.Attempt (`evcc run`); a subclass: evcc demo only
        self.notifier = notifier
        self.watchdog_s = watchdog_s
        self.clock = clock
        self.stopping = asyncio.Event()
        self.attempt: Attempt | None = None
        self.sessions = 0
        self._meter = EnergyMeter()
        self._why = ""
        self.exit_code = 0
        self.lag = LagWindow()
        self._paused: bytes | None = None  # the SessionID of the session paused by BMS_PauseRequest
        self._pausing = False
        parts.hmi.on_lost = self.api_lost

    # --- events from the parts ----------------------------------------------------------------------------
    def on_bridge_event(self, event: BridgeEvent) -> None:
        if isinstance(event, StopRequested):
            LOG.warning("BMS asks to stop", extra={"fields": {"reason": event.reason.name, "detail": event.detail}})
            if self.attempt is not None and self.attempt.stop(f"BMS: {event.reason.name}: {event.detail}"):
                self.parts.hmi.update_session(errors=(f"BMS: {event.detail}",))
        elif isinstance(event, InputStale):
            LOG.warning("BMS frame stale", extra={"fields": {"frame": event.frame, "age_s": event.age}})
        elif isinstance(event, InputFresh):
            LOG.info("BMS frame fresh again", extra={"fields": {"frame": event.frame}})
        elif isinstance(event, FrameRejected):
            LOG.debug("BMS frame rejected", extra={"fields": {"frame": event.frame, "reason": event.reason}})

    def _phase(self, phase: str) -> None:
        state, stage, text = PHASES[phase]
        self._publish(state, stage, text, "")
        self.notifier.status(text)

    def _state(self, protocol: str, machine_state: str) -> None:
        known = classify(machine_state)
        if known is None:
            return
        state, stage = known
        self._publish(state, stage, f"waiting for {machine_state}", protocol)
        self.notifier.status(f"session ({protocol}): {state.name.lower()}")

    def _publish(self, state: SessionState, stage: SessionStage, reason: str, protocol: str) -> None:
        self.parts.hmi.set_state(state, reason)
        if protocol:
            self.parts.hmi.update_session(protocol=protocol)
        self.parts.bridge.core.set_session(SessionStatus(
            stage=stage, protocol=PROTOCOL_CODES.get(protocol, BmsProtocol.NONE),
            energy_transfer=self.parts.config.bms.mode if protocol else ChargeMode.NONE,
            contactors_wanted=stage in CONTACTOR_STAGES))
        self._values()

    def _values(self) -> None:
        now = self.clock()
        voltage, current = self.parts.bridge.core.evse_present
        soc = self.parts.bridge.vehicle.dc_status(now).soc
        self.parts.hmi.update_session(soc=float(soc), power=voltage * current,
                                      energy=self._meter.sample(voltage, current, now))
        self.parts.hmi.set_limit(self._limit())

    def _limit(self) -> str:
        """Session.Limit: what the EV may ask for now and what set it (evcc.session.limits, issue 19)."""
        machine = self.attempt.machine if self.attempt is not None else None
        tracker = getattr(getattr(machine, "inner", None), "limits", None)
        current = getattr(tracker, "current", None)
        return current.describe() if isinstance(current, Allowance) else ""

    def _check_pause(self) -> None:
        """BMS_PauseRequest during a session: pause it once (the machine ends with SessionStop Pause); a DIN SPEC
        70121 session has no pause and stops (no session starts again until the request clears)."""
        attempt = self.attempt
        if self._pausing or attempt is None or attempt.machine is None or not self.parts.bridge.core.pause_requested:
            return  # before the machine runs: at the next tick
        self._pausing = True
        reason = "the vehicle asks to pause (BMS_PauseRequest)"
        if attempt.pause(reason):
            LOG.info("pausing the session (BMS_PauseRequest)")
        elif attempt.stop(f"{reason}; this protocol has no pause: stopping"):
            LOG.info("stopping the session (BMS_PauseRequest; the protocol has no pause)")

    def api_lost(self, why: str) -> None:
        self.exit_code = EXIT_API_LOST
        self.request_stop(why)

    # --- stopping -----------------------------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        if self.stopping.is_set():
            return
        LOG.info("stopping", extra={"fields": {"why": why}})
        self.notifier.stopping(f"stopping ({why})")
        self._why = why
        self.stopping.set()  # the loop and a running attempt see it (_outcome)

    # --- the loop -----------------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            loop.add_signal_handler(sig, self.request_stop, name)
        helpers: list[asyncio.Task[None]] = []
        if self.watchdog_s is not None:
            helpers.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        helpers.append(asyncio.create_task(self._lag_probe(), name="loop-lag"))
        try:
            await self.parts.hmi.start()
            self.parts.hmi.set_state(SessionState.IDLE, "started")
            self.notifier.ready("opening the BMS bridge")
            LOG.info("ready", extra={"fields": {"interface": self.parts.config.plc.interface,
                                                "protocols": ",".join(self.parts.config.session.protocols),
                                                "cpu_s": round(time.process_time(), 3)}})
            helpers.append(asyncio.create_task(self._open_bridge().run(), name="bms-bridge"))
            while not self.stopping.is_set():
                if await self._wait_for_bms():
                    await self._one_session()
                    if self._paused is not None:
                        await self._wait_for_resume()
                    await self._rest(self.parts.config.session.restart_delay_s)
        finally:
            for task in helpers:
                await cancel_and_wait(task)
                if not task.cancelled() and task.exception() is not None:
                    LOG.error("%s ended with an error: %s", task.get_name(), task.exception())
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        LOG.info("stopped", extra={"fields": {"sessions": self.sessions, "exit": self.exit_code}})
        return self.exit_code

    def _open_bridge(self) -> BmsBridge:
        try:
            return self.parts.open_bridge(self.on_bridge_event)
        except EvccError as exc:
            self.notifier.status(f"BMS bridge: {exc}")
            raise

    async def _wait_for_bms(self) -> bool:
        announced = False
        while not self.stopping.is_set():
            core = self.parts.bridge.core
            if core.is_fresh() and core.stop is None and not core.pause_requested:
                return True
            if not announced:
                self.notifier.status("waiting for BMS data")
                announced = True
            await self._rest(BMS_WAIT_POLL_S)
        return False

    async def _wait_for_resume(self) -> None:
        """Paused: until BMS_PauseRequest clears with fresh BMS data (also after an unplug and a new plug-in)."""
        self.notifier.status("session paused; waiting for BMS_PauseRequest to clear or the next plug-in")
        core = self.parts.bridge.core
        while not self.stopping.is_set():
            if core.is_fresh() and not core.pause_requested:
                LOG.info("resuming the paused session")
                return
            await self._rest(BMS_WAIT_POLL_S)

    async def _rest(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()

    async def _one_session(self) -> None:
        from evcc.app.attempt import Attempt

        self._meter = EnergyMeter()
        self.parts.hmi.update_session(errors=())  # the last session's errors end with it
        resume, self._paused, self._pausing = self._paused, None, False
        self.attempt = attempt = (self.attempt_class or Attempt)(self.parts, self._phase, self._state, self.clock,
                                                                   resume)
        task = asyncio.create_task(attempt.run(), name="session")
        ticker = asyncio.create_task(self._tick(), name="session-values")
        try:
            outcome = await self._outcome(attempt, task)
        finally:
            self.attempt = None
            await cancel_and_wait(ticker)
        self._paused = attempt.paused_session() if outcome.report is not None else None
        self.parts.hmi.sync_contracts()  # a contract installed (or renewed) in the session appears on D-Bus
        self._finish(outcome)

    async def _outcome(self, attempt: Attempt, task: asyncio.Task[Outcome]) -> Outcome:
        """The attempt's outcome; on a stop request: the orderly end of a running machine (cut after
        stop_timeout_s), else (SLAC, SDP, connecting, negotiating) cut at once."""
        from evcc.app.attempt import Outcome

        stop = asyncio.create_task(self.stopping.wait(), name="stop-request")
        try:
            await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(stop)
        if not task.done():
            if attempt.stop(f"service stopping ({self._why})"):
                await asyncio.wait((task,), timeout=self.parts.config.session.stop_timeout_s)
            await cancel_and_wait(task)
        if task.cancelled():
            return Outcome(None, "cut by the service stopping", "stopping")
        return task.result()

    def _finish(self, outcome: Outcome) -> None:
        report = outcome.report
        if report is None:
            LOG.info("no session", extra={"fields": {"phase": outcome.phase, "reason": outcome.reason}})
            self._publish(SessionState.IDLE, SessionStage.IDLE, outcome.reason, "")
            return
        self.sessions += 1
        state, stage = end_state(report.ended)
        level = logging.INFO if state is SessionState.STOPPED else logging.WARNING
        LOG.log(level, "session ended", extra={"fields": {
            "protocol": report.protocol, "kind": report.ended.kind.value, "reason": report.ended.reason,
            "state": report.ended.state, "duration_s": round(report.finished - report.started, 3),
            "loop_lag_p99_ms": round(self.lag.quantile(0.99) * 1000, 2),
            "loop_lag_max_ms": round(self.lag.max() * 1000, 2)}})
        self._publish(state, stage, f"{report.ended.kind.value}: {report.ended.reason}", report.protocol or "")
        self.parts.bridge.core.set_session(SessionStatus(stage=SessionStage.IDLE))
        self.notifier.status(f"session ended ({report.ended.kind.value}); waiting for the next one")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(VALUES_PERIOD_S)
            self._values()
            self._check_pause()

    async def _lag_probe(self) -> None:
        published = self.clock()
        while True:
            before = self.clock()
            await asyncio.sleep(LAG_PROBE_S)
            now = self.clock()
            self.lag.add(now, now - before - LAG_PROBE_S)
            if now - published >= LAG_PUBLISH_S:
                published = now
                self.parts.hmi.update_session(loop_lag_ms=round(self.lag.max() * 1000, 1))
                self.notifier.loop_lag(self.lag.quantile(0.99), self.lag.max())

    async def _watchdog(self) -> None:
        assert self.watchdog_s is not None
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(self.watchdog_s)
