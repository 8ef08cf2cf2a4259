"""DIN SPEC 70121 value helpers: PhysicalValueType (Value: short, Multiplier: -3..3) and the message envelope."""

from __future__ import annotations

from typing import Any, Literal

from evcc.exi import din

Unit = Literal["h", "m", "s", "A", "Ah", "V", "VA", "W", "W/s", "Wh"]
_SHORT = 32767


def pv(value: float, unit: Unit) -> din.PhysicalValueType:
    """The finest multiplier (from 10^-1) whose Value still fits a short; saturates at +-32767 x 10^3 (a value
    that large is already nonsense, but building a request must never raise)."""
    if value != value:  # NaN
        value = 0.0
    for multiplier in (-1, 0, 1, 2, 3):
        scaled = round(value / 10**multiplier) if abs(value) < 1e12 else _SHORT * 10
        if -_SHORT - 1 <= scaled <= _SHORT:
            return din.PhysicalValueType(Multiplier=multiplier, Unit=unit, Value=scaled)
    return din.PhysicalValueType(Multiplier=3, Unit=unit, Value=_SHORT if value > 0 else -_SHORT - 1)


def value_of(v: din.PhysicalValueType | None) -> float | None:
    return None if v is None else v.Value * 10.0**v.Multiplier


def body_element(body: din.BodyType) -> tuple[str, Any]:
    """(element name, value) of the one message in a Body, or ("", None) when it is empty."""
    for name, value in zip(body._fields, body):
        if value is not None:
            return name, value
    return "", None


def message(session_id: bytes, name: str, value: Any) -> din.V2G_Message:
    return din.V2G_Message(Header=din.MessageHeaderType(SessionID=session_id), Body=din.BodyType(**{name: value}))
