"""decode/encode, fragments and the JSON view over the native codec (`evcc._exi`)."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any, NamedTuple

from evcc import _exi
from evcc.exi._base import Message
from evcc.exi._errors import ExiError

# grammar id -> (schema set module, fragment grammar?)
GRAMMARS: dict[str, tuple[str, bool]] = {
    "sap": ("sap", False),
    "din": ("din", False),
    "iso2": ("iso2", False),
    "iso2-fragment": ("iso2", True),
    "xmldsig-fragment": ("xmldsig", True),
    "iso20-common": ("iso20_common", False),
    "iso20-ac": ("iso20_ac", False),
    "iso20-dc": ("iso20_dc", False),
    "iso20-wpt": ("iso20_wpt", False),
    "iso20-acdp": ("iso20_acdp", False),
    "iso20-common-fragment": ("iso20_common", True),
}
_FRAGMENT_OF = {module: gid for gid, (module, frag) in GRAMMARS.items() if frag}
_DOCUMENT_OF = {module: gid for gid, (module, frag) in GRAMMARS.items() if not frag}


class Fragment(NamedTuple):
    """One element coded as an EXI fragment (for signatures): its local name and its value."""

    name: str
    value: Any


def schema_module(module: str) -> ModuleType:
    """The generated classes of a schema set (`iso2`, `iso20_dc`, ...)."""
    return importlib.import_module(f"evcc.exi._generated.{module}")


@functools.cache
def _codec(module: str) -> _exi.Codec:
    codec = _exi.Codec(module, schema_module(module).CLASSES, ExiError)
    _REGISTRY.add_codec(codec, module in _DOCUMENT_OF)
    return codec


@functools.cache
def _grammar(grammar: str) -> tuple[_exi.Codec, bool]:
    # Cached per grammar id (an unknown id raises, and exceptions are not cached).
    try:
        module, fragment = GRAMMARS[grammar]
    except KeyError:
        raise ExiError(f"unknown grammar {grammar!r}; known: {', '.join(GRAMMARS)}") from None
    codec = _codec(module)
    _REGISTRY.add_grammar(grammar, codec, fragment)
    return codec, fragment


class Counted(NamedTuple):
    """A decoded root element with the count of empty values the peer wrote as a second-level EE (EXIficient's
    form, tolerated by the decoder: EXI.md §1; the V2G encoders write CH of length 0)."""

    name: str
    value: Any
    empty_value_as_ee: int


def decode_counted(grammar: str, data: bytes) -> Counted:
    """As :func:`decode_named` (documents) or :func:`decode_fragment`, with the tolerated-deviation count."""
    codec, fragment = _grammar(grammar)
    name, value, empty = codec.decode_counted(data, fragment)
    return Counted(name, value, empty)


def decode_named(grammar: str, data: bytes) -> Fragment:
    """Decode and also return the root element's name (useful for -20 streams, whose roots vary)."""
    codec, fragment = _grammar(grammar)
    name, value = codec.decode(data, fragment)
    return Fragment(name, value)


@functools.cache
def _elements_of(cls: type[Message], fragment: bool) -> tuple[str, ...]:
    table = schema_module(cls._schema).FRAGMENT if fragment else schema_module(cls._schema).DOCUMENT
    return tuple(n for n, c in table if c is cls)


def _element_for(message: Message, fragment: bool) -> str:
    return _element_for_names(type(message), _elements_of(type(message), fragment), fragment)


def _element_for_names(cls: type[Message], names: tuple[str, ...], fragment: bool) -> str:
    what = "fragment" if fragment else "global"
    if len(names) == 1:
        return names[0]
    if not names:
        raise ExiError(f"{cls.__name__} is not the type of any {what} element")
    raise ExiError(f"{cls.__name__} is the type of several {what} elements ({', '.join(names)}): "
                   "name one with element=")


def _document_codec(module: str) -> _exi.Codec:
    if module not in _DOCUMENT_OF:
        raise ExiError(f"schema set {module} has no document grammar")
    return _codec(module)


@functools.cache
def _document_target(cls: type[Message]) -> tuple[_exi.Codec, str]:
    """The codec and the global element of a message class (one cached look-up per encode)."""
    codec = _document_codec(cls._schema)
    names = _elements_of(cls, False)
    if len(names) != 1:
        _element_for_names(cls, names, False)
    return codec, names[0]


def _encode_other(message: Message, element: str | None = None) -> bytes:
    """`encode` for what the registry has not registered: a class of a schema set not loaded yet, `element=`,
    errors."""
    if not isinstance(message, Message):
        raise ExiError(f"expected a generated message object, got {type(message).__name__}")
    if not element:
        codec, name = _document_target(type(message))
        return codec.encode(name, message)
    return _document_codec(message._schema).encode(element, message)


def decode_fragment(grammar: str, data: bytes) -> Fragment:
    """Decode an EXI fragment holding one element (EXI.md §3)."""
    codec, fragment = _grammar(grammar)
    if not fragment:
        raise ExiError(f"{grammar} is a document grammar; fragment grammars: {', '.join(_FRAGMENT_OF.values())}")
    name, value = codec.decode(data, True)
    return Fragment(name, value)


def encode_fragment(value: Any, element: str | None = None, grammar: str | None = None) -> bytes:
    """Encode one element as an EXI fragment: `0x80`, SE(element), content, EE, ED, zero padding.

    The grammar defaults to the fragment grammar of the value's schema set; simple-typed elements (and types
    shared by several elements) need `element` and, for simple values, `grammar`.
    """
    if grammar is None:
        if not isinstance(value, Message):
            raise ExiError("a simple value needs grammar= to be encoded as a fragment")
        if value._schema not in _FRAGMENT_OF:
            raise ExiError(f"schema set {value._schema} has no fragment grammar")
        grammar = _FRAGMENT_OF[value._schema]
    codec, fragment = _grammar(grammar)
    if not fragment:
        raise ExiError(f"{grammar} is not a fragment grammar")
    if element is None:
        if not isinstance(value, Message):
            raise ExiError("a simple value needs element=")
        element = _element_for(value, True)
    return codec.encode(element, value, True)


def to_json(grammar: str, data: bytes) -> str:
    """The canonical JSON view of an EXI stream (the conventions of the shared vectors' `json` column)."""
    codec, fragment = _grammar(grammar)
    return codec.to_json(data, fragment)


def from_json(grammar: str, text: str) -> bytes:
    """Encode the canonical JSON view to an EXI stream."""
    codec, fragment = _grammar(grammar)
    return codec.from_json(text, fragment)


# decode and encode are the registry's methods (no Python frame per call: issue 17); what they do not find
# registered goes to _grammar and _encode_other.
_REGISTRY = _exi.Registry(_grammar, _encode_other)
decode = _REGISTRY.decode
encode = _REGISTRY.encode
