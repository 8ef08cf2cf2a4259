"""The EXI codec's one exception type."""

from __future__ import annotations

from evcc.errors import EvccError


class ExiError(EvccError, ValueError):
    """A stream that is not a valid V2G EXI message, or a message object that cannot be encoded.

    `path` names the element (``/V2G_Message/Body/...``) and `bit` the bit offset in the stream (decoding) or in
    the output (encoding) where the problem was found; both are part of the message text too.
    """

    def __init__(self, message: str, path: str = "/", bit: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.bit = bit
