"""The vehicle port over the bridge (ARCHITECTURE.md "ports between parts"; BMS.md "signals the EVCC needs").

DC (DIN 70121 / ISO 15118-2 DC_EVStatus, DC_EVChargeParameter, CurrentDemandReq) through
:class:`~evcc.session.vehicle.VehiclePort`; AC (ISO 15118-2 AC_EVChargeParameter, ISO 15118-20 AC charge loop)
through :class:`~evcc.session.ac_vehicle.AcVehiclePort` (:meth:`ac_limits`, :meth:`ac_charging_complete`,
:meth:`ac_supply`); ISO 15118-20 bidirectional (BPT: discharge limits, Dynamic/Scheduled energy request) through
:class:`~evcc.session.iso20.vehicle.Iso20VehiclePort` (:meth:`bpt_limits`, :meth:`energy_request`). Answers come at
once from the core's snapshot; while BMS data is stale or a stop is latched the answers are the safe ones: not
ready, error ``NoData``, no current asked. Calls without ``now`` (the AC port's ``ac_limits()``) use the time of
the core's latest input (:attr:`BridgeCore.now`) for the freshness of optional frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from evcc.bms_bridge.core import ERROR_NAMES, BridgeCore
from evcc.session.ac_vehicle import AcLimits
from evcc.session.vehicle import DcLimits, DcStatus, DcTargets, EVErrorCode

UNKNOWN_TIME = 65535.0

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
    def ac_limits(self) -> AcLimits:
        """AC_EVChargeParameter from BMS_AcRequest; zero current (nothing drawn) while BMS data is missing,
        stale or a stop is latched."""
        now = self.core.now
        ac = self.core.fresh_values("BMS_AcRequest", now)
        departure = self._departure(now)
        when = None if departure is None else int(departure)
        if ac is None or not self._usable():
            return AcLimits(energy_request=0.0, max_voltage=0.0, max_current=0.0, min_current=0.0,
                            departure_time=when)
        return AcLimits(energy_request=ac["BMS_AcEnergyRequest"], max_voltage=ac["BMS_AcMaxVoltage"],
                        max_current=ac["BMS_AcMaxCurrent"], min_current=ac["BMS_AcMinCurrent"], departure_time=when)

    def ac_charging_complete(self, now: float) -> bool:
        """BMS_ChargingComplete (the on-board charger is done); a stale BMS ends the loop through the stop."""
        status = self.core.values("BMS_Status")
        return bool(status and status["BMS_ChargingComplete"])

    def ac_supply(self, voltage: float, max_current: float, phases: int, now: float) -> None:
        """What the EVSE offers: nominal voltage and current limit per phase (EVCC_EvsePresent AC part)."""
        self.core.ac_supply(voltage, max_current, phases)

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
