"""Configuration and states of the DIN SPEC 70121 DC EIM EVCC machine (§9.4, Figure 107)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from evcc.session.timeouts import DIN_70121, EvccTimers

EnergyTransfer = Literal["DC_core", "DC_extended", "DC_combo_core", "DC_unique"]


@dataclass(frozen=True, slots=True)
class DinConfig:
    """``evcc_id``: the EVCC's MAC address (6 bytes) sent in SessionSetupReq.

    The PreCharge and WeldingDetection criteria are the vehicle's policy, not values of the standard.
    """

    evcc_id: bytes
    energy_transfer: EnergyTransfer = "DC_extended"
    precharge_current: float = 2.0  # A; DIN limits EVTargetCurrent in PreCharge to 2 A
    precharge_tolerance: float = 10.0  # V; |EVSEPresentVoltage - battery voltage| that ends PreCharge
    welding_safe_voltage: float = 60.0  # V; WeldingDetection ends below this
    welding_max_requests: int = 20  # then SessionStop regardless
    timers: EvccTimers = DIN_70121

    def __post_init__(self) -> None:
        if len(self.evcc_id) != 6:
            raise ValueError(f"EVCCID must be the 6-byte MAC address, got {len(self.evcc_id)} bytes")
        if not 0 < self.precharge_current <= 2.0:
            raise ValueError("PreCharge target current must be within (0, 2] A")


class State(enum.Enum):
    """What the machine waits for. The DC sequence runs top to bottom; loops stay in their state."""

    IDLE = "not started"
    WAIT_SESSION_SETUP_RES = "SessionSetupRes"
    WAIT_SERVICE_DISCOVERY_RES = "ServiceDiscoveryRes"
    WAIT_SERVICE_PAYMENT_SELECTION_RES = "ServicePaymentSelectionRes"
    WAIT_CONTRACT_AUTHENTICATION_RES = "ContractAuthenticationRes"
    WAIT_CHARGE_PARAMETER_DISCOVERY_RES = "ChargeParameterDiscoveryRes"
    WAIT_CABLE_CHECK_RES = "CableCheckRes"
    WAIT_PRE_CHARGE_RES = "PreChargeRes"
    WAIT_POWER_DELIVERY_START_RES = "PowerDeliveryRes (start)"
    WAIT_CURRENT_DEMAND_RES = "CurrentDemandRes"
    WAIT_POWER_DELIVERY_STOP_RES = "PowerDeliveryRes (stop)"
    WAIT_WELDING_DETECTION_RES = "WeldingDetectionRes"
    WAIT_SESSION_STOP_RES = "SessionStopRes"
    ENDED = "ended"
