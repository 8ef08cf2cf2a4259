"""Builders of the DIN SPEC 70121 DC requests (§9.4) from the vehicle port's answers. Pure functions."""

from __future__ import annotations

from evcc.exi import din
from evcc.session.din.config import EnergyTransfer
from evcc.session.din.values import pv
from evcc.session.vehicle import DcTargets, VehiclePort


def dc_ev_status(vehicle: VehiclePort, now: float) -> din.DC_EVStatusType:
    s = vehicle.dc_status(now)
    return din.DC_EVStatusType(
        EVReady=s.ready, EVCabinConditioning=s.cabin_conditioning, EVRESSConditioning=s.ress_conditioning,
        EVErrorCode=s.error, EVRESSSOC=max(0, min(100, s.soc)),
    )


def charge_parameter_discovery(
    vehicle: VehiclePort, now: float, energy_transfer: EnergyTransfer
) -> din.ChargeParameterDiscoveryReqType:
    lim = vehicle.dc_limits()
    param = din.DC_EVChargeParameterType(
        DC_EVStatus=dc_ev_status(vehicle, now),
        EVMaximumCurrentLimit=pv(lim.max_current, "A"),
        EVMaximumPowerLimit=None if lim.max_power is None else pv(lim.max_power, "W"),
        EVMaximumVoltageLimit=pv(lim.max_voltage, "V"),
        EVEnergyCapacity=None if lim.energy_capacity is None else pv(lim.energy_capacity, "Wh"),
        EVEnergyRequest=None if lim.energy_request is None else pv(lim.energy_request, "Wh"),
        FullSOC=lim.full_soc, BulkSOC=lim.bulk_soc,
    )
    return din.ChargeParameterDiscoveryReqType(EVRequestedEnergyTransferType=energy_transfer, DC_EVChargeParameter=param)


def pre_charge(vehicle: VehiclePort, now: float, current: float) -> din.PreChargeReqType:
    return din.PreChargeReqType(
        DC_EVStatus=dc_ev_status(vehicle, now),
        EVTargetVoltage=pv(vehicle.battery_voltage(now), "V"),
        EVTargetCurrent=pv(current, "A"),
    )


def power_delivery(vehicle: VehiclePort, now: float, start: bool) -> din.PowerDeliveryReqType:
    t = vehicle.dc_targets(now)
    param = din.DC_EVPowerDeliveryParameterType(
        DC_EVStatus=dc_ev_status(vehicle, now), BulkChargingComplete=t.bulk_complete,
        ChargingComplete=not start or t.charging_complete,
    )
    return din.PowerDeliveryReqType(ReadyToChargeState=start, DC_EVPowerDeliveryParameter=param)


def target_voltage(t: DcTargets, evse_max_voltage: float | None) -> float:
    """EVTargetVoltage: the vehicle's, never above EVSEMaximumVoltageLimit (DIN SPEC 70121 DC_EVSEChargeParameter)."""
    if evse_max_voltage is not None and 0 < evse_max_voltage < t.voltage:
        return evse_max_voltage
    return t.voltage


def current_demand(vehicle: VehiclePort, now: float, current: float, voltage: float) -> din.CurrentDemandReqType:
    """CurrentDemandReq asking for ``current`` at ``voltage``: what evcc.session.limits allows now, not the
    vehicle's wish as it is."""
    t = vehicle.dc_targets(now)
    lim = vehicle.dc_limits()
    return din.CurrentDemandReqType(
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
