"""ISO 15118-2 value helpers (§8.5.2.7 PhysicalValueType: Value short, Multiplier -3..3) and the message envelope
(§8.3.3 V2G_Message = Header with SessionID + Body with one element)."""

from __future__ import annotations

from typing import Any, Literal

from evcc.exi import iso2

Unit = Literal["h", "m", "s", "A", "V", "W", "Wh"]
_SHORT = 32767


def pv(value: float, unit: Unit) -> iso2.PhysicalValueType:
    """The finest multiplier (from 10^-1) whose Value still fits a short; saturates at +-32767 x 10^3 so that
    building a request never raises."""
    if value != value:  # NaN
        value = 0.0
    for multiplier in (-1, 0, 1, 2, 3):
        scaled = round(value / 10**multiplier) if abs(value) < 1e12 else _SHORT * 10
        if -_SHORT - 1 <= scaled <= _SHORT:
            return iso2.PhysicalValueType(Multiplier=multiplier, Unit=unit, Value=scaled)
    return iso2.PhysicalValueType(Multiplier=3, Unit=unit, Value=_SHORT if value > 0 else -_SHORT - 1)


def value_of(v: iso2.PhysicalValueType | None) -> float | None:
    return None if v is None else v.Value * 10.0**v.Multiplier


def body_element(body: iso2.BodyType) -> tuple[str, Any]:
    """(element name, value) of the one message in a Body, or ("", None) when it is empty."""
    for name, value in zip(body._fields, body):
        if value is not None:
            return name, value
    return "", None


def message(session_id: bytes, name: str, value: Any, signature: Any = None) -> iso2.V2G_Message:
    header = iso2.MessageHeaderType(SessionID=session_id, Signature=signature)
    return iso2.V2G_Message(Header=header, Body=iso2.BodyType(**{name: value}))
