"""A bounded cursor over an MME payload: every read names the field, a short payload raises FrameError.

Used by the SLAC (ISO 15118-3 Annex A.8) and modem (HPAV 1.1 clause 11, Qualcomm vendor MME) codecs.
"""

from __future__ import annotations

from evcc.plc.mme import FrameError


class Reader:
    """Reads fixed-size fields from ``data`` in order; ``message`` names the MME in error texts."""

    __slots__ = ("_data", "_pos", "_message")

    def __init__(self, data: bytes, message: str) -> None:
        self._data = data
        self._pos = 0
        self._message = message

    def take(self, n: int, field: str) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise FrameError(
                f"{self._message}: payload of {len(self._data)} bytes ends inside {field} (needs {end})"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16le(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little")

    def u32le(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "little")

    def expect(self, field: str, value: int, allowed: frozenset[int]) -> int:
        """Check a one-byte field against the allowed values."""
        if value not in allowed:
            raise FrameError(f"{self._message}: {field}={value} not in {sorted(allowed)}")
        return value

    def fail(self, text: str) -> FrameError:
        return FrameError(f"{self._message}: {text}")

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos
