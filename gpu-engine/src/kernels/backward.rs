//! Backward passes for training an encoder: the layer norm's (`shaders/layernorm_backward.comp`)
//! and an embedding table's row sums (`shaders/scatter_rows.comp`), each with its CPU twin, op for
//! op. Self-attention's is [`crate::attention::backward`]; GELU's is a
//! [`super::elementwise::Binary`] op ([`crate::reference::BinaryOp::GeluGrad`]); the linear
//! layers' are GEMMs of transposes.
//! Every kernel here is unfused on every device: the class only changes the GEMMs.

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    pipeline::ComputePipeline,
};

use super::{check_len, check_u32, linear_groups, record_library};
use crate::{
    EngineError, Gpu, Recorder,
    detmath::{recip, rsqrt},
    numeric::canonicalize as canon,
    shaders,
};

use super::rows::RowsShape;

/// The layer norm's backward pass: `dx` and `x^ * dy` (whose column sums are the gain's gradient)
/// from the norm's input `x`, its gain and the output's gradient `dy`.
#[derive(Debug)]
pub struct LayerNormBackward {
    pipeline: Arc<ComputePipeline>,
}

impl LayerNormBackward {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::LAYERNORM_BACKWARD, &[])? })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        gamma: &Subbuffer<[f32]>,
        dy: &Subbuffer<[f32]>,
        dx: &Subbuffer<[f32]>,
        xhat_dy: &Subbuffer<[f32]>,
        shape: RowsShape,
        eps: f32,
    ) -> Result<(), EngineError> {
        const KERNEL: &str = "layernorm_backward";
        let [r, c] = shape.checked(KERNEL)?;
        for (what, buf) in [("x", x), ("dy", dy), ("dx", dx), ("xhat_dy", xhat_dy)] {
            check_len(KERNEL, what, buf.len(), shape.len())?;
        }
        check_len(KERNEL, "gamma", gamma.len(), shape.n as u64)?;
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            rows: u32,
            n: u32,
            eps: f32,
        }
        let buffers = [x.as_bytes(), gamma.as_bytes(), dy.as_bytes(), dx.as_bytes(), xhat_dy.as_bytes()];
        record_library(gpu, builder, &self.pipeline, &buffers, Push { rows: r, n: c, eps }, [r.div_ceil(64), 1, 1])
    }
}

/// The CPU twin of [`LayerNormBackward`]: `(dx, x^ * dy)`.
pub fn layernorm_backward(
    x: &[f32],
    gamma: &[f32],
    dy: &[f32],
    rows: usize,
    n: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), rows * n);
    let inv_n = recip(n as f32);
    let (mut dx, mut xdy) = (vec![0.0f32; rows * n], vec![0.0f32; rows * n]);
    for r in 0..rows {
        let (xs, dys) = (&x[r * n..(r + 1) * n], &dy[r * n..(r + 1) * n]);
        let mean = canon(xs.iter().fold(0.0f32, |s, &v| s + v) * inv_n);
        let sq = xs.iter().fold(0.0f32, |s, &v| {
            let d = v - mean;
            s + d * d
        });
        let inv = rsqrt(canon(sq * inv_n) + eps);
        let xhat = |j: usize| canon((xs[j] - mean) * inv);
        let (mut sum_gy, mut sum_gyx) = (0.0f32, 0.0f32);
        for j in 0..n {
            let gy = canon(dys[j] * gamma[j]);
            sum_gy += gy;
            sum_gyx += canon(gy * xhat(j));
        }
        let (a, c) = (canon(sum_gy * inv_n), canon(sum_gyx * inv_n));
        for j in 0..n {
            let xh = xhat(j);
            let inner = canon(dys[j] * gamma[j]) - a - canon(xh * c);
            dx[r * n + j] = canon(inv * inner);
            xdy[r * n + j] = canon(xh * dys[j]);
        }
    }
    (dx, xdy)
}

/// Row sums gathered by index lists: `out[dest[t]] = sum of x[src[e]]` for each target's list, in
/// list order (an embedding table's gradient: each token id's rows). Rows of `out` that no target
/// names keep their values.
#[derive(Debug)]
pub struct ScatterRows {
    pipeline: Arc<ComputePipeline>,
}

/// The lists of rows summed into each target row, in the kernel's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLists {
    /// Where each target's list starts in `src`, and the end: one more than the targets.
    pub start: Vec<u32>,
    pub src: Vec<u32>,
    /// The target rows, each once.
    pub dest: Vec<u32>,
}

impl RowLists {
    /// The rows of each distinct value of `keys` (row `r` has key `keys[r]`), targets in increasing
    /// key order and each list in increasing row order; rows whose key is `None` are left out.
    pub fn group(keys: impl IntoIterator<Item = Option<u32>>) -> Self {
        let mut by_key = std::collections::BTreeMap::<u32, Vec<u32>>::new();
        for (r, key) in keys.into_iter().enumerate() {
            if let Some(key) = key {
                by_key.entry(key).or_default().push(r as u32);
            }
        }
        let mut lists = RowLists { start: vec![0], src: Vec::new(), dest: Vec::new() };
        for (key, rows) in by_key {
            lists.src.extend(rows);
            lists.start.push(lists.src.len() as u32);
            lists.dest.push(key);
        }
        lists
    }
}

impl ScatterRows {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::SCATTER_ROWS, &[])? })
    }

    /// Sums the listed rows of `x` (`[rows, n]`) into `out` (`[out_rows, n]`); the lists are
    /// checked and uploaded here.
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        x: &Subbuffer<[f32]>,
        lists: &RowLists,
        out: &Subbuffer<[f32]>,
        n: usize,
    ) -> Result<(), EngineError> {
        const KERNEL: &str = "scatter_rows";
        let bad = |message: String| Err(EngineError::Shape { kernel: KERNEL, message });
        let n32 = check_u32(KERNEL, "n", n)?;
        if !x.len().is_multiple_of(n as u64) || !out.len().is_multiple_of(n as u64) {
            return bad(format!("x ({}) and out ({}) must be rows of {n}", x.len(), out.len()));
        }
        let (rows, out_rows) = (x.len() / n as u64, out.len() / n as u64);
        let targets = lists.dest.len();
        if lists.start.len() != targets + 1
            || lists.start.first() != Some(&0)
            || lists.start.last().map(|&e| e as usize) != Some(lists.src.len())
            || lists.start.windows(2).any(|w| w[0] > w[1])
        {
            return bad(format!("the lists' starts do not cover {} rows for {targets} targets", lists.src.len()));
        }
        if let Some(r) = lists.src.iter().find(|&&r| u64::from(r) >= rows) {
            return bad(format!("row {r} is outside x's {rows} rows"));
        }
        if let Some(d) = lists.dest.iter().find(|&&d| u64::from(d) >= out_rows) {
            return bad(format!("target row {d} is outside out's {out_rows} rows"));
        }
        if lists.dest.windows(2).any(|w| w[0] >= w[1]) {
            return bad("the target rows must be strictly increasing (each written once)".to_owned());
        }
        let (rows32, out_rows32) =
            (check_u32(KERNEL, "x's rows", rows as usize)?, check_u32(KERNEL, "out's rows", out_rows as usize)?);
        if targets == 0 {
            return Ok(());
        }
        let cells = check_u32(KERNEL, "targets * n", targets * n)?;
        let (start, src, dest) = (gpu.upload(&lists.start)?, gpu.upload(&lists.src)?, gpu.upload(&lists.dest)?);
        #[derive(BufferContents, Clone, Copy)]
        #[repr(C)]
        struct Push {
            targets: u32,
            n: u32,
            rows: u32,
            out_rows: u32,
        }
        let push = Push { targets: targets as u32, n: n32, rows: rows32, out_rows: out_rows32 };
        let buffers = [x.as_bytes(), start.as_bytes(), src.as_bytes(), dest.as_bytes(), out.as_bytes()];
        record_library(gpu, builder, &self.pipeline, &buffers, push, linear_groups(cells, 256))
    }
}

/// The CPU twin of [`ScatterRows`], into `out`.
pub fn scatter_rows(x: &[f32], lists: &RowLists, out: &mut [f32], n: usize) {
    for (t, &dest) in lists.dest.iter().enumerate() {
        let rows = &lists.src[lists.start[t] as usize..lists.start[t + 1] as usize];
        for j in 0..n {
            let acc = rows.iter().fold(0.0f32, |acc, &r| acc + x[r as usize * n + j]);
            out[dest as usize * n + j] = canon(acc);
        }
    }
}

/// Zeroes `buf` on the device, in `builder`'s order.
pub fn record_zero(builder: &mut Recorder, buf: &Subbuffer<[f32]>) -> Result<(), EngineError> {
    builder
        .fill_buffer(buf.clone().reinterpret::<[u32]>(), 0)
        .map_err(|e| EngineError::vulkan("zeroing a buffer", e))?;
    Ok(())
}
