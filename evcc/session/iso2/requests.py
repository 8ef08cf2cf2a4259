"""Builders of the ISO 15118-2 requests (§8.4.3 common, §8.4.4 AC, §8.4.5 DC) from the vehicle port's answers.
Pure functions. For AC modes the machine has checked at construction that the vehicle is an AcVehiclePort."""

from __future__ import annotations

from typing import cast

from evcc.exi import iso2
from evcc.session.iso2.ac_vehicle import AcVehiclePort
from evcc.session.iso2.config import EnergyTransferMode
from evcc.session.iso2.values import pv
from evcc.session.vehicle import DcTargets, VehiclePort


def dc_ev_status(vehicle: VehiclePort, now: float) -> iso2.DC_EVStatusType:
    s = vehicle.dc_status(now)
    return iso2.DC_EVStatusType(EVReady=s.ready, EVErrorCode=s.error, EVRESSSOC=max(0, min(100, s.soc)))


def dc_charge_parameter(vehicle: VehiclePort, now: float) -> iso2.DC_EVChargeParameterType:
    lim = vehicle.dc_limits()
    return iso2.DC_EVChargeParameterType(
        DC_EVStatus=dc_ev_status(vehicle, now),
        EVMaximumCurrentLimit=pv(lim.max_current, "A"),
        EVMaximumPowerLimit=None if lim.max_power is None else pv(lim.max_power, "W"),
        EVMaximumVoltageLimit=pv(lim.max_voltage, "V"),
        EVEnergyCapacity=None if lim.energy_capacity is None else pv(lim.energy_capacity, "Wh"),
        EVEnergyRequest=None if lim.energy_request is None else pv(lim.energy_request, "Wh"),
        FullSOC=lim.full_soc, BulkSOC=lim.bulk_soc,
    )


def ac_charge_parameter(vehicle: AcVehiclePort) -> iso2.AC_EVChargeParameterType:
    lim = vehicle.ac_limits()
    return iso2.AC_EVChargeParameterType(
        DepartureTime=lim.departure_time, EAmount=pv(lim.energy_request, "Wh"), EVMaxVoltage=pv(lim.max_voltage, "V"),
        EVMaxCurrent=pv(lim.max_current, "A"), EVMinCurrent=pv(lim.min_current, "A"),
    )


def charge_parameter_discovery(
    vehicle: VehiclePort, now: float, mode: EnergyTransferMode, max_entries: int | None
) -> iso2.ChargeParameterDiscoveryReqType:
    if mode.startswith("AC"):
        return iso2.ChargeParameterDiscoveryReqType(
            MaxEntriesSAScheduleTuple=max_entries, RequestedEnergyTransferMode=mode,
            AC_EVChargeParameter=ac_charge_parameter(cast(AcVehiclePort, vehicle)),
        )
    return iso2.ChargeParameterDiscoveryReqType(
        MaxEntriesSAScheduleTuple=max_entries, RequestedEnergyTransferMode=mode,
        DC_EVChargeParameter=dc_charge_parameter(vehicle, now),
    )


def pre_charge(vehicle: VehiclePort, now: float, current: float) -> iso2.PreChargeReqType:
    return iso2.PreChargeReqType(
        DC_EVStatus=dc_ev_status(vehicle, now),
        EVTargetVoltage=pv(vehicle.battery_voltage(now), "V"),
        EVTargetCurrent=pv(current, "A"),
    )


def power_delivery(
    vehicle: VehiclePort, now: float, progress: str, tuple_id: int, profile: iso2.ChargingProfileType | None, dc: bool
) -> iso2.PowerDeliveryReqType:
    """ChargeProgress Start (with the ChargingProfile), Stop or Renegotiate; DC adds DC_EVPowerDeliveryParameter."""
    param = None
    if dc:
        t = vehicle.dc_targets(now)
        param = iso2.DC_EVPowerDeliveryParameterType(
            DC_EVStatus=dc_ev_status(vehicle, now), BulkChargingComplete=t.bulk_complete,
            ChargingComplete=progress == "Stop" or t.charging_complete,
        )
    return iso2.PowerDeliveryReqType(
        ChargeProgress=progress,  # type: ignore[arg-type]
        SAScheduleTupleID=tuple_id, ChargingProfile=profile if progress == "Start" else None,
        DC_EVPowerDeliveryParameter=param,
    )


def target_voltage(t: DcTargets, evse_max_voltage: float | None) -> float:
    """EVTargetVoltage: the vehicle's, never above EVSEMaximumVoltageLimit."""
    if evse_max_voltage is not None and 0 < evse_max_voltage < t.voltage:
        return evse_max_voltage
    return t.voltage


def current_demand(vehicle: VehiclePort, now: float, current: float, voltage: float) -> iso2.CurrentDemandReqType:
    """CurrentDemandReq asking for ``current`` at ``voltage``: what evcc.session.limits allows now."""
    t = vehicle.dc_targets(now)
    lim = vehicle.dc_limits()
    return iso2.CurrentDemandReqType(
        DC_EVStatus=dc_ev_status(vehicle, now),
        EVTargetCurrent=pv(current, "A"),
        EVMaximumVoltageLimit=pv(lim.max_voltage, "V"),
        EVMaximumCurrentLimit=pv(lim.max_current, "A"),
        EVMaximumPowerLimit=None if lim.max_power is None else pv(lim.max_power, "W"),
        BulkChargingComplete=t.bulk_complete,
        ChargingComplete=t.charging_complete,
        RemainingTimeToFullSoC=None if t.remaining_time_to_full is None else pv(t.remaining_time_to_full, "s"),
        RemainingTimeToBulkSoC=None if t.remaining_time_to_bulk is None else pv(t.remaining_time_to_bulk, "s"),
        EVTargetVoltage=pv(voltage, "V"),
    )


def ev_max_power(vehicle: VehiclePort, mode: EnergyTransferMode) -> float:
    """The most power the vehicle can take in this mode (W), for the ChargingProfile."""
    if mode.startswith("AC"):
        lim = cast(AcVehiclePort, vehicle).ac_limits()
        return lim.max_voltage * lim.max_current * (3 if mode == "AC_three_phase_core" else 1)
    dc = vehicle.dc_limits()
    return dc.max_power if dc.max_power is not None else dc.max_voltage * dc.max_current
