//! Multi-head self-attention over a batch of padded sequences in one dispatch
//! (`shaders/attention.comp`, or `shaders/attention_texel.comp` on CPU drivers: the same sums,
//! with QKV fetched as texels), and its CPU twin [`reference`]; a decoder's causal attention over
//! its key-value cache is [`cache`].
//!
//! The input is the packed projection `QKV[batch * seq, 3 * heads * head_dim]` (rows `q | k | v`)
//! and the number of real tokens of each sequence; padding keys never enter a sum, so a row's bits
//! do not depend on the batch it was computed in.

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    descriptor_set::WriteDescriptorSet,
    pipeline::ComputePipeline,
    shader::SpecializationConstant,
};

use crate::{
    EngineError, Gpu, Recorder, ReproClass,
    kernels::{check_len, check_u32, linear_groups, record_library, record_writes, run_alone, texel_view},
    numeric::canonicalize,
    shaders,
};

pub mod backward;
pub mod cache;

const KERNEL: &str = "attention";
/// The largest head width the kernel is built for (its per-invocation arrays).
pub const MAX_HEAD_DIM: usize = 128;

/// The shape of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Padded length of every sequence.
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl AttentionShape {
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn rows(&self) -> usize {
        self.batch * self.seq
    }
}

/// The attention pipeline for one head width and reproducibility class.
#[derive(Debug)]
pub struct Attention {
    pipeline: Arc<ComputePipeline>,
    /// The texel variant, where it was chosen (used when QKV starts on a 16-byte texel).
    texel: Option<Arc<ComputePipeline>>,
    head_dim: usize,
}

impl Attention {
    /// The attention pipeline in the device's faster layout: QKV fetched as texels on CPU drivers
    /// (where `head_dim` is a multiple of 4), read as a storage buffer elsewhere.
    pub fn new(gpu: &Gpu, class: ReproClass, head_dim: usize) -> Result<Self, EngineError> {
        let texels = gpu.info().device_type == crate::DeviceType::Cpu && head_dim.is_multiple_of(4);
        Self::with_texels(gpu, class, head_dim, texels)
    }

    /// The attention pipeline, reading QKV as texels (`texels`, needs `head_dim` a multiple of 4)
    /// or as a storage buffer. Both give the same bits.
    pub fn with_texels(gpu: &Gpu, class: ReproClass, head_dim: usize, texels: bool) -> Result<Self, EngineError> {
        let constants = constants(gpu, KERNEL, class, head_dim)?;
        if texels && !head_dim.is_multiple_of(4) {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!("texels hold 4 floats: head_dim {head_dim} is not a multiple of 4"),
            });
        }
        let texel = texels.then(|| gpu.pipeline(shaders::ATTENTION_TEXEL, &constants)).transpose()?;
        Ok(Self { pipeline: gpu.pipeline(shaders::ATTENTION, &constants)?, texel, head_dim })
    }

    /// Records `out = attention(qkv)`; `lens` (on the device, one per sequence) are checked by the
    /// caller to be at most `seq`; `scale` is usually `1 / sqrt(head_dim)`.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        qkv: &Subbuffer<[f32]>,
        lens: &Subbuffer<[u32]>,
        out: &Subbuffer<[f32]>,
        s: AttentionShape,
        scale: f32,
    ) -> Result<(), EngineError> {
        if s.head_dim != self.head_dim {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!("built for head_dim {}, called with {}", self.head_dim, s.head_dim),
            });
        }
        let batch = check_u32(KERNEL, "batch", s.batch)?;
        let seq = check_u32(KERNEL, "seq", s.seq)?;
        let heads = check_u32(KERNEL, "heads", s.heads)?;
        let invocations = check_u32(KERNEL, "batch * heads * seq", s.batch * s.heads * s.seq)?;
        check_len(KERNEL, "qkv", qkv.len(), (s.rows() * 3 * s.width()) as u64)?;
        check_len(KERNEL, "lens", lens.len(), s.batch as u64)?;
        check_len(KERNEL, "out", out.len(), (s.rows() * s.width()) as u64)?;
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            batch: u32,
            seq: u32,
            heads: u32,
            scale: f32,
        }
        let (push, groups) = (Push { batch, seq, heads, scale }, linear_groups(invocations, 64));
        if let Some(texel) = self.texel.as_ref().filter(|_| gpu.texels_fit(qkv)) {
            let writes = [
                WriteDescriptorSet::buffer_view(0, texel_view(qkv)?),
                WriteDescriptorSet::buffer(1, lens.as_bytes().clone()),
                WriteDescriptorSet::buffer(2, out.as_bytes().clone()),
            ];
            // SAFETY: as for the storage-buffer kernel: every fetch and store is inside the rows
            // of real sequences, and the lengths were checked against the shape above.
            return unsafe { record_writes(gpu, builder, texel, writes, Some(push), groups) };
        }
        record_library(gpu, builder, &self.pipeline, &[qkv.as_bytes(), lens.as_bytes(), out.as_bytes()], push, groups)
    }

    /// Runs one attention call; `lens` are checked against `seq` here.
    pub fn run(
        &self,
        gpu: &Gpu,
        qkv: &Subbuffer<[f32]>,
        lens: &[u32],
        out: &Subbuffer<[f32]>,
        s: AttentionShape,
        scale: f32,
    ) -> Result<(), EngineError> {
        check_lens(lens, s.seq)?;
        let lens = gpu.upload(lens)?;
        run_alone(gpu, KERNEL, |b| self.record(gpu, b, qkv, &lens, out, s, scale))
    }
}

/// Every sequence length must be at most the padded length (a zero-length sequence is all padding).
pub fn check_lens(lens: &[u32], seq: usize) -> Result<(), EngineError> {
    match lens.iter().enumerate().find(|(_, l)| **l as usize > seq) {
        Some((b, l)) => Err(EngineError::Shape {
            kernel: KERNEL,
            message: format!("sequence {b} has {l} tokens, more than the padded length {seq}"),
        }),
        None => Ok(()),
    }
}

/// The CPU twin of [`Attention::run`], op for op.
pub fn reference(class: ReproClass, qkv: &[f32], lens: &[u32], s: AttentionShape, scale: f32) -> Vec<f32> {
    let (w, d) = (s.width(), s.head_dim);
    let stride = 3 * w;
    assert_eq!(qkv.len(), s.rows() * stride, "qkv must be [batch * seq, 3 * width]");
    let mut out = vec![0.0f32; s.rows() * w];
    for (b, &len) in lens.iter().enumerate().take(s.batch) {
        let len = len as usize;
        let first = b * s.seq;
        for h in 0..s.heads {
            let key = |j: usize| &qkv[(first + j) * stride + w + h * d..][..d];
            let value = |j: usize| &qkv[(first + j) * stride + 2 * w + h * d..][..d];
            for i in 0..len.min(s.seq) {
                let q = &qkv[(first + i) * stride + h * d..][..d];
                attend(class, q, len, key, value, scale, &mut out[(first + i) * w + h * d..][..d]);
            }
        }
    }
    out
}

/// One query's attention over `keys` keys and values (`key(j)`, `value(j)`, in increasing `j`),
/// written to `out`: the order every attention kernel keeps (`shaders/attention.comp`,
/// `shaders/kv_attention.comp`):
/// `s_j = canon(canon(q · k_j) * scale)`, `m = max s_j`, `e_j = canon(exp(s_j - m))`,
/// `z = Σ e_j`, `a = Σ e_j v_j`, `out = canon(canon(a) * recip(z))`.
pub(crate) fn attend<'a>(
    class: ReproClass,
    q: &[f32],
    keys: usize,
    key: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    scale: f32,
    out: &mut [f32],
) {
    let score = |k: &[f32]| {
        let acc = q.iter().zip(k).fold(0.0f32, |acc, (&a, &b)| class.mul_add(a, b, acc));
        canonicalize(canonicalize(acc) * scale)
    };
    let mut m = 0.0f32;
    for j in 0..keys {
        let sj = score(key(j));
        m = if j == 0 || m < sj { sj } else { m };
    }
    let mut z = 0.0f32;
    let mut a = vec![0.0f32; q.len()];
    for j in 0..keys {
        let e = canonicalize(crate::detmath::exp(score(key(j)) - m));
        z += e;
        for (acc, &v) in a.iter_mut().zip(value(j)) {
            *acc = class.mul_add(e, v, *acc);
        }
    }
    let inv = crate::detmath::recip(z);
    for (o, acc) in out.iter_mut().zip(a) {
        *o = canonicalize(canonicalize(acc) * inv);
    }
}

/// The specialization constants of an attention kernel for `class` and `head_dim`, after checking
/// the kernel is built for that width and the device reproduces the class.
pub(crate) fn constants(
    gpu: &Gpu,
    kernel: &'static str,
    class: ReproClass,
    head_dim: usize,
) -> Result<[(u32, SpecializationConstant); 2], EngineError> {
    if head_dim == 0 || head_dim > MAX_HEAD_DIM {
        return Err(EngineError::Shape {
            kernel,
            message: format!("head_dim {head_dim} is outside 1..={MAX_HEAD_DIM}"),
        });
    }
    if !gpu.supports(class) {
        return Err(EngineError::Shape {
            kernel,
            message: format!("{} does not reproduce the {} class", gpu.info().name, class.as_str()),
        });
    }
    Ok([
        (0, SpecializationConstant::Bool(class == ReproClass::Fused)),
        (1, SpecializationConstant::U32(head_dim as u32)),
    ])
}
