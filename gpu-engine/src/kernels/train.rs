//! The optimizer step (`shaders/sgd_momentum.comp`): SGD with momentum, in place.

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    pipeline::ComputePipeline,
};

use super::{check_len, check_u32, linear_groups, record_library, run_alone};
use crate::{EngineError, Gpu, Recorder, numeric::canonicalize, shaders};

const KERNEL: &str = "sgd_momentum";

/// `v = mu * v + g; w = w - lr * v`, elementwise, unfused on every device.
#[derive(Debug)]
pub struct SgdMomentum {
    pipeline: Arc<ComputePipeline>,
}

/// The optimizer's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdParams {
    pub learning_rate: f32,
    pub momentum: f32,
}

impl SgdMomentum {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::SGD_MOMENTUM, &[])? })
    }

    /// Updates `weights` and `velocity` in place from `grad`.
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        weights: &Subbuffer<[f32]>,
        velocity: &Subbuffer<[f32]>,
        grad: &Subbuffer<[f32]>,
        params: SgdParams,
    ) -> Result<(), EngineError> {
        let len = check_u32(KERNEL, "length", weights.len() as usize)?;
        check_len(KERNEL, "velocity", velocity.len(), weights.len())?;
        check_len(KERNEL, "grad", grad.len(), weights.len())?;
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            len: u32,
            lr: f32,
            mu: f32,
        }
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[weights.as_bytes(), velocity.as_bytes(), grad.as_bytes()],
            Push { len, lr: params.learning_rate, mu: params.momentum },
            linear_groups(len, 256),
        )
    }

    pub fn run(
        &self,
        gpu: &Gpu,
        weights: &Subbuffer<[f32]>,
        velocity: &Subbuffer<[f32]>,
        grad: &Subbuffer<[f32]>,
        params: SgdParams,
    ) -> Result<(), EngineError> {
        run_alone(gpu, KERNEL, |b| self.record(gpu, b, weights, velocity, grad, params))
    }
}

/// The CPU twin of [`SgdMomentum`].
pub fn reference(weights: &mut [f32], velocity: &mut [f32], grad: &[f32], params: SgdParams) {
    for ((w, v), g) in weights.iter_mut().zip(velocity.iter_mut()).zip(grad) {
        *v = canonicalize(params.momentum * *v + g);
        *w = canonicalize(*w - params.learning_rate * *v);
    }
}

/// AdamW's step (`shaders/adamw.comp`): decoupled weight decay, then Adam's update, in place.
#[derive(Debug)]
pub struct AdamW {
    pipeline: Arc<ComputePipeline>,
}

/// One AdamW step's scalars for every parameter of a group, computed once on the host (f64, then
/// rounded to f32) from the hyper-parameters and the step's number; [`AdamWStep::new`].
#[derive(Debug, Clone, Copy, PartialEq, BufferContents)]
#[repr(C)]
pub struct AdamWStep {
    len: u32,
    /// `1 - lr * weight_decay`.
    pub decay: f32,
    pub b1: f32,
    /// `1 - b1`.
    pub c1: f32,
    pub b2: f32,
    /// `1 - b2`.
    pub c2: f32,
    /// `1 / sqrt(1 - b2^t)`.
    pub inv_bc2: f32,
    /// `eps * 2^24`: the moments are of the gradient times 2^24.
    pub eps_s: f32,
    /// `lr / (1 - b1^t)`.
    pub step: f32,
}

/// The exact scale of the gradients AdamW's moments hold (`shaders/adamw.comp`).
pub const ADAMW_GRAD_SCALE: f32 = 16_777_216.0;

impl AdamWStep {
    /// The scalars of step `t` (1 for the first) at learning rate `lr` (the schedule's, this step).
    pub fn new(lr: f64, weight_decay: f64, betas: (f64, f64), eps: f64, t: u32) -> Self {
        let (b1, b2) = betas;
        // b^t by squaring, in this fixed order: the same bits on every machine (powi's order is
        // the compiler's), in log t multiplications.
        let pow = |b: f64| {
            let (mut acc, mut base, mut e) = (1.0f64, b, t);
            while e > 0 {
                if e & 1 == 1 {
                    acc *= base;
                }
                base *= base;
                e >>= 1;
            }
            acc
        };
        let (bc1, bc2) = (1.0 - pow(b1), 1.0 - pow(b2));
        Self {
            len: 0,
            decay: (1.0 - lr * weight_decay) as f32,
            b1: b1 as f32,
            c1: (1.0 - b1) as f32,
            b2: b2 as f32,
            c2: (1.0 - b2) as f32,
            inv_bc2: (1.0 / bc2.sqrt()) as f32,
            eps_s: (eps * f64::from(ADAMW_GRAD_SCALE)) as f32,
            step: (lr / bc1) as f32,
        }
    }
}

impl AdamW {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::ADAMW, &[])? })
    }

    /// Updates `weights` and the moments `m`, `v` in place from `grad`.
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        weights: &Subbuffer<[f32]>,
        moments: (&Subbuffer<[f32]>, &Subbuffer<[f32]>),
        grad: &Subbuffer<[f32]>,
        step: AdamWStep,
    ) -> Result<(), EngineError> {
        const KERNEL: &str = "adamw";
        let len = check_u32(KERNEL, "length", weights.len() as usize)?;
        check_len(KERNEL, "m", moments.0.len(), weights.len())?;
        check_len(KERNEL, "v", moments.1.len(), weights.len())?;
        check_len(KERNEL, "grad", grad.len(), weights.len())?;
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[weights.as_bytes(), moments.0.as_bytes(), moments.1.as_bytes(), grad.as_bytes()],
            AdamWStep { len, ..step },
            linear_groups(len, 256),
        )
    }
}

/// The CPU twin of [`AdamW`], op for op.
pub fn adamw(weights: &mut [f32], m: &mut [f32], v: &mut [f32], grad: &[f32], p: AdamWStep) {
    use crate::detmath::{recip, rsqrt};
    for i in 0..weights.len() {
        let w = canonicalize(weights[i] * p.decay);
        let gs = canonicalize(grad[i] * ADAMW_GRAD_SCALE);
        let mi = canonicalize(canonicalize(p.b1 * m[i]) + canonicalize(p.c1 * gs));
        let vi = canonicalize(canonicalize(p.b2 * v[i]) + canonicalize(p.c2 * canonicalize(gs * gs)));
        m[i] = mi;
        v[i] = vi;
        if vi.to_bits() & 0x7fff_ffff >= 0x7f80_0000 {
            weights[i] = w;
            continue;
        }
        let root = if vi > 0.0 { canonicalize(vi * rsqrt(vi)) } else { 0.0 };
        let den = canonicalize(root * p.inv_bc2) + p.eps_s;
        let upd = canonicalize(p.step * mi) * recip(canonicalize(den));
        weights[i] = canonicalize(w - canonicalize(upd));
    }
}
