//! The generated specialised decoders and encoders (src/generated/*_fast.rs) against the table interpreter they
//! replace for the charge-loop types. Decoding: for random valid messages (plain and with empty values as a
//! second-level EE) and for mutated ones (bit flips, truncation, inserted and overwritten bytes, tight nesting
//! limits), both give the same result — the same root, value and tolerated deviations, or the same error
//! (message, path and bit). Encoding: for random valid values and for mutated ones (fields removed, doubled,
//! given values of another kind or out of range, nodes of another type), the same bytes or the same error.

use exi_core::arbitrary::{generate, generate_with_empty_values, Rng};
use exi_core::decode::{decode_document_counted, decode_document_interpreted, decode_fragment_counted, decode_fragment_interpreted};
use exi_core::encode::{encode_document_interpreted, encode_document_styled, encode_fragment_interpreted, encode_fragment_styled, Style};
use exi_core::{grammar, BigInt, Kind, Limits, Node, Schema, Slot, Value};

/// The grammars that have specialised decoders, and the message types to favour (their charge-loop messages).
const GRAMMARS: [(&str, &[&str]); 3] = [
    ("iso2", &[]),
    ("iso2-fragment", &["CurrentDemandReq", "CurrentDemandRes", "ChargingStatusReq", "ChargingStatusRes", "PreChargeReq"]),
    ("iso20-dc", &["DC_ChargeLoopReq", "DC_ChargeLoopRes"]),
];

fn iters(default: u64) -> u64 {
    std::env::var("EXI_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn both(s: &'static Schema, kind: Kind, data: &[u8], limits: Limits) {
    let (fast, interp) = match kind {
        Kind::Document => (decode_document_counted(s, data, limits), decode_document_interpreted(s, data, limits)),
        Kind::Fragment => (decode_fragment_counted(s, data, limits), decode_fragment_interpreted(s, data, limits)),
    };
    assert_eq!(fast, interp, "specialised and interpreted decoding differ for {} bytes {:02x?}", s.id, data);
}

fn message(s: &'static Schema, kind: Kind, index: usize, seed: u64) -> Option<Vec<u8>> {
    if seed % 2 == 0 {
        let v = generate(s, kind == Kind::Fragment, index, seed)?;
        exi_core::encode(s, kind, index, &v).ok()
    } else {
        let ee = Style { string_table_hits: false, empty_value_as_ee: true };
        let v = generate_with_empty_values(s, kind == Kind::Fragment, index, seed)?;
        match kind {
            Kind::Document => encode_document_styled(s, index, &v, ee).ok(),
            Kind::Fragment => encode_fragment_styled(s, index, &v, ee).ok(),
        }
    }
}

fn index_of(s: &'static Schema, kind: Kind, local: &str) -> usize {
    match kind {
        Kind::Document => s.document_index(local),
        Kind::Fragment => s.fragment_index(local),
    }
    .unwrap_or_else(|| panic!("{local} in {}", s.id))
}

#[test]
fn specialised_decoders_match_the_interpreter_on_valid_messages() {
    let mut checked = 0u64;
    for (id, hot) in GRAMMARS {
        let (s, kind) = grammar(id).expect("grammar");
        let mut indices: Vec<usize> = (0..kind.decls(s).len()).collect();
        indices.extend(hot.iter().map(|n| index_of(s, kind, n)));
        for index in indices {
            for seed in 0..iters(40) {
                let Some(data) = message(s, kind, index, seed * 104_729 + index as u64) else { continue };
                both(s, kind, &data, Limits::default());
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} messages");
}

#[test]
fn specialised_decoders_match_the_interpreter_on_mutated_messages() {
    let mut rng = Rng::new(0xFA57_DEC0);
    let mut ok = 0u64;
    let total = iters(30_000);
    for round in 0..total {
        let (id, hot) = GRAMMARS[rng.below(GRAMMARS.len() as u64) as usize];
        let (s, kind) = grammar(id).expect("grammar");
        let index = if !hot.is_empty() && rng.below(4) != 0 {
            index_of(s, kind, hot[rng.below(hot.len() as u64) as usize])
        } else {
            rng.below(kind.decls(s).len() as u64) as usize
        };
        let Some(mut data) = message(s, kind, index, round) else { continue };
        match rng.below(5) {
            0 => {
                for _ in 0..=rng.below(3) {
                    let bit = rng.below(data.len() as u64 * 8) as usize;
                    data[bit / 8] ^= 0x80 >> (bit % 8);
                }
            }
            1 => data.truncate(rng.below(data.len() as u64) as usize),
            2 => {
                let at = rng.below(data.len() as u64 + 1) as usize;
                data.insert(at, rng.next() as u8);
            }
            3 => {
                let at = rng.below(data.len() as u64) as usize;
                data[at] = rng.next() as u8;
            }
            _ => {}
        }
        let limits = if rng.below(8) == 0 {
            Limits { max_input: 1 << 20, max_depth: 1 + rng.below(6) as usize }
        } else {
            Limits::default()
        };
        let (fast, interp) = match kind {
            Kind::Document => (decode_document_counted(s, &data, limits), decode_document_interpreted(s, &data, limits)),
            Kind::Fragment => (decode_fragment_counted(s, &data, limits), decode_fragment_interpreted(s, &data, limits)),
        };
        ok += u64::from(fast.is_ok());
        assert_eq!(fast, interp, "round {round}: {id} #{index} {:02x?}", data);
    }
    // Both outcomes occur: the comparison covers values and errors.
    assert!(ok > total / 20 && ok < total, "{ok} of {total} decoded");
}

fn encode_both(s: &'static Schema, kind: Kind, index: usize, v: &Value) -> bool {
    let fast = exi_core::encode(s, kind, index, v);
    let interp = match kind {
        Kind::Document => encode_document_interpreted(s, index, v),
        Kind::Fragment => encode_fragment_interpreted(s, index, v),
    };
    assert_eq!(fast, interp, "specialised and interpreted encoding differ for {} #{index} {v:?}", s.id);
    fast.is_ok()
}

/// A value of a random kind, sometimes at the edge of or beyond the usual integer ranges.
fn leaf(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Bool(rng.below(2) == 1),
        1 => Value::int(rng.below(5) as i128 - 2),
        2 => Value::int([i128::from(i16::MIN) - 1, i128::from(i16::MAX) + 1, i128::from(u32::MAX) + 1, -1, 1 << 70][rng.below(5) as usize]),
        3 => Value::Enum(rng.below(40) as u16),
        4 => Value::Str("ab".into()),
        5 => Value::Bytes(vec![1, 2, 3]),
        6 => Value::big(BigInt { negative: rng.below(2) == 1, magnitude: vec![1; 20] }),
        7 => Value::Node(Node::new(rng.below(60) as u16, rng.below(4) as usize)),
        _ => Value::int(rng.next() as i64 as i128),
    }
}

/// Change one field somewhere in the tree.
fn mutate(v: &mut Value, rng: &mut Rng) {
    let Value::Node(n) = v else {
        *v = leaf(rng);
        return;
    };
    if n.fields.is_empty() {
        return;
    }
    let f = rng.below(n.fields.len() as u64) as usize;
    let descend = rng.below(3) != 0;
    match &mut n.fields[f] {
        Slot::One(inner) if descend => return mutate(inner, rng),
        Slot::Many(list) if descend && !list.is_empty() => {
            let i = rng.below(list.len() as u64) as usize;
            return mutate(&mut list[i], rng);
        }
        _ => {}
    }
    let slot = &mut n.fields[f];
    *slot = match rng.below(6) {
        0 => Slot::Absent,
        1 => Slot::Many(Vec::new()),
        2 => match slot.get(0).cloned() {
            Some(x) => Slot::Many(vec![x.clone(), x]),
            None => Slot::One(leaf(rng)),
        },
        3 => match slot.get(0).cloned() {
            Some(x) => Slot::Many(vec![x]),
            None => Slot::Absent,
        },
        _ => Slot::One(leaf(rng)),
    };
}

#[test]
fn specialised_encoders_match_the_interpreter_on_valid_and_mutated_values() {
    let mut rng = Rng::new(0xE4C0_DE55);
    let mut ok = 0u64;
    let mut failed = 0u64;
    for round in 0..iters(30_000) {
        let (id, hot) = GRAMMARS[rng.below(GRAMMARS.len() as u64) as usize];
        let (s, kind) = grammar(id).expect("grammar");
        let index = if !hot.is_empty() && rng.below(4) != 0 {
            index_of(s, kind, hot[rng.below(hot.len() as u64) as usize])
        } else {
            rng.below(kind.decls(s).len() as u64) as usize
        };
        let Some(mut v) = generate(s, kind == Kind::Fragment, index, round) else { continue };
        if round % 3 != 0 {
            for _ in 0..=rng.below(3) {
                mutate(&mut v, &mut rng);
            }
        }
        if encode_both(s, kind, index, &v) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert!(ok > 1000 && failed > 1000, "{ok} encoded, {failed} refused");
}
