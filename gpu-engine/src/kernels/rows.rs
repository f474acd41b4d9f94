//! Elementwise functions and row-wise kernels built on `shaders/detmath.glsl`: unary functions,
//! row softmax, row layer norm. One invocation per row; every sum runs in increasing column order.

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    pipeline::ComputePipeline,
    shader::SpecializationConstant,
};

use super::{check_len, check_u32, dispatch, linear_groups};
use crate::{EngineError, Gpu, reference::UnaryOp, shaders};

/// `y = f(x)` elementwise.
#[derive(Debug)]
pub struct Unary {
    pipeline: Arc<ComputePipeline>,
}

impl Unary {
    pub fn new(gpu: &Gpu, op: UnaryOp) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::UNARY, &[(0, SpecializationConstant::U32(op as u32))])? })
    }

    pub fn run(&self, gpu: &Gpu, x: &Subbuffer<[f32]>, y: &Subbuffer<[f32]>) -> Result<(), EngineError> {
        check_len("unary", "y", y.len(), x.len())?;
        let n = check_u32("unary", "length", x.len() as usize)?;
        dispatch(gpu, "unary", &self.pipeline, &[x.as_bytes(), y.as_bytes()], n, linear_groups(n, 256))
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

    pub fn run(
        &self,
        gpu: &Gpu,
        x: &Subbuffer<[f32]>,
        y: &Subbuffer<[f32]>,
        rows: usize,
        n: usize,
    ) -> Result<(), EngineError> {
        let (r, c) = (check_u32("softmax", "rows", rows)?, check_u32("softmax", "n", n)?);
        check_len("softmax", "x", x.len(), (rows * n) as u64)?;
        check_len("softmax", "y", y.len(), (rows * n) as u64)?;
        dispatch(gpu, "softmax", &self.pipeline, &[x.as_bytes(), y.as_bytes()], [r, c], [r.div_ceil(64), 1, 1])
    }
}

/// Layer norm over each row, with per-column scale and bias.
#[derive(Debug)]
pub struct LayerNormRows {
    pipeline: Arc<ComputePipeline>,
}

#[derive(Debug, Clone, Copy)]
pub struct RowsShape {
    pub rows: usize,
    pub n: usize,
}

impl LayerNormRows {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::LAYERNORM_ROWS, &[])? })
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
        let (r, c) = (check_u32("layernorm", "rows", shape.rows)?, check_u32("layernorm", "n", shape.n)?);
        check_len("layernorm", "x", x.len(), (shape.rows * shape.n) as u64)?;
        check_len("layernorm", "gamma", gamma.len(), shape.n as u64)?;
        check_len("layernorm", "beta", beta.len(), shape.n as u64)?;
        check_len("layernorm", "y", y.len(), (shape.rows * shape.n) as u64)?;
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            rows: u32,
            n: u32,
            eps: f32,
        }
        dispatch(
            gpu,
            "layernorm",
            &self.pipeline,
            &[x.as_bytes(), gamma.as_bytes(), beta.as_bytes(), y.as_bytes()],
            Push { rows: r, n: c, eps },
            [r.div_ceil(64), 1, 1],
        )
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

    pub fn run(
        &self,
        gpu: &Gpu,
        x: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        shape: RowsShape,
    ) -> Result<(), EngineError> {
        let (r, c) = (check_u32("sum_rows", "rows", shape.rows)?, check_u32("sum_rows", "n", shape.n)?);
        check_len("sum_rows", "x", x.len(), (shape.rows * shape.n) as u64)?;
        check_len("sum_rows", "out", out.len(), shape.rows as u64)?;
        let groups = if r <= 65_535 { [r, 1, 1] } else { [65_535, r.div_ceil(65_535), 1] };
        dispatch(gpu, "sum_rows", &self.pipeline, &[x.as_bytes(), out.as_bytes()], [r, c], groups)
    }
}
