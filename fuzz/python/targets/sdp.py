"""Fuzz target ``py-sdp``: the SECC Discovery Protocol codec (ISO 15118-2 §7.10.1; evcc/session/sdp.py).

Input layout: byte 0 bit 0 selects the parser (0: SECC Discovery Response as the EV receives it, 1: request as the
bench SECC receives it), bit 1 the security the EV asked for; the rest is the UDP datagram. Oracles beyond "only
SdpError escapes": a decoded message re-encodes to the same datagram; ``answer_problem`` and the sans-IO
``SdpClient`` take any datagram without raising (the client drops what it cannot use).
"""

from __future__ import annotations

from evcc.errors import EvccError
from evcc.session import sdp
from evcc.session.errors import SdpError

EXPECTED: tuple[type[BaseException], ...] = (SdpError,)
MAX_LEN = 256


def test_one(data: bytes) -> None:
    if not data:
        return
    selector, datagram = data[0], data[1:]
    if selector & 0x01:
        security, transport = sdp.decode_request(datagram)
        assert sdp.encode_request(security, transport) == datagram, "request does not re-encode"
        return
    asked = sdp.Security.NO_TLS if selector & 0x02 else sdp.Security.TLS
    client = sdp.SdpClient(asked)
    client.start(0.0)
    try:
        client.receive_datagram(datagram, 0.1)
    except EvccError as exc:
        raise AssertionError(f"SdpClient.receive_datagram let {type(exc).__name__} escape: {exc}") from exc
    events = client.events()
    assert len(events) == 1, f"one datagram gave {len(events)} events"
    response = sdp.decode_response(datagram)
    assert sdp.encode_response(response) == datagram, "response does not re-encode"
    problem = sdp.answer_problem(response)
    found = isinstance(events[0], sdp.SeccFound)
    assert not (found and problem is not None), f"client accepted an answer with a problem: {problem}"
