"""EXI schema-informed grammars (W3C EXI 1.0 Second Edition §8.5), non-strict, for the V2G profile.

Proto-grammars are built as small automata (§8.5.4.1: attribute uses sorted by qname, then the content model's
particles with minOccurs copies, bounded optional copies and unbounded loops, substitution groups expanded),
then normalised (§8.5.4.2: epsilon productions removed, productions with the same terminal merged), and finally
event codes are assigned (§8.5.4.3): AT(qname) sorted by local name then URI, AT(*), SE(qname) in grammar order,
SE(*), EE, CH. With strict = false every state also has second-level productions (§8.5.4.4.1), so a state with
n first-level productions uses ceil(log2(n + 1)) bits for its first-level event code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model import (
    ComplexType,
    ElementParticle,
    GroupParticle,
    Model,
    Particle,
    QName,
    SimpleType,
    WildcardParticle,
)


@dataclass(frozen=True)
class Terminal:
    kind: str  # AT | AT_ANY | SE | SE_ANY | EE | CH | CH_UNTYPED
    qname: QName | None = None
    type_key: object = None  # element: complex key or SimpleType; AT/CH: SimpleType


EE = Terminal("EE")


class _N:
    """A proto-grammar non-terminal: ordered items ('T', terminal, target) | ('E', target) | ('END',)."""

    __slots__ = ("items", "uid")
    _count = 0

    def __init__(self, items: list[tuple] | None = None) -> None:
        self.items = items or []
        _N._count += 1
        self.uid = _N._count


@dataclass
class Production:
    terminal: Terminal
    next: int | None  # None for EE


@dataclass
class State:
    productions: list[Production]

    @property
    def width(self) -> int:
        return (len(self.productions)).bit_length()  # ceil(log2(n + 1))


@dataclass
class TypeGrammar:
    states: list[State] = field(default_factory=list)


def _key_of(tk: object) -> object:
    return tk.key if isinstance(tk, SimpleType) else tk


class GrammarBuilder:
    def __init__(self, model: Model) -> None:
        self.model = model

    # ---- proto-grammars (§8.5.4.1) --------------------------------------------------------------------
    def _particle(self, p: Particle, cont: _N) -> _N:
        lo, hi = p.min_occurs, p.max_occurs
        if hi is None:
            loop = _N()
            loop.items = [("E", self._term(p, loop)), ("E", cont)]
            tail = loop
        else:
            tail = cont
            for _ in range(hi - lo):
                tail = _N([("E", self._term(p, tail)), ("E", cont)])
        for _ in range(lo):
            tail = self._term(p, tail)
        return tail

    def _term(self, p: Particle, cont: _N) -> _N:
        if isinstance(p, ElementParticle):
            return _N([("T", Terminal("SE", p.qname, p.type_key), cont)])
        if isinstance(p, WildcardParticle):
            return _N([("T", Terminal("SE_ANY"), cont)])
        assert isinstance(p, GroupParticle)
        if p.model == "sequence":
            nxt = cont
            for child in reversed(p.children):
                nxt = self._particle(child, nxt)
            return nxt
        if p.model == "choice":
            if not p.children:
                return _N([("E", cont)])
            return _N([("E", self._particle(c, cont)) for c in p.children])
        raise ValueError(f"xs:{p.model} groups are not used by V2G and not supported")

    def proto(self, ct: ComplexType) -> _N:
        final = _N([("END",)])
        if ct.content == "simple":
            assert ct.simple is not None
            start = _N([("T", Terminal("CH", None, ct.simple), final)])
        elif ct.content == "empty":
            start = final
        else:
            assert ct.particle is not None
            start = self._particle(ct.particle, final)
            if ct.mixed:
                for n in _reachable(start):
                    n.items.append(("T", Terminal("CH_UNTYPED"), n))
        for attr in sorted(ct.attributes, key=lambda a: a.qname, reverse=True):
            items: list[tuple] = [("T", Terminal("AT", attr.qname, attr.type), start)]
            if not attr.required:
                items.append(("E", start))
            start = _N(items)
        if ct.attribute_wildcard:
            raise ValueError(f"{ct.name}: attribute wildcards are not supported")
        return start

    # ---- normalisation (§8.5.4.2) and event codes (§8.5.4.3) --------------------------------------------
    def type_grammar(self, ct: ComplexType) -> TypeGrammar:
        start = self.proto(ct)
        index: dict[frozenset[int], int] = {}
        sets: list[list[_N]] = []
        grammar = TypeGrammar()

        def state_of(nodes: list[_N]) -> int:
            key = frozenset(n.uid for n in nodes)
            if key not in index:
                index[key] = len(sets)
                sets.append(nodes)
                grammar.states.append(State([]))
            return index[key]

        state_of([start])
        i = 0
        while i < len(sets):
            grammar.states[i] = State(self._productions(ct, sets[i], state_of))
            i += 1
        return grammar

    def _productions(self, ct: ComplexType, nodes: list[_N], state_of) -> list[Production]:
        order: list[Terminal] = []
        targets: dict[Terminal, list[_N]] = {}
        has_end = False
        seen_q: dict[QName, object] = {}
        for term, target in _closure(nodes):
            if term is EE:
                has_end = True
                continue
            if term.kind == "SE":
                prev = seen_q.setdefault(term.qname, _key_of(term.type_key))
                if prev != _key_of(term.type_key):
                    raise ValueError(f"{ct.name}: {term.qname} appears with two types in one state")
            if term not in targets:
                order.append(term)
                targets[term] = []
            if target not in targets[term]:
                targets[term].append(target)
        prods = [Production(t, state_of(targets[t])) for t in order]
        if has_end:
            prods.append(Production(EE, None))

        def rank(p: Production) -> tuple:
            t = p.terminal
            if t.kind == "AT":
                return (0, t.qname.local, t.qname.uri, 0)
            if t.kind == "AT_ANY":
                return (2, "", "", 0)
            if t.kind == "SE":
                return (3, "", "", order.index(t))
            if t.kind == "SE_ANY":
                return (5, "", "", 0)
            if t.kind == "EE":
                return (6, "", "", 0)
            return (7, "", "", 0)

        return sorted(prods, key=rank)


def _closure(nodes: list[_N]) -> list[tuple[Terminal, _N | None]]:
    out: list[tuple[Terminal, _N | None]] = []
    seen: set[int] = set()

    def walk(n: _N) -> None:
        if n.uid in seen:
            return
        seen.add(n.uid)
        for item in n.items:
            if item[0] == "T":
                out.append((item[1], item[2]))
            elif item[0] == "E":
                walk(item[1])
            else:
                out.append((EE, None))

    for n in nodes:
        walk(n)
    return out


def _reachable(start: _N) -> list[_N]:
    out: list[_N] = []
    seen: set[int] = set()
    stack = [start]
    while stack:
        n = stack.pop()
        if n.uid in seen:
            continue
        seen.add(n.uid)
        out.append(n)
        for item in n.items:
            if item[0] in ("T", "E"):
                stack.append(item[-1])
    return out


# ---- fields: the typed view of a complex type's content -------------------------------------------------
@dataclass
class Field:
    name: str
    qname: QName | None  # None for simple content ("value")
    kind: str  # attribute | element | value
    type_key: object  # complex key or SimpleType
    repeated: bool
    optional: bool
    max_count: int | None  # None = unbounded


def fields_of(ct: ComplexType) -> list[Field]:
    out: list[Field] = []
    for a in ct.attributes:
        out.append(Field(a.qname.local, a.qname, "attribute", a.type, False, not a.required, 1))
    if ct.content == "simple":
        assert ct.simple is not None
        out.append(Field("value", None, "value", ct.simple, False, False, 1))
    elif ct.content == "elements":
        assert ct.particle is not None
        counts: dict[QName, tuple[int, float, object]] = {}
        _count(ct.particle, counts, ct)
        for qn, (lo, hi, tk) in counts.items():
            out.append(Field(qn.local, qn, "element", tk, hi > 1, lo == 0,
                             None if hi == float("inf") else int(hi)))
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{ct.name}: two fields share a local name: {names}")
    return out


def _count(p: Particle, acc: dict[QName, tuple[int, float, object]], ct: ComplexType) -> None:
    """Accumulate per qname (min, max) occurrence counts over the content model."""
    local = _counts(p, ct)
    for qn, v in local.items():
        acc[qn] = v


def _counts(p: Particle, ct: ComplexType) -> dict[QName, tuple[int, float, object]]:
    lo = p.min_occurs
    hi = float("inf") if p.max_occurs is None else p.max_occurs
    if isinstance(p, WildcardParticle):
        return {}
    if isinstance(p, ElementParticle):
        return {p.qname: (lo, hi, p.type_key)}
    parts = [_counts(c, ct) for c in p.children]
    merged: dict[QName, tuple[int, float, object]] = {}
    if p.model == "sequence":
        for part in parts:
            for qn, (a, b, tk) in part.items():
                if qn in merged:
                    if _key_of(merged[qn][2]) != _key_of(tk):
                        raise ValueError(f"{ct.name}: {qn} declared with two types")
                    merged[qn] = (merged[qn][0] + a, merged[qn][1] + b, tk)
                else:
                    merged[qn] = (a, b, tk)
    else:  # choice
        for part in parts:
            for qn, (a, b, tk) in part.items():
                if qn in merged:
                    if _key_of(merged[qn][2]) != _key_of(tk):
                        raise ValueError(f"{ct.name}: {qn} declared with two types")
                    merged[qn] = (min(merged[qn][0], a), max(merged[qn][1], b), tk)
                else:
                    merged[qn] = (a, b, tk)
        for qn in list(merged):
            if not all(qn in part for part in parts):
                merged[qn] = (0, merged[qn][1], merged[qn][2])
    return {qn: (a * lo, b * hi, tk) for qn, (a, b, tk) in merged.items()}
