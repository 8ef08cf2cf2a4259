//! Not a product target: panics on inputs starting with `EVCC`, so that tests/fuzz can check that scripts/fuzz
//! turns a panic into a finding (exit 1, a minimised input in the regressions folder).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() >= 4 && &data[..3] == b"EVC" && data[3] == b'C' {
            panic!("selftest: a panic in a harness is a finding");
        }
    });
}
