"""Configuration, states and the timer table of the ISO 15118-20 EVCC machine (ISO 15118-20:2022 §8.3 message
sets, §8.8 sequences, §8.8.x timing).

Energy transfer services (Table 204): AC = 1, DC = 2, AC_BPT = 5, DC_BPT = 6 (WPT 3, DC_ACDP 4, DC_ACDP_BPT 7 are
out of scope: they need VehicleCheckIn/Out and positioning, which conductive AC/DC charging does not use).
ServiceDetail parameters (Tables 205..208) the machine reads: ``Connector``, ``ControlMode`` (1 Scheduled,
2 Dynamic), ``MobilityNeedsMode``, ``EVSENominalVoltage`` (AC), ``BPTChannel`` (1 Unified, 2 Separated).

Timers (``ISO_15118_20``): V2G_EVCC_Msg_Timeout per request, V2G_SECC_Msg_Performance_Time per response, the
sequence timers V2G_EVCC_Ongoing_Timeout, V2G_EVCC_CommunicationSetup_Timeout, V2G_EVCC_CableCheck_Timeout,
V2G_EVCC_PreCharge_Timeout and the SECC's V2G_SECC_Sequence_Timeout. Values (the standard's text was not at hand;
they follow the published transcription of the -20 timing tables in Josev 0.31.2, which differs from -2 in
PowerDelivery 2 s and V2G_EVCC_PreCharge_Timeout 10 s): 2 s per request, 5 s for ServiceDetail and
CertificateInstallation (the SECC may ask a backend), 0.5 s in the charge loops; Ongoing 60 s, CommunicationSetup
20 s, CableCheck 40 s, PreCharge 10 s. They live here only, so one table change moves every machine and test.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from evcc.session.timeouts import EvccTimers

if TYPE_CHECKING:
    from evcc.session.iso20.pnc import ContractPort20

Service = Literal["DC", "AC", "DC_BPT", "AC_BPT"]
ControlMode = Literal["Scheduled", "Dynamic"]
AuthorizationService = Literal["EIM", "PnC"]

SERVICE_IDS: dict[str, int] = {"AC": 1, "DC": 2, "AC_BPT": 5, "DC_BPT": 6}  # Table 204
CONTROL_MODE_IDS: dict[str, int] = {"Scheduled": 1, "Dynamic": 2}  # ServiceDetail ControlMode
BPT_CHANNEL_UNIFIED = 1
BPT_CHANNEL_SEPARATED = 2

_MESSAGES = (
    "SupportedAppProtocol", "SessionSetup", "AuthorizationSetup", "Authorization", "CertificateInstallation",
    "ServiceDiscovery", "ServiceDetail", "ServiceSelection", "ScheduleExchange", "PowerDelivery",
    "MeteringConfirmation", "SessionStop", "VehicleCheckIn", "VehicleCheckOut",
    "DC_ChargeParameterDiscovery", "DC_CableCheck", "DC_PreCharge", "DC_ChargeLoop", "DC_WeldingDetection",
    "AC_ChargeParameterDiscovery", "AC_ChargeLoop",
)


def _per_message(default: float, names: tuple[str, ...], **special: float) -> Mapping[str, float]:
    return MappingProxyType({name: special.get(name, default) for name in names})


_LONG = ("ServiceDetail", "CertificateInstallation")

ISO_15118_20 = EvccTimers(
    protocol="ISO 15118-20",
    V2G_EVCC_Msg_Timeout=_per_message(
        2.0, tuple(m + "Req" for m in _MESSAGES),
        **{m + "Req": 5.0 for m in _LONG}, DC_ChargeLoopReq=0.5, AC_ChargeLoopReq=0.5,
    ),
    V2G_SECC_Msg_Performance_Time=_per_message(
        1.5, tuple(m + "Res" for m in _MESSAGES),
        **{m + "Res": 4.5 for m in _LONG}, DC_ChargeLoopRes=0.25, AC_ChargeLoopRes=0.25,
    ),
    V2G_EVCC_Ongoing_Timeout=60.0,
    V2G_EVCC_CommunicationSetup_Timeout=20.0,
    V2G_EVCC_CableCheck_Timeout=40.0,
    V2G_EVCC_PreCharge_Timeout=10.0,
    V2G_SECC_Sequence_Timeout=60.0,
)


@dataclass(frozen=True, slots=True)
class Iso20Config:
    """``evcc_id``: EVCCID of SessionSetupReq (evccIDType, up to 255 characters; the MAC or the VIN).

    ``service`` and ``control_mode``: the energy transfer the vehicle wants. ``authorization``: EIM or PnC; with
    ``eim_fallback`` a PnC vehicle uses EIM when the charger offers no PnC or every contract was refused.
    ``resume_session_id``: the SessionID of a paused session to resume (OK_OldSessionJoined expected).
    ``unix_time_offset``: Header TimeStamp = int(now + offset); the adapter passes wall clock - monotonic.
    ``departure_time``: s from now used when the vehicle port gives none (Dynamic_SEReqControlMode needs one).
    ``confirm_power_tolerance``: Scheduled mode, a selected ScheduleTuple with PowerTolerance: the vehicle follows
    the schedule within that tolerance (PowerToleranceConfirmed) or cannot (PowerToleranceNotConfirmed).
    ``no_discharge_hold``: DC_BPT / AC_BPT Dynamic: s the vehicle holds 0 while it can give nothing back (at its
    minimum SoC) and the EVSE still asks for discharge, before it ends the session in order (bpt_hold.py). This
    implementation's bound, not a timer of the standard; its default is V2G_EVCC_Ongoing_Timeout's value.
    """

    evcc_id: str
    service: Service = "DC"
    control_mode: ControlMode = "Scheduled"
    authorization: AuthorizationService = "EIM"
    eim_fallback: bool = False
    resume_session_id: bytes | None = None
    unix_time_offset: float = 0.0
    maximum_supporting_points: int = 1024  # ScheduleExchangeReq, 12..1024
    maximum_contract_chains: int = 1  # CertificateInstallationReq MaximumContractCertificateChains
    departure_time: int = 4 * 3600
    precharge_tolerance: float = 10.0  # V; |EVSEPresentVoltage - battery voltage| that ends DC_PreCharge
    welding_safe_voltage: float = 60.0  # V; DC_WeldingDetection ends below this
    welding_max_requests: int = 20
    meter_info_requested: bool = False
    confirm_power_tolerance: bool = True
    no_discharge_hold: float = 60.0
    timers: EvccTimers = ISO_15118_20
    contracts: ContractPort20 | None = field(default=None, compare=False)
    dc: bool = field(init=False, repr=False, compare=False)  # DC or DC_BPT (derived from ``service``)
    bpt: bool = field(init=False, repr=False, compare=False)  # DC_BPT or AC_BPT (derived from ``service``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dc", self.service.startswith("DC"))  # read on every loop message: not a property
        object.__setattr__(self, "bpt", self.service.endswith("_BPT"))
        if not 0 < len(self.evcc_id) <= 255:
            raise ValueError(f"EVCCID must have 1..255 characters, got {len(self.evcc_id)}")
        if self.resume_session_id is not None and len(self.resume_session_id) != 8:
            raise ValueError(f"a SessionID is 8 bytes, got {len(self.resume_session_id)}")
        if self.authorization == "PnC" and self.contracts is None:
            raise ValueError("Plug & Charge needs the contract port (contracts)")
        if not 12 <= self.maximum_supporting_points <= 1024:
            raise ValueError("MaximumSupportingPoints must be 12..1024")
        if not 1 <= self.maximum_contract_chains <= 255:
            raise ValueError("MaximumContractCertificateChains must be 1..255")
        if not self.no_discharge_hold > 0:
            raise ValueError(f"no_discharge_hold must be > 0 s, got {self.no_discharge_hold}")

    @property
    def service_id(self) -> int:
        return SERVICE_IDS[self.service]


class State(enum.Enum):
    """What the machine waits for (the response element name). Loops stay in their state."""

    IDLE = "not started"
    WAIT_SESSION_SETUP_RES = "SessionSetupRes"
    WAIT_AUTHORIZATION_SETUP_RES = "AuthorizationSetupRes"
    WAIT_CERTIFICATE_INSTALLATION_RES = "CertificateInstallationRes"
    WAIT_AUTHORIZATION_RES = "AuthorizationRes"
    WAIT_SERVICE_DISCOVERY_RES = "ServiceDiscoveryRes"
    WAIT_SERVICE_DETAIL_RES = "ServiceDetailRes"
    WAIT_SERVICE_SELECTION_RES = "ServiceSelectionRes"
    WAIT_DC_CHARGE_PARAMETER_DISCOVERY_RES = "DC_ChargeParameterDiscoveryRes"
    WAIT_AC_CHARGE_PARAMETER_DISCOVERY_RES = "AC_ChargeParameterDiscoveryRes"
    WAIT_SCHEDULE_EXCHANGE_RES = "ScheduleExchangeRes"
    WAIT_DC_CABLE_CHECK_RES = "DC_CableCheckRes"
    WAIT_DC_PRE_CHARGE_RES = "DC_PreChargeRes"
    WAIT_POWER_DELIVERY_START_RES = "PowerDeliveryRes (Start)"
    WAIT_DC_CHARGE_LOOP_RES = "DC_ChargeLoopRes"
    WAIT_AC_CHARGE_LOOP_RES = "AC_ChargeLoopRes"
    WAIT_METERING_CONFIRMATION_RES = "MeteringConfirmationRes"
    WAIT_POWER_DELIVERY_STOP_RES = "PowerDeliveryRes (Stop)"
    WAIT_DC_WELDING_DETECTION_RES = "DC_WeldingDetectionRes"
    WAIT_SESSION_STOP_RES = "SessionStopRes"
    ENDED = "ended"

    @property
    def response(self) -> str:
        """The element name of the awaited response."""
        return self.value.split(" ")[0]
