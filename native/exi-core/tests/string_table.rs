//! The string table on hostile input (EXI 1.0 §7.3): a hit is one or two bytes on the wire but yields a copy of an
//! earlier literal, so the characters that hits produce are bounded per stream (fuzz finding F1 of issue 20, where
//! 20 kB decoded to 112 MiB); local hits are found without scanning every literal; messages that use hits the way
//! EXIficient writes them still decode.

use exi_core::encode::encode_document_with;
use exi_core::{decode, grammar, Limits, Node, Slot, Value};

/// An iso2 document `<KeyInfo>` (xmldsig, a global element of the -2 schema) with the KeyName strings given.
fn key_info(names: Vec<String>) -> (usize, Value) {
    let (s, _) = grammar("iso2").unwrap();
    let ty = s.type_by_name("KeyInfoType").unwrap();
    let mut node = Node::new(ty, s.types[ty as usize].fields.len());
    let f = s.types[ty as usize].fields.iter().position(|f| f.name == "KeyName").unwrap();
    node.fields[f] = Slot::Many(names.into_iter().map(Value::Str).collect());
    (s.document_index("KeyInfo").unwrap(), Value::Node(node))
}

fn with_hits(names: Vec<String>) -> Vec<u8> {
    let (s, _) = grammar("iso2").unwrap();
    let (index, value) = key_info(names);
    encode_document_with(s, index, &value, true).unwrap()
}

#[test]
fn hits_on_a_long_literal_are_refused_before_they_copy_it_thousands_of_times() {
    // One 32,000-character literal and 17,999 hits on it: ~63.5 kB, inside a V2GTP payload of 64 KiB, that
    // decoded to a 550 MiB value before the bound.
    let data = with_hits(vec!["k".repeat(32_000); 18_000]);
    assert!(data.len() < 65_536, "{} bytes", data.len());
    let (s, kind) = grammar("iso2").unwrap();
    let err = decode(s, kind, &data, Limits::default()).unwrap_err().to_string();
    assert!(err.contains("string-table hits would produce more than"), "{err}");
}

#[test]
fn hits_within_the_bound_decode_to_the_same_strings() {
    // 100 hits on a 300-character literal: 30,000 characters, within 64 Ki + 2 x the stream; 400 hits: 120,000
    // characters from about 1 kB, over it.
    let names = vec!["u".repeat(300); 101];
    let data = with_hits(names.clone());
    let (s, kind) = grammar("iso2").unwrap();
    let (index, value) = decode(s, kind, &data, Limits::default()).expect("within the bound");
    assert_eq!((index, value), key_info(names));
    let over = with_hits(vec!["u".repeat(300); 401]);
    assert!(decode(s, kind, &over, Limits::default()).is_err(), "120,000 characters from {} bytes", over.len());
}

#[test]
fn many_distinct_literals_then_local_hits_decode() {
    // Every literal is its own local partition entry; each hit is found by its local id.
    let mut names: Vec<String> = (0..3_000).map(|i| format!("n{i}")).collect();
    names.extend((0..3_000).rev().map(|i| format!("n{i}")));
    let data = with_hits(names.clone());
    let (s, kind) = grammar("iso2").unwrap();
    let (index, value) = decode(s, kind, &data, Limits::default()).expect("decodes");
    assert_eq!((index, value), key_info(names));
}
