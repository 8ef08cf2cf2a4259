"""Fuzz target ``py-v2gtp``: the V2GTP reassembler over a TCP byte stream cut where the fuzzer says
(ISO 15118-2 §7.8.3; evcc/session/v2gtp.py).

Input layout: byte 0 = settings (bits 0-2: number of cuts, bits 3-4: accepted payload types, bit 5: max payload),
then one byte per cut (distance to the previous cut), then the stream. Oracles beyond "only V2gtpError escapes":
the chunked feed yields the same messages and the same error as one feed of the whole stream; after an error
every later feed raises it again; the messages re-encode to the start of the stream; ``decode`` of the whole
stream as one datagram raises only V2gtpError.
"""

from __future__ import annotations

from evcc.session import v2gtp
from evcc.session.errors import V2gtpError

EXPECTED: tuple[type[BaseException], ...] = (V2gtpError,)
MAX_LEN = 8192

_ACCEPTED = (
    v2gtp.SESSION_PAYLOAD_TYPES,
    v2gtp.ISO20_PAYLOAD_TYPES,
    frozenset({v2gtp.SDP_REQUEST, v2gtp.SDP_RESPONSE}),
    v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES,
)
_MAX_PAYLOAD = (v2gtp.MIN_MAX_PAYLOAD, v2gtp.DEFAULT_MAX_PAYLOAD)


def _feed(r: v2gtp.Reassembler, chunks: list[bytes]) -> tuple[list[v2gtp.V2gtpMessage], str | None]:
    got: list[v2gtp.V2gtpMessage] = []
    for chunk in chunks:
        try:
            got += r.feed(chunk)
        except V2gtpError as exc:
            got += exc.complete
            try:
                r.feed(b"")
            except V2gtpError as again:
                assert str(again) == str(exc), "a later feed raised another error"
            else:
                raise AssertionError("the reassembler accepted input after a framing error") from None
            return got, str(exc)
    return got, None


def test_one(data: bytes) -> None:
    if not data:
        return
    settings = data[0]
    n_cuts = settings & 0x07
    accepted = _ACCEPTED[(settings >> 3) & 0x03]
    max_payload = _MAX_PAYLOAD[(settings >> 5) & 0x01]
    cut_bytes, stream = data[1 : 1 + n_cuts], data[1 + n_cuts :]
    points, pos = [0], 0
    for step in cut_bytes:
        pos = min(len(stream), pos + step)
        points.append(pos)
    points.append(len(stream))
    chunks = [stream[a:b] for a, b in zip(points, points[1:])]

    chunked, chunked_error = _feed(v2gtp.Reassembler(accepted, max_payload), chunks)
    whole_r = v2gtp.Reassembler(accepted, max_payload)
    whole, whole_error = _feed(whole_r, [stream])
    assert chunked == whole, "chunking changed the messages"
    assert chunked_error == whole_error, f"chunking changed the error: {chunked_error!r} vs {whole_error!r}"
    framed = b"".join(v2gtp.encode(m.payload_type, m.payload) for m in whole)
    assert stream.startswith(framed), "the messages do not re-encode to the start of the stream"
    if whole_error is None:
        assert whole_r.buffered <= len(stream) - len(framed)

    message = v2gtp.decode(stream, accepted, max_payload)  # one datagram: exactly one message or V2gtpError
    assert v2gtp.encode(message.payload_type, message.payload) == stream
