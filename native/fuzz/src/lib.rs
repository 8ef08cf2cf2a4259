//! Fuzz harnesses of the EXI core (issue 20 point 1), shared by the AFL++ targets in `src/bin/`.
//!
//! Each harness takes the fuzzer's bytes and uses only the core's public API with the product's limits
//! ([`PRODUCT_LIMITS`]: what `evcc._exi.Codec` uses by default). The rule is the decoder's own promise
//! (`exi-core/src/decode.rs`): any input gives a value or an `exi_core::Error`, never a panic. A panic, an abort,
//! a hang (afl-fuzz's per-input time limit, `scripts/fuzz`) or an allocation beyond [`alloc::limit_for`] is a
//! finding; the round-trip harnesses also panic (= finding) when a value that decoded does not re-encode to bytes
//! that decode to the same value. Every harness reports the structure a decode reached as extra coverage edges
//! ([`shape`]), which the table-driven decoders give AFL no other way.

pub mod alloc;
pub mod harness;
pub mod seeds;
pub mod shape;

use exi_core::Limits;

/// The limits the product decodes with (`evcc._exi.Codec(max_input=1 MiB, max_depth=48)`, the core's default).
pub const PRODUCT_LIMITS: Limits = Limits { max_input: 1 << 20, max_depth: 48 };

/// One fuzz target per decoder: `exi-decode-<grammar id>` runs [`harness::decode`] with that grammar.
#[macro_export]
macro_rules! decode_target {
    ($id:expr) => {
        #[global_allocator]
        static ALLOC: $crate::alloc::Counting = $crate::alloc::Counting;

        fn main() {
            let grammar = $crate::harness::Grammar::by_id($id);
            afl::fuzz!(|data: &[u8]| {
                $crate::alloc::within_limit(data.len(), || $crate::harness::decode(&grammar, data));
            });
        }
    };
}
