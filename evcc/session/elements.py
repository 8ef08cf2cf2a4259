"""Protocol-neutral views of a decoded message object: which element it is and where its fields are. DIN SPEC
70121 and ISO 15118-2 wrap a message in ``V2G_Message`` with a Header and a one-element Body (ISO 15118-2
§8.3.3); ISO 15118-20 messages and SupportedAppProtocol are root elements of their own (ISO 15118-20 §8.3.3).
Shared by the conformance suite, the trace decoder and the bench's hostile charger."""

from __future__ import annotations

from typing import Any


def element_name(msg: Any) -> str:
    """The message element: the Body's element (DIN, -2), the root element (-20, SupportedAppProtocol)."""
    body = getattr(msg, "Body", None)
    if body is not None:
        for name, value in zip(body._fields, body):
            if value is not None:
                return str(name)
        return ""
    name = type(msg).__name__
    return name[: -len("Type")] if name.endswith("Type") else name


def body_of(msg: Any) -> Any:
    """The object holding the message's fields (ResponseCode and the rest)."""
    body = getattr(msg, "Body", None)
    return msg if body is None else getattr(body, element_name(msg))
