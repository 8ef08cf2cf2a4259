//! The harnesses: what one fuzz input does. A panic anywhere here is a finding; `exi_core::Error` results are
//! the documented outcome for bad input and are ignored (the type system leaves no other error type).

use exi_core::tables::{Child, FieldKind, Schema};
use exi_core::{decode as core_decode, encode as core_encode, grammar, json, Kind, Slot, Value, GRAMMAR_IDS};

use crate::{shape, PRODUCT_LIMITS};

/// A grammar id with its tables.
#[derive(Clone, Copy)]
pub struct Grammar {
    pub id: &'static str,
    pub schema: &'static Schema,
    pub kind: Kind,
    /// Distinguishes the grammars' structure buckets ([`crate::shape`]): the index in `GRAMMAR_IDS`.
    pub salt: u32,
}

impl Grammar {
    /// The grammar of an id in `exi_core::GRAMMAR_IDS` (a target naming another id is a build mistake).
    pub fn by_id(id: &str) -> Grammar {
        let at = GRAMMAR_IDS.iter().position(|g| *g == id).unwrap_or_else(|| panic!("unknown grammar id {id}"));
        let id = GRAMMAR_IDS[at];
        let (schema, kind) = grammar(id).unwrap_or_else(|| panic!("exi_core::grammar({id}) is None"));
        Grammar { id, schema, kind, salt: at as u32 + 1 }
    }

    /// The grammar selected by a round-trip input's first byte.
    pub fn by_byte(b: u8) -> Grammar {
        Grammar::by_id(GRAMMAR_IDS[b as usize % GRAMMAR_IDS.len()])
    }

    pub fn decls(&self) -> &'static [exi_core::tables::Decl] {
        self.kind.decls(self.schema)
    }
}

/// `exi-decode-<id>`: decode with the product's limits; what the decode reached becomes coverage
/// ([`shape::report`]).
pub fn decode(g: &Grammar, data: &[u8]) {
    let result = core_decode(g.schema, g.kind, data, PRODUCT_LIMITS);
    shape::report(g.salt, &result);
}

/// `exi-roundtrip`: the first byte picks the grammar (index into `GRAMMAR_IDS`, modulo), the rest is the stream.
/// Whatever decodes must re-encode; the re-encoded bytes must decode to the same element and value and encode
/// again to the same bytes; the canonical JSON view (what `evcc trace` prints) must parse back to the same value.
pub fn roundtrip(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else { return };
    let g = Grammar::by_byte(first);
    let result = core_decode(g.schema, g.kind, stream, PRODUCT_LIMITS);
    shape::report(g.salt, &result);
    let Ok((index, value)) = result else { return };
    check_value(&g, index, &value);
}

/// The round-trip checks of a decoded (or otherwise valid) value of element `index` of `g`.
pub fn check_value(g: &Grammar, index: usize, value: &Value) {
    let bytes = core_encode(g.schema, g.kind, index, value)
        .unwrap_or_else(|e| panic!("{}: a decoded value does not re-encode: {e}", g.id));
    let (index2, value2) = core_decode(g.schema, g.kind, &bytes, PRODUCT_LIMITS)
        .unwrap_or_else(|e| panic!("{}: re-encoded bytes {} do not decode: {e}", g.id, hex(&bytes)));
    assert_eq!(index, index2, "{}: re-encoded bytes decode as another element", g.id);
    assert!(*value == value2, "{}: re-encoded bytes {} decode to another value", g.id, hex(&bytes));
    let again = core_encode(g.schema, g.kind, index2, &value2)
        .unwrap_or_else(|e| panic!("{}: the value of re-encoded bytes does not encode: {e}", g.id));
    assert!(again == bytes, "{}: encoding is not stable: {} then {}", g.id, hex(&bytes), hex(&again));
    let decl = &g.decls()[index];
    let local = |d: &exi_core::tables::Decl| g.schema.qnames[d.q as usize].local;
    // The JSON view keys elements by local name and reads back the first element of that name: where a grammar
    // has the same local name in two namespaces with other content (iso2-fragment AC_EVSEStatus, iso20 Exponent)
    // the view is ambiguous by design, not a codec fault; those values are not checked through it.
    let first = g.decls().iter().position(|d| local(d) == local(decl)).unwrap_or(index);
    if first != index && g.decls()[first].c != decl.c {
        return;
    }
    let text = json::to_json(g.schema, decl.c, local(decl), value);
    let (index3, value3) = json::from_json(g.schema, g.decls(), &text)
        .unwrap_or_else(|e| panic!("{}: the JSON view of a decoded value does not parse back: {e}: {text}", g.id));
    assert_eq!(index3, first, "{}: the JSON view names another element: {text}", g.id);
    assert!(value == &value3, "{}: the JSON view parses back to another value: {text}", g.id);
}

/// The document grammars whose elements are signed as fragments, with the fragment grammar the product encodes
/// them in (`evcc/exi/signature.py`: `-2` elements in `iso2-fragment`, `-20` elements rebound into
/// `iso20-common-fragment`; every SignedInfo in `xmldsig-fragment`).
pub const SIGNED_DOCUMENTS: [(&str, &str); 6] = [
    ("iso2", "iso2-fragment"),
    ("iso20-common", "iso20-common-fragment"),
    ("iso20-dc", "iso20-common-fragment"),
    ("iso20-ac", "iso20-common-fragment"),
    ("iso20-wpt", "iso20-common-fragment"),
    ("iso20-acdp", "iso20-common-fragment"),
];

/// `exi-fragment-roundtrip`: the signature digest input. The first byte picks a document grammar of
/// [`SIGNED_DOCUMENTS`]; the rest is a received message. Every element inside it that the fragment grammar knows
/// (what a Reference can point at, and SignedInfo) is encoded as a fragment the way a verifier re-encodes it for
/// the digest; that must succeed for a value of the same type and decode back to the same value. Values carried
/// into another schema set go through the JSON view (the Rust counterpart of `signature.rebind`): refusing them
/// is fine, but what encodes must decode back to the same JSON.
pub fn fragment_roundtrip(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else { return };
    let (doc_id, frag_id) = SIGNED_DOCUMENTS[first as usize % SIGNED_DOCUMENTS.len()];
    let doc = Grammar::by_id(doc_id);
    let result = core_decode(doc.schema, doc.kind, stream, PRODUCT_LIMITS);
    shape::report(doc.salt, &result);
    let Ok((index, value)) = result else { return };
    let frag = Grammar::by_id(frag_id);
    let dsig = Grammar::by_id("xmldsig-fragment");
    let root = doc.decls()[index].c;
    let mut budget = 64usize;
    walk(doc.schema, root, &value, 0, &mut |name, child, v| {
        if budget == 0 {
            return;
        }
        budget -= 1;
        fragment_of(&doc, &frag, name, child, v);
        if name == "SignedInfo" {
            fragment_of(&doc, &dsig, name, child, v);
        }
    });
}

/// Encode one element value of `doc` as a fragment of `frag` and check it comes back.
fn fragment_of(doc: &Grammar, frag: &Grammar, name: &str, child: Child, v: &Value) {
    let Some(fi) = frag.schema.fragment_index(name) else { return };
    let fdecl = &frag.schema.fragment[fi];
    if std::ptr::eq(doc.schema, frag.schema) && fdecl.c == child {
        let bytes = core_encode(frag.schema, Kind::Fragment, fi, v)
            .unwrap_or_else(|e| panic!("{}: decoded {name} does not encode as a {} fragment: {e}", doc.id, frag.id));
        let (fi2, v2) = core_decode(frag.schema, Kind::Fragment, &bytes, PRODUCT_LIMITS)
            .unwrap_or_else(|e| panic!("{}: {name} fragment {} does not decode: {e}", frag.id, hex(&bytes)));
        assert_eq!(fi, fi2, "{}: {name} fragment decodes as another element", frag.id);
        assert!(v == &v2, "{}: {name} fragment {} decodes to another value", frag.id, hex(&bytes));
        return;
    }
    let text = json::to_json(doc.schema, child, name, v);
    let Ok(bytes) = exi_core::from_json(frag.schema, Kind::Fragment, &text) else { return };
    let back = exi_core::to_json(frag.schema, Kind::Fragment, &bytes, PRODUCT_LIMITS)
        .unwrap_or_else(|e| panic!("{}: {name} carried over and encoded as {} does not decode: {e}", frag.id, hex(&bytes)));
    let again = exi_core::from_json(frag.schema, Kind::Fragment, &back)
        .unwrap_or_else(|e| panic!("{}: {name}: JSON of a decoded fragment does not encode: {e}: {back}", frag.id));
    assert!(again == bytes, "{}: {name} fragment not stable: {} then {}", frag.id, hex(&bytes), hex(&again));
}

/// Visit every element value below `v` (depth-first), with its element name and declared content.
fn walk(s: &'static Schema, c: Child, v: &Value, depth: usize, f: &mut dyn FnMut(&'static str, Child, &Value)) {
    let (Child::Complex(_), Value::Node(n)) = (c, v) else { return };
    if depth > 64 {
        return;
    }
    let Some(td) = s.types.get(n.ty as usize) else { return };
    for (fd, slot) in td.fields.iter().zip(&n.fields) {
        if fd.kind != FieldKind::Element {
            continue;
        }
        let items: &[Value] = match slot {
            Slot::Absent => &[],
            Slot::One(x) => std::slice::from_ref(x),
            Slot::Many(xs) => xs,
        };
        let name = s.qnames.get(fd.qname as usize).map_or(fd.name, |q| q.local);
        for item in items {
            f(name, fd.child, item);
            walk(s, fd.child, item, depth + 1, f);
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
