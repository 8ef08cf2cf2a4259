"""DIN SPEC 70121 (DC, EIM) charger cases: the session of §9.4 (Figure 107) request by request, its timing
(§9.6 Table 75-77), response codes (§9.4, FAILED_SequenceError, FAILED_UnknownSession) and value ranges."""

from __future__ import annotations

import dataclasses

from evcc.conformance.catalogue.expand import (Profile, Step, framing, mutations, progress, responses,
                                               sequence_errors, stops, timeouts)
from evcc.conformance.model import Case, Check

P = Profile("DIN", "din", "dc", "DIN SPEC 70121", timing=("DIN 70121 §9.6 Table 75",),
            sequence_req=("DIN 70121 §9.4 FAILED_SequenceError", "DIN 70121 §9.6"),
            session_req=("DIN 70121 §9.4.1.2 SessionID", "DIN 70121 FAILED_UnknownSession"))

STATUS = Check("DC_EVSEStatus.EVSEStatusCode", "present")
PROCESSING = Check("EVSEProcessing", "in", ("Finished", "Ongoing"))
VOLTAGE = (0.0, 1500.0)

STEPS = (
    Step("SessionSetupReq", ("DIN 70121 §9.4.1.2", "DIN 70121 §9.2 SessionID"),
         (Check("Header.SessionID", "new-session"), Check("EVSEID", "present")), codes=("OK_NewSessionEstablished",)),
    Step("ServiceDiscoveryReq", ("DIN 70121 §9.4.1.3",),
         (Check("PaymentOptions.PaymentOption", "present"), Check("ChargeService.ServiceTag.ServiceID", "present"),
          Check("ChargeService.EnergyTransferType", "in", ("DC_core", "DC_extended", "DC_combo_core", "DC_unique")))),
    Step("ServicePaymentSelectionReq", ("DIN 70121 §9.4.1.4",)),
    Step("ContractAuthenticationReq", ("DIN 70121 §9.4.1.5",), (PROCESSING,)),
    Step("ChargeParameterDiscoveryReq", ("DIN 70121 §9.4.1.6",),
         (PROCESSING, Check("DC_EVSEChargeParameter.DC_EVSEStatus.EVSEStatusCode", "present"),
          Check("DC_EVSEChargeParameter.EVSEMaximumVoltageLimit", "range", VOLTAGE),
          Check("DC_EVSEChargeParameter.EVSEMaximumCurrentLimit", "range", (0.0, 1000.0)),
          Check("DC_EVSEChargeParameter.EVSEMinimumVoltageLimit", "range", VOLTAGE))),
    Step("CableCheckReq", ("DIN 70121 §9.4.2.2",), (STATUS, PROCESSING)),
    Step("PreChargeReq", ("DIN 70121 §9.4.2.3",), (STATUS, Check("EVSEPresentVoltage", "range", VOLTAGE))),
    Step("PowerDeliveryReq", ("DIN 70121 §9.4.1.7",), (STATUS,), label="PowerDeliveryStart"),
    Step("CurrentDemandReq", ("DIN 70121 §9.4.2.4",),
         (STATUS, Check("EVSEPresentVoltage", "range", VOLTAGE), Check("EVSEPresentCurrent", "range", (0.0, 1000.0)),
          Check("EVSECurrentLimitAchieved", "present"), Check("EVSEVoltageLimitAchieved", "present"),
          Check("EVSEPowerLimitAchieved", "present"))),
    Step("CurrentDemandReq", ("DIN 70121 §9.4.2.4",), (STATUS,), occurrence=3, label="CurrentDemand3"),
    Step("PowerDeliveryReq", ("DIN 70121 §9.4.1.7",), (STATUS,), occurrence=2, label="PowerDeliveryStop"),
    Step("WeldingDetectionReq", ("DIN 70121 §9.4.2.5",), (STATUS, Check("EVSEPresentVoltage", "range", VOLTAGE))),
    Step("SessionStopReq", ("DIN 70121 §9.4.1.8",)),
)

SEQUENCE = (
    ("ServiceDiscoveryReq", "SessionSetupReq", "earlier"),
    ("ServicePaymentSelectionReq", "SessionSetupReq", "earlier"),
    ("ContractAuthenticationReq", "ServiceDiscoveryReq", "earlier"),
    ("ChargeParameterDiscoveryReq", "ServicePaymentSelectionReq", "earlier"),
    ("CableCheckReq", "ServiceDiscoveryReq", "earlier"),
    ("PreChargeReq", "ContractAuthenticationReq", "earlier"),
    ("PowerDeliveryReq", "ServiceDiscoveryReq", "earlier"),
    ("WeldingDetectionReq", "ChargeParameterDiscoveryReq", "earlier"),
    ("ServiceDiscoveryReq", "CurrentDemandReq", "later"),
    ("ContractAuthenticationReq", "PowerDeliveryReq", "later"),
    ("CableCheckReq", "WeldingDetectionReq", "later"),
)

VALUES = (
    ("CurrentDemand-over-current", "CurrentDemandReq asking 3000 A: the charger stays within its own current limit",
     "CurrentDemandReq", "EVTargetCurrent", 3000, ("OK*",), ("DIN 70121 §9.4.2.4 EVSECurrentLimitAchieved",)),
)

STOP_REQ = ("DIN 70121 §9.4.1.7 PowerDelivery", "DIN 70121 §9.4.1.8 SessionStop")

TIMERS = ("DIN 70121 §9.6 Table 76/77",)
PROGRESS = (
    ("ContractAuthenticationReq", "ChargeParameterDiscoveryReq", "V2G_EVCC_Ongoing_Timeout", TIMERS),
    ("ChargeParameterDiscoveryReq", "CableCheckReq", "V2G_EVCC_Ongoing_Timeout", TIMERS),
    ("CableCheckReq", "PreChargeReq", "V2G_EVCC_CableCheck_Timeout", TIMERS),
    ("PreChargeReq", "PowerDeliveryReq", "V2G_EVCC_PreCharge_Timeout", TIMERS),
)


def cases() -> list[Case]:
    out = [*responses(P, STEPS), *sequence_errors(P, SEQUENCE)]
    for case in mutations(P, VALUES):
        checks = (Check("EVSEPresentCurrent", "le-field", "EVSEMaximumCurrentLimit"),
                  Check("EVSECurrentLimitAchieved", "in", (True,)))
        out.append(_with_checks(case, checks))
    out += stops(P, (("CableCheckReq", 1), ("PreChargeReq", 1), ("CurrentDemandReq", 2)), STOP_REQ)
    out += progress(P, PROGRESS)
    out += framing(P, "SessionSetupReq", ("ISO 15118-2 §7.8.3 V2GTP", "DIN 70121 §8.7.3"))
    out += timeouts(P, ("ServiceDiscoveryReq", "CurrentDemandReq"), ("DIN 70121 §9.6 Table 76 V2G_SECC_Sequence_Timeout",))
    return out


def _with_checks(case: Case, checks: tuple[Check, ...]) -> Case:
    return dataclasses.replace(case, expect=dataclasses.replace(case.expect, checks=checks))
