//! Not a product target: the tests' check (tests/fuzz/test_rust_targets.py) that scripts/fuzz turns what breaks
//! the harness rule into a finding. Inputs starting with `EVCC` panic, `ALLOC` allocate beyond the harness budget
//! (exi_fuzz::alloc), `HANG` never return; anything else is fine.
#[global_allocator]
static ALLOC: exi_fuzz::alloc::Counting = exi_fuzz::alloc::Counting;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        exi_fuzz::alloc::within_limit(data.len(), || {
            if data.len() >= 4 && &data[..3] == b"EVC" && data[3] == b'C' {
                panic!("selftest: a panic in a harness is a finding");
            }
            if data.starts_with(b"ALLOC") {
                let big = vec![1u8; exi_fuzz::alloc::limit_for(data.len()) + 1];
                std::hint::black_box(&big);
            }
            if data.starts_with(b"HANG") {
                loop {
                    std::hint::black_box(data);
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        });
    });
}
