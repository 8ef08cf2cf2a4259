"""Emit one schema set's grammar as declarative Rust tables (see exi-core/src/tables.rs for the shapes)."""

from __future__ import annotations

from dataclasses import dataclass

from grammar import Field, GrammarBuilder, Terminal, fields_of
from model import ComplexType, Model, QName, SimpleType


@dataclass
class Tables:
    """Everything one schema set contributes, with stable indices, shared by the Rust and Python emitters."""

    qnames: list[QName]
    datatypes: list[SimpleType]
    types: list[ComplexType]
    fields: list[list[Field]]
    type_names: list[str]
    starts: list[int]
    states: list[list[tuple[str, int, int, int, int]]]  # (event, qname, a, b, next)
    document: list[tuple[int, str, int]]  # (qname, child kind C|S, index)
    fragment: list[tuple[int, str, int]]


class _Builder:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.gb = GrammarBuilder(model)
        self.qnames: list[QName] = []
        self.qindex: dict[QName, int] = {}
        self.datatypes: list[SimpleType] = []
        self.dindex: dict[object, int] = {}
        self.types: list[ComplexType] = []
        self.tindex: dict[object, int] = {}

    def q(self, qn: QName) -> int:
        if qn not in self.qindex:
            self.qindex[qn] = len(self.qnames)
            self.qnames.append(qn)
        return self.qindex[qn]

    def d(self, st: SimpleType) -> int:
        if st.key not in self.dindex:
            self.dindex[st.key] = len(self.datatypes)
            self.datatypes.append(st)
        return self.dindex[st.key]

    def child(self, tk: object) -> tuple[str, int]:
        if isinstance(tk, SimpleType):
            return ("S", self.d(tk))
        return ("C", self.tindex[tk])


def _type_names(types: list[ComplexType]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for ct in types:
        name = ct.name
        if isinstance(ct.key, tuple) and name in used:
            name = name + "Element"
        base, n = name, 2
        while name in used:
            name, n = f"{base}{n}", n + 1
        used.add(name)
        names.append(name)
    return names


def build_tables(model: Model, fragment: bool) -> Tables:
    b = _Builder(model)
    # Stable order: named types by qname, anonymous ones by their element's qname.
    order = sorted(model.complex_types.values(),
                   key=lambda ct: (1, ct.key[1]) if isinstance(ct.key, tuple) else (0, ct.key))
    for ct in order:
        b.tindex[ct.key] = len(b.types)
        b.types.append(ct)
    for qn in sorted(model.global_elements):
        b.q(qn)
    relaxed: dict[QName, int] = {}
    frag_names = sorted(model.declarations)
    if fragment:
        for qn in frag_names:
            b.q(qn)
            if len(model.declarations[qn]) > 1:
                relaxed[qn] = len(b.types)
                b.types.append(_relaxed_type(model, qn))
    all_fields = [fields_of(ct) if ct.content != "relaxed" else ct.relaxed_fields for ct in b.types]  # type: ignore[attr-defined]
    for fl in all_fields:  # every field's datatype has an index, even one only JSON uses
        for f in fl:
            if isinstance(f.type_key, SimpleType):
                b.d(f.type_key)
    states: list[list[tuple[str, int, int, int, int]]] = []
    starts: list[int] = []
    for ti, ct in enumerate(b.types):
        fields = all_fields[ti]
        starts.append(len(states))
        if ct.content == "relaxed":
            states.extend(_relaxed_states(b, model, fields, len(states)))
            continue
        g = b.gb.type_grammar(ct)
        base = len(states)
        for st in g.states:
            row = []
            for p in st.productions:
                row.append(_event(b, ct, fields, p.terminal, base + p.next if p.next is not None else 0))
            states.append(row)
    document = [(b.q(qn), *b.child(model.global_elements[qn].type_key)) for qn in sorted(model.global_elements)]
    frag: list[tuple[int, str, int]] = []
    if fragment:
        for qn in frag_names:
            if qn in relaxed:
                frag.append((b.q(qn), "C", relaxed[qn]))
            else:
                frag.append((b.q(qn), *b.child(model.declarations[qn][0])))
    return Tables(b.qnames, b.datatypes, b.types, all_fields, _type_names(b.types), starts, states, document, frag)


def _field_index(fields: list[Field], kind: str, qn: QName | None) -> int:
    for i, f in enumerate(fields):
        if f.kind == kind and f.qname == qn:
            return i
    raise KeyError(f"no field {kind} {qn}")


def _event(b: _Builder, ct: ComplexType, fields: list[Field], t: Terminal, nxt: int) -> tuple[str, int, int, int, int]:
    if t.kind == "AT":
        return ("At", b.q(t.qname), b.d(t.type_key), _field_index(fields, "attribute", t.qname), nxt)
    if t.kind == "SE":
        kind, idx = b.child(t.type_key)
        return ("Se" + kind, b.q(t.qname), idx, _field_index(fields, "element", t.qname), nxt)
    if t.kind == "CH":
        return ("Ch", 0, b.d(t.type_key), _field_index(fields, "value", None), nxt)
    if t.kind == "EE":
        return ("Ee", 0, 0, 0, 0)
    return ("Un_" + t.kind, 0, 0, 0, nxt)


# ---- the relaxed ElementFragment grammar (EXI §8.5.3) for a qname declared with several types ------------
def _relaxed_type(model: Model, qn: QName) -> ComplexType:
    """A synthetic type: the union of the attributes of every declaration of `qn`, plus untyped text."""
    attrs: dict[QName, Field] = {}
    for tk in model.declarations[qn]:
        if isinstance(tk, SimpleType):
            continue
        for a in model.complex_types[tk].attributes:
            attrs.setdefault(a.qname, Field(a.qname.local, a.qname, "attribute", _untyped_or(model, a.qname), False,
                                            True, 1))
    ct = ComplexType(("relaxed", qn), qn.local + "Fragment", [], "relaxed")
    ct.relaxed_fields = [*sorted(attrs.values(), key=lambda f: f.qname),  # type: ignore[attr-defined]
                         Field("value", None, "value", UNTYPED, False, True, 1)]
    return ct


UNTYPED = SimpleType("string", "untyped")


def _untyped_or(model: Model, qn: QName) -> SimpleType:
    decls = model.attribute_declarations.get(qn, [])
    keys = {d.key for d in decls}
    return decls[0] if len(keys) == 1 else UNTYPED


def _relaxed_states(b: _Builder, model: Model, fields: list[Field], base: int) -> list[list[tuple]]:
    """ElementFragment_0 (attributes, then content) and ElementFragment_1 (content only)."""
    attr_names = sorted(model.attribute_declarations)
    elem_names = sorted(model.declarations)
    ef0: list[tuple] = []
    for qn in attr_names:
        try:
            fi = _field_index(fields, "attribute", qn)
            ef0.append(("At", b.q(qn), b.d(_untyped_or(model, qn)), fi, base))
        except KeyError:
            ef0.append(("Un_AT", b.q(qn), 0, 0, base))
    ef0.append(("Un_AT_ANY", 0, 0, 0, base))
    content = [("Un_SE", b.q(qn), 0, 0, base + 1) for qn in elem_names]
    content.append(("Un_SE_ANY", 0, 0, 0, base + 1))
    content.append(("Ee", 0, 0, 0, 0))
    content.append(("Ch", 0, b.d(UNTYPED), len(fields) - 1, base + 1))
    return [ef0 + content, list(content)]


# ---- Rust text -----------------------------------------------------------------------------------------
def _opt(v: int | None) -> str:
    return "None" if v is None else f"Some({v})"


def _dt(st: SimpleType) -> str:
    if st.kind == "bool":
        return "D::Boolean"
    if st.kind in ("string", "hex", "base64"):
        lo = st.min_length or 0
        hi = "u32::MAX" if st.max_length is None else str(st.max_length)
        if st.kind == "string":
            return f"D::String{{min_len:{lo},max_len:{hi}}}"
        return f"D::Binary{{hex:{'true' if st.kind == 'hex' else 'false'},min_len:{lo},max_len:{hi}}}"
    if st.kind == "enum":
        vals = ",".join(_rs_str(v) for v in st.enum_values)
        bits = max(len(st.enum_values) - 1, 0).bit_length()
        base = {"string": "EnumBase::Str", "int": "EnumBase::Int"}.get(st.enum_base, "EnumBase::Str")
        return f"D::Enum{{values:&[{vals}],bits:{bits},base:{base}}}"
    lo, hi = st.min_value, st.max_value
    if lo is not None and hi is not None and hi - lo < 4096:
        return f"D::NBitInt{{min:{lo},max:{hi},bits:{(hi - lo).bit_length()}}}"
    if lo is not None and lo >= 0:
        return f"D::UnsignedInt{{min:{lo},max:{_opt(hi)}}}"
    return f"D::SignedInt{{min:{_opt(lo)},max:{_opt(hi)}}}"


def _rs_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _prod(e: tuple) -> str:
    kind, q, a, f, n = e
    if kind == "At":
        return f"P{{e:E::At{{q:{q},d:{a},f:{f}}},n:{n}}}"
    if kind == "SeC":
        return f"P{{e:E::Se{{q:{q},c:C::Complex({a}),f:{f}}},n:{n}}}"
    if kind == "SeS":
        return f"P{{e:E::Se{{q:{q},c:C::Simple({a}),f:{f}}},n:{n}}}"
    if kind == "Ch":
        return f"P{{e:E::Ch{{d:{a},f:{f}}},n:{n}}}"
    if kind == "Ee":
        return "P{e:E::Ee,n:0}"
    what = {"Un_AT": "undeclared attribute", "Un_AT_ANY": "attribute wildcard AT(*)",
            "Un_SE": "child element in a relaxed fragment", "Un_SE_ANY": "wildcard element SE(*)",
            "Un_CH_UNTYPED": "mixed text content"}[kind]
    return f"P{{e:E::Unsupported{{q:{q},what:{_rs_str(what)}}},n:{n}}}"


def emit(t: Tables, gid: str, header: str) -> str:
    out = [header, "use crate::tables::*;", "use crate::tables::{Datatype as D, Event as E, Prod as P, Child as C};", ""]
    out.append(f"pub static QNAMES: [QName; {len(t.qnames)}] = [")
    out += [f"    QName{{uri:{_rs_str(q.uri)},local:{_rs_str(q.local)}}}," for q in t.qnames]
    out.append("];")
    out.append(f"pub static DATATYPES: [Datatype; {len(t.datatypes)}] = [")
    out += [f"    {_dt(d)}," for d in t.datatypes]
    out.append("];")
    for si, row in enumerate(t.states):
        out.append(f"static S{si}: [Prod; {len(row)}] = [{','.join(_prod(e) for e in row)}];")
    out.append(f"pub static STATES: [State; {len(t.states)}] = [")
    out += [f"    State{{width:{len(row).bit_length()},prods:&S{si}}}," for si, row in enumerate(t.states)]
    out.append("];")
    out.append(f"pub static TYPES: [TypeDef; {len(t.types)}] = [")
    for ti, ct in enumerate(t.types):
        fl = []
        for f in t.fields[ti]:
            kind = {"attribute": "FieldKind::Attribute", "element": "FieldKind::Element", "value": "FieldKind::Value"}[f.kind]
            if isinstance(f.type_key, SimpleType):
                child = f"C::Simple({_dindex(t, f.type_key)})"
            else:
                child = f"C::Complex({[c.key for c in t.types].index(f.type_key)})"
            q = "u16::MAX" if f.qname is None else str(t.qnames.index(f.qname))
            mx = "u32::MAX" if f.max_count is None else str(f.max_count)
            fl.append(f"FieldDef{{name:{_rs_str(f.name)},qname:{q},kind:{kind},child:{child},"
                      f"repeated:{str(f.repeated).lower()},optional:{str(f.optional).lower()},max:{mx}}}")
        out.append(f"    TypeDef{{name:{_rs_str(t.type_names[ti])},start:{t.starts[ti]},fields:&[{','.join(fl)}]}},")
    out.append("];")

    def decls(rows: list[tuple[int, str, int]]) -> str:
        return ",".join(f"Decl{{q:{q},c:C::{'Complex' if k == 'C' else 'Simple'}({i})}}" for q, k, i in rows)

    out.append(f"pub static DOCUMENT: [Decl; {len(t.document)}] = [{decls(t.document)}];")
    out.append(f"pub static FRAGMENT: [Decl; {len(t.fragment)}] = [{decls(t.fragment)}];")
    out.append(f"pub static SCHEMA: Schema = Schema{{id:{_rs_str(gid)},qnames:&QNAMES,datatypes:&DATATYPES,"
               f"states:&STATES,types:&TYPES,document:&DOCUMENT,fragment:&FRAGMENT}};")
    return "\n".join(out) + "\n"


def _dindex(t: Tables, st: SimpleType) -> int:
    for i, d in enumerate(t.datatypes):
        if d.key == st.key:
            return i
    raise KeyError(st)


# ---- specialised decoders for the charge-loop types ---------------------------------------------------------
# The table interpreter (exi-core/src/decode.rs) pays for every event with table look-ups, a match on the
# event and on the datatype, and a recursive call. For the types a car decodes and encodes every charge-loop
# cycle, the same grammar is emitted as straight Rust code: one function per type, one match arm per state and
# production, the datatype's reader called directly. Events, errors and values are those of the interpreter
# (the helpers it calls are the interpreter's own; tests/fast_decode.rs compares both on random and mutated
# messages). Every other type, and every child type not listed, goes through the interpreter.

FAST_TYPES: dict[str, tuple[str, ...]] = {
    "iso2": ("V2G_Message", "MessageHeaderType", "BodyType", "CurrentDemandReqType", "CurrentDemandResType",
             "ChargingStatusReqType", "ChargingStatusResType", "PreChargeReqType", "PreChargeResType",
             "DC_EVStatusType", "DC_EVSEStatusType", "AC_EVSEStatusType", "PhysicalValueType", "MeterInfoType"),
    "iso20_dc": ("DC_ChargeLoopReqType", "DC_ChargeLoopResType", "MessageHeaderType", "RationalNumberType",
                 "DisplayParametersType", "EVSEStatusType", "MeterInfoType", "ReceiptType",
                 "Scheduled_DC_CLReqControlModeType", "Scheduled_DC_CLResControlModeType",
                 "Dynamic_DC_CLReqControlModeType", "Dynamic_DC_CLResControlModeType",
                 "BPT_Scheduled_DC_CLReqControlModeType", "BPT_Scheduled_DC_CLResControlModeType",
                 "BPT_Dynamic_DC_CLReqControlModeType", "BPT_Dynamic_DC_CLResControlModeType"),
}


def _reader(st: SimpleType, di: int, q: str) -> str:
    """The decoder call that reads one value of `st` (datatype index `di`; `q` the qname expression)."""
    if st.kind == "bool":
        return "d.v_bool()"
    if st.kind in ("string", "hex", "base64"):
        return f"d.value_text({di}, {q})"
    if st.kind == "enum":
        return f"d.v_enum({len(st.enum_values)}, {max(len(st.enum_values) - 1, 0).bit_length()})"
    lo, hi = st.min_value, st.max_value
    if lo is not None and hi is not None and hi - lo < 4096:
        return f"d.v_nbit({lo}, {(hi - lo).bit_length()})"
    if lo is not None and lo >= 0:
        return f"d.v_uint({lo}, {_opt(hi)})"
    return f"d.v_sint({_opt(lo)}, {_opt(hi)})"


def _simple_reader(st: SimpleType, di: int, q: int) -> str:
    """The decoder call that reads a whole element of simple type `st`: CH, value, EE."""
    if st.kind == "bool":
        return f"d.simple_bool({di})"
    if st.kind == "enum":
        return f"d.simple_enum({di}, {len(st.enum_values)}, {max(len(st.enum_values) - 1, 0).bit_length()})"
    lo, hi = st.min_value, st.max_value
    if st.kind not in ("string", "hex", "base64") and lo is not None and hi is not None and hi - lo < 4096:
        return f"d.simple_nbit({di}, {lo}, {(hi - lo).bit_length()})"
    if st.kind not in ("string", "hex", "base64"):
        if lo is not None and lo >= 0:
            return f"d.simple_int({di}, false, Some({lo}), {_opt(hi)})"
        return f"d.simple_int({di}, true, {_opt(lo)}, {_opt(hi)})"
    return f"d.simple_with({di}, |d| {_reader(st, di, str(q))})"


def emit_fast(t: Tables, module: str, header: str) -> str | None:
    names = FAST_TYPES.get(module)
    if not names:
        return None
    fast = {t.type_names.index(n) for n in names}
    out = [header, "#![allow(clippy::all, unused_variables, unused_mut)]",
           "use crate::decode::{put, Decoder, FastFn};", "use crate::encode::{pending_fields_of, Encoder, FastFn as EncFn};",
           "use crate::error::{Error, Result};", "use crate::tables::Child;", "use crate::value::{Node, Value};",
           f"use super::{module}::{{QNAMES, STATES, TYPES}};", ""]
    out.append("pub(crate) fn lookup(t: u16) -> Option<FastFn> {")
    out.append("    match t {")
    out += [f"        {ti} => Some(dec_{ti})," for ti in sorted(fast)]
    out.append("        _ => None,")
    out.append("    }")
    out.append("}")
    out.append("")
    out.append("pub(crate) fn lookup_encoder(t: u16) -> Option<EncFn> {")
    out.append("    match t {")
    out += [f"        {ti} => Some(enc_{ti})," for ti in sorted(fast)]
    out.append("        _ => None,")
    out.append("    }")
    out.append("}")
    for ti in sorted(fast):
        out += _fast_type(t, ti, fast)
    for ti in sorted(fast):
        out += _fast_encoder(t, ti, fast)
    return "\n".join(out) + "\n"


def _writer(st: SimpleType, di: int, q: str) -> str:
    """The encoder call that writes the value `v` of `st` (datatype index `di`; `q` the qname expression)."""
    if st.kind == "bool":
        return f"e.w_bool({di}, {q}, v)"
    if st.kind in ("string", "hex", "base64"):
        return f"e.value({di}, {q}, v)"
    if st.kind == "enum":
        return f"e.w_enum({di}, {q}, {len(st.enum_values)}, {max(len(st.enum_values) - 1, 0).bit_length()}, v)"
    lo, hi = st.min_value, st.max_value
    if lo is not None and hi is not None and hi - lo < 4096:
        return f"e.w_nbit({di}, {q}, {lo}, {(hi - lo).bit_length()}, v)"
    if lo is not None and lo >= 0:
        return f"e.w_uint({di}, {q}, {lo}, {_opt(hi)}, v)"
    return f"e.w_sint({di}, {q}, {_opt(lo)}, {_opt(hi)}, v)"


def _reachable(t: Tables, start: int) -> list[int]:
    seen, todo = [], [start]
    while todo:
        si = todo.pop()
        if si in seen:
            continue
        seen.append(si)
        todo += [e[4] for e in t.states[si] if e[0] != "Ee"]
    return sorted(seen)


def _fast_encoder(t: Tables, ti: int, fast: set[int]) -> list[str]:
    """The encoder of encode.rs (`Encoder::interpret`, default style) for one type: at each state the first
    production whose field still has a value, EE when none has (then no value may be left)."""
    nf = len(t.fields[ti])
    assert nf <= 64, f"{t.type_names[ti]}: the specialised encoder keeps the pending fields in a u64"
    out = ["", f"// {t.type_names[ti]}",
           f"fn enc_{ti}(e: &mut Encoder, node: &Node, q: u16) -> Result<()> {{",
           f"    let td = &TYPES[{ti}];",
           "    e.enter(td, node)?;",
           f"    let mut used = [0u32; {nf}];",
           f"    let mut pending = pending_fields_of::<{nf}>(node);",
           f"    let mut st: u32 = {t.starts[ti]};",
           "    loop {",
           "        match st {"]
    for si in _reachable(t, t.starts[ti]):
        row = t.states[si]
        width = len(row).bit_length()
        out.append(f"            {si} => {{")
        first = True
        ee = None
        for code, ev in enumerate(row):
            kind, q, a, f, n = ev
            if kind == "Ee":
                ee = code
                continue
            if kind.startswith("Un_"):
                continue
            if kind == "At":
                write = f"{_writer(t.datatypes[a], a, str(q))}.map_err(|err| err.within(td.fields[{f}].name))?;"
            elif kind == "SeS":
                write = f"e.simple_with(|e| {_writer(t.datatypes[a], a, str(q))}).map_err(|err| err.within(td.fields[{f}].name))?;"
            elif kind == "SeC":
                call = f"enc_{a}(e, n, {q})" if a in fast else f"e.element(Child::Complex({a}), {q}, v)"
                write = (f"match v {{ Value::Node(n) if n.ty == {a} => {call}, _ => e.element(Child::Complex({a}), {q}, v) }}"
                         f".map_err(|err| err.within(td.fields[{f}].name))?;")
            else:  # Ch
                write = f"{_writer(t.datatypes[a], a, 'q')}?;"
            out.append(f"                {'if' if first else '} else if'} pending >> {f} & 1 == 1 {{")
            out.append(f"                    e.w.write_bits({code}, {width});")
            out.append(f"                    let slot = &node.fields[{f}]; // present: pending has its bit")
            out.append(f"                    let v = slot.get(used[{f}] as usize).ok_or_else(|| Error::new(\"missing value\", 0))?;")
            out.append(f"                    {write}")
            out.append(f"                    used[{f}] += 1;")
            out.append(f"                    if used[{f}] as usize >= slot.count() {{ pending &= !(1 << {f}); }}")
            out.append(f"                    st = {n};")
            first = False
        if ee is not None:
            tail = [f"if pending != 0 {{ return Err(e.left_over(td, node, &used)); }}",
                    f"e.w.write_bits({ee}, {width});", "break;"]
        else:
            tail = [f"return Err(e.missing(&STATES[{si}], td));"]
        if first:
            out += [f"                {x}" for x in tail]
        else:
            out.append("                } else {")
            out += [f"                    {x}" for x in tail]
            out.append("                }")
        out.append("            }")
    out += ["            _ => return Err(Error::new(\"grammar state outside the type (tables inconsistent)\", e.w.position())),",
            "        }", "    }", "    e.leave();", "    Ok(())", "}"]
    return out


def _is_choice(t: Tables, ti: int) -> bool:
    """Whether the type's content is exactly one of several elements (or nothing): every production of its
    start state is SE, or EE, and every SE leads to a state that can only end the element. Such a node holds at
    most one field."""
    row = t.states[t.starts[ti]]
    elements = 0
    for kind, _q, _a, _f, n in row:
        if kind == "Ee":
            continue
        if kind not in ("SeC", "SeS") or [e[0] for e in t.states[n]] != ["Ee"]:
            return False
        elements += 1
    return elements > 1


def _fast_type(t: Tables, ti: int, fast: set[int]) -> list[str]:
    start = t.starts[ti]
    seen = _reachable(t, start)
    if _is_choice(t, ti):
        # One element of many: the slots up to the chosen one are made when it is placed (`put`), not one per
        # alternative (a message body has 35).
        make = f"    let mut node = Node::new({ti}, 0); // a choice: slots made up to the chosen element"
    else:
        make = f"    let mut node = Node::new({ti}, {len(t.fields[ti])});"
    out = ["", f"// {t.type_names[ti]}",
           f"fn dec_{ti}(d: &mut Decoder<'_>, q: u16) -> Result<Node> {{",
           "    d.enter()?;",
           f"    let td = &TYPES[{ti}];",
           make,
           f"    let mut st: u32 = {start};",
           "    loop {",
           "        let at = d.r.position();",
           "        match st {"]
    for si in sorted(seen):
        row = t.states[si]
        out.append(f"            {si} => match d.r.read_bits({len(row).bit_length()})? {{")
        for code, e in enumerate(row):
            kind, q, a, f, n = e
            if kind == "Ee":
                out.append(f"                {code} => break,")
                continue
            if kind.startswith("Un_"):
                what = _prod(e).split('what:')[1].split('}')[0]
                out.append(f"                {code} => return Err(d.unsupported({q}, {what}, at)),")
                continue
            if kind == "At":
                val = f"{_reader(t.datatypes[a], a, str(q))}.map_err(|e| e.within(QNAMES[{q}].local))?"
            elif kind == "SeS":
                val = f"{_simple_reader(t.datatypes[a], a, q)}.map_err(|e| e.within(QNAMES[{q}].local))?"
            elif kind == "SeC":
                call = f"dec_{a}(d, {q})" if a in fast else f"d.complex({a}, {q})"
                val = f"Value::Node({call}.map_err(|e| e.within(QNAMES[{q}].local))?)"
            else:  # Ch
                val = f"{_reader(t.datatypes[a], a, 'q')}?"
            out.append(f"                {code} => {{ let v = {val}; put(td, &mut node, {f}, v, at)?; st = {n}; }}")
        out.append(f"                code => {{ d.escape(&STATES[{si}], td, &mut node, code, at)?; break; }}")
        out.append("            },")
    out += ["            _ => return Err(Error::new(\"grammar state outside the type (tables inconsistent)\", at)),",
            "        }", "    }", "    d.leave();", "    Ok(node)", "}"]
    return out
