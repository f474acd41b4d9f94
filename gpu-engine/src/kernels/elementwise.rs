//! Binary elementwise ops, embedding gather and transpose: the glue between the big kernels.

use std::sync::Arc;

use vulkano::{buffer::Subbuffer, pipeline::ComputePipeline, shader::SpecializationConstant};

use super::{check_len, check_u32, linear_groups, record_library, run_alone};
use crate::{EngineError, Gpu, Recorder, shaders};
// Defined beside its CPU semantics (the reference), which the kernel follows.
pub use crate::reference::BinaryOp;

/// `out = a op b`, or with a row broadcast `out[r, j] = a[r, j] op b[j]`.
#[derive(Debug)]
pub struct Binary {
    pipeline: Arc<ComputePipeline>,
    row_broadcast: bool,
}

impl Binary {
    pub fn new(gpu: &Gpu, op: BinaryOp, row_broadcast: bool) -> Result<Self, EngineError> {
        let constants = [(0, SpecializationConstant::U32(op as u32)), (1, SpecializationConstant::Bool(row_broadcast))];
        Ok(Self { pipeline: gpu.pipeline(shaders::BINARY, &constants)?, row_broadcast })
    }

    /// `n` is the row length; without a broadcast `b` has `a`'s length and `n` only has to divide it.
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        n: usize,
    ) -> Result<(), EngineError> {
        let len = check_u32("binary", "length", a.len() as usize)?;
        let n32 = check_u32("binary", "row length", n)?;
        check_len("binary", "out", out.len(), a.len())?;
        if !a.len().is_multiple_of(n as u64) {
            return Err(EngineError::Shape {
                kernel: "binary",
                message: format!("{} elements are not rows of {n}", a.len()),
            });
        }
        check_len("binary", "b", b.len(), if self.row_broadcast { n as u64 } else { a.len() })?;
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[a.as_bytes(), b.as_bytes(), out.as_bytes()],
            [len, n32],
            linear_groups(len, 256),
        )
    }

    pub fn run(
        &self,
        gpu: &Gpu,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        n: usize,
    ) -> Result<(), EngineError> {
        run_alone(gpu, "binary", |builder| self.record(gpu, builder, a, b, out, n))
    }
}

/// `out[t, :] = table[ids[t], :]`.
#[derive(Debug)]
pub struct Gather {
    pipeline: Arc<ComputePipeline>,
}

impl Gather {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::GATHER, &[])? })
    }

    /// Records the gather of `ids`' rows, ids already on the device: the caller has checked each
    /// against the table's `table.len() / dim` rows (the kernel does not).
    pub(crate) fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        table: &Subbuffer<[f32]>,
        ids: &Subbuffer<[u32]>,
        out: &Subbuffer<[f32]>,
        dim: usize,
    ) -> Result<(), EngineError> {
        let dim32 = check_u32("gather", "dim", dim)?;
        let tokens = check_u32("gather", "tokens", ids.len() as usize)?;
        check_len("gather", "out", out.len(), ids.len() * dim as u64)?;
        let total = check_u32("gather", "output length", ids.len() as usize * dim)?;
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[table.as_bytes(), ids.as_bytes(), out.as_bytes()],
            [tokens, dim32],
            linear_groups(total, 256),
        )
    }

    /// `ids` are checked against the table's `table.len() / dim` rows before anything runs.
    pub fn run(
        &self,
        gpu: &Gpu,
        table: &Subbuffer<[f32]>,
        ids: &[u32],
        out: &Subbuffer<[f32]>,
        dim: usize,
    ) -> Result<(), EngineError> {
        let dim32 = check_u32("gather", "dim", dim)?;
        let tokens = check_u32("gather", "tokens", ids.len())?;
        let vocab = table.len() / dim as u64;
        if let Some((t, id)) = ids.iter().enumerate().find(|(_, id)| u64::from(**id) >= vocab) {
            return Err(EngineError::Shape {
                kernel: "gather",
                message: format!("token {t} has id {id}, but the table has {vocab} rows"),
            });
        }
        check_len("gather", "out", out.len(), ids.len() as u64 * dim as u64)?;
        let ids = gpu.upload(ids)?;
        let total = check_u32("gather", "output length", ids.len() as usize * dim)?;
        run_alone(gpu, "gather", |b| {
            record_library(
                gpu,
                b,
                &self.pipeline,
                &[table.as_bytes(), ids.as_bytes(), out.as_bytes()],
                [tokens, dim32],
                linear_groups(total, 256),
            )
        })
    }
}

/// `out = x^T` for a `rows x cols` matrix.
#[derive(Debug)]
pub struct Transpose {
    pipeline: Arc<ComputePipeline>,
}

impl Transpose {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::TRANSPOSE, &[])? })
    }

    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        rows: usize,
        cols: usize,
    ) -> Result<(), EngineError> {
        let (r, c) = (check_u32("transpose", "rows", rows)?, check_u32("transpose", "cols", cols)?);
        check_len("transpose", "x", x.len(), rows as u64 * cols as u64)?;
        check_len("transpose", "out", out.len(), rows as u64 * cols as u64)?;
        let total = check_u32("transpose", "length", rows * cols)?;
        record_library(gpu, builder, &self.pipeline, &[x.as_bytes(), out.as_bytes()], [r, c], linear_groups(total, 256))
    }

    pub fn run(
        &self,
        gpu: &Gpu,
        x: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        rows: usize,
        cols: usize,
    ) -> Result<(), EngineError> {
        run_alone(gpu, "transpose", |b| self.record(gpu, b, x, out, rows, cols))
    }
}
