"""The bench battery: plays the vehicle's BMS on the CAN bus (BMS_* frames of dbc/evcc_bms.dbc) around the
battery model of :mod:`evcc.session.battery_model` (SoC-dependent voltage, tapering current, stop at the target).

Sans-IO like the bridge: ``receive_frame`` (EVCC_* frames: the charger's present voltage and current feed the
model while the contactors are closed; EVCC_ContactorCloseRequest closes or opens them), ``frames_due(now)``
and ``next_deadline()``. Faults to inject (SERVICE.md "electrical and protocol fault injection"):

- ``SILENCE``: sends nothing (or only ``silent_frames`` go quiet),
- ``OUT_OF_RANGE``: BMS_SoC raw 0xFF (127.5 %, above the DBC range),
- ``ERROR_FLAG``: BMS_ErrorCode FAILED_EVRESSMalfunction, ``EMERGENCY_STOP``: BMS_EmergencyStop,
- ``FROZEN_COUNTER``: the alive counter stops, ``WRONG_VERSION``: BMS_ProtocolVersion 2,
- ``STOP_REQUEST``: the vehicle asks for an orderly stop.
- ``PAUSE_REQUEST``: the vehicle asks to pause charging (BMS_PauseRequest; cleared: resume).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from evcc.bms_bridge.codec import PROTOCOL_VERSION, BmsCodec, ChargeMode, Values
from evcc.bms_bridge.errors import BmsFrameError
from evcc.session.battery_model import BatteryModel

Frame = tuple[int, bytes]
MALFUNCTION = 4  # BMS_ErrorCode FAILED_EVRESSMalfunction
SOC_BYTE = 3  # BMS_Status byte that holds BMS_SoC (start bit 24)


class BmsFault(enum.Enum):
    SILENCE = "silence"
    OUT_OF_RANGE = "out_of_range"
    ERROR_FLAG = "error_flag"
    EMERGENCY_STOP = "emergency_stop"
    FROZEN_COUNTER = "frozen_counter"
    WRONG_VERSION = "wrong_version"
    STOP_REQUEST = "stop_request"
    PAUSE_REQUEST = "pause_request"


@dataclass
class BenchBms:
    codec: BmsCodec
    model: BatteryModel
    mode: ChargeMode = ChargeMode.DC
    cycle_time: float = 0.1
    faults: set[BmsFault] = field(default_factory=set)
    silent_frames: frozenset[str] = frozenset()
    max_discharge_current: float = 100.0
    max_discharge_power: float = 30_000.0
    min_discharge_soc: int = 20
    ac_max_current: float = 32.0
    contactors_closed: bool = False
    evcc_status: Values = field(default_factory=dict)
    _alive: int = 0
    _next_tx: float | None = None
    _inlet_voltage: float = 0.0

    def receive_frame(self, frame_id: int, data: bytes, now: float, is_extended: bool = False) -> None:
        msg = self.codec.by_id.get(frame_id)
        if is_extended or msg is None or "EVCC" not in msg.senders:
            return
        try:
            name, values = self.codec.decode(frame_id, data)
        except BmsFrameError:
            return  # a real BMS would count it; the bench ignores what it cannot read
        if name == "EVCC_Status":
            self.evcc_status = values
            self.contactors_closed = bool(values["EVCC_ContactorCloseRequest"])
        elif name == "EVCC_EvsePresent":
            voltage, current = values["EVCC_EvsePresentVoltage"], values["EVCC_EvsePresentCurrent"]
            self._inlet_voltage = voltage
            self.model.evse_output(voltage, current if self.contactors_closed else 0.0, now)

    def next_deadline(self) -> float | None:
        return self._next_tx

    def frames_due(self, now: float) -> list[Frame]:
        if self._next_tx is None:
            self._next_tx = now
        if now < self._next_tx:
            return []
        self._next_tx += self.cycle_time
        if self._next_tx <= now:
            self._next_tx = now + self.cycle_time
        if BmsFault.SILENCE in self.faults:
            return []
        if BmsFault.FROZEN_COUNTER not in self.faults:
            self._alive = (self._alive + 1) % 16
        frames = [(name, values) for name, values in self._values(now) if name not in self.silent_frames]
        out = [(self.codec.frame_id(name), self.codec.encode(name, values)) for name, values in frames]
        if BmsFault.OUT_OF_RANGE in self.faults:
            out = [(fid, data[:SOC_BYTE] + b"\xff" + data[SOC_BYTE + 1:]) if fid == self.codec.frame_id(
                "BMS_Status") else (fid, data) for fid, data in out]
        return out

    def _values(self, now: float) -> list[tuple[str, dict[str, float]]]:
        m = self.model
        targets, limits = m.dc_targets(now), m.dc_limits()
        status = {
            "BMS_ProtocolVersion": PROTOCOL_VERSION + (1 if BmsFault.WRONG_VERSION in self.faults else 0),
            "BMS_AliveCounter": self._alive, "BMS_ChargeMode": self.mode, "BMS_Ready": int(m.ready),
            "BMS_EmergencyStop": int(BmsFault.EMERGENCY_STOP in self.faults),
            "BMS_ErrorCode": MALFUNCTION if BmsFault.ERROR_FLAG in self.faults else 0,
            "BMS_ChargingComplete": int(targets.charging_complete), "BMS_BulkComplete": int(bool(targets.bulk_complete)),
            "BMS_ContactorsClosed": int(self.contactors_closed), "BMS_ContactorPermission": 1,
            "BMS_SoC": m.soc, "BMS_StopRequest": int(BmsFault.STOP_REQUEST in self.faults),
            "BMS_PauseRequest": int(BmsFault.PAUSE_REQUEST in self.faults),
            "BMS_InletTemperature": 25.0, "BMS_FullSoC": limits.full_soc or 100, "BMS_BulkSoC": limits.bulk_soc or 80,
        }
        capacity = limits.energy_capacity or m.capacity_wh
        energy = {
            "BMS_EnergyCapacity": capacity, "BMS_EnergyRequestTarget": limits.energy_request or 0.0,
            "BMS_EnergyRequestMin": 0.0, "BMS_EnergyRequestMax": (100.0 - m.soc) / 100.0 * capacity,
        }
        remaining = targets.remaining_time_to_full
        frames: list[tuple[str, dict[str, float]]] = [
            ("BMS_Status", status),
            ("BMS_DcRequest", {"BMS_TargetVoltage": targets.voltage, "BMS_TargetCurrent": targets.current,
                               "BMS_BatteryVoltage": m.battery_voltage(now), "BMS_InletVoltage": self._inlet_voltage}),
            ("BMS_DcLimits", {"BMS_MaxVoltage": limits.max_voltage, "BMS_MaxCurrent": limits.max_current,
                              "BMS_MaxPower": limits.max_power or 0.0, "BMS_MinVoltage": m.voltage_empty}),
            ("BMS_Energy", energy),
            ("BMS_Timing", {"BMS_DepartureTime": 0.0, "BMS_RemainingTimeToBulk": 65535.0,
                            "BMS_RemainingTimeToFull": min(remaining, 65534.0) if remaining is not None else 65535.0}),
            ("BMS_AcRequest", {"BMS_AcMaxVoltage": 230.0, "BMS_AcMaxCurrent": self.ac_max_current,
                               "BMS_AcMinCurrent": 6.0, "BMS_AcEnergyRequest": limits.energy_request or 0.0}),
        ]
        if self.mode is ChargeMode.DC_BPT:
            frames.append(("BMS_BptLimits", {
                "BMS_MaxDischargeCurrent": self.max_discharge_current,
                "BMS_MaxDischargePower": self.max_discharge_power,
                "BMS_MinDischargeSoC": self.min_discharge_soc, "BMS_MinDischargeVoltage": m.voltage_empty}))
        return frames
