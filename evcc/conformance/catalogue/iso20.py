"""ISO 15118-20 charger cases (EIM): the common messages (§8.3.4: SessionSetup .. ServiceSelection, ScheduleExchange,
PowerDelivery, SessionStop), DC (§8.3.5.5: CableCheck, PreCharge, ChargeLoop, WeldingDetection) and AC, the
Scheduled and Dynamic control modes (§8.5), BPT (DC_BPT), response codes (FAILED_SequenceError,
FAILED_UnknownSession, FAILED_ServiceSelectionInvalid, FAILED_ServiceIDInvalid, FAILED_ScheduleSelectionInvalid),
timing (§8.8) and the V2GTP payload types of §7.8.3.3 Table 14."""

from __future__ import annotations

from evcc.conformance.catalogue.expand import (Profile, Step, framing, mutations, progress, responses,
                                               sequence_errors, stops, timeouts)
from evcc.conformance.model import Case, Check

TIMING = ("ISO 15118-20 §8.8 V2G_SECC_Msg_Performance_Time",)
SEQUENCE_REQ = ("ISO 15118-20 §8.3.2 FAILED_SequenceError",)
SESSION_REQ = ("ISO 15118-20 §8.3.3 SessionID", "ISO 15118-20 FAILED_UnknownSession")

DC = Profile("ISO20-DC", "iso20-dc", "dc", "ISO 15118-20 DC", TIMING, SEQUENCE_REQ, SESSION_REQ)
AC = Profile("ISO20-AC", "iso20-ac", "ac", "ISO 15118-20 AC", TIMING, SEQUENCE_REQ, SESSION_REQ)
BPT = Profile("ISO20-DCBPT", "iso20-dc-bpt", "dc", "ISO 15118-20 DC_BPT", TIMING, SEQUENCE_REQ, SESSION_REQ)
DYN = Profile("ISO20-DCDYN", "iso20-dc", "dc", "ISO 15118-20 DC Dynamic", TIMING, SEQUENCE_REQ, SESSION_REQ,
              control="Dynamic")

PROCESSING = Check("EVSEProcessing", "in", ("Finished", "Ongoing", "Ongoing_WaitingForCustomerInteraction"))
VOLTAGE = (0.0, 1500.0)
TIMESTAMP = Check("Header.TimeStamp", "present")

COMMON = (
    Step("SessionSetupReq", ("ISO 15118-20 §8.3.4.2", "ISO 15118-20 §8.3.3 SessionID"),
         (Check("Header.SessionID", "new-session"), Check("EVSEID", "len", (1, 255)), TIMESTAMP),
         codes=("OK_NewSessionEstablished",)),
    Step("AuthorizationSetupReq", ("ISO 15118-20 §8.3.4.3",),
         (Check("AuthorizationServices", "present"), Check("CertificateInstallationService", "present"), TIMESTAMP)),
    Step("AuthorizationReq", ("ISO 15118-20 §8.3.4.4",), (PROCESSING,)),
    Step("ServiceDiscoveryReq", ("ISO 15118-20 §8.3.4.5",),
         (Check("ServiceRenegotiationSupported", "present"), Check("EnergyTransferServiceList.Service", "len", (1, 8)))),
    Step("ServiceDetailReq", ("ISO 15118-20 §8.3.4.6",),
         (Check("ServiceID", "present"), Check("ServiceParameterList.ParameterSet", "len", (1, 32)))),
    Step("ServiceSelectionReq", ("ISO 15118-20 §8.3.4.7",)),
)

DC_STEPS = (*COMMON,
    Step("DC_ChargeParameterDiscoveryReq", ("ISO 15118-20 §8.3.5.5.2",),
         (Check("DC_CPDResEnergyTransferMode.EVSEMaximumVoltage", "range", VOLTAGE),
          Check("DC_CPDResEnergyTransferMode.EVSEMinimumVoltage", "range", VOLTAGE),
          Check("DC_CPDResEnergyTransferMode.EVSEMaximumChargeCurrent", "range", (0.0, 1000.0)),
          Check("DC_CPDResEnergyTransferMode.EVSEMaximumChargePower", "present"))),
    Step("ScheduleExchangeReq", ("ISO 15118-20 §8.3.4.8",),
         (PROCESSING, Check("Scheduled_SEResControlMode", "present"))),
    Step("DC_CableCheckReq", ("ISO 15118-20 §8.3.5.5.3",), (PROCESSING,)),
    Step("DC_PreChargeReq", ("ISO 15118-20 §8.3.5.5.4",), (Check("EVSEPresentVoltage", "range", VOLTAGE),)),
    Step("PowerDeliveryReq", ("ISO 15118-20 §8.3.4.9",), label="PowerDeliveryStart"),
    Step("DC_ChargeLoopReq", ("ISO 15118-20 §8.3.5.5.5",),
         (Check("EVSEPresentCurrent", "present"), Check("EVSEPresentVoltage", "range", VOLTAGE),
          Check("EVSEPowerLimitAchieved", "present"), Check("EVSECurrentLimitAchieved", "present"),
          Check("EVSEVoltageLimitAchieved", "present"), Check("Scheduled_DC_CLResControlMode", "present"))),
    Step("PowerDeliveryReq", ("ISO 15118-20 §8.3.4.9",), occurrence=2, label="PowerDeliveryStop"),
    Step("DC_WeldingDetectionReq", ("ISO 15118-20 §8.3.5.5.6",), (Check("EVSEPresentVoltage", "range", VOLTAGE),)),
    Step("SessionStopReq", ("ISO 15118-20 §8.3.4.10",)),
)

AC_STEPS = (
    Step("AC_ChargeParameterDiscoveryReq", ("ISO 15118-20 §8.3.5.3.2",),
         (Check("AC_CPDResEnergyTransferMode.EVSEMaximumChargePower", "present"),
          Check("AC_CPDResEnergyTransferMode.EVSENominalFrequency", "range", (45.0, 65.0)))),
    Step("ScheduleExchangeReq", ("ISO 15118-20 §8.3.4.8",), (PROCESSING,)),
    Step("AC_ChargeLoopReq", ("ISO 15118-20 §8.3.5.3.3",),
         (Check("Scheduled_AC_CLResControlMode.EVSETargetActivePower", "present"),)),
    Step("SessionStopReq", ("ISO 15118-20 §8.3.4.10",)),
)

BPT_STEPS = (
    Step("DC_ChargeParameterDiscoveryReq", ("ISO 15118-20 §8.3.5.5.2 BPT",),
         (Check("BPT_DC_CPDResEnergyTransferMode.EVSEMaximumDischargePower", "present"),
          Check("BPT_DC_CPDResEnergyTransferMode.EVSEMaximumDischargeCurrent", "present"),
          Check("DC_CPDResEnergyTransferMode", "absent"))),
    Step("DC_ChargeLoopReq", ("ISO 15118-20 §8.3.5.5.5 BPT",),
         (Check("BPT_Scheduled_DC_CLResControlMode", "present"),)),
)

DYN_STEPS = (
    Step("ScheduleExchangeReq", ("ISO 15118-20 §8.5 Dynamic", "ISO 15118-20 §8.3.4.8"),
         (PROCESSING, Check("Dynamic_SEResControlMode", "present"), Check("Scheduled_SEResControlMode", "absent"))),
    Step("DC_ChargeLoopReq", ("ISO 15118-20 §8.5 Dynamic", "ISO 15118-20 §8.3.5.5.5"),
         (Check("Dynamic_DC_CLResControlMode", "present"),)),
)

DC_SEQUENCE = (
    ("AuthorizationSetupReq", "SessionSetupReq", "earlier"),
    ("AuthorizationReq", "SessionSetupReq", "earlier"),
    ("ServiceDiscoveryReq", "AuthorizationSetupReq", "earlier"),
    ("ServiceDetailReq", "AuthorizationSetupReq", "earlier"),
    ("ServiceSelectionReq", "AuthorizationReq", "earlier"),
    ("DC_ChargeParameterDiscoveryReq", "ServiceDiscoveryReq", "earlier"),
    ("ScheduleExchangeReq", "ServiceSelectionReq", "earlier"),
    ("DC_CableCheckReq", "ServiceDetailReq", "earlier"),
    ("DC_PreChargeReq", "DC_ChargeParameterDiscoveryReq", "earlier"),
    ("PowerDeliveryReq", "ScheduleExchangeReq", "earlier"),
    ("DC_WeldingDetectionReq", "DC_PreChargeReq", "earlier"),
)

AC_SEQUENCE = (
    ("ScheduleExchangeReq", "ServiceDiscoveryReq", "earlier"),
    ("AC_ChargeLoopReq", "AC_ChargeParameterDiscoveryReq", "earlier"),
)

VALUES = (
    ("ServiceDetail-unknown", "ServiceDetailReq for ServiceID 99 (not offered) is refused",
     "ServiceDetailReq", "ServiceID", 99, ("FAILED_ServiceIDInvalid",), ("ISO 15118-20 §8.3.4.6",)),
    ("ServiceSelection-service", "ServiceSelectionReq of ServiceID 99 (not offered, no energy transfer service) is "
     "refused", "ServiceSelectionReq", "SelectedEnergyTransferService.ServiceID", 99,
     ("FAILED_ServiceSelectionInvalid", "FAILED_NoEnergyTransferServiceSelected"), ("ISO 15118-20 §8.3.4.7",)),
    ("ServiceSelection-parameter-set", "ServiceSelectionReq of ParameterSetID 99 (not offered) is refused",
     "ServiceSelectionReq", "SelectedEnergyTransferService.ParameterSetID", 99, ("FAILED_ServiceSelectionInvalid",),
     ("ISO 15118-20 §8.3.4.7",)),
    ("PowerDelivery-schedule", "PowerDeliveryReq selecting ScheduleTupleID 99 (not offered) is refused",
     "PowerDeliveryReq", "EVPowerProfile.Scheduled_EVPPTControlMode.SelectedScheduleTupleID", 99,
     ("FAILED_ScheduleSelectionInvalid", "FAILED_EVPowerProfileInvalid"), ("ISO 15118-20 §8.3.4.9",)),
    ("PowerDelivery-discharge", "PowerDeliveryReq asking to discharge in a DC (not BPT) service is refused",
     "PowerDeliveryReq", "BPT_ChannelSelection", "Discharge", ("FAILED*",), ("ISO 15118-20 §8.3.4.9 BPT",)),
)

STOP_REQ = ("ISO 15118-20 §8.3.4.9 PowerDelivery", "ISO 15118-20 §8.3.4.10 SessionStop")

TIMERS = ("ISO 15118-20 §8.8 timers",)
PROGRESS = (
    ("AuthorizationReq", "ServiceDiscoveryReq", "V2G_EVCC_Ongoing_Timeout", TIMERS),
    ("ScheduleExchangeReq", "DC_CableCheckReq", "V2G_EVCC_Ongoing_Timeout", TIMERS),
    ("DC_CableCheckReq", "DC_PreChargeReq", "V2G_EVCC_CableCheck_Timeout", TIMERS),
    ("DC_PreChargeReq", "PowerDeliveryReq", "V2G_EVCC_PreCharge_Timeout", TIMERS),
)


def cases() -> list[Case]:
    out = [*responses(DC, DC_STEPS), *sequence_errors(DC, DC_SEQUENCE), *mutations(DC, VALUES)]
    out += stops(DC, (("DC_CableCheckReq", 1), ("DC_ChargeLoopReq", 2)), STOP_REQ)
    out += progress(DC, PROGRESS)
    out += framing(DC, "SessionSetupReq", ("ISO 15118-20 §7.8.3 V2GTP", "ISO 15118-20 §7.8.3.3 Table 14"))
    out += timeouts(DC, ("ServiceDiscoveryReq",), ("ISO 15118-20 §8.8 V2G_SECC_Sequence_Timeout",))
    out += [*responses(AC, AC_STEPS), *sequence_errors(AC, AC_SEQUENCE)]
    out += stops(AC, (("AC_ChargeLoopReq", 2),), STOP_REQ)
    out += [*responses(BPT, BPT_STEPS), *responses(DYN, DYN_STEPS)]
    return out
