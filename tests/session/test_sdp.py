"""SDP (ISO 15118-2 §7.10.1): codec, retry timing with an injected clock, and a real exchange over a veth pair
between two network namespaces."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.session import sdp
from evcc.session.errors import SdpError, SdpTimeout
from evcc.session.sdp import SdpClient, SdpResponse, Security, Transport
from evcc.session.sdp_aio import discover, sdp_socket

ADDR = ipaddress.IPv6Address("fe80::1234:56ff:fe78:9abc")


def test_request_bytes() -> None:
    assert sdp.encode_request(Security.TLS) == bytes.fromhex("01fe9000000000020000")
    assert sdp.encode_request(Security.NO_TLS) == bytes.fromhex("01fe9000000000021000")


def test_response_roundtrip() -> None:
    resp = SdpResponse(ADDR, 61000, Security.TLS, Transport.TCP)
    data = sdp.encode_response(resp)
    assert len(data) == 28 and data[:8] == bytes.fromhex("01fe900100000014")
    assert sdp.decode_response(data) == resp


@pytest.mark.parametrize(
    ("hexdata", "needle"),
    [
        ("01fe9001000000130000", "header says 19 bytes"),
        ("01fe900100000002" + "0000", "payload is 2 bytes, expected 20"),
        ("01fe900100000014" + "00" * 16 + "ea60" + "20" + "00", "security byte 0x20"),
        ("01fe900100000014" + "00" * 16 + "ea60" + "00" + "01", "transport byte 0x01"),
        ("01fe900100000014" + "00" * 16 + "0000" + "00" + "00", "port 0"),
        ("01fe800100000014" + "00" * 20, "payload type: 0x8001"),
    ],
)
def test_bad_responses_name_the_fault(hexdata: str, needle: str) -> None:
    with pytest.raises(SdpError, match=needle):
        sdp.decode_response(bytes.fromhex(hexdata))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_response_garbage_only_sdp_error(data: bytes) -> None:
    try:
        sdp.decode_response(data)
    except SdpError:
        pass


def test_retry_every_250ms_and_give_up_after_50_requests_v2g2_160_161() -> None:
    c = SdpClient(Security.NO_TLS)
    c.start(100.0)
    sent = len(c.datagrams_to_send())
    now = 100.0
    while (deadline := c.get_timer()) is not None:
        assert deadline == pytest.approx(now + 0.25)
        now = deadline
        c.handle_timer(now - 0.001)  # early: nothing
        assert c.datagrams_to_send() == []
        c.handle_timer(now)
        sent += len(c.datagrams_to_send())
    assert sent == 50
    assert now == pytest.approx(100.0 + 50 * 0.25)
    (event,) = c.events()
    assert isinstance(event, sdp.SdpFailed) and "50 requests" in event.reason


def test_wrong_security_and_garbage_are_dropped_then_a_good_answer_wins() -> None:
    c = SdpClient(Security.TLS)
    c.start(0.0)
    c.receive_datagram(b"\x01\xfe", 0.01)
    c.receive_datagram(sdp.encode_response(SdpResponse(ADDR, 50001, Security.NO_TLS, Transport.TCP)), 0.02)
    c.receive_datagram(sdp.encode_response(SdpResponse(ADDR, 50001, Security.TLS, Transport.UDP)), 0.03)
    good = SdpResponse(ADDR, 51000, Security.TLS, Transport.TCP)
    c.receive_datagram(sdp.encode_response(good), 0.04)
    events = c.events()
    assert [type(e) for e in events] == [sdp.SdpDropped] * 3 + [sdp.SeccFound]
    assert c.result == good and c.get_timer() is None


def _run_discovery(link: VethLink, responder: SdpResponder, security: Security, max_requests: int) -> SdpResponse:
    async def main() -> SdpResponse:
        with in_netns(link.secc_netns):
            server = await serve_sdp(responder, link.secc_ifname)
        try:
            with in_netns(link.ev_netns):
                sock = sdp_socket(link.ev_ifname)
            client = SdpClient(security, sdp.SdpTimers(sdp_max_requests=max_requests))
            return await discover(client, sock)
        finally:
            server.close()

    return asyncio.run(main())


def test_sdp_over_veth_between_namespaces(veth: VethLink) -> None:
    secc_addr = veth.link_local(veth.secc_netns, veth.secc_ifname)
    responder = SdpResponder(SdpResponse(secc_addr, 61234, Security.NO_TLS, Transport.TCP))
    found = _run_discovery(veth, responder, Security.TLS, 50)
    assert found == SdpResponse(secc_addr, 61234, Security.TLS, Transport.TCP)
    assert responder.requests == [(Security.TLS, Transport.TCP)]


def test_silent_secc_over_veth_times_out(veth: VethLink) -> None:
    secc_addr = veth.link_local(veth.secc_netns, veth.secc_ifname)
    responder = SdpResponder(SdpResponse(secc_addr, 61234, Security.NO_TLS, Transport.TCP), silent=True)
    with pytest.raises(SdpTimeout, match="3 requests"):
        _run_discovery(veth, responder, Security.NO_TLS, 3)
    assert len(responder.requests) == 3
