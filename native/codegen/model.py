"""A neutral model of an XML Schema set, read with `xmlschema`, as the EXI grammar builder needs it.

Only what W3C EXI 1.0 §8.5.4 uses is kept: element and attribute qnames, complex type content models
(particles with occurrence ranges), substitution groups, and the simple-type facts that select an EXI
datatype representation (§7.1): boolean, string, binary, integer ranges, enumerations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import xmlschema
from xmlschema.validators import (
    XsdAnyElement,
    XsdAtomicBuiltin,
    XsdComplexType,
    XsdElement,
    XsdGroup,
)

XSD = "http://www.w3.org/2001/XMLSchema"


@dataclass(frozen=True, order=True)
class QName:
    """An expanded name; EXI sorts by local name first, then by namespace URI."""

    local: str
    uri: str

    def __str__(self) -> str:
        return f"{{{self.uri}}}{self.local}" if self.uri else self.local


@dataclass(frozen=True)
class SimpleType:
    """The EXI-relevant view of a simple type (EXI §7.1)."""

    kind: str  # bool | string | hex | base64 | int | enum
    name: str
    min_value: int | None = None
    max_value: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    enum_values: tuple[str, ...] = ()
    enum_base: str = "string"  # the kind of the enumeration's base type

    @property
    def key(self) -> tuple[object, ...]:
        return (self.kind, self.min_value, self.max_value, self.min_length, self.max_length,
                self.enum_values, self.enum_base)


@dataclass
class ElementParticle:
    qname: QName
    type_key: object  # key into Model.complex_types, or a SimpleType
    min_occurs: int
    max_occurs: int | None  # None = unbounded
    subst_of: QName | None = None  # the referenced head when this is a substitution-group expansion


@dataclass
class WildcardParticle:
    min_occurs: int
    max_occurs: int | None


@dataclass
class GroupParticle:
    model: str  # sequence | choice | all
    children: list[Particle]
    min_occurs: int
    max_occurs: int | None


Particle = Union[ElementParticle, WildcardParticle, GroupParticle]


@dataclass
class AttributeUse:
    qname: QName
    type: SimpleType
    required: bool


@dataclass
class ComplexType:
    key: object
    name: str  # the type's local name, or the element's name for anonymous types
    attributes: list[AttributeUse]
    content: str  # empty | simple | elements
    simple: SimpleType | None = None
    particle: Particle | None = None
    mixed: bool = False
    attribute_wildcard: bool = False


@dataclass
class GlobalElement:
    qname: QName
    type_key: object  # complex type key or SimpleType
    abstract: bool


@dataclass
class Model:
    namespaces: tuple[str, ...]
    global_elements: dict[QName, GlobalElement] = field(default_factory=dict)
    complex_types: dict[object, ComplexType] = field(default_factory=dict)
    # every element declaration (global and local): qname -> list of type keys (for the fragment grammar)
    declarations: dict[QName, list[object]] = field(default_factory=dict)
    # every attribute declaration: qname -> list of SimpleType
    attribute_declarations: dict[QName, list[SimpleType]] = field(default_factory=dict)


_INT_BOUNDS = {
    "byte": (-128, 127), "short": (-32768, 32767), "int": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1),
    "unsignedByte": (0, 255), "unsignedShort": (0, 65535), "unsignedInt": (0, 2**32 - 1),
    "unsignedLong": (0, 2**64 - 1), "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1), "integer": (None, None),
}
_STRINGS = {"string", "normalizedString", "token", "anyURI", "ID", "IDREF", "NCName", "Name", "language",
            "NMTOKEN", "ENTITY"}


def _qname(expanded: str) -> QName:
    if expanded.startswith("{"):
        uri, local = expanded[1:].split("}", 1)
        return QName(local, uri)
    return QName(expanded, "")


class _Reader:
    def __init__(self, schema: xmlschema.XMLSchemaBase, namespaces: tuple[str, ...]) -> None:
        self.schema = schema
        self.model = Model(namespaces)
        self._simple_cache: dict[int, SimpleType] = {}
        self._anon_names: dict[int, str] = {}

    # ---- simple types -------------------------------------------------------------------------------
    def simple(self, t: object) -> SimpleType:
        cached = self._simple_cache.get(id(t))
        if cached is None:
            cached = self._simple_uncached(t)
            self._simple_cache[id(t)] = cached
        return cached

    def _simple_uncached(self, t: object) -> SimpleType:
        name = getattr(t, "local_name", None) or "anonymous"
        chain = []
        cur = t
        while cur is not None and not isinstance(cur, XsdAtomicBuiltin):
            chain.append(cur)
            cur = getattr(cur, "base_type", None)
        if cur is None:
            raise ValueError(f"simple type {name}: no built-in base (lists and unions are not used by V2G)")
        builtin = cur.local_name
        enum: list[str] | None = None
        min_v: int | None = None
        max_v: int | None = None
        min_len: int | None = None
        max_len: int | None = None
        for c in chain:  # most derived first: the first facet found wins
            facets = getattr(c, "facets", {}) or {}
            if enum is None and getattr(c, "enumeration", None):
                enum = [str(v) for v in c.enumeration]
            for fname, fac in facets.items():
                if fname is None:
                    continue
                local = fname.split("}")[-1]
                val = getattr(fac, "value", None)
                if local == "minInclusive" and min_v is None:
                    min_v = int(val)
                elif local == "minExclusive" and min_v is None:
                    min_v = int(val) + 1
                elif local == "maxInclusive" and max_v is None:
                    max_v = int(val)
                elif local == "maxExclusive" and max_v is None:
                    max_v = int(val) - 1
                elif local == "length" and min_len is None and max_len is None:
                    min_len = max_len = int(val)
                elif local == "minLength" and min_len is None:
                    min_len = int(val)
                elif local == "maxLength" and max_len is None:
                    max_len = int(val)
        if builtin in _INT_BOUNDS:
            lo, hi = _INT_BOUNDS[builtin]
            min_v = lo if min_v is None else (min_v if lo is None else max(lo, min_v))
            max_v = hi if max_v is None else (max_v if hi is None else min(hi, max_v))
            kind = "int"
        elif builtin == "decimal":
            # V2G schemas restrict decimal only to integral ranges (e.g. unitMultiplierType); check that.
            if min_v is None or max_v is None:
                raise ValueError(f"simple type {name}: unbounded xs:decimal is not supported")
            kind = "int"
        elif builtin == "boolean":
            kind = "bool"
        elif builtin in _STRINGS:
            kind = "string"
        elif builtin == "hexBinary":
            kind = "hex"
        elif builtin == "base64Binary":
            kind = "base64"
        else:
            raise ValueError(f"simple type {name}: built-in xs:{builtin} is not supported by this generator")
        if enum is not None:
            return SimpleType("enum", name, enum_values=tuple(enum), enum_base=kind)
        if kind == "int":
            return SimpleType(kind, name, min_value=min_v, max_value=max_v)
        if kind in ("string", "hex", "base64"):
            return SimpleType(kind, name, min_length=min_len, max_length=max_len)
        return SimpleType(kind, name)

    # ---- complex types ------------------------------------------------------------------------------
    def type_key(self, t: object, owner: QName) -> object:
        if not isinstance(t, XsdComplexType):
            return self.simple(t)
        if t.name:
            key: object = _qname(t.name)
            name = t.local_name
        else:
            key = ("anonymous", owner)
            name = owner.local
        if key not in self.model.complex_types:
            ct = ComplexType(key, name, [], "empty")
            self.model.complex_types[key] = ct  # registered before recursion
            self._fill(ct, t)
        return key

    def _fill(self, ct: ComplexType, t: XsdComplexType) -> None:
        for attr in t.attributes.values():
            if attr.use == "prohibited":
                continue
            qn = _qname(attr.name) if attr.qualified else QName(attr.local_name, "")
            st = self.simple(attr.type)
            ct.attributes.append(AttributeUse(qn, st, attr.use == "required"))
            self.model.attribute_declarations.setdefault(qn, []).append(st)
        if t.attributes.get(None) is not None or any(k is None for k in t.attributes):
            ct.attribute_wildcard = True
        if t.has_simple_content():
            ct.content = "simple"
            ct.simple = self.simple(t.content)
        elif t.is_empty():
            ct.content = "empty"
        else:
            ct.content = "elements"
            ct.mixed = bool(t.mixed)
            ct.particle = self.particle(t.content)

    def particle(self, p: object) -> Particle:
        mx = p.max_occurs
        if isinstance(p, XsdGroup):
            return GroupParticle(p.model, [self.particle(c) for c in p], p.min_occurs, mx)
        if isinstance(p, XsdAnyElement):
            return WildcardParticle(p.min_occurs, mx)
        if isinstance(p, XsdElement):
            target = p.ref if p.ref is not None else p
            qn = _qname(target.name) if target.qualified or p.ref is not None else QName(target.local_name, "")
            members = self.substitution_members(target)
            if members:
                alts: list[Particle] = []
                for m in sorted([target, *members], key=lambda e: _qname(e.name)):
                    mq = _qname(m.name)
                    alts.append(ElementParticle(mq, self.element_type(m, mq), 1, 1, subst_of=qn))
                return GroupParticle("choice", alts, p.min_occurs, mx)
            return ElementParticle(qn, self.element_type(target, qn), p.min_occurs, mx)
        raise ValueError(f"unsupported particle {p!r}")

    def substitution_members(self, head: XsdElement) -> list[XsdElement]:
        groups = self.schema.maps.substitution_groups
        out: list[XsdElement] = []
        stack = [head.name]
        while stack:
            for m in groups.get(stack.pop(), ()):
                if m not in out:
                    out.append(m)
                    stack.append(m.name)
        return out

    def element_type(self, e: XsdElement, qn: QName) -> object:
        key = self.type_key(e.type, qn)
        decls = self.model.declarations.setdefault(qn, [])
        if not any(_same(key, k) for k in decls):
            decls.append(key)
        return key


def _same(a: object, b: object) -> bool:
    if isinstance(a, SimpleType) and isinstance(b, SimpleType):
        return a.key == b.key
    return a == b


def load(entry: str, namespaces: tuple[str, ...]) -> Model:
    """Load the schema set rooted at `entry`; keep the global elements of `namespaces`."""
    schema = xmlschema.XMLSchema10(entry)
    reader = _Reader(schema, namespaces)
    for name, e in schema.maps.elements.items():
        qn = _qname(name)
        if qn.uri not in namespaces:
            continue
        key = reader.element_type(e, qn)
        reader.model.global_elements[qn] = GlobalElement(qn, key, bool(e.abstract))
    for name, t in schema.maps.types.items():  # local declarations inside types no element uses yet
        qn = _qname(name)
        if qn.uri in namespaces and isinstance(t, XsdComplexType):
            reader.type_key(t, qn)
    return reader.model
