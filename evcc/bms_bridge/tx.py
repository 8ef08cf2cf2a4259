"""EVCC_* frames from the session state (dbc/evcc_bms.dbc, EVCC -> BMS direction)."""

from __future__ import annotations

from dataclasses import dataclass

from evcc.bms_bridge.codec import PROTOCOL_VERSION, BmsCodec
from evcc.bms_bridge.state import SessionStatus, StopReason


@dataclass
class TxCounters:
    """EVCC_Diagnostics counters, and the alive counter of EVCC_Status."""

    alive: int = 0
    bms_timeouts: int = 0
    rejected_frames: int = 0
    unknown_frames: int = 0
    session_count: int = 0


def _status(s: SessionStatus, contactors: bool, stop: StopReason, alive: int) -> dict[str, float]:
    return {
        "EVCC_ProtocolVersion": PROTOCOL_VERSION, "EVCC_AliveCounter": alive, "EVCC_SessionStage": s.stage,
        "EVCC_Protocol": s.protocol, "EVCC_EnergyTransfer": s.energy_transfer, "EVCC_EvseStatus": s.evse_status,
        "EVCC_IsolationStatus": s.isolation, "EVCC_ContactorCloseRequest": int(contactors),
        "EVCC_LockState": s.lock, "EVCC_VoltageLimitReached": int(s.voltage_limit_reached),
        "EVCC_CurrentLimitReached": int(s.current_limit_reached),
        "EVCC_PowerLimitReached": int(s.power_limit_reached), "EVCC_StopReason": stop,
        "EVCC_CpDutyCycle": s.cp_duty_percent, "EVCC_PpCableLimit": s.pp_cable_limit_a,
    }


def encode_evcc_frames(codec: BmsCodec, s: SessionStatus, present: tuple[float, float], contactors: bool,
                       stop: StopReason, counters: TxCounters) -> list[tuple[int, bytes]]:
    """One cycle of EVCC frames; advances the alive counter."""
    counters.alive = (counters.alive + 1) % 16
    values: dict[str, dict[str, float]] = {
        "EVCC_Status": _status(s, contactors, stop, counters.alive),
        "EVCC_EvsePresent": {
            "EVCC_EvsePresentVoltage": present[0], "EVCC_EvsePresentCurrent": present[1],
            "EVCC_AcMaxCurrent": s.ac_max_current, "EVCC_AcNominalVoltage": s.ac_nominal_voltage,
        },
        "EVCC_EvseMaxLimits": {
            "EVCC_EvseMaxVoltage": s.evse_max_voltage, "EVCC_EvseMaxCurrent": s.evse_max_current,
            "EVCC_EvseMaxPower": s.evse_max_power,
        },
        "EVCC_EvseMinLimits": {
            "EVCC_EvseMinVoltage": s.evse_min_voltage, "EVCC_EvseMinCurrent": s.evse_min_current,
            "EVCC_EvseMaxDischargeCurrent": s.evse_max_discharge_current,
            "EVCC_EvseMaxDischargePower": s.evse_max_discharge_power,
        },
        "EVCC_Diagnostics": {
            "EVCC_BmsTimeouts": min(counters.bms_timeouts, 255),
            "EVCC_BmsRejectedFrames": min(counters.rejected_frames, 65535),
            "EVCC_SessionCount": counters.session_count % 65536,
        },
    }
    return [(codec.frame_id(name), codec.encode(name, v)) for name, v in values.items()]
