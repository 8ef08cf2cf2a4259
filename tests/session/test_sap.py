"""SupportedAppProtocol (ISO 15118-2 §8.2.1, DIN SPEC 70121 §9.2): EV client against the bench responder."""

from __future__ import annotations

import pytest

from evcc import exi
from evcc.bench.secc.sap_responder import SupportedProtocol, respond
from evcc.exi import sap
from evcc.session import sap as evsap
from evcc.session.errors import SapError, SapTimeout
from evcc.session.sap import DIN_OFFER, ISO2_OFFER, ProtocolOffer, SapClient
from evcc.session.timeouts import DIN_70121

DIN = SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 0)
ISO2 = SupportedProtocol("iso2", evsap.ISO2_NAMESPACE, 2, 0)


def _handshake(offers: list[ProtocolOffer], supported: list[SupportedProtocol]) -> SapClient:
    client = SapClient(offers, DIN_70121)
    client.start(0.0)
    (payload,) = client.payloads_to_send()
    req = exi.decode("sap", payload)
    assert isinstance(req, sap.supportedAppProtocolReq)
    res, _ = respond(req, supported)
    client.receive_payload(exi.encode(res), 0.1)
    return client


def test_request_matches_a_real_car_encoding() -> None:
    # RISE-V2G/EXIficient example in the shared vectors (id 309): DIN SchemaID 0 prio 1, ISO -2 SchemaID 1 prio 2
    offers = [ProtocolOffer("din", evsap.DIN_NAMESPACE, 2, 0, 0, 1), ProtocolOffer("iso2", evsap.ISO2_NAMESPACE, 2, 0, 1, 2)]
    text = exi.to_json("sap", exi.encode(evsap.build_request(offers)))
    assert '"SchemaID":0,"Priority":1' in text.replace(" ", "")


def test_priority_decides_v2g2_167_168() -> None:
    iso_first = [ProtocolOffer("din", evsap.DIN_NAMESPACE, 2, 0, 1, 2), ProtocolOffer("iso2", evsap.ISO2_NAMESPACE, 2, 0, 2, 1)]
    client = _handshake(iso_first, [DIN, ISO2])
    assert client.result is not None and client.result.offer.protocol == "iso2"
    client = _handshake([DIN_OFFER, ISO2_OFFER], [DIN, ISO2])
    assert client.result is not None and client.result.offer.protocol == "din"
    assert not client.result.minor_deviation


def test_minor_deviation_is_accepted_and_reported() -> None:
    client = _handshake([DIN_OFFER], [SupportedProtocol("din", evsap.DIN_NAMESPACE, 2, 1)])
    assert client.result is not None and client.result.minor_deviation


def test_no_common_protocol_v2g_dc_226() -> None:
    client = _handshake([DIN_OFFER], [ISO2])
    assert isinstance(client.error, SapError) and "Failed_NoNegotiation" in str(client.error)


@pytest.mark.parametrize(
    ("res", "needle"),
    [
        (sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiation", SchemaID=9), "SchemaID 9, which was not offered"),
        (sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiation"), "without a SchemaID"),
    ],
)
def test_bad_answers(res: sap.supportedAppProtocolRes, needle: str) -> None:
    # two offers: the EV cannot tell which one was meant (with one offer it goes on: tests/session/test_tolerance.py)
    client = SapClient([DIN_OFFER, ISO2_OFFER], DIN_70121)
    client.start(0.0)
    client.receive_payload(exi.encode(res), 0.1)
    assert isinstance(client.error, SapError) and needle in str(client.error)


def test_garbage_and_wrong_message() -> None:
    client = SapClient([DIN_OFFER], DIN_70121)
    client.start(0.0)
    client.receive_payload(b"\x80\xff\x00", 0.1)
    assert isinstance(client.error, SapError) and "undecodable" in str(client.error)
    client = SapClient([DIN_OFFER], DIN_70121)
    client.start(0.0)
    client.receive_payload(exi.encode(evsap.build_request([DIN_OFFER])), 0.1)
    assert isinstance(client.error, SapError) and "expected supportedAppProtocolRes" in str(client.error)


def test_msg_timeout_2s_din_table_75() -> None:
    client = SapClient([DIN_OFFER], DIN_70121)
    client.start(10.0)
    assert client.get_timer() == 12.0
    client.handle_timer(11.999)
    assert client.error is None
    client.handle_timer(12.0)
    assert isinstance(client.error, SapTimeout) and "V2G_EVCC_Msg_Timeout (2.0 s)" in str(client.error)
    assert isinstance(client.error, evsap.SapMsgTimeout) and client.error.timer == "V2G_EVCC_Msg_Timeout"


def test_offer_limits() -> None:
    with pytest.raises(ValueError, match="21 protocols"):
        evsap.check_offers([ProtocolOffer("din", "x", 2, 0, i, 1) for i in range(21)])
    with pytest.raises(ValueError, match="unique"):
        evsap.check_offers([DIN_OFFER, ProtocolOffer("iso2", "y", 2, 0, DIN_OFFER.schema_id, 2)])
