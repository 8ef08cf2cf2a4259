"""SDP answers are checked like everything else from the charger (issue 15): the EV connects only to an IPv6
link-local unicast address (fe80::/10) on the SDP interface, a port in the dynamic range 49152-65535 (IETF RFC 6335,
ISO 15118-2 §7.10.1), with the security it asked for. Anything else is dropped with the reason and counts as no
answer: the request is repeated [V2G2-160] until a valid answer or the 50th request [V2G2-161]."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.session import sdp
from evcc.session.errors import SdpTimeout
from evcc.session.sdp import SdpClient, SdpDropped, SdpFailed, SdpResponse, SeccFound, Security, Transport
from evcc.session.sdp_aio import discover, sdp_socket

LINK_LOCAL = ipaddress.IPv6Address("fe80::1234:56ff:fe78:9abc")
HOSTILE_ADDRESSES = {
    "loopback": "::1",
    "global": "2001:db8::1",
    "multicast": "ff02::1",
    "link-local multicast (all routers)": "ff02::2",
    "unspecified": "::",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "unique local": "fd00::1",
    "site-local (deprecated)": "fec0::1",
}


@pytest.mark.parametrize("address", list(HOSTILE_ADDRESSES.values()), ids=list(HOSTILE_ADDRESSES))
def test_an_answer_pointing_off_the_link_is_ignored_and_sdp_retries_v2g2_160(address: str) -> None:
    c = SdpClient(Security.NO_TLS, sdp.SdpTimers(sdp_max_requests=3))
    c.start(0.0)
    assert len(c.datagrams_to_send()) == 1
    c.receive_datagram(sdp.encode_response(SdpResponse(ipaddress.IPv6Address(address), 50000, Security.NO_TLS,
                                                       Transport.TCP)), 0.01)
    (event,) = c.events()
    assert isinstance(event, SdpDropped) and address.split("::")[0] in event.reason and "link-local" in event.reason
    assert c.result is None and c.get_timer() == pytest.approx(0.25)
    c.handle_timer(0.25)
    assert len(c.datagrams_to_send()) == 1  # counted as no answer: the request goes out again


@pytest.mark.parametrize("port", [1, 80, 443, 15118, 22, 49151, 0x7FFF])
def test_a_port_outside_the_dynamic_range_is_ignored(port: int) -> None:
    c = SdpClient(Security.NO_TLS)
    c.start(0.0)
    c.receive_datagram(sdp.encode_response(SdpResponse(LINK_LOCAL, port, Security.NO_TLS, Transport.TCP)), 0.01)
    (event,) = c.events()
    assert isinstance(event, SdpDropped) and f"port {port}" in event.reason and "49152-65535" in event.reason


@pytest.mark.parametrize("port", [49152, 61234, 65535])
def test_the_dynamic_range_and_link_local_unicast_are_accepted(port: int) -> None:
    c = SdpClient(Security.TLS)
    c.start(0.0)
    good = SdpResponse(LINK_LOCAL, port, Security.TLS, Transport.TCP)
    c.receive_datagram(sdp.encode_response(good), 0.01)
    assert [type(e) for e in c.events()] == [SeccFound] and c.result == good


def test_a_security_not_asked_for_is_ignored_until_the_last_request_v2g2_161() -> None:
    c = SdpClient(Security.TLS, sdp.SdpTimers(sdp_max_requests=2))
    c.start(0.0)
    now = 0.0
    while c.get_timer() is not None:
        c.receive_datagram(sdp.encode_response(SdpResponse(LINK_LOCAL, 50000, Security.NO_TLS, Transport.TCP)), now)
        now += 0.25
        c.handle_timer(now)
    events = c.events()
    assert [type(e) for e in events] == [SdpDropped, SdpDropped, SdpFailed]
    assert "NO_TLS" in events[0].reason  # type: ignore[union-attr]


@pytest.mark.parametrize("address", ["::1", "2001:db8::1", "ff02::1"], ids=["loopback", "global", "multicast"])
def test_a_hostile_secc_over_veth_never_steers_the_ev(veth: VethLink, address: str) -> None:
    """The EV on its namespace side gets only answers pointing elsewhere: it keeps asking and then gives up, and
    never opens a connection (a TCP listener on the EV's own loopback at the announced port stays untouched)."""
    port = 50123
    accepted: list[object] = []

    class Trap(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport.get_extra_info("peername"))

    async def main() -> None:
        with in_netns(veth.ev_netns):
            trap = await asyncio.get_running_loop().create_server(Trap, "::1", port)
        with in_netns(veth.secc_netns):
            server = await serve_sdp(SdpResponder(SdpResponse(ipaddress.IPv6Address(address), port, Security.NO_TLS,
                                                              Transport.TCP)), veth.secc_ifname)
        try:
            with in_netns(veth.ev_netns):
                sock = sdp_socket(veth.ev_ifname)
            with pytest.raises(SdpTimeout, match="3 requests"):
                await discover(SdpClient(Security.NO_TLS, sdp.SdpTimers(sdp_max_requests=3)), sock)
            await asyncio.sleep(0.1)  # a connection the EV had opened would have been accepted by now
        finally:
            server.close()
            trap.close()

    asyncio.run(main())
    assert accepted == []
