"""Every timer of the EVCC machines, one table per protocol, with the standards' names and values (seconds).

DIN SPEC 70121:2014 §9.6: Table 75 (V2G_EVCC_Msg_Timeout and V2G_SECC_Msg_Performance_Time per message),
Table 76/77 (sequence, communication set-up, ReadyToCharge, CableCheck and PreCharge timers).
ISO 15118-2:2014 §8.7: Table 109 (per message and sequence timers), Table 111 (communication set-up,
CableCheck, PreCharge). Values as the reference stacks implement them; the two tables share one shape so that
every machine reads ``timers.msg_timeout("CurrentDemandReq")`` the same way.

The EVCC owns the ``V2G_EVCC_*`` timers. ``V2G_SECC_*`` entries are the charger's budget: the SECC simulator
uses them and the EV side reports a response later than ``V2G_SECC_Msg_Performance_Time`` as a late answer
(for DIN, CurrentDemandRes within 25 ms) without ending the session (it is a performance time, not a timeout).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class EvccTimers:
    """The timer table of one protocol. Frozen; ``dataclasses.replace`` makes a changed copy (bench faults)."""

    protocol: str
    V2G_EVCC_Msg_Timeout: Mapping[str, float]  # request name -> seconds until its response must have arrived
    V2G_SECC_Msg_Performance_Time: Mapping[str, float]  # response name -> SECC budget
    V2G_EVCC_Ongoing_Timeout: float  # whole loop while EVSEProcessing=Ongoing (auth, charge parameters)
    V2G_EVCC_CommunicationSetup_Timeout: float  # link up -> SessionSetupRes
    V2G_EVCC_CableCheck_Timeout: float  # first CableCheckReq -> EVSEProcessing=Finished
    V2G_EVCC_PreCharge_Timeout: float  # first PreChargeReq -> voltage matched
    V2G_SECC_Sequence_Timeout: float  # SECC: response -> next request
    V2G_EVCC_ReadyToCharge_Timeout: float | None = None  # DIN only: ChargeParameterDiscovery -> PowerDelivery
    # Not a timer of the standards: the EV's own minimum charge-loop cycle (previous loop request -> next),
    # see evcc.session.pacing. 0 sends the next request as soon as the response is handled; the composition
    # roots (`evcc session`, the daemon, the bench) choose it.
    charge_loop_min_cycle: float = 0.0

    def msg_timeout(self, request: str) -> float:
        return self.V2G_EVCC_Msg_Timeout[request]

    def performance_time(self, response: str) -> float:
        return self.V2G_SECC_Msg_Performance_Time[response]


def _per_message(default: float, names: tuple[str, ...], **special: float) -> Mapping[str, float]:
    return MappingProxyType({name: special.get(name, default) for name in names})


_DIN_MESSAGES = (
    "SupportedAppProtocol", "SessionSetup", "ServiceDiscovery", "ServicePaymentSelection", "ContractAuthentication",
    "ChargeParameterDiscovery", "PowerDelivery", "CableCheck", "PreCharge", "CurrentDemand", "WeldingDetection",
    "SessionStop",
)

DIN_70121 = EvccTimers(
    protocol="DIN SPEC 70121",
    # Table 75: 2 s for every request, 250 ms for CurrentDemandReq
    V2G_EVCC_Msg_Timeout=_per_message(2.0, tuple(m + "Req" for m in _DIN_MESSAGES), CurrentDemandReq=0.25),
    # Table 75: 1.5 s for every response, 25 ms for CurrentDemandRes
    V2G_SECC_Msg_Performance_Time=_per_message(
        1.5, tuple(m + "Res" for m in _DIN_MESSAGES), CurrentDemandRes=0.025
    ),
    V2G_EVCC_Ongoing_Timeout=60.0,
    V2G_EVCC_CommunicationSetup_Timeout=20.0,  # Table 77
    V2G_EVCC_CableCheck_Timeout=40.0,  # Table 77
    V2G_EVCC_PreCharge_Timeout=7.0,  # Table 77
    V2G_SECC_Sequence_Timeout=60.0,  # Table 76
    V2G_EVCC_ReadyToCharge_Timeout=150.0,  # Table 77
)

_ISO2_MESSAGES = (
    "SupportedAppProtocol", "SessionSetup", "ServiceDiscovery", "ServiceDetail", "PaymentServiceSelection",
    "CertificateInstallation", "CertificateUpdate", "PaymentDetails", "Authorization", "ChargeParameterDiscovery",
    "ChargingStatus", "MeteringReceipt", "PowerDelivery", "CableCheck", "PreCharge", "CurrentDemand",
    "WeldingDetection", "SessionStop",
)

ISO_15118_2 = EvccTimers(
    protocol="ISO 15118-2",
    # Table 109: 2 s, 5 s for ServiceDetail, PaymentDetails, CertificateInstallation/Update, PowerDelivery;
    # 250 ms for CurrentDemandReq
    V2G_EVCC_Msg_Timeout=_per_message(
        2.0, tuple(m + "Req" for m in _ISO2_MESSAGES),
        ServiceDetailReq=5.0, PaymentDetailsReq=5.0, CertificateInstallationReq=5.0, CertificateUpdateReq=5.0,
        PowerDeliveryReq=5.0, CurrentDemandReq=0.25,
    ),
    # Table 109: 1.5 s; 4.5 s where the EVCC waits 5 s; 25 ms for CurrentDemandRes
    V2G_SECC_Msg_Performance_Time=_per_message(
        1.5, tuple(m + "Res" for m in _ISO2_MESSAGES),
        ServiceDetailRes=4.5, PaymentDetailsRes=4.5, CertificateInstallationRes=4.5, CertificateUpdateRes=4.5,
        PowerDeliveryRes=4.5, CurrentDemandRes=0.025,
    ),
    V2G_EVCC_Ongoing_Timeout=60.0,  # Table 109
    V2G_EVCC_CommunicationSetup_Timeout=20.0,  # Table 111
    V2G_EVCC_CableCheck_Timeout=40.0,  # Table 111
    V2G_EVCC_PreCharge_Timeout=7.0,  # Table 111
    V2G_SECC_Sequence_Timeout=60.0,  # Table 109
)
