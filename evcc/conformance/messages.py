"""Protocol-neutral views of the messages the suite sends and judges (DIN SPEC 70121 and ISO 15118-2: a
``V2G_Message`` with Header and a one-element Body; ISO 15118-20: a root element per message with its Header
inside, §8.3.3; SupportedAppProtocol: a root element without header). Decoding follows the V2GTP payload type
(ISO 15118-20 §7.8.3.3 Table 14)."""

from __future__ import annotations

import copy
from typing import Any

from evcc import exi
from evcc.session import v2gtp
from evcc.session.elements import body_of as body_of
from evcc.session.elements import element_name as element_name

GRAMMAR_OF_PAYLOAD = {v2gtp.ISO20_COMMON: "iso20-common", v2gtp.ISO20_AC: "iso20-ac", v2gtp.ISO20_DC: "iso20-dc",
                      v2gtp.ISO20_ACDP: "iso20-acdp", v2gtp.ISO20_WPT: "iso20-wpt"}


def grammar_for(protocol: str, payload_type: int) -> str:
    """The grammar a payload of ``payload_type`` is decoded with in a ``protocol`` session."""
    if payload_type in GRAMMAR_OF_PAYLOAD:
        return GRAMMAR_OF_PAYLOAD[payload_type]
    return "iso2" if protocol == "iso2" else "din" if protocol == "din" else "sap"


def session_id_of(msg: Any) -> bytes | None:
    header = getattr(msg, "Header", None)
    sid = getattr(header, "SessionID", None) if header is not None else None
    return bytes(sid) if isinstance(sid, (bytes, bytearray)) else None


def with_session_id(msg: Any, session_id: bytes) -> Any:
    changed = copy.deepcopy(msg)
    changed.Header.SessionID = session_id
    return changed


def field_value(msg: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted ``path`` in the body (``Header.…`` reads the header). A PhysicalValue
    (Value x 10^Multiplier) or RationalNumber (Value x 10^Exponent) is read as its number."""
    parts = path.split(".")
    obj = getattr(msg, "Header", None) if parts[0] == "Header" else body_of(msg)
    if parts[0] == "Header":
        parts = parts[1:]
    for part in parts:
        if obj is None or part not in getattr(obj, "_fields", ()):
            return False, None
        obj = getattr(obj, part)
    if obj is None:
        return False, None
    return True, number_of(obj)


def number_of(obj: Any) -> Any:
    fields = getattr(obj, "_fields", ())
    if "Value" in fields and "Multiplier" in fields:
        return float(obj.Value) * 10.0 ** int(obj.Multiplier)
    if "Value" in fields and "Exponent" in fields:
        return float(obj.Value) * 10.0 ** int(obj.Exponent)
    return obj


def set_field(msg: Any, path: str, value: Any) -> Any:
    """A copy of ``msg`` with the dotted ``path`` of the body set to ``value``; a PhysicalValue or RationalNumber
    field given a number keeps its unit and takes the number as Value with multiplier/exponent 0 (DIN/-2
    ``Value`` is a short: values beyond it are the deviation the case wants, the codec refuses them)."""
    changed = copy.deepcopy(msg)
    parts = path.split(".")
    obj = body_of(changed)
    for part in parts[:-1]:
        obj = getattr(obj, part)
        if obj is None:
            raise KeyError(f"{path}: {part} is absent in {element_name(msg)}")
    last = parts[-1]
    if last not in obj._fields:
        raise KeyError(f"{path}: {element_name(msg)} has no field {last}")
    current = getattr(obj, last)
    fields = getattr(current, "_fields", ())
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "Value" in fields:
        current.Value = int(value)
        if "Multiplier" in fields:
            current.Multiplier = 0
        if "Exponent" in fields:
            current.Exponent = 0
    else:
        setattr(obj, last, value)
    return changed


def encode(msg: Any) -> bytes:
    return exi.encode(msg)


def short(msg: Any, limit: int = 600) -> str:
    """A readable one-line form of a message for the report's exchange."""
    text = repr(msg)
    return text if len(text) <= limit else text[: limit - 3] + "..."
