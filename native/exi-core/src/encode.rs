//! Encoding: typed value tree → EXI stream, driven by the same grammar tables as decoding.
//!
//! The encoder walks a type's grammar and at each state takes the first production whose field still has a
//! value to place; it writes EE only when every value has been placed. Strings are always written as literals
//! (EXI.md §1: never a string-table hit). Facets are checked so that no invalid message leaves the codec.

use crate::bits::{big_minus_one, BitWriter};
use crate::decode::check_range;
use crate::error::{Error, Result};
use crate::tables::{bits_for, Child, Datatype, Event, Schema, State, TypeDef};
use crate::value::{Node, Slot, Value};

const MAX_DEPTH: usize = 48;
use crate::decode::START_TAG_SECOND_LEVEL_BITS as SECOND_LEVEL_EE_BITS;

pub(crate) fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Str(t) if t.is_empty()) || matches!(v, Value::Bytes(b) if b.is_empty())
}

pub fn encode_document(s: &'static Schema, index: usize, value: &Value) -> Result<Vec<u8>> {
    encode_document_with(s, index, value, false)
}

/// As `encode_document`; with `string_table_hits` a repeated string is written as a string-table hit (EXI
/// §7.3.3) the way general-purpose EXI encoders do. The V2G profile never writes hits: this exists so that
/// the decoder's acceptance of hits can be tested against real hit-bearing streams.
pub fn encode_document_with(s: &'static Schema, index: usize, value: &Value, string_table_hits: bool) -> Result<Vec<u8>> {
    encode_document_styled(s, index, value, Style { string_table_hits, empty_value_as_ee: false })
}

/// How a general-purpose EXI encoder may write what the V2G encoders write otherwise. Both forms are valid EXI
/// for the V2G profile (strict = false); the product always encodes with `Style::default()` (libcbv2g/OpenV2G
/// form). The other forms exist so that the decoder's tolerance can be tested against real streams.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Repeated strings as string-table hits (EXI §7.3.3), as plain EXIficient does.
    pub string_table_hits: bool,
    /// An empty string or binary value as a second-level EE in its start-tag state (EXI §8.5.4.4.1), as
    /// EXIficient does, instead of CH of length 0.
    pub empty_value_as_ee: bool,
}

/// Encode a document in the given [`Style`].
pub fn encode_document_styled(s: &'static Schema, index: usize, value: &Value, style: Style) -> Result<Vec<u8>> {
    document(s, index, value, style, true)
}

/// As [`encode_document`] with the table interpreter alone (no specialised encoder): the reference that the
/// differential tests compare the specialised encoders with.
#[doc(hidden)]
pub fn encode_document_interpreted(s: &'static Schema, index: usize, value: &Value) -> Result<Vec<u8>> {
    document(s, index, value, Style::default(), false)
}

/// As [`encode_fragment`] with the table interpreter alone.
#[doc(hidden)]
pub fn encode_fragment_interpreted(s: &'static Schema, index: usize, value: &Value) -> Result<Vec<u8>> {
    fragment(s, index, value, Style::default(), false)
}

/// The specialised encoders apply to the product's style only (literal strings, empty values as CH).
fn fast_for(s: &'static Schema, style: Style, allowed: bool) -> Option<FastTable> {
    if allowed && !style.string_table_hits && !style.empty_value_as_ee {
        crate::generated::fast_encoders(s.id)
    } else {
        None
    }
}

fn document(s: &'static Schema, index: usize, value: &Value, style: Style, allow_fast: bool) -> Result<Vec<u8>> {
    let decl = s.document.get(index).ok_or_else(|| Error::new("no such global element", 0))?;
    let fast = fast_for(s, style, allow_fast);
    let mut e = Encoder { w: BitWriter::new(), s, depth: 0, hits: style.string_table_hits, ee: style.empty_value_as_ee, strings: Vec::new(), fast };
    e.w.write_byte(0x80);
    e.w.write_bits(index as u32, bits_for(s.document.len() + 1));
    let name = s.qnames[decl.q as usize].local;
    e.element(decl.c, decl.q, value).map_err(|err| err.within(name))?;
    Ok(e.w.finish())
}

pub fn encode_fragment(s: &'static Schema, index: usize, value: &Value) -> Result<Vec<u8>> {
    encode_fragment_styled(s, index, value, Style::default())
}

/// Encode a fragment in the given [`Style`].
pub fn encode_fragment_styled(s: &'static Schema, index: usize, value: &Value, style: Style) -> Result<Vec<u8>> {
    fragment(s, index, value, style, true)
}

fn fragment(s: &'static Schema, index: usize, value: &Value, style: Style, allow_fast: bool) -> Result<Vec<u8>> {
    let decl = s.fragment.get(index).ok_or_else(|| Error::new("no such fragment element", 0))?;
    let fast = fast_for(s, style, allow_fast);
    let mut e = Encoder { w: BitWriter::new(), s, depth: 0, hits: style.string_table_hits, ee: style.empty_value_as_ee, strings: Vec::new(), fast };
    let width = bits_for(s.fragment.len() + 2);
    e.w.write_byte(0x80);
    e.w.write_bits(index as u32, width);
    let name = s.qnames[decl.q as usize].local;
    e.element(decl.c, decl.q, value).map_err(|err| err.within(name))?;
    e.w.write_bits((s.fragment.len() + 1) as u32, width); // ED
    Ok(e.w.finish())
}

/// A grammar's specialised encoder for a complex type (generated, see [`crate::generated`]), if it has one.
pub(crate) type FastFn = fn(&mut Encoder, &Node, u16) -> Result<()>;
/// The lookup of a schema's specialised encoders by type index.
pub(crate) type FastTable = fn(u16) -> Option<FastFn>;

pub(crate) struct Encoder {
    pub(crate) w: BitWriter,
    s: &'static Schema,
    depth: usize,
    hits: bool,
    /// Empty strings and binaries as a second-level EE (see [`Style`]).
    ee: bool,
    /// Literal strings written so far with their qname (only kept when `hits`).
    strings: Vec<(u16, String)>,
    /// Specialised per-type encoders (generated code that does what the table interpreter does for those
    /// types in the default style), or `None` to interpret every type.
    fast: Option<FastTable>,
}

impl Encoder {
    pub(crate) fn element(&mut self, c: Child, q: u16, v: &Value) -> Result<()> {
        match c {
            Child::Simple(_) if self.ee && is_empty(v) => {
                self.w.write_bits(1, 1); // escape
                self.w.write_bits(0, SECOND_LEVEL_EE_BITS); // EE, the first second-level production
                Ok(())
            }
            Child::Simple(d) => {
                self.w.write_bits(0, 1); // CH
                self.value(d, q, v)?;
                self.w.write_bits(0, 1); // EE
                Ok(())
            }
            Child::Complex(t) => match v {
                Value::Node(n) if n.ty == t => self.complex(n, q),
                Value::Node(n) => Err(Error::new(
                    format!(
                        "expected a {} but got a {}",
                        self.s.types[t as usize].name,
                        self.s.types.get(n.ty as usize).map_or("?", |t| t.name)
                    ),
                    self.w.position(),
                )),
                _ => Err(Error::new(format!("expected a {}", self.s.types[t as usize].name), self.w.position())),
            },
        }
    }

    fn complex(&mut self, node: &Node, q: u16) -> Result<()> {
        if let Some(f) = self.fast.and_then(|table| table(node.ty)) {
            return f(self, node, q);
        }
        self.interpret(node, q)
    }

    /// Entering a complex element of type `td`: the nesting limit and the node's shape.
    #[inline(always)]
    pub(crate) fn enter(&mut self, td: &TypeDef, node: &Node) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::new("nesting too deep", self.w.position()));
        }
        if node.fields.len() > td.fields.len() {
            return Err(self.shape(td));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn shape(&self, td: &TypeDef) -> Error {
        Error::new(format!("{} has at most {} fields", td.name, td.fields.len()), self.w.position())
    }

    #[inline(always)]
    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// No production of `state` has a value left and it has no EE.
    #[cold]
    #[inline(never)]
    pub(crate) fn missing(&self, state: &State, td: &TypeDef) -> Error {
        let expected: Vec<&str> = state
            .prods
            .iter()
            .filter_map(|p| match p.e {
                Event::At { f, .. } | Event::Se { f, .. } | Event::Ch { f, .. } => Some(td.fields[f as usize].name),
                _ => None,
            })
            .collect();
        if expected.is_empty() {
            return Error::new("content can only continue with wildcard or mixed content, which V2G forbids", self.w.position());
        }
        Error::new(format!("missing required {}", expected.join(" or ")), self.w.position())
    }

    /// At EE: a field with values left that the grammar gave no place.
    #[cold]
    #[inline(never)]
    pub(crate) fn left_over(&self, td: &TypeDef, node: &Node, used: &[u32]) -> Error {
        for (f, fd) in td.fields.iter().enumerate() {
            if (used[f] as usize) < node.field(f).count() {
                return Error::new(
                    format!("{} has {} value(s) but only {} fit the schema here", fd.name, node.field(f).count(), used[f]),
                    self.w.position(),
                );
            }
        }
        Error::new("field placement inconsistent", self.w.position())
    }

    /// A simple-content element (default style): CH, the value `write` writes, EE.
    #[inline(always)]
    pub(crate) fn simple_with(&mut self, write: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        self.w.write_bits(0, 1); // CH
        write(self)?;
        self.w.write_bits(0, 1); // EE
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn w_bool(&mut self, d: u16, q: u16, v: &Value) -> Result<()> {
        match v {
            Value::Bool(b) => {
                self.w.write_bits(u32::from(*b), 1);
                Ok(())
            }
            _ => self.value(d, q, v),
        }
    }

    #[inline(always)]
    pub(crate) fn w_nbit(&mut self, d: u16, q: u16, min: i64, bits: u8, v: &Value) -> Result<()> {
        match v.as_int() {
            Some(i) if i >= i128::from(min) && i <= i128::from(min) + (1i128 << bits) - 1 => {
                self.w.write_bits((i - i128::from(min)) as u32, bits);
                Ok(())
            }
            _ => self.value(d, q, v),
        }
    }

    #[inline(always)]
    pub(crate) fn w_enum(&mut self, d: u16, q: u16, n: usize, bits: u8, v: &Value) -> Result<()> {
        match v {
            Value::Enum(i) if (*i as usize) < n => {
                self.w.write_bits(u32::from(*i), bits);
                Ok(())
            }
            _ => self.value(d, q, v),
        }
    }

    #[inline(always)]
    pub(crate) fn w_uint(&mut self, d: u16, q: u16, min: i128, max: Option<i128>, v: &Value) -> Result<()> {
        match v.as_int() {
            Some(i) if i >= min && max.is_none_or(|m| i <= m) => {
                self.w.write_uint(i as u128);
                Ok(())
            }
            _ => self.value(d, q, v),
        }
    }

    #[inline(always)]
    pub(crate) fn w_sint(&mut self, d: u16, q: u16, min: Option<i128>, max: Option<i128>, v: &Value) -> Result<()> {
        match v.as_int() {
            Some(i) if min.is_none_or(|m| i >= m) && max.is_none_or(|m| i <= m) => {
                if i < 0 {
                    self.w.write_bits(1, 1);
                    self.w.write_uint((-(i + 1)) as u128);
                } else {
                    self.w.write_bits(0, 1);
                    self.w.write_uint(i as u128);
                }
                Ok(())
            }
            _ => self.value(d, q, v),
        }
    }

    fn interpret(&mut self, node: &Node, q: u16) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::new("nesting too deep", self.w.position()));
        }
        let s = self.s;
        let td = &s.types[node.ty as usize];
        if node.fields.len() > td.fields.len() {
            return Err(self.shape(td));
        }
        let mut small = [0u32; 64];
        let mut large: Vec<u32> = Vec::new();
        let used: &mut [u32] = if td.fields.len() <= small.len() {
            &mut small[..td.fields.len()]
        } else {
            large.resize(td.fields.len(), 0);
            &mut large
        };
        // Fields that still have values to place: a bit set when the node has at most 64 fields (the common
        // case, so that choosing a production costs one test per production), else counted.
        let mut pending: u64 = 0;
        let small_node = td.fields.len() <= 64;
        if small_node {
            for (f, slot) in node.fields.iter().enumerate() {
                if !matches!(slot, Slot::Absent) && !matches!(slot, Slot::Many(v) if v.is_empty()) {
                    pending |= 1 << f;
                }
            }
        }
        let mut st = td.start as usize;
        loop {
            let state = &s.states[st];
            let mut chosen = None;
            let mut ee = None;
            for (code, p) in state.prods.iter().enumerate() {
                let f = match p.e {
                    Event::At { f, .. } | Event::Se { f, .. } | Event::Ch { f, .. } => f as usize,
                    Event::Ee => {
                        ee = Some(code);
                        continue;
                    }
                    Event::Unsupported { .. } => continue,
                };
                let left = if small_node { pending >> f & 1 == 1 } else { (used[f] as usize) < node.field(f).count() };
                if left {
                    chosen = Some(code);
                    break;
                }
            }
            if let Some(code) = chosen {
                let p = &state.prods[code];
                if let Event::Ch { f, .. } = p.e {
                    if self.ee
                        && node.field(f as usize).get(used[f as usize] as usize).is_some_and(is_empty)
                        && !state.prods.iter().any(|p| matches!(p.e, Event::Ee))
                        && (0..td.fields.len()).all(|i| i == f as usize || used[i] as usize >= node.field(i).count())
                        && node.field(f as usize).count() == 1
                    {
                        used[f as usize] += 1;
                        self.w.write_bits(state.prods.len() as u32, state.width); // escape
                        self.w.write_bits(0, SECOND_LEVEL_EE_BITS); // EE
                        break;
                    }
                }
                self.w.write_bits(code as u32, state.width);
                match p.e {
                    Event::At { d, f, q: aq } => {
                        let v = node.field(f as usize).get(used[f as usize] as usize);
                        self.value(d, aq, v.ok_or_else(|| Error::new("missing value", 0))?)
                            .map_err(|e| e.within(td.fields[f as usize].name))?;
                        used[f as usize] += 1;
                        if small_node && used[f as usize] as usize >= node.field(f as usize).count() {
                            pending &= !(1 << f);
                        }
                    }
                    Event::Se { c, f, q: eq } => {
                        let v = node.field(f as usize).get(used[f as usize] as usize);
                        self.element(c, eq, v.ok_or_else(|| Error::new("missing value", 0))?)
                            .map_err(|e| e.within(td.fields[f as usize].name))?;
                        used[f as usize] += 1;
                        if small_node && used[f as usize] as usize >= node.field(f as usize).count() {
                            pending &= !(1 << f);
                        }
                    }
                    Event::Ch { d, f } => {
                        let v = node.field(f as usize).get(used[f as usize] as usize);
                        self.value(d, q, v.ok_or_else(|| Error::new("missing value", 0))?)?;
                        used[f as usize] += 1;
                        if small_node && used[f as usize] as usize >= node.field(f as usize).count() {
                            pending &= !(1 << f);
                        }
                    }
                    _ => {}
                }
                st = p.n as usize;
                continue;
            }
            if let Some(code) = ee {
                for (f, fd) in td.fields.iter().enumerate().filter(|_| !small_node || pending != 0) {
                    if (used[f] as usize) < node.field(f).count() {
                        return Err(Error::new(
                            format!("{} has {} value(s) but only {} fit the schema here", fd.name, node.field(f).count(), used[f]),
                            self.w.position(),
                        ));
                    }
                }
                self.w.write_bits(code as u32, state.width);
                break;
            }
            return Err(self.missing(state, td));
        }
        self.depth -= 1;
        Ok(())
    }

    pub(crate) fn value(&mut self, d: u16, q: u16, v: &Value) -> Result<()> {
        let at = self.w.position();
        let dt = &self.s.datatypes[d as usize];
        match (dt, v) {
            (Datatype::Boolean, Value::Bool(b)) => self.w.write_bits(u32::from(*b), 1),
            (Datatype::String { .. }, Value::Str(text)) if self.hits && self.string_hit(q, text) => {}
            (Datatype::String { .. }, Value::Str(text)) => {
                if self.hits && !text.is_empty() {
                    self.strings.push((q, text.clone()));
                }
                let n = text.chars().count();
                self.w.write_uint(n as u128 + 2);
                for ch in text.chars() {
                    self.w.write_uint(u128::from(u32::from(ch)));
                }
            }
            (Datatype::Binary { .. }, Value::Bytes(b)) => {
                self.w.write_uint(b.len() as u128);
                self.w.write_bytes(b);
            }
            (Datatype::NBitInt { min, bits, .. }, Value::Int(i)) => {
                let i = &i.get();
                let top = i128::from(*min) + (1i128 << *bits) - 1;
                check_range(*i, Some(i128::from(*min)), Some(top), at)?;
                self.w.write_bits((*i - i128::from(*min)) as u32, *bits);
            }
            (Datatype::UnsignedInt { min, max }, Value::Int(i)) => {
                let i = &i.get();
                check_range(*i, Some(*min), *max, at)?;
                self.w.write_uint(*i as u128);
            }
            (Datatype::UnsignedInt { max: None, .. }, Value::Big(b)) if !b.negative => self.w.write_big_uint(&b.magnitude),
            (Datatype::SignedInt { min, max }, Value::Int(i)) => {
                let i = &i.get();
                check_range(*i, *min, *max, at)?;
                if *i < 0 {
                    self.w.write_bits(1, 1);
                    self.w.write_uint((-(*i + 1)) as u128);
                } else {
                    self.w.write_bits(0, 1);
                    self.w.write_uint(*i as u128);
                }
            }
            (Datatype::SignedInt { min: None, max: None }, Value::Big(b)) => {
                if b.negative {
                    self.w.write_bits(1, 1);
                    self.w.write_big_uint(&big_minus_one(&b.magnitude));
                } else {
                    self.w.write_bits(0, 1);
                    self.w.write_big_uint(&b.magnitude);
                }
            }
            (Datatype::Enum { values, bits, .. }, Value::Enum(i)) => {
                if *i as usize >= values.len() {
                    return Err(Error::new(format!("enumeration index {i} beyond the {} values", values.len()), at));
                }
                self.w.write_bits(u32::from(*i), *bits);
            }
            (dt, v) => {
                return Err(Error::new(format!("value {} does not fit datatype {}", describe(v), kind(dt)), at));
            }
        }
        Ok(())
    }
}

impl Encoder {
    /// Write a local hit (same qname) or a global hit for a string already in the table (EXI §7.3.3).
    fn string_hit(&mut self, q: u16, text: &str) -> bool {
        let local: Vec<usize> = self.strings.iter().enumerate().filter(|(_, (sq, _))| *sq == q).map(|(i, _)| i).collect();
        if let Some(pos) = local.iter().position(|i| self.strings[*i].1 == text) {
            self.w.write_uint(0);
            self.w.write_bits(pos as u32, bits_for(local.len()));
            return true;
        }
        if let Some(pos) = self.strings.iter().position(|(_, s)| s == text) {
            self.w.write_uint(1);
            self.w.write_bits(pos as u32, bits_for(self.strings.len()));
            return true;
        }
        false
    }
}

/// The fields of a node that have values to place, as a bit set (nodes of at most 64 fields).
#[inline(always)]
pub(crate) fn pending_fields(node: &Node) -> u64 {
    pending_in(&node.fields)
}

/// As [`pending_fields`] for a node of a type with `N` fields: a node holding all `N` slots (the usual case)
/// is scanned with the length known (unrolled), a shorter one by the general loop.
#[inline(always)]
pub(crate) fn pending_fields_of<const N: usize>(node: &Node) -> u64 {
    match <&[Slot; N]>::try_from(node.fields.as_slice()) {
        Ok(all) => pending_in(all),
        Err(_) => pending_fields(node),
    }
}

#[inline(always)]
fn pending_in(slots: &[Slot]) -> u64 {
    let mut pending: u64 = 0;
    for (f, slot) in slots.iter().enumerate().take(64) {
        if !matches!(slot, Slot::Absent) && !matches!(slot, Slot::Many(v) if v.is_empty()) {
            pending |= 1 << f;
        }
    }
    pending
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::Big(_) => "integer",
        Value::Str(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Enum(_) => "enumeration",
        Value::Node(_) => "element",
    }
}

pub(crate) fn kind(dt: &Datatype) -> &'static str {
    match dt {
        Datatype::Boolean => "boolean",
        Datatype::String { .. } => "string",
        Datatype::Binary { hex: true, .. } => "hexBinary",
        Datatype::Binary { .. } => "base64Binary",
        Datatype::NBitInt { .. } | Datatype::UnsignedInt { .. } | Datatype::SignedInt { .. } => "integer",
        Datatype::Enum { .. } => "enumeration",
    }
}
