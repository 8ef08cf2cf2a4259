"""V2GTP framing (ISO 15118-2 §7.8.3): reassembly over any chunking, header checks, bounded lengths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcc.errors import ProtocolError
from evcc.session import v2gtp
from evcc.session.errors import V2gtpError

payloads = st.lists(st.binary(max_size=300), min_size=1, max_size=6)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@settings(max_examples=300, deadline=None)
@given(payloads, st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_any_chunking_of_valid_frames_reassembles(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(v2gtp.encode(v2gtp.EXI_ENCODED, m) for m in messages)
    r = v2gtp.Reassembler()
    got: list[bytes] = []
    for chunk in _chunks(stream, cuts):
        got += [m.payload for m in r.feed(chunk)]
    assert got == messages
    assert r.buffered == 0


def test_one_byte_at_a_time_of_a_certificate_sized_message() -> None:
    payload = bytes(range(256)) * 17  # 4352 bytes, a CertificateInstallationRes is about 4.1 kB
    r = v2gtp.Reassembler()
    frame = v2gtp.encode(v2gtp.EXI_ENCODED, payload)
    out = [m for i in range(len(frame)) for m in r.feed(frame[i : i + 1])]
    assert out == [v2gtp.V2gtpMessage(v2gtp.EXI_ENCODED, payload)]


def test_header_bytes_on_the_wire() -> None:
    assert v2gtp.encode(0x8001, b"\x80\x00") == bytes.fromhex("01fe8001000000028000")


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("02fd800100000000", "protocol version"),
        ("01fd800100000000", "inverse protocol version"),
        ("01fe900000000000", "payload type"),
        ("01fe800100010001", "payload length"),
    ],
)
def test_bad_headers_name_the_field(header: str, field: str) -> None:
    r = v2gtp.Reassembler(max_payload=64 * 1024)
    with pytest.raises(V2gtpError) as err:
        r.feed(bytes.fromhex(header))
    assert err.value.field == field
    assert isinstance(err.value, ProtocolError)
    with pytest.raises(V2gtpError):  # the stream stays broken
        r.feed(v2gtp.encode(v2gtp.EXI_ENCODED, b"ok"))


def test_oversized_length_is_rejected_before_buffering() -> None:
    r = v2gtp.Reassembler(max_payload=8192)
    with pytest.raises(V2gtpError, match="8193 bytes exceeds the limit of 8192"):
        r.feed(bytes.fromhex("01fe800100002001"))
    assert r.buffered == 0


def test_messages_before_the_error_are_kept() -> None:
    r = v2gtp.Reassembler()
    good = v2gtp.encode(v2gtp.EXI_ENCODED, b"first")
    with pytest.raises(V2gtpError) as err:
        r.feed(good + bytes.fromhex("01fe9000 00000000"))
    assert [m.payload for m in err.value.complete] == [b"first"]


def test_limit_below_certificate_size_is_refused() -> None:
    with pytest.raises(ValueError):
        v2gtp.Reassembler(max_payload=4096)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_garbage_never_raises_anything_but_v2gtp_error(chunks: list[bytes]) -> None:
    r = v2gtp.Reassembler(accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
    for chunk in chunks:
        try:
            r.feed(chunk)
        except V2gtpError:
            return


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_datagram_decode_garbage(data: bytes) -> None:
    try:
        msg = v2gtp.decode(data, {v2gtp.SDP_RESPONSE})
    except V2gtpError:
        return
    assert v2gtp.encode(msg.payload_type, msg.payload) == data
