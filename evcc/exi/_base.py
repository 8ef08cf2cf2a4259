"""The base class of the generated message classes: keyword construction, equality, a readable repr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar


class Message(list[Any]):
    """A typed EXI element value; subclasses are generated, one per XSD complex type.

    The fields are the list's items in schema order, read and written through generated properties, so that the
    native codec builds and reads objects without attribute look-ups. Treat it as an object, not as a list.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _repeated: ClassVar[frozenset[str]] = frozenset()
    _schema: ClassVar[str] = ""
    _type_index: ClassVar[int] = -1

    def __eq__(self, other: object) -> bool:
        # Never NotImplemented: a plain list must not compare equal through list.__eq__.
        return type(self) is type(other) and list.__eq__(self, other)  # type: ignore[operator,unused-ignore]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment,unused-ignore]  # mutable

    def __repr__(self) -> str:
        parts = []
        for f, v in zip(self._fields, self):
            if v is None or (f in self._repeated and not v):
                continue
            parts.append(f"{f}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (absent fields left out)."""
        out: dict[str, Any] = {}
        for f, v in zip(self._fields, self):
            if v is None or (f in self._repeated and not v):
                continue
            out[f] = _plain(v)
        return out


def setter(index: int) -> Callable[[Message, Any], None]:
    """The property setter of field `index` (used by the generated classes)."""

    def set_field(self: Message, value: Any) -> None:
        self[index] = value

    return set_field


def _plain(v: Any) -> Any:
    if isinstance(v, Message):
        return v.to_dict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
