"""What the bridge exchanges with the rest of evcc: the session state it transmits (EVCC_* frames) and the
events it reports. Enumerations carry the DBC's VAL_ numbers (dbc/evcc_bms.dbc)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evcc.bms_bridge.modes import ChargeMode


class SessionStage(enum.IntEnum):
    """EVCC_SessionStage: where the session is, so the vehicle can follow."""

    IDLE = 0
    SLAC = 1
    SETUP = 2  # SDP, TCP/TLS, SupportedAppProtocol, SessionSetup
    AUTHORIZATION = 3
    CHARGE_PARAMETER = 4
    CABLE_CHECK = 5
    PRE_CHARGE = 6
    CHARGING = 7
    WELDING_DETECTION = 8
    STOPPING = 9
    STOPPED = 10
    ERROR = 11


class Protocol(enum.IntEnum):
    NONE = 0
    DIN70121 = 1
    ISO15118_2 = 2
    ISO15118_20 = 3


class EvseStatus(enum.IntEnum):
    """DC_EVSEStatusCode / EVSENotification, folded: what the charger says about itself."""

    UNKNOWN = 0
    NOT_READY = 1
    READY = 2
    SHUTDOWN = 3
    EMERGENCY_SHUTDOWN = 4
    MALFUNCTION = 5


class IsolationStatus(enum.IntEnum):
    """EVSEIsolationStatus."""

    INVALID = 0
    VALID = 1
    WARNING = 2
    FAULT = 3
    NO_IMD = 4


class LockState(enum.IntEnum):
    UNKNOWN = 0
    UNLOCKED = 1
    LOCKED = 2
    FAULT = 3


class StopReason(enum.IntEnum):
    """EVCC_StopReason."""

    NONE = 0
    VEHICLE_COMPLETE = 1
    VEHICLE_REQUEST = 2
    BMS_TIMEOUT = 3
    BMS_ERROR = 4
    BMS_EMERGENCY_STOP = 5
    EVSE_SHUTDOWN = 6
    EVSE_EMERGENCY = 7
    PROTOCOL_ERROR = 8
    COMMUNICATION_TIMEOUT = 9
    USER_STOP = 10


# Stages in which a new session has not started yet: a latched bridge stop is cleared on entering them.
IDLE_STAGES = frozenset({SessionStage.IDLE, SessionStage.SLAC})


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the session tells the vehicle (EVCC_Status, EVCC_EvseMaxLimits, EVCC_EvseMinLimits, the AC part
    of EVCC_EvsePresent). The charger's present voltage/current come through ``VehiclePort.evse_output``.
    ``contactors_wanted``: the session is past PreCharge and wants energy; the bridge still checks the
    voltages and the BMS freshness before it asks the vehicle to close."""

    stage: SessionStage = SessionStage.IDLE
    protocol: Protocol = Protocol.NONE
    energy_transfer: ChargeMode = ChargeMode.NONE
    evse_status: EvseStatus = EvseStatus.UNKNOWN
    isolation: IsolationStatus = IsolationStatus.INVALID
    lock: LockState = LockState.UNKNOWN
    stop_reason: StopReason = StopReason.NONE
    contactors_wanted: bool = False
    voltage_limit_reached: bool = False
    current_limit_reached: bool = False
    power_limit_reached: bool = False
    cp_duty_percent: float = 0.0
    pp_cable_limit_a: float = 0.0
    ac_max_current: float = 0.0
    ac_nominal_voltage: float = 0.0
    evse_max_voltage: float = 0.0
    evse_max_current: float = 0.0
    evse_max_power: float = 0.0
    evse_min_voltage: float = 0.0
    evse_min_current: float = 0.0
    evse_max_discharge_current: float = 0.0
    evse_max_discharge_power: float = 0.0


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A BMS frame was dropped (it does not refresh its deadline); ``reason`` names frame and signal."""

    frame: str
    reason: str


@dataclass(frozen=True, slots=True)
class InputStale:
    """A required BMS frame missed its freshness deadline (or never came)."""

    frame: str
    age: float | None  # s since the last accepted frame; None = never received


@dataclass(frozen=True, slots=True)
class InputFresh:
    """A stale BMS frame is being received again."""

    frame: str


@dataclass(frozen=True, slots=True)
class StopRequested:
    """The session must stop in order (PowerDelivery stop, then SessionStop); the bridge has already dropped
    the contactor close request and keeps it dropped until the next session starts."""

    reason: StopReason
    detail: str


BridgeEvent = FrameRejected | InputStale | InputFresh | StopRequested
