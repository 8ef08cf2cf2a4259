"""ISO 15118-2 charger cases (EIM; DC and AC): the sequences of §8.8 request by request, the response codes of
§8.3.x (FAILED_SequenceError, FAILED_UnknownSession, [V2G2-539]: a FAILED code ends the session), timing of
§8.7 Table 109/111, value ranges and the selections the charger must refuse ([V2G2-225] tariff selection)."""

from __future__ import annotations

import dataclasses

from evcc.conformance.catalogue.expand import (Profile, Step, framing, mutations, progress, responses,
                                               sequence_errors, stops, timeouts)
from evcc.conformance.model import Case, Check
from evcc.exi import iso2

TIMING = ("ISO 15118-2 §8.7 Table 109",)
SEQUENCE_REQ = ("ISO 15118-2 §8.8 FAILED_SequenceError", "[V2G2-539]")
SESSION_REQ = ("ISO 15118-2 §8.3.3 SessionID", "[V2G2-756]", "ISO 15118-2 FAILED_UnknownSession")

DC = Profile("ISO2-DC", "iso2", "dc", "ISO 15118-2 DC", TIMING, SEQUENCE_REQ, SESSION_REQ)
AC = Profile("ISO2-AC", "iso2", "ac", "ISO 15118-2 AC", TIMING, SEQUENCE_REQ, SESSION_REQ)

DC_STATUS = Check("DC_EVSEStatus.EVSEStatusCode", "present")
AC_STATUS = Check("AC_EVSEStatus.RCD", "present")
PROCESSING = Check("EVSEProcessing", "in", ("Finished", "Ongoing", "Ongoing_WaitingForCustomerInteraction"))
VOLTAGE = (0.0, 1500.0)

COMMON = (
    Step("SessionSetupReq", ("[V2G2-756]", "ISO 15118-2 §8.4.3.2"),
         (Check("Header.SessionID", "new-session"), Check("EVSEID", "len", (1, 37))), codes=("OK_NewSessionEstablished",)),
    Step("ServiceDiscoveryReq", ("ISO 15118-2 §8.4.3.3",),
         (Check("PaymentOptionList.PaymentOption", "present"), Check("ChargeService.ServiceID", "in", (1,)),
          Check("ChargeService.SupportedEnergyTransferMode.EnergyTransferMode", "present"))),
    Step("PaymentServiceSelectionReq", ("ISO 15118-2 §8.4.3.5",)),
    Step("AuthorizationReq", ("ISO 15118-2 §8.4.3.7",), (PROCESSING,)),
)

DC_STEPS = (*COMMON,
    Step("ChargeParameterDiscoveryReq", ("ISO 15118-2 §8.4.3.8",),
         (PROCESSING, Check("DC_EVSEChargeParameter.DC_EVSEStatus.EVSEStatusCode", "present"),
          Check("DC_EVSEChargeParameter.EVSEMaximumVoltageLimit", "range", VOLTAGE),
          Check("DC_EVSEChargeParameter.EVSEMaximumCurrentLimit", "range", (0.0, 1000.0)),
          Check("AC_EVSEChargeParameter", "absent"))),
    Step("CableCheckReq", ("ISO 15118-2 §8.4.5.2",), (DC_STATUS, PROCESSING)),
    Step("PreChargeReq", ("ISO 15118-2 §8.4.5.3",), (DC_STATUS, Check("EVSEPresentVoltage", "range", VOLTAGE))),
    Step("PowerDeliveryReq", ("ISO 15118-2 §8.4.3.9",), (DC_STATUS,), label="PowerDeliveryStart"),
    Step("CurrentDemandReq", ("ISO 15118-2 §8.4.5.4",),
         (DC_STATUS, Check("EVSEPresentVoltage", "range", VOLTAGE), Check("EVSEPresentCurrent", "range", (0.0, 1000.0)),
          Check("EVSECurrentLimitAchieved", "present"), Check("EVSEVoltageLimitAchieved", "present"),
          Check("EVSEPowerLimitAchieved", "present"), Check("EVSEID", "present"),
          Check("SAScheduleTupleID", "range", (1, 255)))),
    Step("PowerDeliveryReq", ("ISO 15118-2 §8.4.3.9",), (DC_STATUS,), occurrence=2, label="PowerDeliveryStop"),
    Step("WeldingDetectionReq", ("ISO 15118-2 §8.4.5.5",), (DC_STATUS, Check("EVSEPresentVoltage", "range", VOLTAGE))),
    Step("SessionStopReq", ("ISO 15118-2 §8.4.3.11",)),
)

AC_STEPS = (
    Step("ChargeParameterDiscoveryReq", ("ISO 15118-2 §8.4.3.8",),
         (PROCESSING, Check("AC_EVSEChargeParameter.EVSENominalVoltage", "range", (100.0, 1000.0)),
          Check("AC_EVSEChargeParameter.EVSEMaxCurrent", "range", (0.0, 1000.0)),
          Check("AC_EVSEChargeParameter.AC_EVSEStatus.RCD", "present"), Check("DC_EVSEChargeParameter", "absent"))),
    Step("PowerDeliveryReq", ("ISO 15118-2 §8.4.3.9",), (AC_STATUS,), label="PowerDeliveryStart"),
    Step("ChargingStatusReq", ("ISO 15118-2 §8.4.4.2",),
         (AC_STATUS, Check("EVSEID", "len", (1, 37)), Check("SAScheduleTupleID", "range", (1, 255)))),
    Step("ChargingStatusReq", ("ISO 15118-2 §8.4.4.2",), (AC_STATUS,), occurrence=3, label="ChargingStatus3"),
    Step("SessionStopReq", ("ISO 15118-2 §8.4.3.11",)),
)

DC_SEQUENCE = (
    ("ServiceDiscoveryReq", "SessionSetupReq", "earlier"),
    ("PaymentServiceSelectionReq", "SessionSetupReq", "earlier"),
    ("AuthorizationReq", "ServiceDiscoveryReq", "earlier"),
    ("ChargeParameterDiscoveryReq", "PaymentServiceSelectionReq", "earlier"),
    ("CableCheckReq", "AuthorizationReq", "earlier"),
    ("PreChargeReq", "ServiceDiscoveryReq", "earlier"),
    ("PowerDeliveryReq", "AuthorizationReq", "earlier"),
    ("WeldingDetectionReq", "CableCheckReq", "earlier"),
    ("ServiceDiscoveryReq", "CurrentDemandReq", "later"),
    ("AuthorizationReq", "WeldingDetectionReq", "later"),
)

AC_SEQUENCE = (
    ("ChargeParameterDiscoveryReq", "ServiceDiscoveryReq", "earlier"),
    ("PowerDeliveryReq", "PaymentServiceSelectionReq", "earlier"),
    ("ChargingStatusReq", "AuthorizationReq", "earlier"),
)

VALUES = (
    ("PowerDelivery-tuple", "PowerDeliveryReq with SAScheduleTupleID 99 (not offered) is refused",
     "PowerDeliveryReq", "SAScheduleTupleID", 99, ("FAILED_TariffSelectionInvalid",), ("[V2G2-225]",)),
    ("PaymentServiceSelection-no-charge-service", "PaymentServiceSelectionReq selecting only ServiceID 99 (no "
     "charge service, and not offered) is refused", "PaymentServiceSelectionReq", "SelectedServiceList.SelectedService",
     [iso2.SelectedServiceType(ServiceID=99)], ("FAILED_NoChargeServiceSelected", "FAILED_ServiceSelectionInvalid"),
     ("ISO 15118-2 §8.4.3.5 FAILED_NoChargeServiceSelected / FAILED_ServiceSelectionInvalid",)),
    ("CurrentDemand-over-current", "CurrentDemandReq asking 3000 A: the charger stays within its own current limit",
     "CurrentDemandReq", "EVTargetCurrent", 3000, ("OK*",), ("ISO 15118-2 §8.4.5.4 EVSECurrentLimitAchieved",)),
)

STOP_REQ = ("ISO 15118-2 §8.4.3.9 PowerDelivery", "ISO 15118-2 §8.4.3.11 SessionStop")

TIMERS = ("ISO 15118-2 §8.7 Table 109/111",)
PROGRESS = (
    ("AuthorizationReq", "ChargeParameterDiscoveryReq", "V2G_EVCC_Ongoing_Timeout", TIMERS),
    ("CableCheckReq", "PreChargeReq", "V2G_EVCC_CableCheck_Timeout", TIMERS),
    ("PreChargeReq", "PowerDeliveryReq", "V2G_EVCC_PreCharge_Timeout", TIMERS),
)


def cases() -> list[Case]:
    out = [*responses(DC, DC_STEPS), *sequence_errors(DC, DC_SEQUENCE)]
    for case in mutations(DC, VALUES):
        if case.id.endswith("over-current"):
            case = dataclasses.replace(case, expect=dataclasses.replace(case.expect, checks=(
                Check("EVSEPresentCurrent", "le-field", "EVSEMaximumCurrentLimit"),
                Check("EVSECurrentLimitAchieved", "in", (True,)))))
        out.append(case)
    out += stops(DC, (("CableCheckReq", 1), ("CurrentDemandReq", 2)), STOP_REQ)
    out += progress(DC, PROGRESS)
    out += framing(DC, "SessionSetupReq", ("ISO 15118-2 §7.8.3 V2GTP",))
    out += timeouts(DC, ("AuthorizationReq",), ("ISO 15118-2 Table 109 V2G_SECC_Sequence_Timeout",))
    out += list(responses(AC, AC_STEPS)) + list(sequence_errors(AC, AC_SEQUENCE))
    out += stops(AC, (("ChargingStatusReq", 2),), STOP_REQ)
    return out
