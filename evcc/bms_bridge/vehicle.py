"""The vehicle port over the bridge (ARCHITECTURE.md "ports between parts"; BMS.md "signals the EVCC needs").

DC (DIN 70121 / ISO 15118-2 DC_EVStatus, DC_EVChargeParameter, CurrentDemandReq) through
:class:`~evcc.session.vehicle.VehiclePort`; AC (ISO 15118-2 AC_EVChargeParameter) and ISO 15118-20
bidirectional (BPT: discharge limits, Dynamic/Scheduled energy request) as the extra calls :meth:`ac_limits`,
:meth:`bpt_limits` and :meth:`energy_request`. Answers come at once from the core's snapshot; while BMS data is
stale or a stop is latched the answers are the safe ones: not ready, error ``NoData``, no current asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from evcc.bms_bridge.core import ERROR_NAMES, BridgeCore
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets, EVErrorCode

UNKNOWN_TIME = 65535.0


@dataclass(frozen=True, slots=True)
class AcLimits:
    """AC_EVChargeParameter: EAmount, EVMaxVoltage, EVMaxCurrent, EVMinCurrent, DepartureTime."""

    max_voltage: float
    max_current: float
    min_current: float
    energy_request: float  # Wh
    departure_time: float | None  # s from now


@dataclass(frozen=True, slots=True)
class BptLimits:
    """ISO 15118-20 BPT: EVMaximumDischargeCurrent/Power, EVMinimumVoltage, minimum SoC for discharge."""

    max_discharge_current: float
    max_discharge_power: float
    min_discharge_soc: int
    min_voltage: float


@dataclass(frozen=True, slots=True)
class EnergyRequest:
    """ISO 15118-20 Dynamic mode: EVTargetEnergyRequest, EVMinimumEnergyRequest, EVMaximumEnergyRequest."""

    target: float
    minimum: float
    maximum: float
    departure_time: float | None


@dataclass
class BridgeVehicle:
    """Implements :class:`evcc.session.vehicle.VehiclePort`."""

    core: BridgeCore

    def _usable(self) -> bool:
        return self.core.stop is None and self.core.is_fresh()

    def dc_status(self, now: float) -> DcStatus:
        status = self.core.values("BMS_Status")
        if status is None:
            return DcStatus(ready=False, soc=0, error="NoData")
        soc = int(status["BMS_SoC"])
        if not self._usable():
            return DcStatus(ready=False, soc=soc, error="NoData" if not self.core.is_fresh() else self._error())
        return DcStatus(ready=bool(status["BMS_Ready"]), soc=soc, error=self._error())

    def _error(self) -> EVErrorCode:
        status = self.core.values("BMS_Status")
        return ERROR_NAMES[int(status["BMS_ErrorCode"])] if status else "NoData"

    def dc_limits(self) -> DcLimits:
        limits, energy = self.core.values("BMS_DcLimits"), self.core.values("BMS_Energy")
        status = self.core.values("BMS_Status")
        if limits is None:
            return DcLimits(max_voltage=0.0, max_current=0.0, max_power=0.0)
        return DcLimits(
            max_voltage=limits["BMS_MaxVoltage"], max_current=limits["BMS_MaxCurrent"],
            max_power=limits["BMS_MaxPower"],
            energy_capacity=energy["BMS_EnergyCapacity"] if energy else None,
            energy_request=energy["BMS_EnergyRequestTarget"] if energy else None,
            full_soc=int(status["BMS_FullSoC"]) if status else None,
            bulk_soc=int(status["BMS_BulkSoC"]) if status else None,
        )

    def dc_targets(self, now: float) -> DcTargets:
        request, status = self.core.values("BMS_DcRequest"), self.core.values("BMS_Status")
        if request is None or status is None:
            return DcTargets(voltage=0.0, current=0.0, charging_complete=False)
        current = request["BMS_TargetCurrent"] if self._usable() else 0.0
        timing = self.core.fresh_values("BMS_Timing", now)
        return DcTargets(
            voltage=request["BMS_TargetVoltage"], current=current,
            charging_complete=bool(status["BMS_ChargingComplete"]), bulk_complete=bool(status["BMS_BulkComplete"]),
            remaining_time_to_full=_time(timing, "BMS_RemainingTimeToFull"),
            remaining_time_to_bulk=_time(timing, "BMS_RemainingTimeToBulk"),
        )

    def battery_voltage(self, now: float) -> float:
        request = self.core.values("BMS_DcRequest")
        return request["BMS_BatteryVoltage"] if request else 0.0

    def evse_output(self, voltage: float, current: float, now: float) -> None:
        self.core.evse_output(voltage, current)

    # --- AC and ISO 15118-20 ------------------------------------------------------------------------------
    def ac_limits(self, now: float) -> AcLimits:
        ac = self.core.fresh_values("BMS_AcRequest", now)
        departure = self._departure(now)
        if ac is None or not self._usable():
            return AcLimits(0.0, 0.0, 0.0, 0.0, departure)
        return AcLimits(ac["BMS_AcMaxVoltage"], ac["BMS_AcMaxCurrent"], ac["BMS_AcMinCurrent"],
                        ac["BMS_AcEnergyRequest"], departure)

    def bpt_limits(self, now: float) -> BptLimits:
        """Discharge limits; all zero (no discharge) while BMS data is missing, stale or a stop is latched."""
        bpt = self.core.fresh_values("BMS_BptLimits", now)
        if bpt is None or not self._usable():
            return BptLimits(0.0, 0.0, 100, 0.0)
        return BptLimits(bpt["BMS_MaxDischargeCurrent"], bpt["BMS_MaxDischargePower"],
                         int(bpt["BMS_MinDischargeSoC"]), bpt["BMS_MinDischargeVoltage"])

    def energy_request(self, now: float) -> EnergyRequest | None:
        energy = self.core.fresh_values("BMS_Energy", now)
        if energy is None:
            return None
        return EnergyRequest(energy["BMS_EnergyRequestTarget"], energy["BMS_EnergyRequestMin"],
                             energy["BMS_EnergyRequestMax"], self._departure(now))

    def _departure(self, now: float) -> float | None:
        timing = self.core.fresh_values("BMS_Timing", now)
        if timing is None or timing["BMS_DepartureTime"] == 0:
            return None
        return timing["BMS_DepartureTime"]

    def cable_check_hold(self) -> bool:
        """BMS_ImdHold: the vehicle's own insulation monitor is still on; delay CableCheck."""
        status = self.core.values("BMS_Status")
        return bool(status and status["BMS_ImdHold"])


def _time(values: dict[str, float] | None, key: str) -> float | None:
    if values is None or values[key] >= UNKNOWN_TIME:
        return None
    return values[key]
