//! Multi-head self-attention composed from the library's kernels, for one sequence:
//!   per head h:  S = (Q_h * scale) K_h^T + mask;  P = softmax_rows(S);  O_h = P V_h
//! Q, K, V and O are `[tokens, heads * head_dim]`; `mask` is added to every row of S (0 for a
//! real token, a large negative number for padding). Every step is a deterministic kernel, so the
//! result is the same bits on every device; [`reference`] is the CPU twin.

use std::sync::Arc;

use vulkano::{buffer::Subbuffer, pipeline::ComputePipeline, shader::SpecializationConstant};

use crate::{
    EngineError, Gpu, ReproClass,
    kernels::{
        Gemm, check_len, check_u32, dispatch,
        elementwise::{Binary, BinaryOp, Transpose},
        gemm::GemmShape,
        linear_groups,
        rows::SoftmaxRows,
    },
    reference as cpu, shaders,
};

/// The shape of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl AttentionShape {
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// The pipelines attention needs, built once per device.
#[derive(Debug)]
pub struct Attention {
    gemm: Gemm,
    transpose: Transpose,
    scale: Binary,
    add_mask: Binary,
    softmax: SoftmaxRows,
    extract: Arc<ComputePipeline>,
    insert: Arc<ComputePipeline>,
}

impl Attention {
    pub fn new(gpu: &Gpu, class: ReproClass) -> Result<Self, EngineError> {
        Ok(Self {
            gemm: Gemm::new(gpu, class)?,
            transpose: Transpose::new(gpu)?,
            scale: Binary::new(gpu, BinaryOp::Mul, true)?,
            add_mask: Binary::new(gpu, BinaryOp::Add, true)?,
            softmax: SoftmaxRows::new(gpu)?,
            extract: gpu.pipeline(shaders::HEAD, &[(0, SpecializationConstant::Bool(false))])?,
            insert: gpu.pipeline(shaders::HEAD, &[(0, SpecializationConstant::Bool(true))])?,
        })
    }

    fn head(
        &self,
        gpu: &Gpu,
        insert: bool,
        x: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        s: AttentionShape,
        h: usize,
    ) -> Result<(), EngineError> {
        let push = [s.tokens as u32, s.heads as u32, s.head_dim as u32, h as u32];
        let n = (s.tokens * s.head_dim) as u32;
        let pipeline = if insert { &self.insert } else { &self.extract };
        dispatch(gpu, "attention head", pipeline, &[x.as_bytes(), out.as_bytes()], push, linear_groups(n, 256))
    }

    /// `out = attention(q, k, v, mask)`; `scale` is usually `1 / sqrt(head_dim)`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        gpu: &Gpu,
        q: &Subbuffer<[f32]>,
        k: &Subbuffer<[f32]>,
        v: &Subbuffer<[f32]>,
        mask: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        s: AttentionShape,
        scale: f32,
    ) -> Result<(), EngineError> {
        let (t, d) = (
            check_u32("attention", "tokens", s.tokens)? as usize,
            check_u32("attention", "head_dim", s.head_dim)? as usize,
        );
        check_u32("attention", "heads", s.heads)?;
        let wide = (t * s.width()) as u64;
        for (name, b) in [("q", q), ("k", k), ("v", v), ("out", out)] {
            check_len("attention", name, b.len(), wide)?;
        }
        check_len("attention", "mask", mask.len(), t as u64)?;
        let scale_row = gpu.upload(&vec![scale; d])?;
        let (qh, kh, vh, qs) = (
            gpu.output::<f32>((t * d) as u64)?,
            gpu.output::<f32>((t * d) as u64)?,
            gpu.output::<f32>((t * d) as u64)?,
            gpu.output::<f32>((t * d) as u64)?,
        );
        let kt = gpu.output::<f32>((d * t) as u64)?;
        let (scores, masked, probs) = (
            gpu.output::<f32>((t * t) as u64)?,
            gpu.output::<f32>((t * t) as u64)?,
            gpu.output::<f32>((t * t) as u64)?,
        );
        let oh = gpu.output::<f32>((t * d) as u64)?;
        for h in 0..s.heads {
            self.head(gpu, false, q, &qh, s, h)?;
            self.head(gpu, false, k, &kh, s, h)?;
            self.head(gpu, false, v, &vh, s, h)?;
            self.scale.run(gpu, &qh, &scale_row, &qs, d)?;
            self.transpose.run(gpu, &kh, &kt, t, d)?;
            self.gemm.run(gpu, &qs, &kt, &scores, GemmShape { m: t, n: t, k: d })?;
            self.add_mask.run(gpu, &scores, mask, &masked, t)?;
            self.softmax.run(gpu, &masked, &probs, t, t)?;
            self.gemm.run(gpu, &probs, &vh, &oh, GemmShape { m: t, n: d, k: t })?;
            self.head(gpu, true, &oh, out, s, h)?;
        }
        Ok(())
    }
}

/// The CPU twin of [`Attention::run`].
pub fn reference(
    class: ReproClass,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    s: AttentionShape,
    scale: f32,
) -> Vec<f32> {
    let (t, d, w) = (s.tokens, s.head_dim, s.width());
    let column = |x: &[f32], h: usize| -> Vec<f32> {
        (0..t).flat_map(|i| x[i * w + h * d..i * w + (h + 1) * d].to_vec()).collect()
    };
    let mut out = vec![0.0f32; t * w];
    for h in 0..s.heads {
        let (qh, kh, vh) = (column(q, h), column(k, h), column(v, h));
        let qs = cpu::binary(BinaryOp::Mul, &qh, &vec![scale; d], d, true);
        let kt = cpu::transpose(&kh, t, d);
        let scores = cpu::gemm(class, &qs, &kt, t, t, d);
        let masked = cpu::binary(BinaryOp::Add, &scores, mask, t, true);
        let probs = cpu::softmax_rows(&masked, t, t);
        let oh = cpu::gemm(class, &probs, &vh, t, d, t);
        for i in 0..t {
            out[i * w + h * d..i * w + (h + 1) * d].copy_from_slice(&oh[i * d..(i + 1) * d]);
        }
    }
    out
}
