//! What `gridmint bench` measures on a device. Keys are snake_case: the benchmark JSON format.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkReport {
    pub device: String,
    pub driver: String,
    /// The reproducibility classes the device proved at start-up ("unfused", "fused").
    pub classes: Vec<String>,
    /// Deterministic fp32 GEMM, unfused class, 1024^3.
    pub gemm_gflops_1024: f64,
    pub gemm_gflops_1024_fused: Option<f64>,
    /// 4096^3, on GPUs only (minutes on a CPU driver).
    pub gemm_gflops_4096: Option<f64>,
    pub gemm_gflops_4096_fused: Option<f64>,
    /// Copy bandwidth (read + write) in GB/s.
    pub bandwidth_gbs: f64,
    /// Standardized compute units, what the registry records: the unfused deterministic GEMM
    /// rate in GFLOP/s at the largest size measured, rounded down.
    pub score: u32,
    /// The GEMM layout jobs run with on this device in the unfused class (`texel`, `stream`,
    /// `tiled64`, `wide128x8v`, ...): on GPUs the fastest of `gemm_layouts`, which the node keeps
    /// for this device and driver.
    #[serde(default)]
    pub gemm_layout: String,
    /// The same in the fused class, where the device has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_layout_fused: Option<String>,
    /// On GPUs, every layout measured at the largest size: they give the same bits, so the
    /// fastest one is the one to run.
    #[serde(default)]
    pub gemm_layouts: Vec<GemmLayoutRate>,
}

/// One GEMM layout's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmLayoutRate {
    pub layout: String,
    /// "unfused" or "fused".
    pub class: String,
    pub n: u32,
    pub gflops: f64,
}

/// One line of `gridmint bench --determinism`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeterminismCase {
    pub name: String,
    /// BLAKE3 of the output, hex; `None` when the device does not reproduce that class.
    pub hash: Option<String>,
}
