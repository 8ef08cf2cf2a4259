//! Generates `edge(i)`: one basic block per structure bucket (src/shape.rs). A table-driven decoder keeps its
//! grammar states in data, so AFL's edge coverage cannot tell a new grammar state from an old one; calling
//! `edge(bucket)` makes each reached bucket a distinct instrumented block, i.e. a distinct edge in AFL's map.
//! Every arm passes its own constant through `black_box` (an opaque side effect), so LLVM can neither merge the
//! arms nor turn the `match` into a lookup table: the arms stay separate blocks in the jump table.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The number of buckets (a power of two; `shape::BUCKETS` reads it from the generated file).
const BUCKETS: usize = 8192;

fn main() {
    let mut src = String::with_capacity(BUCKETS * 48);
    writeln!(src, "/// The number of distinct structure edges.\npub const BUCKETS: usize = {BUCKETS};").unwrap();
    writeln!(src, "/// Reach the basic block of bucket `i` (modulo [`BUCKETS`]).").unwrap();
    writeln!(src, "#[inline(never)]\npub fn edge(i: u32) {{\n    match i as usize % BUCKETS {{").unwrap();
    for k in 0..BUCKETS {
        writeln!(src, "        {k} => {{ core::hint::black_box({k}u32); }}").unwrap();
    }
    writeln!(src, "        _ => {{}}\n    }}\n}}").unwrap();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("edges.rs");
    std::fs::write(&out, src).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("cargo:rerun-if-changed=build.rs");
}
