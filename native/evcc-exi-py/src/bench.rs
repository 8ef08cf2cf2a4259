//! Benchmark hook (issue 17): time the Rust core alone inside the calling process, so that a benchmark can
//! interleave core and Python batches in the same time window (on a shared machine the speed of a vCPU changes
//! by 2x from one second to the next; ratios of batches measured apart are noise). Not used by the product.

use std::hint::black_box;
use std::time::Instant;

use exi_core::Limits;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `core_time(grammar, data, side, n)`: nanoseconds per operation of `n` core decodes (`side="decode"`) of the
/// document `data`, or `n` core encodes (`side="encode"`) of its decoded value; `grammar` as in the core
/// (`iso2`, `iso20-dc`, ...). The GIL is released while the loop runs.
#[pyfunction]
pub fn core_time(py: Python<'_>, grammar: &str, data: &[u8], side: &str, n: u32) -> PyResult<f64> {
    let (schema, kind) = exi_core::grammar(grammar).ok_or_else(|| PyValueError::new_err(format!("no grammar {grammar}")))?;
    let limits = Limits::default();
    let (index, value) =
        exi_core::decode(schema, kind, data, limits).map_err(|e| PyValueError::new_err(format!("does not decode: {e}")))?;
    let n = n.max(1);
    let decode = match side {
        "decode" => true,
        "encode" => false,
        _ => return Err(PyValueError::new_err(format!("side is decode or encode, not {side}"))),
    };
    let elapsed = py.allow_threads(|| {
        let t = Instant::now();
        for _ in 0..n {
            if decode {
                black_box(exi_core::decode(schema, kind, black_box(data), limits).ok());
            } else {
                black_box(exi_core::encode(schema, kind, index, black_box(&value)).ok());
            }
        }
        t.elapsed()
    });
    Ok(elapsed.as_nanos() as f64 / f64::from(n))
}
