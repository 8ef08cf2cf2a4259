"""The ISO 15118-2 SECC simulator's own checks, driven with hand-made requests: what it refuses and how."""

from __future__ import annotations

from typing import Any

from evcc import exi
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.exi import iso2
from evcc.session.iso2.values import body_element, message, pv

MAC = bytes.fromhex("0242ac110002")


def _ask(secc: Iso2Secc, name: str, value: Any, sid: bytes | None = None) -> tuple[str, Any]:
    secc.receive_payload(exi.encode(message(secc.session_id if sid is None else sid, name, value)), 0.0)
    (res,) = secc.messages_to_send(1.0)
    return body_element(res.Body)


def _to_power_delivery(secc: Iso2Secc) -> None:
    _ask(secc, "SessionSetupReq", iso2.SessionSetupReqType(EVCCID=MAC), bytes(8))
    _ask(secc, "ServiceDiscoveryReq", iso2.ServiceDiscoveryReqType())
    selected = iso2.SelectedServiceListType(SelectedService=[iso2.SelectedServiceType(ServiceID=1)])
    _ask(secc, "PaymentServiceSelectionReq",
         iso2.PaymentServiceSelectionReqType(SelectedPaymentOption="ExternalPayment", SelectedServiceList=selected))
    _ask(secc, "AuthorizationReq", iso2.AuthorizationReqType())
    ac = iso2.AC_EVChargeParameterType(EAmount=pv(1000, "Wh"), EVMaxVoltage=pv(400, "V"), EVMaxCurrent=pv(16, "A"),
                                       EVMinCurrent=pv(6, "A"))
    _ask(secc, "ChargeParameterDiscoveryReq",
         iso2.ChargeParameterDiscoveryReqType(RequestedEnergyTransferMode="AC_three_phase_core", AC_EVChargeParameter=ac))


def _power_delivery(tuple_id: int, power: float) -> iso2.PowerDeliveryReqType:
    profile = iso2.ChargingProfileType(ProfileEntry=[
        iso2.ProfileEntryType(ChargingProfileEntryStart=0, ChargingProfileEntryMaxPower=pv(power, "W"))])
    return iso2.PowerDeliveryReqType(ChargeProgress="Start", SAScheduleTupleID=tuple_id, ChargingProfile=profile)


def test_profile_above_pmax_is_failed_charging_profile_invalid() -> None:
    secc = Iso2Secc(config=Iso2SeccConfig(sa_schedules=(11_000.0,), ongoing_rounds=0))
    _to_power_delivery(secc)
    name, res = _ask(secc, "PowerDeliveryReq", _power_delivery(1, 22_000.0))
    assert (name, res.ResponseCode) == ("PowerDeliveryRes", "FAILED_ChargingProfileInvalid")


def test_unknown_tuple_is_failed_tariff_selection_invalid() -> None:
    secc = Iso2Secc(config=Iso2SeccConfig(sa_schedules=(11_000.0,), ongoing_rounds=0))
    _to_power_delivery(secc)
    _, res = _ask(secc, "PowerDeliveryReq", _power_delivery(2, 1_000.0))
    assert res.ResponseCode == "FAILED_TariffSelectionInvalid"


def test_out_of_order_and_unknown_session_are_refused() -> None:
    secc = Iso2Secc()
    _, res = _ask(secc, "ServiceDiscoveryReq", iso2.ServiceDiscoveryReqType(), bytes(8))
    assert res.ResponseCode == "FAILED_SequenceError"
    _ask(secc, "SessionSetupReq", iso2.SessionSetupReqType(EVCCID=MAC), bytes(8))
    _, res = _ask(secc, "ServiceDiscoveryReq", iso2.ServiceDiscoveryReqType(), bytes(range(8)))
    assert res.ResponseCode == "FAILED_UnknownSession"


def test_garbage_is_recorded_and_answered_with_silence() -> None:
    secc = Iso2Secc()
    secc.receive_payload(b"\x80\x98\xff\xff", 0.0)
    assert secc.messages_to_send(10.0) == [] and secc.errors and "undecodable" in secc.errors[0]
