//! Empty values written the EXIficient way (EXI.md §1): a second-level EE in the start-tag state of an element
//! with simple content instead of CH of length 0 (EXI 1.0 §8.5.4.4.1, strict = false). For every element of
//! every grammar, messages with empty values encoded both ways decode to the same value; the product's encoder
//! keeps writing the first-level form; every other second-level event stays an error.

use exi_core::arbitrary::{generate_with_empty_values, has_empty_value, Rng};
use exi_core::encode::{encode_document_styled, encode_fragment_styled, Style};
use exi_core::{decode, decode_counted, encode, grammar, Kind, Limits, Schema, Value, GRAMMAR_IDS};

const EE_FORM: Style = Style { string_table_hits: false, empty_value_as_ee: true };

fn styled(s: &'static Schema, kind: Kind, index: usize, v: &Value, style: Style) -> Vec<u8> {
    match kind {
        Kind::Document => encode_document_styled(s, index, v, style),
        Kind::Fragment => encode_fragment_styled(s, index, v, style),
    }
    .expect("encode")
}

fn iters(default: u64) -> u64 {
    std::env::var("EXI_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The example of issue #14: DIN V2G_Message with SessionID "" and an empty Body, as EXIficient writes it
/// (`809a448c`) and as libcbv2g/OpenV2G and evcc write it (`809a001230`).
#[test]
fn din_empty_session_id_both_forms_decode_equal() {
    let (s, kind) = grammar("din").unwrap();
    let exificient = [0x80, 0x9a, 0x44, 0x8c];
    let first_level = [0x80, 0x9a, 0x00, 0x12, 0x30];
    let (i1, v1, t1) = decode_counted(s, kind, &exificient, Limits::default()).expect("EXIficient form decodes");
    let (i2, v2, t2) = decode_counted(s, kind, &first_level, Limits::default()).expect("first-level form decodes");
    assert_eq!((i1, &v1), (i2, &v2));
    assert_eq!((t1.empty_value_as_ee, t2.empty_value_as_ee), (1, 0));
    assert_eq!(encode(s, kind, i1, &v1).unwrap(), first_level, "the encoder writes the first-level form");
    assert_eq!(styled(s, kind, i1, &v1, EE_FORM), exificient, "the EE style reproduces EXIficient's bytes");
}

/// xmldsig SignatureValue (base64Binary with an optional Id attribute): EE in the type's first state (no Id)
/// and in the state after AT(Id), bytes as EXIficient writes them (fragment grammar of xmldsig alone).
#[test]
fn signature_value_empty_with_and_without_id() {
    let (s, kind) = grammar("xmldsig-fragment").unwrap();
    for (exificient, first_level) in [
        (&[0x80u8, 0x7e, 0x17, 0x00][..], &[0x80u8, 0x7d, 0x00, 0x5c][..]),
        (&[0x80, 0x7c, 0x03, 0x61, 0x8b, 0x80][..], &[0x80, 0x7c, 0x03, 0x61, 0x00, 0x2e][..]),
    ] {
        let (i1, v1, t1) = decode_counted(s, kind, exificient, Limits::default()).expect("EXIficient form");
        let (i2, v2, t2) = decode_counted(s, kind, first_level, Limits::default()).expect("first-level form");
        assert_eq!((i1, &v1), (i2, &v2));
        assert_eq!((t1.empty_value_as_ee, t2.empty_value_as_ee), (1, 0));
        assert_eq!(encode(s, kind, i1, &v1).unwrap(), first_level);
    }
}

/// Property: random messages of every element of every grammar with random empty values; the first-level form
/// and the EE form decode to the same value, the EE form is counted once per empty value written that way,
/// and re-encoding gives the first-level bytes.
#[test]
fn every_grammar_empty_values_decode_equal_both_ways() {
    let per_element = iters(20) / 4 + 3;
    let mut with_ee = 0u64;
    for id in GRAMMAR_IDS {
        let (s, kind) = grammar(id).expect("grammar");
        let decls = kind.decls(s);
        let mut grammar_ee = 0u64;
        for index in 0..decls.len() {
            for seed in 0..per_element {
                let Some(v) = generate_with_empty_values(s, kind == Kind::Fragment, index, seed * 104_729 + index as u64) else {
                    continue;
                };
                let first = encode(s, kind, index, &v).unwrap_or_else(|e| panic!("{id} #{index} seed {seed}: {e}"));
                let ee = styled(s, kind, index, &v, EE_FORM);
                let (i1, v1, t1) = decode_counted(s, kind, &first, Limits::default()).expect("first-level form");
                let (i2, v2, t2) = decode_counted(s, kind, &ee, Limits::default())
                    .unwrap_or_else(|e| panic!("{id} #{index} seed {seed}: EE form: {e}"));
                assert_eq!((i1, &v1), (index, &v), "{id} #{index} seed {seed}");
                assert_eq!((i2, &v2), (index, &v), "{id} #{index} seed {seed}: EE form decodes differently");
                assert_eq!(t1.empty_value_as_ee, 0);
                assert_eq!(t2.empty_value_as_ee > 0, ee != first, "{id} #{index} seed {seed}");
                assert_eq!(encode(s, kind, i2, &v2).unwrap(), first, "re-encoding writes the first-level form");
                if ee != first {
                    assert!(has_empty_value(s, decls[index].c, &v));
                    grammar_ee += 1;
                }
            }
        }
        assert!(grammar_ee > 0, "{id}: no message with an EE-coded empty value was generated");
        with_ee += grammar_ee;
    }
    eprintln!("empty values: {with_ee} messages differ between the two forms");
}

/// The other second-level productions of a start-tag state (codes 1..7: xsi:type, xsi:nil, AT(*), untyped
/// AT, SE(*), untyped CH) keep today's error, and so does an EE where no empty value exists (an integer).
#[test]
fn other_second_level_events_still_fail() {
    let (s, kind) = grammar("din").unwrap();
    // 0x9a then SE(Header) 0, SE(SessionID) 0, escape 1, then second-level code c (3 bits) at bit 19.
    for c in 1u8..8 {
        let bits = 0b0100_0000u8 | (c << 3);
        let data = [0x80, 0x9a, bits, 0x8c, 0x00];
        let err = decode(s, kind, &data, Limits::default()).unwrap_err();
        assert!(err.message.contains("escapes to a second-level production"), "code {c}: {err}");
        assert_eq!(err.path_text(), "/V2G_Message/Header/SessionID", "{err}");
    }
    // An enumeration element ending before its value: sap supportedAppProtocolRes (document code 01),
    // SE(ResponseCode) 0, escape 1, EE 000: a required value is missing, named as such.
    let (sap, skind) = grammar("sap").unwrap();
    let err = decode(sap, skind, &[0x80, 0b0101_0000, 0x00], Limits::default()).unwrap_err();
    assert!(err.message.contains("an empty enumeration is not a valid value"), "{err}");
    assert_eq!(err.path_text(), "/supportedAppProtocolRes/ResponseCode", "{err}");
}

/// Mutations of EE-form streams: never a panic; what decodes re-encodes and decodes to the same value.
#[test]
fn mutated_ee_form_never_panics() {
    let total = iters(20_000);
    let mut rng = Rng::new(0x5EC0_11D);
    let mut decoded = 0u64;
    for round in 0..total {
        let id = GRAMMAR_IDS[rng.below(GRAMMAR_IDS.len() as u64) as usize];
        let (s, kind) = grammar(id).unwrap();
        let index = rng.below(kind.decls(s).len() as u64) as usize;
        let Some(v) = generate_with_empty_values(s, kind == Kind::Fragment, index, round) else { continue };
        let mut data = styled(s, kind, index, &v, EE_FORM);
        match rng.below(3) {
            0 => {
                let bit = rng.below(data.len() as u64 * 8) as usize;
                data[bit / 8] ^= 1 << (bit % 8);
            }
            1 => data.truncate(rng.below(data.len() as u64) as usize),
            _ => {
                let at = rng.below(data.len() as u64) as usize;
                data[at] = rng.next() as u8;
            }
        }
        if let Ok((i, v2)) = decode(s, kind, &data, Limits::default()) {
            decoded += 1;
            let again = encode(s, kind, i, &v2).expect("a decoded value re-encodes");
            assert_eq!(decode(s, kind, &again, Limits::default()).expect("decodes"), (i, v2));
        }
    }
    eprintln!("EE-form fuzz: {total} inputs, {decoded} decoded");
}
