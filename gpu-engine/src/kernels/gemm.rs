//! Deterministic GEMM in four layouts that give the same bits: `shaders/gemm.comp` (64x64
//! tiles), `shaders/gemm_wide.comp` (128x128 tiles, for discrete GPUs), `shaders/gemm_stream.comp`
//! (no shared memory) and `shaders/gemm_texel.comp` (no shared memory, A and B fetched as texels
//! 16 bytes at a time; for CPU drivers).

use std::sync::{Arc, OnceLock};

use vulkano::{
    buffer::Subbuffer, descriptor_set::WriteDescriptorSet, pipeline::ComputePipeline, shader::SpecializationConstant,
};

use super::{check_len, check_u32, groups};
use crate::{EngineError, Gpu, Recorder, ReproClass, shaders};

const KERNEL: &str = "gemm";
const TILE: u64 = 64;
const WIDE_TILE: u64 = 128;
/// Columns per lane of the streaming variant (TN in shaders/gemm_stream.comp): a workgroup covers
/// 64 * TN columns, and the host picks the TN that wastes the fewest lanes for each N.
const STREAM_TNS: [u32; 3] = [8, 6, 4];
/// Rows per workgroup of the streaming variant (TM in shaders/gemm_stream.comp); 32 measured
/// fastest on llvmpipe at the encoder's shapes (bench/RESULTS.md).
const STREAM_TM: u64 = 32;
/// Runs of 4 adjacent columns per lane of the texel variant (CV in shaders/gemm_texel.comp): a
/// workgroup covers 256 * CV columns.
const TEXEL_CVS: [u32; 2] = [2, 1];
/// Rows per workgroup of the texel variant (TM in shaders/gemm_texel.comp); 32 measured fastest
/// on llvmpipe at 1024³ and the encoder's shapes against 16 and 48 (bench/RESULTS.md).
const TEXEL_TM: u64 = 32;

/// `C[M,N] = A[M,K] * B[K,N]` in a fixed reproducibility class.
#[derive(Debug)]
pub struct Gemm {
    /// One pipeline for the tiled variant; one per entry of `STREAM_TNS` for the streaming one;
    /// for the texel one, one per entry of `TEXEL_CVS`, then the streaming ones (its fallback).
    pipelines: Vec<Arc<ComputePipeline>>,
    /// The texel variant's pipelines with an epilogue (bias; bias + GELU), one per entry of
    /// `TEXEL_CVS` each, built when first used: most GEMMs have none.
    epilogues: [Vec<OnceLock<Arc<ComputePipeline>>>; 2],
    class: ReproClass,
    variant: GemmVariant,
}

/// The index into `widths` (widest first) whose workgroups, each covering `columns_per_unit` times
/// the width, leave the fewest idle columns for `n` (ties: the wider).
fn fitted_width(n: u64, widths: &[u32], columns_per_unit: u64) -> usize {
    (0..widths.len())
        .min_by_key(|&i| {
            let cover = columns_per_unit * u64::from(widths[i]);
            (n.div_ceil(cover) * cover - n, i)
        })
        .expect("a layout has at least one width")
}

/// The index into `STREAM_TNS` for `n` columns (a streaming workgroup covers 64 * TN).
fn stream_tn_index(n: u64) -> usize {
    fitted_width(n, &STREAM_TNS, 64)
}

/// The index into `TEXEL_CVS` for `n` columns (a texel workgroup covers 256 * CV).
fn texel_cv_index(n: u64) -> usize {
    fitted_width(n, &TEXEL_CVS, 256)
}

/// How the work is laid out on the device. Both variants compute the same sums in the same
/// order, so they give the same bits; they differ only in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmVariant {
    /// 64x64 tiles in shared memory, 16 deep, 4x4 per invocation.
    Tiled,
    /// 128x128 tiles in shared memory, 8x8 per invocation with 16-byte shared loads, the next
    /// slice fetched while the current one is multiplied; `depth` (8 or 16) is the slice's depth,
    /// `stages` (1 or 2) the shared buffers slices alternate between. `vector`: A, B and C read
    /// and written 16 bytes at a time, A transposed into shared memory without bank conflicts, each
    /// warp on a 32x64 block; needs K and N multiples of 4 and 16-byte-aligned buffers (other GEMMs
    /// run the same layout without it).
    Wide { depth: u32, stages: u32, vector: bool },
    /// No shared memory, 32 rows x 4-8 columns per lane, uniform A loads: for CPU drivers, whose lanes
    /// gather per-lane loads one by one and whose barriers are coroutine switches.
    Streaming,
    /// No shared memory, 32 rows x 4 or 8 columns per lane, A and B read through texel buffers
    /// four floats per fetch: for CPU drivers, whose texel fetches are branch-free gathers. Needs K
    /// and N to be multiples of 4 and A and B to start on a texel; other GEMMs run `Streaming`.
    Texel,
}

impl GemmVariant {
    /// Every layout, for benchmarks and the bit-exactness tests.
    pub const ALL: [GemmVariant; 11] = [
        GemmVariant::Tiled,
        GemmVariant::Wide { depth: 8, stages: 1, vector: false },
        GemmVariant::Wide { depth: 8, stages: 2, vector: false },
        GemmVariant::Wide { depth: 8, stages: 1, vector: true },
        GemmVariant::Wide { depth: 8, stages: 2, vector: true },
        GemmVariant::Wide { depth: 16, stages: 1, vector: false },
        GemmVariant::Wide { depth: 16, stages: 2, vector: false },
        GemmVariant::Wide { depth: 16, stages: 1, vector: true },
        GemmVariant::Wide { depth: 16, stages: 2, vector: true },
        GemmVariant::Streaming,
        GemmVariant::Texel,
    ];

    /// The layout for a device and class when nothing was measured on it ([`Gpu::gemm_layout`]
    /// prefers a measured one): texels on CPU drivers; on GPUs the wide layouts with 16-byte loads,
    /// 16 deep in the unfused class and 8 deep in two stages in the fused class, the fastest of each
    /// class on the H100 (24.8-25.0 and 37.7-37.9 TFLOP/s at 4096³; bench/RESULTS.md).
    pub fn for_device(gpu: &Gpu, class: ReproClass) -> Self {
        match (gpu.info().device_type, class) {
            (crate::DeviceType::Cpu, _) => GemmVariant::Texel,
            (_, ReproClass::Unfused) => GemmVariant::Wide { depth: 16, stages: 1, vector: true },
            (_, ReproClass::Fused) => GemmVariant::Wide { depth: 8, stages: 2, vector: true },
        }
    }

    /// The layout a [`GemmVariant::name`] names, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// A short stable name (`tiled64`, `wide128x8`, `wide128x16s2`, `wide128x8v`, `stream`).
    pub fn name(self) -> String {
        match self {
            GemmVariant::Tiled => "tiled64".to_owned(),
            GemmVariant::Wide { depth, stages, vector } => {
                let stages = if stages == 1 { String::new() } else { format!("s{stages}") };
                format!("wide128x{depth}{stages}{}", if vector { "v" } else { "" })
            }
            GemmVariant::Streaming => "stream".to_owned(),
            GemmVariant::Texel => "texel".to_owned(),
        }
    }
}

/// What [`Gemm::record_fused`] applies to each element of C as it stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `C[i][j] + bias[j]`.
    Bias,
    /// `gelu(C[i][j] + bias[j])`.
    BiasGelu,
}

/// The shape of one GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

impl Gemm {
    /// The GEMM pipeline in the device's layout for `class` ([`Gpu::gemm_layout`]).
    pub fn new(gpu: &Gpu, class: ReproClass) -> Result<Self, EngineError> {
        Self::with_variant(gpu, class, gpu.gemm_layout(class))
    }

    pub fn with_variant(gpu: &Gpu, class: ReproClass, variant: GemmVariant) -> Result<Self, EngineError> {
        if !gpu.supports(class) {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!("{} does not reproduce the {} class", gpu.info().name, class.as_str()),
            });
        }
        let fused = SpecializationConstant::Bool(class == ReproClass::Fused);
        let pipelines = match variant {
            GemmVariant::Tiled => vec![gpu.pipeline(shaders::GEMM, &[(0, fused)])?],
            GemmVariant::Wide { depth, stages, vector } => {
                if !matches!(depth, 8 | 16) || !matches!(stages, 1 | 2) {
                    return Err(EngineError::Shape {
                        kernel: KERNEL,
                        message: format!(
                            "the wide layout stages 8 or 16 deep in 1 or 2 buffers, not {depth} in {stages}"
                        ),
                    });
                }
                // One module per combination, no specialization constants (shaders/gemm_wide.comp).
                let wide = |vector| {
                    let spirv = shaders::gemm_wide(class == ReproClass::Fused, depth, stages, vector)
                        .expect("build.rs compiles every depth, stage count and width checked above");
                    gpu.pipeline(spirv, &[])
                };
                // With `vector`, the 16-byte pipeline first, then the fallback for other shapes.
                if vector { vec![wide(true)?, wide(false)?] } else { vec![wide(false)?] }
            }
            GemmVariant::Streaming => stream_pipelines(gpu, fused)?,
            GemmVariant::Texel => {
                let mut pipelines =
                    (0..TEXEL_CVS.len()).map(|t| texel_pipeline(gpu, class, t, 0)).collect::<Result<Vec<_>, _>>()?;
                pipelines.extend(stream_pipelines(gpu, fused)?);
                pipelines
            }
        };
        let lazy = || (0..TEXEL_CVS.len()).map(|_| OnceLock::new()).collect();
        Ok(Self { pipelines, epilogues: [lazy(), lazy()], class, variant })
    }

    pub fn class(&self) -> ReproClass {
        self.class
    }

    pub fn variant(&self) -> GemmVariant {
        self.variant
    }

    /// Records the dispatch into `builder`.
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        c: &Subbuffer<[f32]>,
        shape: GemmShape,
    ) -> Result<(), EngineError> {
        let [m, n, k] = check_shape(a, b, c, shape)?;
        if self.fuses(gpu, a, b, shape) {
            return self.record_texel(gpu, builder, a, b, None, c, [m, n, k]);
        }
        let (pipeline, counts) = match self.variant {
            GemmVariant::Tiled => (&self.pipelines[0], [groups(u64::from(n), TILE), groups(u64::from(m), TILE), 1]),
            GemmVariant::Wide { vector, .. } => {
                let p = if vector && quads_fit([a, b, c], n, k) { 0 } else { self.pipelines.len() - 1 };
                (&self.pipelines[p], [groups(u64::from(n), WIDE_TILE), groups(u64::from(m), WIDE_TILE), 1])
            }
            GemmVariant::Streaming | GemmVariant::Texel => {
                let t = stream_tn_index(u64::from(n));
                let first = if self.variant == GemmVariant::Texel { TEXEL_CVS.len() } else { 0 };
                let cover = 64 * u64::from(STREAM_TNS[t]);
                (&self.pipelines[first + t], [groups(u64::from(n), cover), groups(u64::from(m), STREAM_TM), 1])
            }
        };
        let bound = [(0, a.as_bytes().clone()), (1, b.as_bytes().clone()), (2, c.as_bytes().clone())];
        // SAFETY: the shader bounds-checks every load and store against M, N, K, and the buffer
        // lengths were checked against the shape above.
        unsafe { super::record(gpu, builder, pipeline, bound, Some([m, n, k]), counts) }
    }

    /// Whether [`Gemm::record_fused`] can record this GEMM: the texel layout, K and N multiples
    /// of 4, and A and B viewable as texels.
    pub fn fuses(&self, gpu: &Gpu, a: &Subbuffer<[f32]>, b: &Subbuffer<[f32]>, shape: GemmShape) -> bool {
        let (n, k) = (u32::try_from(shape.n), u32::try_from(shape.k));
        self.variant == GemmVariant::Texel && matches!((n, k), (Ok(n), Ok(k)) if texels_fit(gpu, a, b, n, k))
    }

    /// Records `C = epilogue(A * B)` in one dispatch, where [`Gemm::fuses`] says so: `bias` (one row
    /// of N) added to every row, then GELU if `epilogue` says so. The same ops as a plain GEMM
    /// followed by the row-broadcast add and the GELU kernel, so the same bits.
    #[allow(clippy::too_many_arguments)]
    pub fn record_fused(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        bias: &Subbuffer<[f32]>,
        epilogue: Epilogue,
        c: &Subbuffer<[f32]>,
        shape: GemmShape,
    ) -> Result<(), EngineError> {
        let [m, n, k] = check_shape(a, b, c, shape)?;
        check_len(KERNEL, "bias", bias.len(), u64::from(n))?;
        if !self.fuses(gpu, a, b, shape) || !gpu.texels_fit(bias) {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!(
                    "the {} layout cannot add a bias in the GEMM for {}x{} * {}x{} (it needs the texel layout, K and N multiples of 4 and texel-aligned inputs)",
                    self.variant.name(),
                    shape.m,
                    shape.k,
                    shape.k,
                    shape.n
                ),
            });
        }
        self.record_texel(gpu, builder, a, b, Some((bias, epilogue)), c, [m, n, k])
    }

    /// The texel layout's dispatch, with or without an epilogue.
    #[allow(clippy::too_many_arguments)]
    fn record_texel(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        epilogue: Option<(&Subbuffer<[f32]>, Epilogue)>,
        c: &Subbuffer<[f32]>,
        [m, n, k]: [u32; 3],
    ) -> Result<(), EngineError> {
        let t = texel_cv_index(u64::from(n));
        let cover = 256 * u64::from(TEXEL_CVS[t]);
        let counts = [groups(u64::from(n), cover), groups(u64::from(m), TEXEL_TM), 1];
        let b_view = super::texel_view(b)?;
        let (bias_view, pipeline) = match epilogue {
            // Bound but not read without an epilogue (the binding is in the shader either way).
            None => (b_view.clone(), &self.pipelines[t]),
            Some((bias, epilogue)) => {
                let e = match epilogue {
                    Epilogue::Bias => 1,
                    Epilogue::BiasGelu => 2,
                };
                let slot = &self.epilogues[e - 1][t];
                let pipeline = match slot.get() {
                    Some(p) => p,
                    None => {
                        // Two threads may both build it; the second's is dropped.
                        let _ = slot.set(texel_pipeline(gpu, self.class, t, e as u32)?);
                        slot.get().expect("set just now")
                    }
                };
                (super::texel_view(bias)?, pipeline)
            }
        };
        let writes = [
            WriteDescriptorSet::buffer_view(0, super::texel_view(a)?),
            WriteDescriptorSet::buffer_view(1, b_view),
            WriteDescriptorSet::buffer(2, c.clone()),
            WriteDescriptorSet::buffer_view(3, bias_view),
        ];
        // SAFETY: the shader clamps every fetch to the last row of A and the last column of B (and
        // of the bias row), stores only inside C, and the lengths were checked against the shape.
        unsafe { super::record_writes(gpu, builder, pipeline, writes, Some([m, n, k]), counts) }
    }

    /// Runs one GEMM and waits for it.
    pub fn run(
        &self,
        gpu: &Gpu,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        c: &Subbuffer<[f32]>,
        shape: GemmShape,
    ) -> Result<(), EngineError> {
        super::run_alone(gpu, KERNEL, |builder| self.record(gpu, builder, a, b, c, shape))
    }
}

/// M, N and K as pushed to the shaders, once the buffers' lengths are checked against them.
fn check_shape(
    a: &Subbuffer<[f32]>,
    b: &Subbuffer<[f32]>,
    c: &Subbuffer<[f32]>,
    shape: GemmShape,
) -> Result<[u32; 3], EngineError> {
    let (m, n, k) =
        (check_u32(KERNEL, "M", shape.m)?, check_u32(KERNEL, "N", shape.n)?, check_u32(KERNEL, "K", shape.k)?);
    check_len(KERNEL, "A", a.len(), u64::from(m) * u64::from(k))?;
    check_len(KERNEL, "B", b.len(), u64::from(k) * u64::from(n))?;
    check_len(KERNEL, "C", c.len(), u64::from(m) * u64::from(n))?;
    Ok([m, n, k])
}

/// The texel layout's pipeline for `TEXEL_CVS[t]` with epilogue `e` (0 none, 1 bias, 2 bias + GELU).
fn texel_pipeline(gpu: &Gpu, class: ReproClass, t: usize, e: u32) -> Result<Arc<ComputePipeline>, EngineError> {
    let constants = [
        (0, SpecializationConstant::Bool(class == ReproClass::Fused)),
        (1, SpecializationConstant::U32(TEXEL_CVS[t])),
        (2, SpecializationConstant::U32(e)),
    ];
    gpu.pipeline(shaders::GEMM_TEXEL, &constants)
}

fn stream_pipelines(gpu: &Gpu, fused: SpecializationConstant) -> Result<Vec<Arc<ComputePipeline>>, EngineError> {
    STREAM_TNS
        .iter()
        .map(|&tn| gpu.pipeline(shaders::GEMM_STREAM, &[(0, fused), (1, SpecializationConstant::U32(tn))]))
        .collect()
}

/// Whether A, B and C can be read and written as vec4s: K and N multiples of 4 (so every row starts
/// on a quad) and every buffer bound at a 16-byte-aligned offset.
fn quads_fit(buffers: [&Subbuffer<[f32]>; 3], n: u32, k: u32) -> bool {
    n.is_multiple_of(4) && k.is_multiple_of(4) && buffers.iter().all(|b| b.offset().is_multiple_of(16))
}

/// Whether A and B can be read as 16-byte texels: K and N multiples of 4 (so every row starts on a
/// texel) and both buffers viewable as texels.
fn texels_fit(gpu: &Gpu, a: &Subbuffer<[f32]>, b: &Subbuffer<[f32]>, n: u32, k: u32) -> bool {
    n.is_multiple_of(4) && k.is_multiple_of(4) && gpu.texels_fit(a) && gpu.texels_fit(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout_widths_fit_the_columns() {
        let tn = |n| super::STREAM_TNS[super::stream_tn_index(n)];
        assert_eq!(tn(384), 6);
        assert_eq!(tn(1152), 6);
        assert_eq!(tn(1536), 8);
        assert_eq!(tn(1024), 8);
        assert_eq!(tn(256), 4);
        assert_eq!(tn(10), 4);
        let cv = |n| super::TEXEL_CVS[super::texel_cv_index(n)];
        assert_eq!(cv(384), 2);
        assert_eq!(cv(1152), 1);
        assert_eq!(cv(1536), 2);
        assert_eq!(cv(4), 1);
    }

    #[test]
    fn every_layout_name_reads_back() {
        use super::GemmVariant;
        let mut names = std::collections::HashSet::new();
        for depth in [8, 16] {
            for stages in [1, 2] {
                for vector in [false, true] {
                    let v = GemmVariant::Wide { depth, stages, vector };
                    assert_eq!(GemmVariant::from_name(&v.name()), Some(v));
                    assert!(names.insert(v.name()));
                }
            }
        }
        for v in GemmVariant::ALL {
            assert_eq!(GemmVariant::from_name(&v.name()), Some(v));
        }
        assert_eq!(GemmVariant::from_name("wide128x12"), None);
    }
}
