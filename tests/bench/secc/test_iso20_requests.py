"""Hand-built ISO 15118-20 requests (every request an EVCC machine sends for AC, DC, AC_BPT and DC_BPT, in
Scheduled and Dynamic mode, EIM and PnC) and the check that each one goes through evcc.exi both ways with the
grammar of its V2GTP payload type (ISO 15118-20 Table 14). The other -20 responder tests build on these."""

from __future__ import annotations

from typing import Any

import pytest

from evcc import exi
from evcc.bench.secc.iso20_values import GRAMMAR_OF_PAYLOAD, payload_type_of, rational
from evcc.exi import schema_module

C: Any = schema_module("iso20_common")
D: Any = schema_module("iso20_dc")
A: Any = schema_module("iso20_ac")
EVCCID = "WMIEVCCTEST0000017"


def hdr(m: Any, sid: bytes, t: int = 1_700_000_000, signature: Any = None) -> Any:
    return m.MessageHeaderType(SessionID=sid, TimeStamp=t, Signature=signature)


def r(m: Any, v: float) -> Any:
    return rational(m, v)


def session_setup(sid: bytes = bytes(8)) -> Any:
    return C.SessionSetupReqType(Header=hdr(C, sid), EVCCID=EVCCID)


def authorization_setup(sid: bytes) -> Any:
    return C.AuthorizationSetupReqType(Header=hdr(C, sid))


def authorization_eim(sid: bytes) -> Any:
    return C.AuthorizationReqType(Header=hdr(C, sid), SelectedAuthorizationService="EIM",
                                  EIM_AReqAuthorizationMode=C.EIM_AReqAuthorizationModeType())


def authorization_pnc(sid: bytes, challenge: bytes, chain: list[bytes], signature: Any = None) -> Any:
    mode = C.PnC_AReqAuthorizationModeType(
        Id="ID1", GenChallenge=challenge, ContractCertificateChain=C.ContractCertificateChainType(
            Certificate=chain[0], SubCertificates=C.SubCertificatesType(Certificate=chain[1:])))
    return C.AuthorizationReqType(Header=hdr(C, sid, signature=signature), SelectedAuthorizationService="PnC",
                                  PnC_AReqAuthorizationMode=mode)


def service_discovery(sid: bytes, ids: list[int] | None = None) -> Any:
    return C.ServiceDiscoveryReqType(Header=hdr(C, sid),
                                     SupportedServiceIDs=C.ServiceIDListType(ServiceID=ids) if ids else None)


def service_detail(sid: bytes, service_id: int) -> Any:
    return C.ServiceDetailReqType(Header=hdr(C, sid), ServiceID=service_id)


def service_selection(sid: bytes, service_id: int, parameter_set: int) -> Any:
    return C.ServiceSelectionReqType(Header=hdr(C, sid), SelectedEnergyTransferService=C.SelectedServiceType(
        ServiceID=service_id, ParameterSetID=parameter_set))


def schedule_exchange(sid: bytes, dynamic: bool) -> Any:
    req = C.ScheduleExchangeReqType(Header=hdr(C, sid), MaximumSupportingPoints=24)
    if dynamic:
        req.Dynamic_SEReqControlMode = C.Dynamic_SEReqControlModeType(
            DepartureTime=7200, EVTargetEnergyRequest=r(C, 20_000), EVMaximumEnergyRequest=r(C, 30_000),
            EVMinimumEnergyRequest=r(C, 5_000))
    else:
        req.Scheduled_SEReqControlMode = C.Scheduled_SEReqControlModeType(DepartureTime=7200)
    return req


def power_delivery(sid: bytes, progress: str, tuple_id: int | None = None, power: float = 50_000,
                   channel: str | None = None) -> Any:
    profile = None
    if tuple_id is not None:
        profile = C.EVPowerProfileType(
            TimeAnchor=1_700_000_000,
            Scheduled_EVPPTControlMode=C.Scheduled_EVPPTControlModeType(SelectedScheduleTupleID=tuple_id),
            EVPowerProfileEntries=C.EVPowerProfileEntryListType(EVPowerProfileEntry=[
                C.PowerScheduleEntryType(Duration=3600, Power=r(C, power))]))
    return C.PowerDeliveryReqType(Header=hdr(C, sid), EVProcessing="Finished", ChargeProgress=progress,
                                  EVPowerProfile=profile, BPT_ChannelSelection=channel)


def metering_confirmation(sid: bytes, signature: Any = None, data_sid: bytes | None = None) -> Any:
    data = C.SignedMeteringDataType(
        Id="ID2", SessionID=data_sid if data_sid is not None else sid,
        MeterInfo=C.MeterInfoType(MeterID="SIM-METER-1", ChargedEnergyReadingWh=10),
        Scheduled_SMDTControlMode=C.Scheduled_SMDTControlModeType(SelectedScheduleTupleID=1))
    return C.MeteringConfirmationReqType(Header=hdr(C, sid, signature=signature), SignedMeteringData=data)


def session_stop(sid: bytes, what: str = "Terminate") -> Any:
    return C.SessionStopReqType(Header=hdr(C, sid), ChargingSession=what)


# ------------------------------------------------------------------ DC
def dc_cpd(sid: bytes, bpt: bool) -> Any:
    limits = dict(EVMaximumChargePower=r(D, 150_000), EVMinimumChargePower=r(D, 0),
                  EVMaximumChargeCurrent=r(D, 300), EVMinimumChargeCurrent=r(D, 0),
                  EVMaximumVoltage=r(D, 450), EVMinimumVoltage=r(D, 200))
    if bpt:
        return D.DC_ChargeParameterDiscoveryReqType(Header=hdr(D, sid), BPT_DC_CPDReqEnergyTransferMode=(
            D.BPT_DC_CPDReqEnergyTransferModeType(
                **limits, EVMaximumDischargePower=r(D, 50_000), EVMinimumDischargePower=r(D, 0),
                EVMaximumDischargeCurrent=r(D, 120), EVMinimumDischargeCurrent=r(D, 0))))
    return D.DC_ChargeParameterDiscoveryReqType(Header=hdr(D, sid),
                                                DC_CPDReqEnergyTransferMode=D.DC_CPDReqEnergyTransferModeType(**limits))


def dc_cable_check(sid: bytes) -> Any:
    return D.DC_CableCheckReqType(Header=hdr(D, sid))


def dc_pre_charge(sid: bytes, present: float, target: float) -> Any:
    return D.DC_PreChargeReqType(Header=hdr(D, sid), EVProcessing="Ongoing", EVPresentVoltage=r(D, present),
                                 EVTargetVoltage=r(D, target))


def dc_loop(sid: bytes, mode: str, voltage: float = 400, current: float = 100, max_power: float = 150_000,
            energy: float = 20_000) -> Any:
    """``mode``: Scheduled, Dynamic, BPT_Scheduled or BPT_Dynamic (current < 0 discharges)."""
    req = D.DC_ChargeLoopReqType(Header=hdr(D, sid), MeterInfoRequested=True, EVPresentVoltage=r(D, voltage))
    dyn = dict(EVTargetEnergyRequest=r(D, energy), EVMaximumEnergyRequest=r(D, energy),
               EVMinimumEnergyRequest=r(D, 0), EVMaximumChargePower=r(D, max_power), EVMinimumChargePower=r(D, 0),
               EVMaximumChargeCurrent=r(D, 300), EVMaximumVoltage=r(D, 450), EVMinimumVoltage=r(D, 200))
    discharge = dict(EVMaximumDischargePower=r(D, 50_000), EVMinimumDischargePower=r(D, 0),
                     EVMaximumDischargeCurrent=r(D, 120))
    if mode == "Scheduled":
        req.Scheduled_DC_CLReqControlMode = D.Scheduled_DC_CLReqControlModeType(
            EVTargetCurrent=r(D, current), EVTargetVoltage=r(D, voltage))
    elif mode == "BPT_Scheduled":
        req.BPT_Scheduled_DC_CLReqControlMode = D.BPT_Scheduled_DC_CLReqControlModeType(
            EVTargetCurrent=r(D, current), EVTargetVoltage=r(D, voltage))
    elif mode == "Dynamic":
        req.Dynamic_DC_CLReqControlMode = D.Dynamic_DC_CLReqControlModeType(**dyn)
    else:
        req.BPT_Dynamic_DC_CLReqControlMode = D.BPT_Dynamic_DC_CLReqControlModeType(**dyn, **discharge)
    return req


def dc_welding(sid: bytes) -> Any:
    return D.DC_WeldingDetectionReqType(Header=hdr(D, sid), EVProcessing="Ongoing")


# ------------------------------------------------------------------ AC
def ac_cpd(sid: bytes, bpt: bool) -> Any:
    limits = dict(EVMaximumChargePower=r(A, 11_000), EVMinimumChargePower=r(A, 1_400))
    if bpt:
        return A.AC_ChargeParameterDiscoveryReqType(Header=hdr(A, sid), BPT_AC_CPDReqEnergyTransferMode=(
            A.BPT_AC_CPDReqEnergyTransferModeType(**limits, EVMaximumDischargePower=r(A, 7_000),
                                                  EVMinimumDischargePower=r(A, 0))))
    return A.AC_ChargeParameterDiscoveryReqType(Header=hdr(A, sid),
                                                AC_CPDReqEnergyTransferMode=A.AC_CPDReqEnergyTransferModeType(**limits))


def ac_loop(sid: bytes, mode: str, present: float = 11_000, energy: float = 20_000) -> Any:
    """``mode``: Scheduled, Dynamic, BPT_Scheduled or BPT_Dynamic (present < 0 discharges)."""
    req = A.AC_ChargeLoopReqType(Header=hdr(A, sid), MeterInfoRequested=False)
    dyn = dict(EVTargetEnergyRequest=r(A, energy), EVMaximumEnergyRequest=r(A, energy),
               EVMinimumEnergyRequest=r(A, 0), EVMaximumChargePower=r(A, 11_000), EVMinimumChargePower=r(A, 0),
               EVPresentActivePower=r(A, present), EVPresentReactivePower=r(A, 0))
    if mode == "Scheduled":
        req.Scheduled_AC_CLReqControlMode = A.Scheduled_AC_CLReqControlModeType(EVPresentActivePower=r(A, present))
    elif mode == "BPT_Scheduled":
        req.BPT_Scheduled_AC_CLReqControlMode = A.BPT_Scheduled_AC_CLReqControlModeType(
            EVPresentActivePower=r(A, present))
    elif mode == "Dynamic":
        req.Dynamic_AC_CLReqControlMode = A.Dynamic_AC_CLReqControlModeType(**dyn)
    else:
        req.BPT_Dynamic_AC_CLReqControlMode = A.BPT_Dynamic_AC_CLReqControlModeType(
            **dyn, EVMaximumDischargePower=r(A, 7_000), EVMinimumDischargePower=r(A, 0))
    return req


SID = bytes.fromhex("0102030405060708")
ALL_REQUESTS: list[Any] = [
    session_setup(), authorization_setup(SID), authorization_eim(SID),
    authorization_pnc(SID, bytes(16), [b"\x30" * 10, b"\x30" * 12]), service_discovery(SID, [2, 6]),
    service_detail(SID, 2), service_selection(SID, 6, 1), schedule_exchange(SID, True), schedule_exchange(SID, False),
    power_delivery(SID, "Start", 1), power_delivery(SID, "Start", None, channel="Discharge"),
    power_delivery(SID, "Stop"), power_delivery(SID, "ScheduleRenegotiation"), power_delivery(SID, "Standby"),
    metering_confirmation(SID), session_stop(SID), session_stop(SID, "Pause"),
    session_stop(SID, "ServiceRenegotiation"),
    dc_cpd(SID, False), dc_cpd(SID, True), dc_cable_check(SID), dc_pre_charge(SID, 350, 400),
    *(dc_loop(SID, m) for m in ("Scheduled", "Dynamic", "BPT_Scheduled", "BPT_Dynamic")),
    dc_loop(SID, "BPT_Scheduled", current=-80), dc_welding(SID),
    ac_cpd(SID, False), ac_cpd(SID, True),
    *(ac_loop(SID, m) for m in ("Scheduled", "Dynamic", "BPT_Scheduled", "BPT_Dynamic")),
]


@pytest.mark.parametrize("req", ALL_REQUESTS, ids=lambda q: type(q).__name__)
def test_every_request_round_trips_through_the_grammar_of_its_payload_type(req: Any) -> None:
    data = exi.encode(req)
    named = exi.decode_named(GRAMMAR_OF_PAYLOAD[payload_type_of(req)], data)
    assert named.value == req
    assert exi.encode(named.value, named.name) == data


def test_payload_types_follow_the_schema_set() -> None:
    assert payload_type_of(session_setup()) == 0x8002
    assert payload_type_of(ac_loop(SID, "Dynamic")) == 0x8003
    assert payload_type_of(dc_loop(SID, "Dynamic")) == 0x8004
    with pytest.raises(ValueError, match="not an ISO 15118-20"):
        payload_type_of(schema_module("iso2").SessionSetupReqType(EVCCID=bytes(6)))
