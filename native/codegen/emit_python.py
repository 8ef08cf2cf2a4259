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


def emit_python(t: Tables, ss: SchemaSet, header: str) -> str:
    out = [header.rstrip("\n"), f'"""Typed messages of the {ss.module} schema set (grammars: '
           f'{", ".join(g for g, _ in ss.grammars)})."""', "",
           "from __future__ import annotations", "", "from typing import Literal", "",
           "from evcc.exi._base import Message", ""]
    for ti, ct in enumerate(t.types):
        name = t.type_names[ti]
        fields = t.fields[ti]
        pnames = [py_name(f.name) for f in fields]
        xsd = ct.key if not isinstance(ct.key, tuple) else f"anonymous type of {ct.key[1]}"
        out += ["", f"class {name}(Message):", f'    """XSD {xsd}."""', ""]
        out.append(f"    __slots__ = ({''.join(repr(p) + ', ' for p in pnames)})")
        out.append(f"    _fields = __slots__")
        out.append(f"    _repeated = frozenset({{{', '.join(repr(p) for p, f in zip(pnames, fields) if f.repeated)}}})"
                   if any(f.repeated for f in fields) else "    _repeated: frozenset[str] = frozenset()")
        out.append(f"    _schema = {ss.module!r}")
        out.append(f"    _type_index = {ti}")
        for p, f in zip(pnames, fields):
            out.append(f"    {p}: {_hint(t, f)}")
        if not fields:
            continue
        # required keywords first (no default), then optional ones
        params = []
        for p, f in zip(pnames, fields):
            if f.repeated:
                params.append(f"{p}: {_hint(t, f)} | None = None")
            elif f.optional:
                params.append(f"{p}: {_hint(t, f)} = None")
            else:
                params.append(f"{p}: {_hint(t, f)}")
        out.append("")
        out.append(f"    def __init__(self, *, {', '.join(params)}) -> None:")
        for p, f in zip(pnames, fields):
            if f.repeated:
                out.append(f"        self.{p} = [] if {p} is None else {p}")
            else:
                out.append(f"        self.{p} = {p}")
    out.append("")
    out.append("")
    out.append("# Index = the type's index in the Rust tables.")
    out.append("CLASSES: tuple[type[Message], ...] = (")
    out += [f"    {n}," for n in t.type_names]
    out.append(")")
    doc = [(t.qnames[q].local, t.type_names[i] if k == "C" else None) for q, k, i in t.document]
    frag = [(t.qnames[q].local, t.type_names[i] if k == "C" else None) for q, k, i in t.fragment]
    out.append("# Global elements (document grammar) and their classes (None for simple-typed elements).")
    out.append("DOCUMENT: tuple[tuple[str, type[Message] | None], ...] = (")
    out += [f"    ({n!r}, {c}),"for n, c in doc]
    out.append(")")
    out.append("# Unique element names of the fragment grammar.")
    out.append("FRAGMENT: tuple[tuple[str, type[Message] | None], ...] = (")
    out += [f"    ({n!r}, {c})," for n, c in frag]
    out.append(")")
    return "\n".join(out) + "\n"
