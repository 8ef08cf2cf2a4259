"""Emit one schema set's typed message classes as a Python module (annotated: it is its own stub)."""

from __future__ import annotations

import keyword
from typing import TYPE_CHECKING

from emit_rust import Tables
from grammar import Field
from model import SimpleType

if TYPE_CHECKING:
    from generate import SchemaSet


def py_name(name: str) -> str:
    name = name.replace("-", "_").replace(".", "_")
    return name + "_" if keyword.iskeyword(name) or name in ("self", "cls") else name


def _simple_hint(st: SimpleType) -> str:
    if st.kind == "enum":
        return "Literal[" + ", ".join(repr(v) for v in st.enum_values) + "]"
    return {"bool": "bool", "int": "int", "string": "str", "hex": "bytes", "base64": "bytes"}[st.kind]


def _hint(t: Tables, f: Field) -> str:
    if isinstance(f.type_key, SimpleType):
        base = _simple_hint(f.type_key)
    else:
        base = t.type_names[[c.key for c in t.types].index(f.type_key)]
    if f.repeated:
        return f"list[{base}]"
    return f"{base} | None" if f.optional else base


def _class_doc(ct) -> str:
    return ct.key if not isinstance(ct.key, tuple) else f"anonymous type of {ct.key[1]}"


def _params(t: Tables, fields: list[Field], pnames: list[str]) -> list[str]:
    params = []
    for p, f in zip(pnames, fields):
        if f.repeated:
            params.append(f"{p}: {_hint(t, f)} | None = None")
        elif f.optional:
            params.append(f"{p}: {_hint(t, f)} = None")
        else:
            params.append(f"{p}: {_hint(t, f)}")
    return params


def emit_python(t: Tables, ss: SchemaSet, header: str) -> str:
    """Runtime classes: list subclasses whose items are the fields, read through C-level properties."""
    out = [header.rstrip("\n"), f'"""Typed messages of the {ss.module} schema set (grammars: '
           f'{", ".join(g for g, _ in ss.grammars)}). Types: see {ss.module}.pyi."""', "",
           "from operator import itemgetter as _ig", "",
           "from evcc.exi._base import Message, setter as _set", ""]
    for ti, ct in enumerate(t.types):
        name = t.type_names[ti]
        fields = t.fields[ti]
        pnames = [py_name(f.name) for f in fields]
        out += ["", f"class {name}(Message):", f'    """XSD {_class_doc(ct)}."""', ""]
        out.append("    __slots__ = ()")
        out.append(f"    _fields = ({''.join(repr(p) + ', ' for p in pnames)})")
        rep = [p for p, f in zip(pnames, fields) if f.repeated]
        if rep:
            out.append(f"    _repeated = frozenset(({''.join(repr(p) + ', ' for p in rep)}))")
        out.append(f"    _schema = {ss.module!r}")
        out.append(f"    _type_index = {ti}")
        for i, p in enumerate(pnames):
            out.append(f"    {p} = property(_ig({i}), _set({i}))")
        if not fields:
            continue
        args = ", ".join(f"{p}" for p in pnames)
        sig = ", ".join(p + ("=None" if (f.optional or f.repeated) else "") for p, f in zip(pnames, fields))
        out.append("")
        out.append(f"    def __init__(self, *, {sig}):")
        vals = ", ".join(f"[] if {p} is None else {p}" if f.repeated else p for p, f in zip(pnames, fields))
        out.append(f"        list.__init__(self, ({vals},))")
    out += _tables(t)
    return "\n".join(out) + "\n"


def _tables(t: Tables) -> list[str]:
    out = ["", "", "# Index = the type's index in the Rust tables."]
    out.append("CLASSES = (")
    out += [f"    {n}," for n in t.type_names]
    out.append(")")
    doc = [(t.qnames[q].local, t.type_names[i] if k == "C" else None) for q, k, i in t.document]
    frag = [(t.qnames[q].local, t.type_names[i] if k == "C" else None) for q, k, i in t.fragment]
    out.append("# Global elements (document grammar) and their classes (None for simple-typed elements).")
    out.append("DOCUMENT = (")
    out += [f"    ({n!r}, {c})," for n, c in doc]
    out.append(")")
    out.append("# Unique element names of the fragment grammar.")
    out.append("FRAGMENT = (")
    out += [f"    ({n!r}, {c})," for n, c in frag]
    out.append(")")
    return out


def emit_stub(t: Tables, ss: SchemaSet, header: str) -> str:
    """The typed view of the same classes, checked against the runtime module by mypy's stubtest."""
    out = [header.rstrip("\n"), "from typing import Literal", "", "from evcc.exi._base import Message", ""]
    for ti, ct in enumerate(t.types):
        name = t.type_names[ti]
        fields = t.fields[ti]
        pnames = [py_name(f.name) for f in fields]
        out += ["", f"class {name}(Message):"]
        if not fields:
            out.append("    ...")
            continue
        for p, f in zip(pnames, fields):
            h = _hint(t, f)
            out += ["    @property", f"    def {p}(self) -> {h}: ...", f"    @{p}.setter", f"    def {p}(self, value: {h}) -> None: ..."]
        out.append(f"    def __init__(self, *, {', '.join(_params(t, fields, pnames))}) -> None: ...")
    out += ["", "CLASSES: tuple[type[Message], ...]", "DOCUMENT: tuple[tuple[str, type[Message] | None], ...]",
            "FRAGMENT: tuple[tuple[str, type[Message] | None], ...]"]
    return "\n".join(out) + "\n"
