//! Elementwise functions and row-wise kernels built on `shaders/detmath.glsl`: unary functions,
//! row softmax, row layer norm, row sums. One invocation per row; every sum runs in increasing
//! column order except [`SumRows`], whose tree is fixed by the row length.

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    pipeline::ComputePipeline,
    shader::SpecializationConstant,
};

use super::{check_len, check_u32, linear_groups, record_library, run_alone};
use crate::{EngineError, Gpu, Recorder, reference::UnaryOp, shaders};

/// `y = f(x)` elementwise.
#[derive(Debug)]
pub struct Unary {
    pipeline: Arc<ComputePipeline>,
}

impl Unary {
    pub fn new(gpu: &Gpu, op: UnaryOp) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::UNARY, &[(0, SpecializationConstant::U32(op as u32))])? })
    }

    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        y: &Subbuffer<[f32]>,
    ) -> Result<(), EngineError> {
        check_len("unary", "y", y.len(), x.len())?;
        let n = check_u32("unary", "length", x.len() as usize)?;
        record_library(gpu, builder, &self.pipeline, &[x.as_bytes(), y.as_bytes()], n, linear_groups(n, 256))
    }

    pub fn run(&self, gpu: &Gpu, x: &Subbuffer<[f32]>, y: &Subbuffer<[f32]>) -> Result<(), EngineError> {
        run_alone(gpu, "unary", |b| self.record(gpu, b, x, y))
    }
}

/// The shape of a row-wise kernel's input: `rows` rows of `n` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsShape {
    pub rows: usize,
    pub n: usize,
}

impl RowsShape {
    pub(crate) fn checked(self, kernel: &'static str) -> Result<[u32; 2], EngineError> {
        Ok([check_u32(kernel, "rows", self.rows)?, check_u32(kernel, "n", self.n)?])
    }

    pub(crate) fn len(self) -> u64 {
        self.rows as u64 * self.n as u64
    }
}

/// Softmax over each row of a `rows x n` matrix.
#[derive(Debug)]
pub struct SoftmaxRows {
    pipeline: Arc<ComputePipeline>,
}

impl SoftmaxRows {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::SOFTMAX_ROWS, &[])? })
    }

    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        y: &Subbuffer<[f32]>,
        shape: RowsShape,
    ) -> Result<(), EngineError> {
        let [r, c] = shape.checked("softmax")?;
        check_len("softmax", "x", x.len(), shape.len())?;
        check_len("softmax", "y", y.len(), shape.len())?;
        record_library(gpu, builder, &self.pipeline, &[x.as_bytes(), y.as_bytes()], [r, c], [r.div_ceil(64), 1, 1])
    }

    pub fn run(
        &self,
        gpu: &Gpu,
        x: &Subbuffer<[f32]>,
        y: &Subbuffer<[f32]>,
        rows: usize,
        n: usize,
    ) -> Result<(), EngineError> {
        run_alone(gpu, "softmax", |b| self.record(gpu, b, x, y, RowsShape { rows, n }))
    }
}

/// Layer norm over each row, with per-column scale and bias; or RMS norm (no centring, no bias).
#[derive(Debug)]
pub struct LayerNormRows {
    pipeline: Arc<ComputePipeline>,
    rms: bool,
}

impl LayerNormRows {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::LAYERNORM_ROWS, &[])?, rms: false })
    }

    /// RMS norm (Llama's): `y = x * rsqrt(mean(x^2) + eps) * gamma`; `beta` is not read (pass any
    /// buffer of `n` values, e.g. `gamma`).
    pub fn rms(gpu: &Gpu) -> Result<Self, EngineError> {
        let constants = [(0, vulkano::shader::SpecializationConstant::Bool(true))];
        Ok(Self { pipeline: gpu.pipeline(shaders::LAYERNORM_ROWS, &constants)?, rms: true })
    }

    pub fn is_rms(&self) -> bool {
        self.rms
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        gamma: &Subbuffer<[f32]>,
        beta: &Subbuffer<[f32]>,
        y: &Subbuffer<[f32]>,
        shape: RowsShape,
        eps: f32,
    ) -> Result<(), EngineError> {
        let [r, c] = shape.checked("layernorm")?;
        check_len("layernorm", "x", x.len(), shape.len())?;
        check_len("layernorm", "gamma", gamma.len(), shape.n as u64)?;
        check_len("layernorm", "beta", beta.len(), shape.n as u64)?;
        check_len("layernorm", "y", y.len(), shape.len())?;
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            rows: u32,
            n: u32,
            eps: f32,
        }
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[x.as_bytes(), gamma.as_bytes(), beta.as_bytes(), y.as_bytes()],
            Push { rows: r, n: c, eps },
            [r.div_ceil(64), 1, 1],
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        gpu: &Gpu,
        x: &Subbuffer<[f32]>,
        gamma: &Subbuffer<[f32]>,
        beta: &Subbuffer<[f32]>,
        y: &Subbuffer<[f32]>,
        shape: RowsShape,
        eps: f32,
    ) -> Result<(), EngineError> {
        run_alone(gpu, "layernorm", |b| self.record(gpu, b, x, gamma, beta, y, shape, eps))
    }
}

/// Sums each row of a `rows x n` matrix with a fixed tree (see `shaders/reduce_rows.comp`).
#[derive(Debug)]
pub struct SumRows {
    pipeline: Arc<ComputePipeline>,
}

impl SumRows {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::REDUCE_ROWS, &[])? })
    }

    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        shape: RowsShape,
    ) -> Result<(), EngineError> {
        let [r, c] = shape.checked("sum_rows")?;
        check_len("sum_rows", "x", x.len(), shape.len())?;
        check_len("sum_rows", "out", out.len(), shape.rows as u64)?;
        let groups = if r <= 65_535 { [r, 1, 1] } else { [65_535, r.div_ceil(65_535), 1] };
        record_library(gpu, builder, &self.pipeline, &[x.as_bytes(), out.as_bytes()], [r, c], groups)
    }

    pub fn run(
        &self,
        gpu: &Gpu,
        x: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        shape: RowsShape,
    ) -> Result<(), EngineError> {
        run_alone(gpu, "sum_rows", |b| self.record(gpu, b, x, out, shape))
    }
}
