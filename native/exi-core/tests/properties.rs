//! Property tests over every element of every grammar: random valid values round-trip through encode and decode,
//! and arbitrary or mutated bytes never panic the decoder (the bounded in-CI fuzz run; `EXI_FUZZ_ITERS` raises it).

use exi_core::arbitrary::{generate, generate_with_empty_values, Rng};
use exi_core::encode::{encode_document_styled, encode_fragment_styled, Style};
use exi_core::{decode, encode, grammar, Kind, Limits, GRAMMAR_IDS};

fn iters(default: u64) -> u64 {
    std::env::var("EXI_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn every_element_of_every_grammar_roundtrips() {
    let per_element = iters(20) / 4 + 5;
    let mut checked = 0u64;
    for id in GRAMMAR_IDS {
        let (s, kind) = grammar(id).expect("grammar");
        let decls = kind.decls(s);
        for index in 0..decls.len() {
            for seed in 0..per_element {
                let Some(v) = generate(s, kind == Kind::Fragment, index, seed * 7919 + index as u64) else {
                    continue; // wildcard-only content ([V2G2-771]): nothing valid to build
                };
                let bytes = encode(s, kind, index, &v).unwrap_or_else(|e| panic!("{id} #{index} seed {seed}: encode: {e}"));
                let (i2, v2) = decode(s, kind, &bytes, Limits::default())
                    .unwrap_or_else(|e| panic!("{id} #{index} seed {seed}: decode: {e}"));
                assert_eq!(i2, index);
                assert_eq!(v2, v, "{id} #{index} seed {seed}: value changed");
                let again = encode(s, kind, i2, &v2).expect("re-encode");
                assert_eq!(again, bytes, "{id} #{index} seed {seed}: bytes changed");
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
}

/// Mutates valid streams (half of them with empty values as a second-level EE; bit flips, truncation, insertion, byte overwrite) and random bytes: decoding returns
/// a value or an error, never panics; whatever decodes re-encodes and decodes to the same value.
#[test]
fn decoder_survives_arbitrary_and_mutated_input() {
    let total = iters(40_000);
    let mut rng = Rng::new(0xE71C_C0DE);
    let mut decoded_ok = 0u64;
    for round in 0..total {
        let id = GRAMMAR_IDS[rng.below(GRAMMAR_IDS.len() as u64) as usize];
        let (s, kind) = grammar(id).expect("grammar");
        let decls = kind.decls(s);
        let index = rng.below(decls.len() as u64) as usize;
        // Every other seed is a message with empty values written the EXIficient way (second-level EE).
        let seed = if round % 2 == 0 {
            generate(s, kind == Kind::Fragment, index, round).and_then(|v| encode(s, kind, index, &v).ok())
        } else {
            let ee = Style { string_table_hits: false, empty_value_as_ee: true };
            generate_with_empty_values(s, kind == Kind::Fragment, index, round).and_then(|v| match kind {
                Kind::Document => encode_document_styled(s, index, &v, ee).ok(),
                Kind::Fragment => encode_fragment_styled(s, index, &v, ee).ok(),
            })
        };
        let mut data = match seed {
            Some(b) => b,
            None => continue,
        };
        match rng.below(5) {
            0 => {
                let bit = rng.below(data.len() as u64 * 8) as usize;
                data[bit / 8] ^= 1 << (bit % 8);
            }
            1 => data.truncate(rng.below(data.len() as u64) as usize),
            2 => {
                let at = rng.below(data.len() as u64 + 1) as usize;
                data.insert(at, rng.next() as u8);
            }
            3 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(data.len() as u64) as usize;
                    data[at] = rng.next() as u8;
                }
            }
            _ => {
                let n = rng.below(64) as usize;
                data = (0..n).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 && !data.is_empty() {
                    data[0] = 0x80;
                }
            }
        }
        if let Ok((i, v)) = decode(s, kind, &data, Limits::default()) {
            decoded_ok += 1;
            let again = encode(s, kind, i, &v).expect("a decoded value re-encodes");
            let (i2, v2) = decode(s, kind, &again, Limits::default()).expect("re-encoded bytes decode");
            assert_eq!((i2, &v2), (i, &v));
        }
    }
    eprintln!("fuzz: {total} inputs, {decoded_ok} decoded");
}

#[test]
fn limits_and_header_are_enforced() {
    let (s, kind) = grammar("iso2").unwrap();
    assert!(decode(s, kind, &[], Limits::default()).is_err());
    assert!(decode(s, kind, &[0x81, 0x00], Limits::default()).is_err());
    let big = vec![0x80u8; 64];
    let tight = Limits { max_input: 16, max_depth: 48 };
    assert!(decode(s, kind, &big, tight).unwrap_err().message.contains("exceeds the limit"));
    let shallow = Limits { max_input: 1 << 20, max_depth: 1 };
    let v = generate(s, false, s.document_index("V2G_Message").unwrap(), 3).unwrap();
    let bytes = encode(s, kind, s.document_index("V2G_Message").unwrap(), &v).unwrap();
    let err = decode(s, kind, &bytes, shallow).unwrap_err();
    assert!(err.message.contains("nesting deeper"), "{err}");
}

/// Decoders accept string-table hits (EXI.md §1) even though V2G encoders never write them: local hits (same
/// qname) and global hits (another qname) decode to the original strings.
#[test]
fn string_table_hits_are_accepted_on_decode() {
    use exi_core::encode::encode_document_with;
    use exi_core::{Node, Slot, Value};
    let (s, kind) = grammar("sap").unwrap();
    let index = s.document_index("supportedAppProtocolReq").unwrap();
    let proto_ty = s.type_by_name("AppProtocolType").unwrap();
    let req_ty = s.type_by_name("supportedAppProtocolReq").unwrap();
    let proto = |ns: &str, id: i128| {
        let mut n = Node::new(proto_ty, 5);
        n.fields[0] = Slot::One(Value::Str(ns.to_string()));
        n.fields[1] = Slot::One(Value::int(2));
        n.fields[2] = Slot::One(Value::int(0));
        n.fields[3] = Slot::One(Value::int(id));
        n.fields[4] = Slot::One(Value::int(id + 1));
        Value::Node(n)
    };
    let mut req = Node::new(req_ty, 1);
    req.fields[0] = Slot::Many(vec![proto("urn:din:70121:2012:MsgDef", 1), proto("urn:iso:15118:2:2013:MsgDef", 2),
                                    proto("urn:din:70121:2012:MsgDef", 3)]);
    let value = Value::Node(req);
    let literal = encode(s, kind, index, &value).unwrap();
    let with_hits = encode_document_with(s, index, &value, true).unwrap();
    assert!(with_hits.len() < literal.len(), "the hit form must be shorter");
    let (i, decoded) = decode(s, kind, &with_hits, Limits::default()).unwrap();
    assert_eq!((i, &decoded), (index, &value));
    assert_eq!(encode(s, kind, i, &decoded).unwrap(), literal, "re-encoding writes literals");
    // a hit beyond the table is an error, not a panic
    let mut bad = with_hits.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let _ = decode(s, kind, &bad, Limits::default());
}
