//! The shapes of the generated grammar tables (W3C EXI 1.0 §8.5, V2G profile).
//!
//! Generated modules hold only data of these types; all behaviour lives in `decode.rs` and `encode.rs`.

/// An expanded name.
#[derive(Debug)]
pub struct QName {
    pub uri: &'static str,
    pub local: &'static str,
}

/// How an enumeration's values read as text (`Str`) or as integers (`Int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumBase {
    Str,
    Int,
}

/// The EXI datatype representation of a simple type (EXI §7.1) with the facets the codec enforces.
#[derive(Debug)]
pub enum Datatype {
    Boolean,
    /// Characters; lengths in code points. `u32::MAX` = unbounded.
    String { min_len: u32, max_len: u32 },
    /// hexBinary (`hex`) or base64Binary; lengths in octets.
    Binary { hex: bool, min_len: u32, max_len: u32 },
    /// A bounded range of at most 4096 values: an n-bit offset from `min` (EXI §7.1.9).
    NBitInt { min: i64, max: i64, bits: u8 },
    /// Lower bound ≥ 0: EXI Unsigned Integer (§7.1.6).
    UnsignedInt { min: i128, max: Option<i128> },
    /// EXI Integer: sign bit and magnitude (§7.1.5).
    SignedInt { min: Option<i128>, max: Option<i128> },
    /// An n-bit index into the values in schema order (§7.2).
    Enum { values: &'static [&'static str], bits: u8, base: EnumBase },
}

/// What an element's content is: a simple type (datatype index) or a complex type (type index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    Simple(u16),
    Complex(u16),
}

/// A first-level event of a state.
#[derive(Debug)]
pub enum Event {
    At { q: u16, d: u16, f: u16 },
    Se { q: u16, c: Child, f: u16 },
    Ee,
    Ch { d: u16, f: u16 },
    /// A production the grammar has but the V2G profile forbids ([V2G2-771] wildcards, mixed text).
    Unsupported { q: u16, what: &'static str },
}

#[derive(Debug)]
pub struct Prod {
    pub e: Event,
    /// The state after this event (an index into `Schema::states`); unused for EE.
    pub n: u32,
}

#[derive(Debug)]
pub struct State {
    /// Bits of the first-level event code: ceil(log2(productions + 1)) in non-strict grammars.
    pub width: u8,
    pub prods: &'static [Prod],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Attribute,
    Element,
    /// The character content of a complex type with simple content.
    Value,
}

/// One member of a complex type's typed view.
#[derive(Debug)]
pub struct FieldDef {
    pub name: &'static str,
    /// Index into `Schema::qnames`, `u16::MAX` for `Value`.
    pub qname: u16,
    pub kind: FieldKind,
    pub child: Child,
    pub repeated: bool,
    pub optional: bool,
    /// Maximum number of occurrences, `u32::MAX` = unbounded.
    pub max: u32,
}

#[derive(Debug)]
pub struct TypeDef {
    pub name: &'static str,
    pub start: u32,
    pub fields: &'static [FieldDef],
}

/// A global element (document grammar) or a unique element name (fragment grammar).
#[derive(Debug)]
pub struct Decl {
    pub q: u16,
    pub c: Child,
}

/// One schema set: its qnames, datatypes, type grammars and the entries of its document and fragment grammars.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub qnames: &'static [QName],
    pub datatypes: &'static [Datatype],
    pub states: &'static [State],
    pub types: &'static [TypeDef],
    pub document: &'static [Decl],
    pub fragment: &'static [Decl],
}

impl Schema {
    pub fn type_by_name(&self, name: &str) -> Option<u16> {
        self.types.iter().position(|t| t.name == name).map(|i| i as u16)
    }

    pub fn document_index(&self, local: &str) -> Option<usize> {
        self.document.iter().position(|d| self.qnames[d.q as usize].local == local)
    }

    pub fn fragment_index(&self, local: &str) -> Option<usize> {
        self.fragment.iter().position(|d| self.qnames[d.q as usize].local == local)
    }
}

/// Bits needed to code `n` alternatives: ceil(log2(n)).
pub const fn bits_for(n: usize) -> u8 {
    if n <= 1 {
        0
    } else {
        (usize::BITS - (n - 1).leading_zeros()) as u8
    }
}
