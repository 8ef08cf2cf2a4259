//! The generated specialised decoders (src/generated/*_fast.rs) against the table interpreter they replace for
//! the charge-loop types: for random valid messages (plain and with empty values as a second-level EE) and for
//! mutated ones (bit flips, truncation, inserted and overwritten bytes, tight nesting limits), both give the same
//! result — the same root, value and tolerated deviations, or the same error (message, path and bit).

use exi_core::arbitrary::{generate, generate_with_empty_values, Rng};
use exi_core::decode::{decode_document_counted, decode_document_interpreted, decode_fragment_counted, decode_fragment_interpreted};
use exi_core::encode::{encode_document_styled, encode_fragment_styled, Style};
use exi_core::{grammar, Kind, Limits, Schema};

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
