//! The deterministic kernel library: one struct per compute pipeline.
//!
//! Each pipeline is built once per device and reused; `run` records one dispatch, submits it and
//! waits within the dispatch timeout; `record` adds it to a caller's command buffer instead.

pub mod copy;
pub mod fma_probe;
pub mod gemm;
pub mod rows;

pub use copy::Copy;
pub use gemm::Gemm;

use crate::EngineError;

/// Workgroup counts for `len` items in groups of `group`.
pub(crate) fn groups(len: u64, group: u64) -> u32 {
    len.div_ceil(group) as u32
}

pub(crate) fn check_len(kernel: &'static str, what: &str, got: u64, want: u64) -> Result<(), EngineError> {
    if got != want {
        return Err(EngineError::Shape { kernel, message: format!("{what} has {got} elements, expected {want}") });
    }
    Ok(())
}

pub(crate) fn check_u32(kernel: &'static str, what: &str, v: usize) -> Result<u32, EngineError> {
    if v == 0 {
        return Err(EngineError::Shape { kernel, message: format!("{what} must be at least 1") });
    }
    u32::try_from(v).map_err(|_| EngineError::Shape { kernel, message: format!("{what} = {v} does not fit in 32 bits") })
}
