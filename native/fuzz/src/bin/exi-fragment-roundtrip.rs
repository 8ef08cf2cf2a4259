//! AFL++ target: the signature digest input - elements of a received message re-encoded as fragments
//! (exi_fuzz::harness::fragment_roundtrip).
#[global_allocator]
static ALLOC: exi_fuzz::alloc::Counting = exi_fuzz::alloc::Counting;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        exi_fuzz::alloc::within_limit(data.len(), || exi_fuzz::harness::fragment_roundtrip(data));
    });
}
