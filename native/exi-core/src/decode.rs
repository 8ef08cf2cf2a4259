//! Decoding: EXI stream → typed value tree, driven by the generated grammar tables.
//!
//! Only the V2G profile is accepted (EXI.md §1): header byte `0x80`, schema-informed non-strict grammars whose
//! second-level productions are never used, wildcards rejected ([V2G2-771]), trailing zero bytes tolerated.
//!
//! One second-level production is tolerated: EE in a start-tag state whose first level offers CH, i.e. an
//! element with simple content ending before its value (EXI 1.0 §8.5.4.4.1, strict = false: "EE n.m" is added
//! to every start-tag state that has no EE). EXIficient (Josev, RISE-V2G) writes an empty string, hexBinary or
//! base64Binary that way instead of CH of length 0; it needs no grammar learning and decodes to the empty value.
//! Every other second-level or third-level event (SE(*), AT(*), xsi:type, xsi:nil, untyped CH or AT) stays an
//! error, and so does that EE where the datatype has no empty value (integers, booleans, enumerations).
//! [`Tolerated`] counts how often the tolerant path was taken, so that callers can report the peer's form.
//! Every read is bounds-checked; lengths are checked against the remaining input before allocating; nesting is
//! limited. No input can make this module panic.

use std::collections::BTreeMap;

use crate::bits::{big_plus_one, BitReader};
use crate::error::{Error, Result};
use crate::tables::{bits_for, Child, Datatype, Event, Prod as P, Schema, State, TypeDef};
use crate::value::{BigInt, Node, Slot, Value};

/// Bounds applied before and during decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted stream in bytes.
    pub max_input: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_input: 1 << 20, max_depth: 48 }
    }
}

/// Deviations from the V2G encoders' form that the decoder accepted (EXI.md §1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tolerated {
    /// Empty simple values written as a second-level EE (EXIficient's form) instead of CH of length 0.
    pub empty_value_as_ee: u32,
}

/// Second-level event codes of a start-tag state with strict = false and no preserve options (EXI 1.0
/// §8.5.4.4.1): EE, AT(xsi:type), AT(xsi:nil), AT(*), AT(*) untyped, SE(*), CH untyped in the first state of a
/// type (7 productions), the same without the two xsi attributes after an attribute (5): 3 bits either way.
/// EE is always the first (code 0) in a state without a first-level EE.
pub(crate) const START_TAG_SECOND_LEVEL_BITS: u8 = 3;

/// A grammar's specialised decoder for a complex type (generated, see [`crate::generated`]), if it has one.
pub(crate) type FastFn = for<'a> fn(&mut Decoder<'a>, u16) -> Result<Node>;
/// The lookup of a schema's specialised decoders by type index.
pub(crate) type FastTable = fn(u16) -> Option<FastFn>;

/// Streams up to `PADDED - 8` bytes (the charge-loop messages) are decoded from a zero-padded copy on the stack.
const PADDED: usize = 128;

pub(crate) struct Decoder<'a> {
    tolerated: Tolerated,
    pub(crate) r: BitReader<'a>,
    s: &'static Schema,
    /// Specialised per-type decoders (generated code that does what the table interpreter does for those
    /// types, with the tables folded in), or `None` to interpret every type.
    fast: Option<FastTable>,
    /// The string table (EXI §7.3): every literal value in order, with the qname it was coded under, as the
    /// bit position of its first code point and its length (a hit reads the literal again: no copy is kept).
    strings: Vec<(u16, usize, u64)>,
    /// The local partitions of the string table (EXI §7.3.2): per qname, the global ids of its literals, so a
    /// local hit costs one lookup, not a scan of every literal (hostile input can hold tens of thousands).
    local: BTreeMap<u16, Vec<usize>>,
    /// Characters still allowed to come from string-table hits (see [`hit_budget`]).
    hit_chars_left: u64,
    /// The whole budget, for the error message.
    hit_chars: u64,
    depth: usize,
    limits: Limits,
}

/// Characters that string-table hits may produce in one stream: 64 Ki plus twice the stream's length.
///
/// A hit is one or two bytes on the wire but yields a whole copy of an earlier literal, so without a bound a
/// 64 KiB V2GTP payload (one 32,000-character literal, then 18,000 hits on it) decodes to more than 500 MiB
/// (fuzz finding F1 of issue 20). Real V2G messages use hits for a few repeated attribute values (an xmldsig
/// Algorithm URI per Reference), some hundred characters in all; the decoders of libcbv2g and EXIficient keep
/// fixed-size string buffers and cannot exceed a few times the input either.
pub(crate) fn hit_budget(input_len: usize) -> u64 {
    65_536 + 2 * input_len as u64
}

/// Decode an EXI document: returns the index of the root element in `schema.document` and its value.
pub fn decode_document(s: &'static Schema, data: &[u8], limits: Limits) -> Result<(usize, Value)> {
    decode_document_counted(s, data, limits).map(|(i, v, _)| (i, v))
}

/// As [`decode_document`], also counting the tolerated deviations.
pub fn decode_document_counted(s: &'static Schema, data: &[u8], limits: Limits) -> Result<(usize, Value, Tolerated)> {
    document(s, data, limits, crate::generated::fast_decoders(s.id))
}

/// As [`decode_document_counted`] with the table interpreter alone (no specialised decoder): the reference
/// that the differential tests compare the specialised decoders with.
#[doc(hidden)]
pub fn decode_document_interpreted(s: &'static Schema, data: &[u8], limits: Limits) -> Result<(usize, Value, Tolerated)> {
    document(s, data, limits, None)
}

fn document(s: &'static Schema, data: &[u8], limits: Limits, fast: Option<FastTable>) -> Result<(usize, Value, Tolerated)> {
    let mut pad = [0u8; PADDED];
    let mut d = Decoder::start(s, data, limits, fast, &mut pad)?;
    let n = s.document.len();
    // DocContent: SE(G_0) … SE(G_n-1), SE(*) (EXI §8.5.1).
    let code = d.r.read_bits(bits_for(n + 1))? as usize;
    let decl = s.document.get(code).ok_or_else(|| {
        Error::new("document starts with SE(*): not a message of this schema", d.r.position())
    })?;
    let name = s.qnames[decl.q as usize].local;
    let value = d.element(decl.c, decl.q).map_err(|e| e.within(name))?;
    // DocEnd: ED has the only production, 0 bits.
    d.finish()?;
    Ok((code, value, d.tolerated))
}

/// Decode an EXI fragment holding exactly one element: its index in `schema.fragment` and its value.
pub fn decode_fragment(s: &'static Schema, data: &[u8], limits: Limits) -> Result<(usize, Value)> {
    decode_fragment_counted(s, data, limits).map(|(i, v, _)| (i, v))
}

/// As [`decode_fragment`], also counting the tolerated deviations.
pub fn decode_fragment_counted(s: &'static Schema, data: &[u8], limits: Limits) -> Result<(usize, Value, Tolerated)> {
    fragment(s, data, limits, crate::generated::fast_decoders(s.id))
}

/// As [`decode_fragment_counted`] with the table interpreter alone (see [`decode_document_interpreted`]).
#[doc(hidden)]
pub fn decode_fragment_interpreted(s: &'static Schema, data: &[u8], limits: Limits) -> Result<(usize, Value, Tolerated)> {
    fragment(s, data, limits, None)
}

fn fragment(s: &'static Schema, data: &[u8], limits: Limits, fast: Option<FastTable>) -> Result<(usize, Value, Tolerated)> {
    if s.fragment.is_empty() {
        return Err(Error::new(format!("schema {} has no fragment grammar", s.id), 0));
    }
    let mut pad = [0u8; PADDED];
    let mut d = Decoder::start(s, data, limits, fast, &mut pad)?;
    let m = s.fragment.len();
    // FragmentContent: SE(F_0) … SE(F_m-1), SE(*), ED (EXI §8.5.2).
    let width = bits_for(m + 2);
    let mut found: Option<(usize, Value)> = None;
    loop {
        let at = d.r.position();
        let code = d.r.read_bits(width)? as usize;
        if code == m + 1 {
            break;
        }
        let decl = s.fragment.get(code).ok_or_else(|| Error::new("fragment holds SE(*): not allowed", at))?;
        if found.is_some() {
            return Err(Error::new("fragment holds more than one element", at));
        }
        let name = s.qnames[decl.q as usize].local;
        let value = d.element(decl.c, decl.q).map_err(|e| e.within(name))?;
        found = Some((code, value));
    }
    d.finish()?;
    let (index, value) = found.ok_or_else(|| Error::new("fragment holds no element", 0))?;
    Ok((index, value, d.tolerated))
}

impl<'a> Decoder<'a> {
    /// A decoder of `data`; a short stream is read from a zero-padded copy in `pad` (see [`BitReader::padded`]).
    fn start(s: &'static Schema, data: &'a [u8], limits: Limits, fast: Option<FastTable>, pad: &'a mut [u8; PADDED]) -> Result<Decoder<'a>> {
        if data.len() > limits.max_input {
            return Err(Error::new(format!("stream of {} bytes exceeds the limit of {}", data.len(), limits.max_input), 0));
        }
        let mut r = match pad.get_mut(..data.len()) {
            Some(head) if data.len() + 8 <= PADDED => {
                head.copy_from_slice(data);
                BitReader::padded(&pad[..], data.len())
            }
            _ => BitReader::new(data),
        };
        let header = r.read_byte().map_err(|_| Error::new("empty stream: no EXI header", 0))?;
        if header != 0x80 {
            return Err(Error::new(format!("EXI header 0x{header:02x}: the V2G profile requires exactly 0x80"), 0));
        }
        Ok(Decoder {
            tolerated: Tolerated::default(),
            r,
            s,
            fast,
            strings: Vec::new(),
            local: BTreeMap::new(),
            hit_chars_left: hit_budget(data.len()),
            hit_chars: hit_budget(data.len()),
            depth: 0,
            limits,
        })
    }

    /// After ED: zero padding to the byte boundary, then only zero bytes (some cars append one).
    fn finish(&mut self) -> Result<()> {
        let pad = (8 - self.r.position() % 8) % 8;
        let at = self.r.position();
        if self.r.read_bits(pad as u8)? != 0 {
            return Err(Error::new("non-zero padding after the end of the stream", at));
        }
        while self.r.remaining_bits() >= 8 {
            let at = self.r.position();
            if self.r.read_byte()? != 0 {
                return Err(Error::new("non-zero bytes after the end of the stream", at));
            }
        }
        Ok(())
    }

    fn deviation(&self, code: u32, at: usize) -> Error {
        Error::new(
            format!("event code {code} escapes to a second-level production (schema deviation, not allowed in the V2G profile)"),
            at,
        )
    }

    /// After the escape `code` (read at `at`) in a start-tag state waiting for CH of datatype `d`: a
    /// second-level EE gives the empty value (EXIficient's form of an empty string or binary); anything else
    /// is the usual deviation error.
    fn empty_value_as_ee(&mut self, d: u16, code: u32, at: usize) -> Result<Value> {
        let second = self.r.read_bits(START_TAG_SECOND_LEVEL_BITS).map_err(|_| self.deviation(code, at))?;
        if second != 0 {
            return Err(self.deviation(code, at));
        }
        let v = match self.s.datatypes[d as usize] {
            Datatype::String { .. } => Value::Str(String::new()),
            Datatype::Binary { .. } => Value::Bytes(Vec::new()),
            ref dt => {
                return Err(Error::new(
                    format!("second-level EE where a value is required: an empty {} is not a valid value", crate::encode::kind(dt)),
                    at,
                ))
            }
        };
        self.tolerated.empty_value_as_ee += 1;
        Ok(v)
    }

    pub(crate) fn element(&mut self, c: Child, q: u16) -> Result<Value> {
        match c {
            Child::Simple(d) => {
                // Type_0: CH [schema-typed value] (1 bit with the escape), Type_1: EE.
                let at = self.r.position();
                let code = self.r.read_bits(1)?;
                if code != 0 {
                    return self.empty_value_as_ee(d, code, at);
                }
                let v = self.value(d, q)?;
                let at = self.r.position();
                let code = self.r.read_bits(1)?;
                if code != 0 {
                    return Err(self.deviation(code, at));
                }
                Ok(v)
            }
            Child::Complex(t) => self.complex(t, q).map(|n| Value::Node(n)),
        }
    }

    /// An element of simple type `d` whose value `read` reads (the generated decoders' form of
    /// [`Decoder::element`] for `Child::Simple`, with the same events and errors).
    #[inline(always)]
    pub(crate) fn simple_with(&mut self, d: u16, read: impl FnOnce(&mut Self) -> Result<Value>) -> Result<Value> {
        let at = self.r.position();
        let code = self.r.read_bits(1)?;
        if code != 0 {
            return self.empty_value_as_ee(d, code, at);
        }
        let v = read(self)?;
        let at = self.r.position();
        let code = self.r.read_bits(1)?;
        if code != 0 {
            return Err(self.deviation(code, at));
        }
        Ok(v)
    }

    /// CH, a `bits`-wide value and EE in one read when all are there and both event codes are 0 (the common
    /// case): the raw value, the position moved past them. Otherwise `None` and nothing read.
    #[inline(always)]
    fn fixed_simple(&mut self, bits: u8) -> Option<u32> {
        let x = self.r.peek(bits + 2)?;
        if x >> (bits + 1) != 0 || x & 1 != 0 {
            return None;
        }
        self.r.skip(bits + 2);
        Some(((x >> 1) & ((1u64 << bits) - 1)) as u32)
    }

    /// An element whose simple type is an n-bit integer (see [`Decoder::simple_with`] and [`Decoder::v_nbit`]).
    #[inline(always)]
    pub(crate) fn simple_nbit(&mut self, d: u16, min: i64, bits: u8) -> Result<Value> {
        match self.fixed_simple(bits) {
            Some(raw) => Ok(Value::int(i128::from(min) + i128::from(raw))),
            None => self.simple_with(d, |s| s.v_nbit(min, bits)),
        }
    }

    /// An element whose simple type is an enumeration of `n` values.
    #[inline(always)]
    pub(crate) fn simple_enum(&mut self, d: u16, n: usize, bits: u8) -> Result<Value> {
        let at = self.r.position();
        match self.fixed_simple(bits) {
            Some(raw) if (raw as usize) < n => Ok(Value::Enum(raw as u16)),
            Some(_) => {
                self.r.seek(at);
                self.simple_with(d, |s| s.v_enum(n, bits))
            }
            None => self.simple_with(d, |s| s.v_enum(n, bits)),
        }
    }

    /// An element whose simple type is boolean.
    #[inline(always)]
    pub(crate) fn simple_bool(&mut self, d: u16) -> Result<Value> {
        match self.fixed_simple(1) {
            Some(raw) => Ok(Value::Bool(raw == 1)),
            None => self.simple_with(d, |s| s.v_bool()),
        }
    }

    /// An element whose simple type is an Unsigned Integer (`signed` = false) or an Integer: CH, sign and EE
    /// read without the step-by-step checks when the integer has at most 7 groups, lies in the range and both
    /// event codes are 0; otherwise from the start again step by step (the same value or error).
    #[inline(always)]
    pub(crate) fn simple_int(&mut self, d: u16, signed: bool, min: Option<i128>, max: Option<i128>) -> Result<Value> {
        let start = self.r.position();
        let head = if signed { 2 } else { 1 };
        if let Some(x) = self.r.peek(head) {
            if x >> (head - 1) == 0 {
                self.r.skip(head);
                if let Some(m) = self.r.uint_fast() {
                    let v = if signed && x & 1 == 1 { -i128::from(m) - 1 } else { i128::from(m) };
                    if !min.is_some_and(|lo| v < lo) && !max.is_some_and(|hi| v > hi) && self.r.peek(1) == Some(0) {
                        self.r.skip(1);
                        return Ok(Value::int(v));
                    }
                }
                self.r.seek(start);
            }
        }
        if signed {
            self.simple_with(d, |s| s.v_sint(min, max))
        } else {
            self.simple_with(d, |s| s.v_uint(min.unwrap_or(0), max))
        }
    }

    /// Entering a complex element: the nesting limit.
    #[inline(always)]
    pub(crate) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(Error::new(format!("nesting deeper than {}", self.limits.max_depth), self.r.position()));
        }
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A complex element of type `t`, by its specialised decoder if the grammar has one.
    pub(crate) fn complex(&mut self, t: u16, q: u16) -> Result<Node> {
        if let Some(f) = self.fast.and_then(|table| table(t)) {
            return f(self, q);
        }
        self.interpret(t, q)
    }

    /// The escape `code` (read at `at`, beyond the productions of `state`) in a node of type `td`: only EE in
    /// a state that waits for the simple content (then the value is placed and the node ends: `Ok`).
    #[cold]
    #[inline(never)]
    pub(crate) fn escape(&mut self, state: &State, td: &TypeDef, node: &mut Node, code: u32, at: usize) -> Result<()> {
        let ch = state.prods.iter().find_map(|p| match p.e {
            Event::Ch { d, f } => Some((d, f)),
            _ => None,
        });
        let has_ee = state.prods.iter().any(|p| matches!(p.e, Event::Ee));
        match ch {
            Some((d, f)) if !has_ee && code as usize == state.prods.len() => {
                let v = self.empty_value_as_ee(d, code, at)?;
                put(td, node, f, v, at)
            }
            _ => Err(self.deviation(code, at)),
        }
    }

    /// A production the V2G profile forbids.
    #[cold]
    #[inline(never)]
    pub(crate) fn unsupported(&self, uq: u16, what: &str, at: usize) -> Error {
        let text = if what.contains("wildcard") || what.contains("mixed") {
            format!("{what} is not allowed in V2G messages ([V2G2-771])")
        } else {
            format!("{what} {} is not allowed here", self.s.qnames[uq as usize].local)
        };
        Error::new(text, at)
    }

    fn interpret(&mut self, t: u16, q: u16) -> Result<Node> {
        self.enter()?;
        let s = self.s;
        let td = &s.types[t as usize];
        // The slots are made at the first value: as many as the type has fields, or, when that value's event
        // leads to a state that can only end the element (a choice such as a message body), only up to its field.
        let mut node = Node::new(t, 0);
        let mut st = td.start as usize;
        loop {
            let state = &s.states[st];
            let at = self.r.position();
            let code = self.r.read_bits(state.width)?;
            let Some(prod) = state.prods.get(code as usize) else {
                // The escape to the second level: only EE in a state that waits for the simple content.
                self.escape(state, td, &mut node, code, at)?;
                break;
            };
            if node.fields.is_empty() {
                if let Event::At { f, .. } | Event::Se { f, .. } | Event::Ch { f, .. } = prod.e {
                    let last = matches!(s.states.get(prod.n as usize), Some(next) if matches!(next.prods, [P { e: Event::Ee, .. }]));
                    let n = if last { f as usize + 1 } else { td.fields.len() };
                    node.fields.reserve_exact(n);
                    node.fields.resize_with(n, || Slot::Absent);
                }
            }
            match prod.e {
                Event::At { q: aq, d, f } => {
                    let v = self.value(d, aq).map_err(|e| e.within(s.qnames[aq as usize].local))?;
                    put(td, &mut node, f, v, at)?;
                }
                Event::Se { q: eq, c, f } => {
                    let v = self.element(c, eq).map_err(|e| e.within(s.qnames[eq as usize].local))?;
                    put(td, &mut node, f, v, at)?;
                }
                Event::Ch { d, f } => {
                    let v = self.value(d, q)?;
                    put(td, &mut node, f, v, at)?;
                }
                Event::Ee => break,
                Event::Unsupported { q: uq, what } => return Err(self.unsupported(uq, what, at)),
            }
            st = prod.n as usize;
        }
        self.leave();
        Ok(node)
    }

    pub(crate) fn value(&mut self, d: u16, q: u16) -> Result<Value> {
        match self.s.datatypes[d as usize] {
            Datatype::Boolean => self.v_bool(),
            // Length facets are not enforced: the reference codecs accept and produce values outside them (a
            // 4-octet GenChallenge, a 23-character eMAID), and only the representation matters for the codec.
            Datatype::String { .. } | Datatype::Binary { .. } => self.value_text(d, q),
            Datatype::NBitInt { min, bits, .. } => self.v_nbit(min, bits),
            Datatype::UnsignedInt { min, max } => self.v_uint(min, max),
            Datatype::SignedInt { min, max } => self.v_sint(min, max),
            Datatype::Enum { values, bits, base: _ } => self.v_enum(values.len(), bits),
        }
    }

    #[inline(always)]
    pub(crate) fn v_bool(&mut self) -> Result<Value> {
        Ok(Value::Bool(self.r.read_bit()?))
    }

    /// Any offset the n bits can hold is accepted (a multiplier of 4 in a -3..3 type occurs in the field).
    #[inline(always)]
    pub(crate) fn v_nbit(&mut self, min: i64, bits: u8) -> Result<Value> {
        Ok(Value::int(i128::from(min) + i128::from(self.r.read_bits(bits)?)))
    }

    #[inline(always)]
    pub(crate) fn v_enum(&mut self, n: usize, bits: u8) -> Result<Value> {
        let at = self.r.position();
        let i = self.r.read_bits(bits)?;
        if i as usize >= n {
            return Err(Error::new(format!("enumeration index {i} beyond the {n} values"), at));
        }
        Ok(Value::Enum(i as u16))
    }

    #[inline]
    pub(crate) fn v_uint(&mut self, min: i128, max: Option<i128>) -> Result<Value> {
        let at = self.r.position();
        let v = match self.r.read_big_uint()? {
            Ok(small) if small <= i128::MAX as u128 => small as i128,
            Ok(small) => return self.big(BigInt { negative: false, magnitude: small.to_be_bytes().to_vec() }, max, at),
            Err(mag) => return self.big(BigInt { negative: false, magnitude: mag }, max, at),
        };
        check_range(v, Some(min), max, at)?;
        Ok(Value::int(v))
    }

    #[inline]
    pub(crate) fn v_sint(&mut self, min: Option<i128>, max: Option<i128>) -> Result<Value> {
        let at = self.r.position();
        let negative = self.r.read_bit()?;
        let mag = self.r.read_big_uint()?;
        let v = match mag {
            Ok(m) if m < i128::MAX as u128 => {
                if negative {
                    -(m as i128) - 1
                } else {
                    m as i128
                }
            }
            Ok(m) => {
                let be = m.to_be_bytes();
                return self.signed_big(negative, &be, min, max, at);
            }
            Err(be) => return self.signed_big(negative, &be, min, max, at),
        };
        check_range(v, min, max, at)?;
        Ok(Value::int(v))
    }

    /// A string or binary value.
    pub(crate) fn value_text(&mut self, d: u16, q: u16) -> Result<Value> {
        let at = self.r.position();
        match self.s.datatypes[d as usize] {
            Datatype::String { .. } => Ok(Value::Str(self.string(q)?)),
            Datatype::Binary { .. } => {
                let len = self.r.read_uint()?;
                if len > (self.r.remaining_bits() / 8) as u64 {
                    return Err(Error::new(format!("binary length {len} exceeds the remaining input"), at));
                }
                Ok(Value::Bytes(self.r.read_bytes(len as usize)?))
            }
            _ => self.value(d, q),
        }
    }

    fn signed_big(&self, negative: bool, mag: &[u8], min: Option<i128>, max: Option<i128>, at: usize) -> Result<Value> {
        let magnitude = if negative { big_plus_one(mag) } else { mag.to_vec() };
        let b = BigInt { negative, magnitude: strip(&magnitude) };
        if let Some(v) = b.to_i128() {
            check_range(v, min, max, at)?;
            return Ok(Value::int(v));
        }
        if min.is_some() || max.is_some() {
            return Err(Error::new("integer outside the type's range", at));
        }
        Ok(Value::big(b))
    }

    fn big(&self, b: BigInt, max: Option<i128>, at: usize) -> Result<Value> {
        if max.is_some() {
            return Err(Error::new("integer outside the type's range", at));
        }
        Ok(Value::big(BigInt { negative: false, magnitude: strip(&b.magnitude) }))
    }

    /// A string value (EXI §7.1.10 with the string table of §7.3): literal, local hit or global hit.
    fn string(&mut self, q: u16) -> Result<String> {
        let at = self.r.position();
        let len = self.r.read_uint()?;
        match len {
            0 => {
                let local = self.local.get(&q).map_or(&[][..], Vec::as_slice);
                let id = self.r.read_bits(bits_for(local.len()))? as usize;
                let gi = *local
                    .get(id)
                    .ok_or_else(|| Error::new(format!("local string table hit {id} beyond its {} entries", local.len()), at))?;
                let (_, from, n) = self.strings[gi];
                self.reread(from, n, at)
            }
            1 => {
                let id = self.r.read_bits(bits_for(self.strings.len()))? as usize;
                let &(_, from, n) = self.strings.get(id).ok_or_else(|| {
                    Error::new(format!("global string table hit {id} beyond its {} entries", self.strings.len()), at)
                })?;
                self.reread(from, n, at)
            }
            _ => {
                let n = len - 2;
                if n > (self.r.remaining_bits() / 8) as u64 {
                    return Err(Error::new(format!("string length {n} exceeds the remaining input"), at));
                }
                let from = self.r.position();
                let out = self.code_points(n)?;
                if n > 0 {
                    self.local.entry(q).or_default().push(self.strings.len());
                    self.strings.push((q, from, n));
                }
                Ok(out)
            }
        }
    }

    /// `n` code points (EXI §7.1.10), each an Unsigned Integer.
    fn code_points(&mut self, n: u64) -> Result<String> {
        let mut out = String::with_capacity(n as usize);
        for _ in 0..n {
            let cat = self.r.position();
            let cp = self.r.read_uint()?;
            let ch = u32::try_from(cp).ok().and_then(char::from_u32).ok_or_else(|| Error::new(format!("invalid code point {cp}"), cat))?;
            out.push(ch);
        }
        Ok(out)
    }

    /// A string-table hit: the literal read earlier at bit `from`, read again (it decoded then).
    fn reread(&mut self, from: usize, n: u64, at: usize) -> Result<String> {
        self.hit_chars_left = self.hit_chars_left.checked_sub(n).ok_or_else(|| {
            Error::new(
                format!("string-table hits would produce more than {} characters from this stream", self.hit_chars),
                at,
            )
        })?;
        let resume = self.r.position();
        self.r.seek(from);
        let out = self.code_points(n);
        self.r.seek(resume);
        out
    }
}

/// Place a decoded value in field `f` of `node` (of type `td`).
#[inline(always)]
pub(crate) fn put(td: &TypeDef, node: &mut Node, f: u16, v: Value, at: usize) -> Result<()> {
    let Some(fd) = td.fields.get(f as usize) else {
        return Err(Error::new("field index outside the type (grammar tables inconsistent)", at));
    };
    let slot = node.field_mut(f as usize);
    match slot {
        Slot::Absent if fd.repeated => *slot = Slot::Many(vec![v]),
        Slot::Absent => *slot = Slot::One(v),
        Slot::Many(list) if fd.repeated => list.push(v),
        _ => return Err(twice(fd.name, at)),
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn twice(name: &str, at: usize) -> Error {
    Error::new(format!("{name} occurs twice"), at)
}

fn strip(be: &[u8]) -> Vec<u8> {
    let first = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    be[first..].to_vec()
}

#[inline(always)]
pub(crate) fn check_range(v: i128, min: Option<i128>, max: Option<i128>, at: usize) -> Result<()> {
    if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
        return Err(out_of_range(v, min, max, at));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn out_of_range(v: i128, min: Option<i128>, max: Option<i128>, at: usize) -> Error {
    {
        let lo = min.map_or("-inf".to_string(), |m| m.to_string());
        let hi = max.map_or("inf".to_string(), |m| m.to_string());
        Error::new(format!("value {v} outside the schema's range {lo}..{hi}"), at)
    }
}
