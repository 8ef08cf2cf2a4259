//! Schema-informed EXI for the V2G profile: DIN SPEC 70121, ISO 15118-2 and ISO 15118-20, with the
//! SupportedAppProtocol, fragment and xmldsig grammars. The grammars are generated from the official XSDs
//! (`native/codegen`) into declarative tables (`generated/`); this crate interprets them. For the charge-loop
//! types the generator also emits straight-line decoders and encoders (`generated/*_fast.rs`) that do what the
//! interpreter does with the tables folded in (tests/fast_paths.rs compares both).
#![forbid(unsafe_code)]

pub mod arbitrary;
pub mod bits;
pub mod decode;
pub mod encode;
pub mod error;
#[rustfmt::skip]
pub mod generated;
pub mod json;
pub mod tables;
pub mod value;

pub use decode::{Limits, Tolerated};
pub use error::{Error, Result};
pub use tables::Schema;
pub use value::{BigInt, Int, Node, Slot, Value};

/// Whether a grammar codes whole documents or element fragments (EXI §8.5.1, §8.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Document,
    Fragment,
}

/// The grammar ids of the product, in a fixed order.
pub const GRAMMAR_IDS: [&str; 11] = [
    "sap",
    "din",
    "iso2",
    "iso2-fragment",
    "xmldsig-fragment",
    "iso20-common",
    "iso20-ac",
    "iso20-dc",
    "iso20-wpt",
    "iso20-acdp",
    "iso20-common-fragment",
];

/// Look a grammar up by id.
pub fn grammar(id: &str) -> Option<(&'static Schema, Kind)> {
    use generated::*;
    Some(match id {
        "sap" => (&sap::SCHEMA, Kind::Document),
        "din" => (&din::SCHEMA, Kind::Document),
        "iso2" => (&iso2::SCHEMA, Kind::Document),
        "iso2-fragment" => (&iso2::SCHEMA, Kind::Fragment),
        "xmldsig-fragment" => (&xmldsig::SCHEMA, Kind::Fragment),
        "iso20-common" => (&iso20_common::SCHEMA, Kind::Document),
        "iso20-common-fragment" => (&iso20_common::SCHEMA, Kind::Fragment),
        "iso20-ac" => (&iso20_ac::SCHEMA, Kind::Document),
        "iso20-dc" => (&iso20_dc::SCHEMA, Kind::Document),
        "iso20-wpt" => (&iso20_wpt::SCHEMA, Kind::Document),
        "iso20-acdp" => (&iso20_acdp::SCHEMA, Kind::Document),
        _ => return None,
    })
}

impl Kind {
    pub fn decls(self, s: &'static Schema) -> &'static [tables::Decl] {
        match self {
            Kind::Document => s.document,
            Kind::Fragment => s.fragment,
        }
    }
}

/// Decode with a grammar: the root's index among the grammar's declarations and its value.
pub fn decode(s: &'static Schema, kind: Kind, data: &[u8], limits: Limits) -> Result<(usize, Value)> {
    match kind {
        Kind::Document => decode::decode_document(s, data, limits),
        Kind::Fragment => decode::decode_fragment(s, data, limits),
    }
}

/// As [`decode`], also counting the deviations the decoder tolerated (EXI.md §1: empty values as EE).
pub fn decode_counted(s: &'static Schema, kind: Kind, data: &[u8], limits: Limits) -> Result<(usize, Value, Tolerated)> {
    match kind {
        Kind::Document => decode::decode_document_counted(s, data, limits),
        Kind::Fragment => decode::decode_fragment_counted(s, data, limits),
    }
}

/// Encode the element `index` of the grammar's declarations with `value`.
pub fn encode(s: &'static Schema, kind: Kind, index: usize, value: &Value) -> Result<Vec<u8>> {
    match kind {
        Kind::Document => encode::encode_document(s, index, value),
        Kind::Fragment => encode::encode_fragment(s, index, value),
    }
}

/// Decode to the canonical JSON view.
pub fn to_json(s: &'static Schema, kind: Kind, data: &[u8], limits: Limits) -> Result<String> {
    let (index, value) = decode(s, kind, data, limits)?;
    let decl = &kind.decls(s)[index];
    Ok(json::to_json(s, decl.c, s.qnames[decl.q as usize].local, &value))
}

/// Encode from the canonical JSON view.
pub fn from_json(s: &'static Schema, kind: Kind, text: &str) -> Result<Vec<u8>> {
    let (index, value) = json::from_json(s, kind.decls(s), text)?;
    encode(s, kind, index, &value)
}
