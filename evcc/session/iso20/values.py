"""ISO 15118-20 value helpers: RationalNumberType (§8.3.5.3: Value short × 10^Exponent, Exponent byte), the
message header (§8.3.3: SessionID, TimeStamp, optional Signature) and which schema set, grammar and V2GTP payload
type (§7.8.3.3 Table 14) a message belongs to::

    payload type  schema set (module)   grammar        messages
    0x8002        iso20_common          iso20-common   SessionSetup .. PowerDelivery, SessionStop, ...
    0x8003        iso20_ac              iso20-ac       AC_ChargeParameterDiscovery, AC_ChargeLoop
    0x8004        iso20_dc              iso20-dc       DC_ChargeParameterDiscovery .. DC_WeldingDetection

Each schema set has its own classes (an ``iso20_dc.MessageHeaderType`` is not an ``iso20_common`` one): build a
message's parts from the module of the message.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import cache
from types import ModuleType
from typing import Any

from evcc.exi import Message, schema_module

PAYLOAD_COMMON = 0x8002
PAYLOAD_AC = 0x8003
PAYLOAD_DC = 0x8004
PAYLOAD_OF_SCHEMA: dict[str, int] = {"iso20_common": PAYLOAD_COMMON, "iso20_ac": PAYLOAD_AC, "iso20_dc": PAYLOAD_DC}
GRAMMAR_OF_PAYLOAD: dict[int, str] = {PAYLOAD_COMMON: "iso20-common", PAYLOAD_AC: "iso20-ac", PAYLOAD_DC: "iso20-dc"}

_SHORT = 32767
_EXPONENTS = tuple(range(-3, 8))
_DIVISORS = tuple(10**e for e in _EXPONENTS)  # the same numbers (0.001 ... 10**7) the division always used
_TOO_BIG = tuple(32769 * d for d in _DIVISORS)  # |value| >= this: round(value / divisor) is no short
_HUGE = 1e15


@cache
def common() -> ModuleType:
    return schema_module("iso20_common")


@cache
def dc() -> ModuleType:
    return schema_module("iso20_dc")


@cache
def ac() -> ModuleType:
    return schema_module("iso20_ac")


def rational(m: ModuleType, value: float) -> Any:
    """``value`` as RationalNumberType of schema set ``m``: the smallest exponent from -3 whose Value fits a
    short; saturates (never raises) for values beyond 32767 × 10^7 and maps NaN to 0."""
    exponent, scaled = scale(value)
    return m.RationalNumberType(Exponent=exponent, Value=scaled)


def scale(value: float) -> tuple[int, int]:
    """(Exponent, Value) of :func:`rational`. The first candidate exponent is found by bisection over
    precomputed bounds (every exponent below it cannot fit) instead of trying each from -3."""
    if value != value:
        return -3, 0
    magnitude = abs(value)
    if magnitude < _HUGE:
        for i in range(bisect_right(_TOO_BIG, magnitude), len(_EXPONENTS)):
            scaled = round(value / _DIVISORS[i])
            if -_SHORT - 1 <= scaled <= _SHORT:
                return _EXPONENTS[i], scaled
    return 7, _SHORT if value > 0 else -_SHORT - 1


class Rationals:
    """:func:`rational` for one schema set, remembered per machine: a charge-loop request carries about a dozen
    RationalNumberTypes, most of them the same limits message after message, and the changing ones (energy
    requests, present voltage) often round to the same Value. So each machine keeps the instances by value and
    by (Exponent, Value), at most ``size`` of each (then it starts afresh), and builds a new one only for a new
    pair. Requests the machine sends may thus share these parts: they are for encoding, never to be changed
    afterwards."""

    __slots__ = ("module", "_by_value", "_by_pair", "_size")

    def __init__(self, module: ModuleType, size: int = 256) -> None:
        self.module = module
        self._by_value: dict[float, Any] = {}
        self._by_pair: dict[tuple[int, int], Any] = {}
        self._size = size

    def __call__(self, value: float) -> Any:
        r = self._by_value.get(value)
        if r is not None:
            return r
        pair = scale(value)
        r = self._by_pair.get(pair)
        if r is None:
            if len(self._by_pair) >= self._size:
                self._by_pair.clear()
            r = self._by_pair[pair] = self.module.RationalNumberType(Exponent=pair[0], Value=pair[1])
        if value == value:  # NaN is never equal to itself: not worth remembering by value
            if len(self._by_value) >= self._size:
                self._by_value.clear()
            self._by_value[value] = r
        return r


def number(r: Any) -> float | None:
    """The float a RationalNumberType stands for; None for a missing element. Exponents are bounded by the
    schema (byte), so this never overflows."""
    return None if r is None else float(r.Value) * 10.0 ** int(r.Exponent)


def header(m: ModuleType, session_id: bytes, timestamp: int, signature: Any = None) -> Any:
    return m.MessageHeaderType(SessionID=session_id, TimeStamp=timestamp, Signature=signature)


def payload_type_of(msg: Message) -> int:
    """The V2GTP payload type a -20 message travels with."""
    try:
        return PAYLOAD_OF_SCHEMA[msg._schema]
    except KeyError:
        raise ValueError(f"{type(msg).__name__} is not an ISO 15118-20 common, AC or DC message") from None


def grammar_of(element: str) -> str:
    """The grammar of a -20 message element: DC_* and AC_* in their schema sets, the rest in CommonMessages."""
    if element.startswith("DC_"):
        return "iso20-dc"
    if element.startswith("AC_"):
        return "iso20-ac"
    return "iso20-common"
