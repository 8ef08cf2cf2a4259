//! AFL++ target: decode -> encode -> decode (and the JSON view) of any grammar, picked by the first input byte
//! (exi_fuzz::harness::roundtrip).
#[global_allocator]
static ALLOC: exi_fuzz::alloc::Counting = exi_fuzz::alloc::Counting;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        exi_fuzz::alloc::within_limit(data.len(), || exi_fuzz::harness::roundtrip(data));
    });
}
