//! SPIR-V of the kernel library, compiled from `gpu-engine/shaders/*.comp` by build.rs.

macro_rules! spirv {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".spv"))
    };
}

pub(crate) const GEMM: &[u8] = spirv!("gemm");
pub(crate) const FMA_PROBE: &[u8] = spirv!("fma_probe");
pub(crate) const COPY: &[u8] = spirv!("copy");
pub(crate) const GEMM_STREAM: &[u8] = spirv!("gemm_stream");

/// SPIR-V bytes to words (SPIR-V is a stream of little-endian u32).
pub(crate) fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub(crate) const UNARY: &[u8] = spirv!("unary");
pub(crate) const SOFTMAX_ROWS: &[u8] = spirv!("softmax_rows");
pub(crate) const LAYERNORM_ROWS: &[u8] = spirv!("layernorm_rows");
pub(crate) const BINARY: &[u8] = spirv!("binary");
pub(crate) const GATHER: &[u8] = spirv!("gather");
pub(crate) const TRANSPOSE: &[u8] = spirv!("transpose");
pub(crate) const REDUCE_ROWS: &[u8] = spirv!("reduce_rows");
pub(crate) const ATTENTION: &[u8] = spirv!("attention");
pub(crate) const SGD_MOMENTUM: &[u8] = spirv!("sgd_momentum");
