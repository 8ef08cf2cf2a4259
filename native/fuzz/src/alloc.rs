//! Excessive allocation as a finding: a counting global allocator that aborts when the live heap grows beyond
//! a budget proportional to the input (see [`limit_for`]) while a harness runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// 0 = no limit (outside a harness call).
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// The heap a harness may hold for an input of `len` bytes: 64 MiB plus 1 KiB per input byte. A decoded value
/// tree takes a few hundred bytes per element and an element takes at least one bit, so a well-behaved decoder
/// stays far below this; anything above is memory amplification an attacker could use.
pub fn limit_for(len: usize) -> usize {
    (64usize << 20).saturating_add(len.saturating_mul(1024))
}

/// Run `f` with the allocation budget of an input of `len` bytes.
pub fn within_limit<R>(len: usize, f: impl FnOnce() -> R) -> R {
    LIMIT.store(LIVE.load(Ordering::Relaxed).saturating_add(limit_for(len)), Ordering::Relaxed);
    let r = f();
    LIMIT.store(0, Ordering::Relaxed);
    r
}

/// The system allocator, counting live bytes.
pub struct Counting;

fn over(size: usize) -> ! {
    // No allocation here: a fixed message, then abort (afl-fuzz records a crash).
    let mut err = std::io::stderr();
    let _ = err.write_all(b"finding: excessive allocation (live heap above the harness budget, exi_fuzz::alloc::limit_for); request of ");
    let mut digits = [0u8; 20];
    let mut n = size;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let _ = err.write_all(&digits[i..]);
    let _ = err.write_all(b" bytes\n");
    std::process::abort();
}

impl Counting {
    fn take(size: usize) {
        let live = LIVE.fetch_add(size, Ordering::Relaxed).saturating_add(size);
        let limit = LIMIT.load(Ordering::Relaxed);
        if limit != 0 && live > limit {
            LIMIT.store(0, Ordering::Relaxed);
            over(size);
        }
    }
}

// SAFETY: every call forwards to the system allocator with the caller's layout; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::take(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::take(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            Self::take(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}
