"""Configuration and states of the ISO 15118-2 EVCC machine (§8.4 message sequence, Figures 104/105, §8.8.2
charging-session flows): AC and DC, External Identification Means and Plug & Charge."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from evcc.session.timeouts import ISO_15118_2, EvccTimers

if TYPE_CHECKING:
    from evcc.session.iso2.pnc import ContractPort

EnergyTransferMode = Literal[
    "AC_single_phase_core", "AC_three_phase_core", "DC_core", "DC_extended", "DC_combo_core", "DC_unique"
]
PaymentOption = Literal["ExternalPayment", "Contract"]
AC_MODES = frozenset({"AC_single_phase_core", "AC_three_phase_core"})


@dataclass(frozen=True, slots=True)
class Iso2Config:
    """``evcc_id``: the EVCC's MAC address (6 bytes, [V2G2-879]) sent in SessionSetupReq.

    ``resume_session_id``: the SessionID of a paused session to resume ([V2G2-741]: sent in the header of
    SessionSetupReq); None starts a new session. ``service_detail_ids``: ServiceIDs of offered value-added
    services to ask ServiceDetail about. PreCharge, WeldingDetection and the AC pacing are vehicle policy.
    """

    evcc_id: bytes
    energy_transfer_mode: EnergyTransferMode = "DC_extended"
    payment: PaymentOption = "ExternalPayment"
    resume_session_id: bytes | None = None
    max_entries_sa_schedule_tuple: int | None = None
    service_detail_ids: tuple[int, ...] = ()
    precharge_current: float = 2.0  # A (IEC 61851-23 inrush limit during PreCharge)
    precharge_tolerance: float = 10.0  # V; |EVSEPresentVoltage - battery voltage| that ends PreCharge
    welding_safe_voltage: float = 60.0  # V; WeldingDetection ends below this
    welding_max_requests: int = 20  # then SessionStop regardless
    timers: EvccTimers = ISO_15118_2
    contracts: ContractPort | None = field(default=None, compare=False)  # Plug & Charge (payment Contract)

    def __post_init__(self) -> None:
        if len(self.evcc_id) != 6:
            raise ValueError(f"EVCCID must be the 6-byte MAC address, got {len(self.evcc_id)} bytes")
        if self.resume_session_id is not None and len(self.resume_session_id) != 8:
            raise ValueError(f"a SessionID is 8 bytes, got {len(self.resume_session_id)}")
        if self.payment == "Contract" and self.contracts is None:
            raise ValueError("PaymentOption Contract needs the contract port (contracts)")
        if not 0 < self.precharge_current <= 2.0:
            raise ValueError("PreCharge target current must be within (0, 2] A")

    @property
    def ac(self) -> bool:
        return self.energy_transfer_mode in AC_MODES


class State(enum.Enum):
    """What the machine waits for. Loops (Ongoing, PreCharge, charge loop, welding) stay in their state."""

    IDLE = "not started"
    WAIT_SESSION_SETUP_RES = "SessionSetupRes"
    WAIT_SERVICE_DISCOVERY_RES = "ServiceDiscoveryRes"
    WAIT_SERVICE_DETAIL_RES = "ServiceDetailRes"
    WAIT_PAYMENT_SERVICE_SELECTION_RES = "PaymentServiceSelectionRes"
    WAIT_CERTIFICATE_INSTALLATION_RES = "CertificateInstallationRes"
    WAIT_CERTIFICATE_UPDATE_RES = "CertificateUpdateRes"
    WAIT_PAYMENT_DETAILS_RES = "PaymentDetailsRes"
    WAIT_AUTHORIZATION_RES = "AuthorizationRes"
    WAIT_CHARGE_PARAMETER_DISCOVERY_RES = "ChargeParameterDiscoveryRes"
    WAIT_CABLE_CHECK_RES = "CableCheckRes"
    WAIT_PRE_CHARGE_RES = "PreChargeRes"
    WAIT_POWER_DELIVERY_START_RES = "PowerDeliveryRes (Start)"
    WAIT_CURRENT_DEMAND_RES = "CurrentDemandRes"
    WAIT_CHARGING_STATUS_RES = "ChargingStatusRes"
    WAIT_METERING_RECEIPT_RES = "MeteringReceiptRes"
    WAIT_POWER_DELIVERY_RENEGOTIATE_RES = "PowerDeliveryRes (Renegotiate)"
    WAIT_POWER_DELIVERY_STOP_RES = "PowerDeliveryRes (Stop)"
    WAIT_WELDING_DETECTION_RES = "WeldingDetectionRes"
    WAIT_SESSION_STOP_RES = "SessionStopRes"
    ENDED = "ended"
