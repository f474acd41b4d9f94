//! Self-attention's backward pass (`shaders/attention_backward.comp`) and its CPU twin, op for
//! op: the gradient of the packed `[q | k | v]` rows, for training an encoder. Unfused on every
//! device (the class only changes the GEMMs around it).

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    pipeline::ComputePipeline,
    shader::SpecializationConstant,
};

use super::AttentionShape;
use crate::{
    EngineError, Gpu, Recorder,
    detmath::{exp, recip},
    kernels::{check_len, check_u32, linear_groups, record_library},
    numeric::canonicalize as canon,
    shaders,
};

/// Self-attention's backward pass: the gradient of the packed `[q | k | v]` rows from theirs and
/// the context's gradient, through two scratch buffers of `batch * heads * seq * seq` values.
#[derive(Debug)]
pub struct AttentionBackward {
    scores: Arc<ComputePipeline>,
    grads: Arc<ComputePipeline>,
    head_dim: usize,
}

impl AttentionBackward {
    /// The pipelines for heads `head_dim` wide.
    pub fn new(gpu: &Gpu, head_dim: usize) -> Result<Self, EngineError> {
        if head_dim == 0 || head_dim > super::MAX_HEAD_DIM {
            return Err(EngineError::Shape {
                kernel: "attention_backward",
                message: format!("head_dim {head_dim} is outside 1..={}", super::MAX_HEAD_DIM),
            });
        }
        let pass = |p: u32| {
            let constants = [(0, SpecializationConstant::U32(p)), (1, SpecializationConstant::U32(head_dim as u32))];
            gpu.pipeline(shaders::ATTENTION_BACKWARD, &constants)
        };
        Ok(Self { scores: pass(0)?, grads: pass(1)?, head_dim })
    }

    /// The scratch each of `p` and `ds` needs for shape `s`.
    pub fn scratch_len(s: AttentionShape) -> u64 {
        (s.batch * s.heads) as u64 * (s.seq * s.seq) as u64
    }

    /// `lens` (each sequence's length) are checked against `s.seq` and uploaded here.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        qkv: &Subbuffer<[f32]>,
        lens: &[u32],
        dctx: &Subbuffer<[f32]>,
        scratch: (&Subbuffer<[f32]>, &Subbuffer<[f32]>),
        dqkv: &Subbuffer<[f32]>,
        s: AttentionShape,
        scale: f32,
    ) -> Result<(), EngineError> {
        const KERNEL: &str = "attention_backward";
        if s.head_dim != self.head_dim {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!("built for head_dim {}, called with {}", self.head_dim, s.head_dim),
            });
        }
        let batch = check_u32(KERNEL, "batch", s.batch)?;
        let seq = check_u32(KERNEL, "seq", s.seq)?;
        let heads = check_u32(KERNEL, "heads", s.heads)?;
        let dim = check_u32(KERNEL, "head_dim", s.head_dim)?;
        let rows = check_u32(KERNEL, "batch * heads * seq", s.batch * s.heads * s.seq)?;
        check_u32(KERNEL, "the scratch", Self::scratch_len(s) as usize)?;
        check_len(KERNEL, "qkv", qkv.len(), (s.rows() * 3 * s.width()) as u64)?;
        check_len(KERNEL, "dqkv", dqkv.len(), (s.rows() * 3 * s.width()) as u64)?;
        check_len(KERNEL, "dctx", dctx.len(), (s.rows() * s.width()) as u64)?;
        check_len(KERNEL, "lens", lens.len() as u64, s.batch as u64)?;
        crate::attention::check_lens(lens, s.seq)?;
        let lens = gpu.upload(lens)?;
        check_len(KERNEL, "p", scratch.0.len(), Self::scratch_len(s))?;
        check_len(KERNEL, "ds", scratch.1.len(), Self::scratch_len(s))?;
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            batch: u32,
            seq: u32,
            heads: u32,
            dim: u32,
            scale: f32,
        }
        let push = Push { batch, seq, heads, dim, scale };
        let buffers = [
            qkv.as_bytes(),
            lens.as_bytes(),
            dctx.as_bytes(),
            scratch.0.as_bytes(),
            scratch.1.as_bytes(),
            dqkv.as_bytes(),
        ];
        record_library(gpu, builder, &self.scores, &buffers, push, linear_groups(rows, 64))?;
        record_library(gpu, builder, &self.grads, &buffers, push, linear_groups(rows, 64))
    }
}

/// The CPU twin of [`AttentionBackward`]: the gradient of `qkv`.
pub fn attention_backward(qkv: &[f32], lens: &[u32], dctx: &[f32], s: AttentionShape, scale: f32) -> Vec<f32> {
    let (w, d) = (s.width(), s.head_dim);
    let stride = 3 * w;
    let mut dqkv = vec![0.0f32; s.rows() * stride];
    let (mut p, mut ds) = (vec![0.0f32; s.seq * s.seq], vec![0.0f32; s.seq * s.seq]);
    assert!(lens.len() == s.batch && lens.iter().all(|&l| l as usize <= s.seq), "lens must be checked against seq");
    for (b, &len) in lens.iter().enumerate() {
        let (len, first) = (len as usize, b * s.seq);
        let at = |r: usize, part: usize, h: usize| (first + r) * stride + part * w + h * d;
        for h in 0..s.heads {
            for i in 0..len {
                let (q, pr, dsr) = (at(i, 0, h), &mut p[i * s.seq..][..len], &mut ds[i * s.seq..][..len]);
                let mut m = 0.0f32;
                for (j, pj) in pr.iter_mut().enumerate() {
                    let k = at(j, 1, h);
                    let acc = (0..d).fold(0.0f32, |acc, e| acc + qkv[q + e] * qkv[k + e]);
                    let sj = canon(canon(acc) * scale);
                    *pj = sj;
                    if j == 0 || sj > m {
                        m = sj;
                    }
                }
                let mut z = 0.0f32;
                for pj in pr.iter_mut() {
                    *pj = canon(exp(*pj - m));
                    z += *pj;
                }
                let rz = recip(canon(z));
                let row = (first + i) * w + h * d;
                let mut t = 0.0f32;
                for (j, (pj, dsj)) in pr.iter_mut().zip(dsr.iter_mut()).enumerate() {
                    *pj = canon(*pj * rz);
                    let v = at(j, 2, h);
                    let acc = (0..d).fold(0.0f32, |acc, e| acc + dctx[row + e] * qkv[v + e]);
                    *dsj = canon(acc);
                    t += canon(*pj * *dsj);
                }
                let t = canon(t);
                for (pj, dsj) in pr.iter().zip(dsr.iter_mut()) {
                    *dsj = canon(canon(*pj * (*dsj - t)) * scale);
                }
            }
            for r in 0..len {
                for e in 0..d {
                    let dq = (0..len).fold(0.0f32, |acc, j| acc + ds[r * s.seq + j] * qkv[at(j, 1, h) + e]);
                    let (mut dk, mut dv) = (0.0f32, 0.0f32);
                    for i in 0..len {
                        dk += ds[i * s.seq + r] * qkv[at(i, 0, h) + e];
                        dv += p[i * s.seq + r] * dctx[(first + i) * w + h * d + e];
                    }
                    dqkv[at(r, 0, h) + e] = canon(dq);
                    dqkv[at(r, 1, h) + e] = canon(dk);
                    dqkv[at(r, 2, h) + e] = canon(dv);
                }
            }
        }
    }
    dqkv
}
