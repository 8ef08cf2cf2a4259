//! The Rust core alone: reads `name<TAB>grammar<TAB>hex` lines on stdin, prints `name decode_ns encode_ns blocks`
//! (medians of timed batches; `blocks`: heap blocks the decoded value holds, i.e. the allocations a decode
//! leaves behind). Driven by benchmarks/exi_bench.py.
//!
//! `BENCH_ROUNDS` (31) batches of `BENCH_BATCH` (2000) operations; `BENCH_ONLY=decode|encode` times one side
//! only (for instruction counts under `valgrind --tool=callgrind`: run two batch sizes and take the difference).

use std::io::BufRead;
use std::time::Instant;

use exi_core::{decode, encode, grammar, json::decode_hex, Limits, Slot, Value};

/// Heap blocks owned by a decoded value (a node's field vector, a repeated field's list, a string or binary).
fn blocks(v: &Value) -> usize {
    match v {
        Value::Str(s) => usize::from(s.capacity() > 0),
        Value::Bytes(b) => usize::from(b.capacity() > 0),
        Value::Big(b) => usize::from(b.magnitude.capacity() > 0),
        Value::Node(n) => {
            usize::from(n.fields.capacity() > 0)
                + n.fields
                    .iter()
                    .map(|s| match s {
                        Slot::Absent => 0,
                        Slot::One(v) => blocks(v),
                        Slot::Many(vs) => 1 + vs.iter().map(blocks).sum::<usize>(),
                    })
                    .sum::<usize>()
        }
        _ => 0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines().map_while(Result::ok) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 3 {
            continue;
        }
        let (s, kind) = grammar(cols[1]).expect("grammar");
        let data = decode_hex(cols[2]).expect("hex");
        let (index, value) = decode(s, kind, &data, Limits::default()).expect("decodes");
        let batch: u32 = std::env::var("BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        let mut dec = Vec::new();
        let mut enc = Vec::new();
        for _ in 0..std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(31) {
            let t = Instant::now();
            for _ in 0..if only == "encode" { 0 } else { batch } {
                std::hint::black_box(decode(s, kind, std::hint::black_box(&data), Limits::default()).ok());
            }
            dec.push(t.elapsed().as_nanos() as f64 / f64::from(batch));
            let t = Instant::now();
            for _ in 0..if only == "decode" { 0 } else { batch } {
                std::hint::black_box(encode(s, kind, index, std::hint::black_box(&value)).ok());
            }
            enc.push(t.elapsed().as_nanos() as f64 / f64::from(batch));
        }
        println!("{}\t{:.0}\t{:.0}\t{}", cols[0], median(dec), median(enc), blocks(&value));
    }
}
