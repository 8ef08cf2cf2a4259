"""Issue #14 point 2: checks on received V2G values (evcc.session.tolerance). The relaxed one (an OK
supportedAppProtocolRes naming no or another SchemaID when exactly one protocol was offered, [V2G2-168]) goes on
and is listed in the session report's deviations; the kept-strict ones still stop."""

from __future__ import annotations

from typing import Any

import pytest

from evcc import exi
from evcc.bench.secc.sap_responder import SupportedProtocol, respond
from evcc.exi import din, sap
from evcc.session import sap as evsap
from evcc.session.din.values import message
from evcc.session.errors import SapError
from evcc.session.events import EndKind
from evcc.session.report import EV_TO_SECC, SECC_TO_EV, Recorded, SessionJsonReport
from evcc.session.sap import DIN_OFFER, ISO2_OFFER, ProtocolOffer, SapClient
from evcc.session.timeouts import DIN_70121
from evcc.session.tolerance import SAP_SCHEMA_CLAUSE, SAP_SCHEMA_FIELD
from tests.session.test_din_machine import _current_demand_res, _in_current_demand


def _answer(offers: list[ProtocolOffer], res: sap.supportedAppProtocolRes) -> tuple[SapClient, list[Recorded]]:
    """The EV's SapClient after ``res``, and the two messages as the session recorder keeps them."""
    client = SapClient(offers, DIN_70121)
    client.start(0.0)
    (req,) = client.payloads_to_send()
    payload = exi.encode(res)
    client.receive_payload(payload, 0.1)
    return client, [Recorded(0.0, EV_TO_SECC, 0x8001, req), Recorded(0.1, SECC_TO_EV, 0x8001, payload)]


def _report(records: list[Recorded]) -> list[dict[str, object]]:
    report = SessionJsonReport("ev0", "din", "EIM", False)
    report.take_messages(records, "din", 0.0)
    return list(report.as_dict()["deviations"])


@pytest.mark.parametrize(("schema_id", "code", "value"), [
    (9, "OK_SuccessfulNegotiation", "9 with OK_SuccessfulNegotiation"),
    (None, "OK_SuccessfulNegotiation", "absent with OK_SuccessfulNegotiation"),
    (7, "OK_SuccessfulNegotiationWithMinorDeviation", "7 with OK_SuccessfulNegotiationWithMinorDeviation"),
])
def test_v2g2_168_one_offer_other_schema_id_goes_on_and_is_counted(schema_id: int | None, code: Any,
                                                                   value: str) -> None:
    client, records = _answer([DIN_OFFER], sap.supportedAppProtocolRes(ResponseCode=code, SchemaID=schema_id))
    assert client.error is None and client.result is not None
    assert client.result.offer == DIN_OFFER
    assert client.result.minor_deviation is (code == "OK_SuccessfulNegotiationWithMinorDeviation")
    assert _report(records) == [{"field": SAP_SCHEMA_FIELD, "value": value,
                                 "expected": f"{DIN_OFFER.schema_id} (the one offered)", "clause": SAP_SCHEMA_CLAUSE,
                                 "count": 1}]


def test_a_correct_answer_is_no_deviation() -> None:
    client = SapClient([DIN_OFFER], DIN_70121)
    client.start(0.0)
    (req,) = client.payloads_to_send()
    res, _ = respond(exi.decode("sap", req), [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0)])
    payload = exi.encode(res)
    client.receive_payload(payload, 0.1)
    assert client.result is not None and client.result.offer == DIN_OFFER
    assert _report([Recorded(0.0, EV_TO_SECC, 0x8001, req), Recorded(0.1, SECC_TO_EV, 0x8001, payload)]) == []


@pytest.mark.parametrize(("offers", "res", "needle"), [
    ([DIN_OFFER, ISO2_OFFER], sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiation", SchemaID=9),
     "SchemaID 9, which was not offered"),
    ([DIN_OFFER, ISO2_OFFER], sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiation"),
     "without a SchemaID"),
    ([DIN_OFFER], sap.supportedAppProtocolRes(ResponseCode="Failed_NoNegotiation", SchemaID=DIN_OFFER.schema_id),
     "Failed_NoNegotiation"),
])
def test_kept_strict_sap_answers_still_stop(offers: list[ProtocolOffer], res: sap.supportedAppProtocolRes,
                                            needle: str) -> None:
    client, records = _answer(offers, res)
    assert client.result is None and isinstance(client.error, SapError) and needle in str(client.error)
    assert _report(records) == []


def test_kept_strict_header_session_id_ends_the_session() -> None:
    ev, now = _in_current_demand()
    ev.receive_message(message(bytes(range(1, 9)), "CurrentDemandRes", _current_demand_res(380.0, 50.0)), now + 1)
    assert ev.ended is not None and ev.ended.kind is EndKind.PROTOCOL_ERROR
    assert "carries SessionID 0102030405060708" in ev.ended.reason


def test_kept_strict_failed_response_code_ends_the_session() -> None:
    ev, now = _in_current_demand()
    ok = _current_demand_res(380.0, 50.0)
    res = din.CurrentDemandResType(**{**{n: getattr(ok, n) for n in ok._fields}, "ResponseCode": "FAILED"})
    ev.receive_message(message(ev.session_id, "CurrentDemandRes", res), now + 1)
    assert ev.ended is not None and ev.ended.kind is EndKind.FAILED_RESPONSE
    assert ev.ended.response_code == "FAILED"


def test_kept_strict_value_the_ev_acts_on_stops_in_order() -> None:
    ev, now = _in_current_demand()
    ev.receive_message(message(ev.session_id, "CurrentDemandRes", _current_demand_res(900.0, 50.0)), now + 1)
    assert ev.ended is None and ev.stop_reason is not None and "EVSEPresentVoltage 900.0 V" in ev.stop_reason[1]
    (req,) = ev.messages_to_send()
    assert isinstance(req, din.V2G_Message) and req.Body.PowerDeliveryReq is not None
