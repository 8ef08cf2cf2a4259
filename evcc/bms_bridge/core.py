"""Sans-IO core of the BMS bridge (BMS.md "safety rules the bridge must enforce").

    receive_frame(id, data, now) -> events     BMS_* frames: checked, stored, deadline refreshed
    handle_timer(now)            -> events     freshness deadlines of the required frames
    frames_due(now)              -> frames     EVCC_* frames, every BMS_CycleTime
    next_deadline()              -> float      the earliest of the above
    set_session(status) / evse_output(v, i)    what the session tells the vehicle

Rules: a required BMS frame (per charge mode, codec.REQUIRED_FRAMES) that has not been accepted within its
freshness deadline is stale; stale, an emergency stop, an error code other than NO_ERROR or the vehicle's stop
request raise one :class:`StopRequested` and latch: the contactor close request is dropped at once and stays
dropped until the session goes back to Idle/SLAC. A frame is accepted only if it has the DBC length, every value
in range, this protocol version and (BMS_Status) an alive counter that moved. The close request is raised only
while the session wants it, every required frame is fresh, nothing is latched, and (to close) the charger's
present voltage is within ``contactor_tolerance_v`` of the battery voltage (DC; in AC mode the close request is
the on-board charger's relay and has no voltages to match). Never reads a clock: :attr:`now` is the time of the
latest input the adapter handed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from evcc.bms_bridge.codec import MAX_STANDARD_ID, PROTOCOL_VERSION, REQUIRED_FRAMES, BmsCodec, ChargeMode, Values
from evcc.bms_bridge.config import BridgeConfig
from evcc.bms_bridge.errors import BmsFrameError
from evcc.bms_bridge.state import (
    IDLE_STAGES, BridgeEvent, FrameRejected, InputFresh, InputStale, SessionStatus, StopReason,
    StopRequested,
)
from evcc.bms_bridge.tx import TxCounters, encode_evcc_frames
from evcc.session.vehicle import EVErrorCode

Frame = tuple[int, bytes]
# BMS_ErrorCode values (the DBC's VAL_ order) as the vehicle port's DC_EVErrorCode names.
ERROR_NAMES: tuple[EVErrorCode, ...] = ("NO_ERROR", "FAILED_RESSTemperatureInhibit", "FAILED_EVShiftPosition",
               "FAILED_ChargerConnectorLockFault", "FAILED_EVRESSMalfunction", "FAILED_ChargingCurrentdifferential",
               "FAILED_ChargingVoltageOutOfRange", "FAILED_ChargingSystemIncompatibility", "NoData")


@dataclass
class _Input:
    values: Values | None = None
    accepted_at: float | None = None
    stale: bool = False
    last_rejection: str = ""


@dataclass
class BridgeCore:
    config: BridgeConfig
    codec: BmsCodec
    started: float
    session: SessionStatus = field(default_factory=SessionStatus)
    counters: TxCounters = field(default_factory=TxCounters)
    _inputs: dict[str, _Input] = field(default_factory=dict)
    _latched: StopRequested | None = None
    _contactor_request: bool = False
    _evse_present: tuple[float, float] = (0.0, 0.0)
    _next_tx: float | None = None
    _now: float = 0.0
    _ac_supply: tuple[float, float] | None = None  # nominal voltage, max current per phase (AC sessions)
    _own_ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        self._inputs = {name: _Input() for name in self.codec.frames_of("BMS")}
        self._own_ids = frozenset(self.codec.frame_id(n) for n in self.codec.frames_of("EVCC"))
        self._next_tx = self.started

    # --- inputs -------------------------------------------------------------------------------------------
    @property
    def required(self) -> tuple[str, ...]:
        return REQUIRED_FRAMES[self.config.mode]

    def values(self, frame: str) -> Values | None:
        """The last accepted values of a BMS frame (kept while stale: read :meth:`is_fresh` too)."""
        return self._inputs[frame].values

    def fresh_values(self, frame: str, now: float) -> Values | None:
        """Values of a frame accepted within its deadline (for frames that the mode does not require)."""
        slot = self._inputs[frame]
        if slot.accepted_at is None or now - slot.accepted_at >= self.config.deadline_of(frame):
            return None
        return slot.values

    def is_fresh(self, frame: str | None = None) -> bool:
        frames = self.required if frame is None else (frame,)
        return all(self._inputs[f].values is not None and not self._inputs[f].stale for f in frames)

    @property
    def stop(self) -> StopRequested | None:
        """The latched stop, if any."""
        return self._latched

    @property
    def pause_requested(self) -> bool:
        """BMS_PauseRequest of the latest fresh BMS_Status: the vehicle wants no charging now, the session it
        paused to be resumed once the bit clears (a level, not a latch; stale data is no request)."""
        status = self._inputs["BMS_Status"].values
        return status is not None and self.is_fresh("BMS_Status") and bool(status.get("BMS_PauseRequest", 0))

    @property
    def now(self) -> float:
        """The time of the latest input the adapter handed in (frame, timer or transmit cycle)."""
        return max(self._now, self.started)

    def receive_frame(self, frame_id: int, data: bytes, now: float, is_extended: bool = False) -> list[BridgeEvent]:
        self._now = max(self._now, now)
        if is_extended or frame_id > MAX_STANDARD_ID or frame_id in self._own_ids:
            return []
        if frame_id not in self.codec.by_id:
            self.counters.unknown_frames += 1
            return []
        try:
            name, values = self.codec.decode(frame_id, data)
            self._check(name, values)
        except BmsFrameError as exc:
            name = self.codec.by_id[frame_id].name
            self._inputs[name].last_rejection = str(exc)
            self.counters.rejected_frames += 1
            return [FrameRejected(name, str(exc))]
        slot = self._inputs[name]
        slot.values, slot.accepted_at, slot.last_rejection = values, now, ""
        events: list[BridgeEvent] = []
        if slot.stale:
            slot.stale = False
            events.append(InputFresh(name))
        return events + self._check_stop(now)

    def _check(self, name: str, values: Values) -> None:
        if name != "BMS_Status":
            return
        if int(values["BMS_ProtocolVersion"]) != PROTOCOL_VERSION:
            raise BmsFrameError(f"BMS_Status.BMS_ProtocolVersion = {int(values['BMS_ProtocolVersion'])}, "
                                f"this bridge speaks {PROTOCOL_VERSION}")
        old = self._inputs[name].values
        if old is not None and old["BMS_AliveCounter"] == values["BMS_AliveCounter"]:
            raise BmsFrameError(f"BMS_Status.BMS_AliveCounter frozen at {int(values['BMS_AliveCounter'])}")

    def handle_timer(self, now: float) -> list[BridgeEvent]:
        self._now = max(self._now, now)
        events: list[BridgeEvent] = []
        for name in self.required:
            slot = self._inputs[name]
            since = slot.accepted_at if slot.accepted_at is not None else self.started
            if not slot.stale and now >= since + self.config.deadline_of(name):
                slot.stale = True
                self.counters.bms_timeouts += 1
                age = None if slot.accepted_at is None else now - slot.accepted_at
                events.append(InputStale(name, age))
        return events + self._check_stop(now)

    def _stop_cause(self, now: float) -> tuple[StopReason, str] | None:
        stale = [n for n in self.required if self._inputs[n].stale]
        if stale:
            parts = []
            for n in stale:
                slot = self._inputs[n]
                what = "never received" if slot.accepted_at is None else f"stale for {now - slot.accepted_at:.2f} s"
                parts.append(f"{n} {what}" + (f" (last rejected: {slot.last_rejection})" if slot.last_rejection else ""))
            return StopReason.BMS_TIMEOUT, "; ".join(parts)
        status = self._inputs["BMS_Status"].values
        if status is None:
            return None
        if status["BMS_EmergencyStop"]:
            return StopReason.BMS_EMERGENCY_STOP, "BMS_EmergencyStop set"
        if status["BMS_ErrorCode"]:
            return StopReason.BMS_ERROR, f"BMS_ErrorCode {ERROR_NAMES[int(status['BMS_ErrorCode'])]}"
        if status["BMS_StopRequest"]:
            return StopReason.VEHICLE_REQUEST, "BMS_StopRequest set"
        return None

    def _check_stop(self, now: float) -> list[BridgeEvent]:
        cause = self._stop_cause(now)
        if self._latched is not None:
            if cause is None and self.session.stage in IDLE_STAGES:
                self._latched = None  # recovered between sessions: the next one may start
            return []
        if cause is None:
            return []
        self._latched = StopRequested(*cause)
        self._contactor_request = False
        return [self._latched]

    # --- outputs ------------------------------------------------------------------------------------------
    def set_session(self, status: SessionStatus) -> None:
        """The session's latest state. Entering Idle/SLAC ends the latched stop (re-raised once if its cause
        persists); leaving them counts a session."""
        was_idle, idle = self.session.stage in IDLE_STAGES, status.stage in IDLE_STAGES
        if was_idle and not idle:
            self.counters.session_count += 1
        if idle and not was_idle:
            self._latched = None
        if idle:
            self._ac_supply = None
        self.session = status

    def ac_supply(self, voltage: float, max_current: float, phases: int) -> None:
        """What an AC EVSE offers (nominal voltage, current limit per phase): EVCC_AcNominalVoltage and
        EVCC_AcMaxCurrent, and as the present values (the EVCC has no meter of its own on AC)."""
        self._ac_supply = (voltage, max_current)
        self._evse_present = (voltage, max_current)

    def evse_output(self, voltage: float, current: float) -> None:
        self._evse_present = (voltage, current)

    @property
    def evse_present(self) -> tuple[float, float]:
        """The charger's last reported present voltage and current (V, A)."""
        return self._evse_present

    def contactor_request(self) -> bool:
        wanted = self.session.contactors_wanted and self._latched is None and self.is_fresh()
        if not wanted:
            self._contactor_request = False
        elif not self._contactor_request:
            if self.config.mode is ChargeMode.AC:  # the on-board charger's relay: no voltages to match
                self._contactor_request = True
                return True
            dc = self._inputs["BMS_DcRequest"].values
            if dc is not None:
                gap = abs(self._evse_present[0] - dc["BMS_BatteryVoltage"])
                self._contactor_request = gap <= self.config.contactor_tolerance_v
        return self._contactor_request

    def frames_due(self, now: float) -> list[Frame]:
        self._now = max(self._now, now)
        if self._next_tx is None or now < self._next_tx:
            return []
        self._next_tx += self.config.cycle_time
        if self._next_tx <= now:  # late (a busy loop): skip the missed cycles instead of bursting
            self._next_tx = now + self.config.cycle_time
        stop = self.session.stop_reason or (self._latched.reason if self._latched else StopReason.NONE)
        session = self.session
        if self._ac_supply is not None and not session.ac_nominal_voltage:
            session = replace(session, ac_nominal_voltage=self._ac_supply[0], ac_max_current=self._ac_supply[1])
        return encode_evcc_frames(self.codec, session, self._evse_present, self.contactor_request(), stop,
                                  self.counters)

    def next_deadline(self) -> float:
        deadlines = [self._next_tx if self._next_tx is not None else self.started]
        for name in self.required:
            slot = self._inputs[name]
            if not slot.stale:
                since = slot.accepted_at if slot.accepted_at is not None else self.started
                deadlines.append(since + self.config.deadline_of(name))
        return min(deadlines)
