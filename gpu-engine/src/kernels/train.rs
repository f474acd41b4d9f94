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
