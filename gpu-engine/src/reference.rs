//! The CPU twin of every kernel: plain Rust loops in the kernels' op order. Tests hold the GPU to
//! these bit for bit; a buyer or a referee re-executes with them.

use crate::numeric::{ReproClass, canonicalize};

/// `C[M,N] = A[M,K] * B[K,N]`, row-major, each element summed in increasing k from +0.
pub fn gemm(class: ReproClass, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    assert_eq!(a.len(), m * k, "A must be M x K");
    assert_eq!(b.len(), k * n, "B must be K x N");
    let mut c = vec![0.0f32; m * n];
    // Row-by-row over k keeps each element's sum in increasing k while streaming B rows.
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for kk in 0..k {
            let aik = a[i * k + kk];
            let brow = &b[kk * n..(kk + 1) * n];
            for (acc, &bkj) in row.iter_mut().zip(brow) {
                *acc = class.mul_add(aik, bkj, *acc);
            }
        }
        for v in row.iter_mut() {
            *v = canonicalize(*v);
        }
    }
    c
}

/// The operations of the binary kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add = 0,
    Mul = 1,
    Sub = 2,
    /// `a` where `b > 0`, else `+0`: the backward pass of ReLU (`b` is the pre-activation).
    PassWherePositive = 3,
    /// `a * gelu'(b)`: the backward pass of GELU (`a` is the output's gradient, `b` the
    /// pre-activation).
    GeluGrad = 4,
}

impl BinaryOp {
    /// The op on two values, as the kernel computes it (before canonicalization).
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Mul => a * b,
            BinaryOp::Sub => a - b,
            BinaryOp::GeluGrad => a * crate::numeric::canonicalize(crate::detmath::gelu_grad(b)),
            BinaryOp::PassWherePositive => {
                if b > 0.0 {
                    a
                } else {
                    0.0
                }
            }
        }
    }
}

/// The functions of the unary kernel, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Exp = 0,
    Tanh = 1,
    Gelu = 2,
    Recip = 3,
    Rsqrt = 4,
    /// `x > 0 ? x : +0`.
    Relu = 5,
    /// GELU with the tanh approximation (GPT-2's).
    GeluTanh = 6,
    /// `x * sigmoid(x)` (Llama's MLP).
    Silu = 7,
}

impl UnaryOp {
    pub fn apply(self, x: f32) -> f32 {
        use crate::detmath as m;
        match self {
            UnaryOp::Exp => m::exp(x),
            UnaryOp::Tanh => m::tanh(x),
            UnaryOp::Gelu => m::gelu(x),
            UnaryOp::GeluTanh => m::gelu_tanh(x),
            UnaryOp::Silu => m::silu(x),
            UnaryOp::Recip => m::recip(x),
            UnaryOp::Rsqrt => m::rsqrt(x),
            UnaryOp::Relu => {
                if x > 0.0 {
                    x
                } else {
                    0.0
                }
            }
        }
    }
}

pub fn unary(op: UnaryOp, x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| canonicalize(op.apply(v))).collect()
}

/// Row softmax in `shaders/softmax_rows.comp`'s order.
pub fn softmax_rows(x: &[f32], rows: usize, n: usize) -> Vec<f32> {
    assert_eq!(x.len(), rows * n);
    let mut y = vec![0.0f32; rows * n];
    for r in 0..rows {
        let row = &x[r * n..(r + 1) * n];
        let m = row[1..].iter().fold(row[0], |m, &v| glsl_max(m, v));
        let mut sum = 0.0f32;
        for (j, &v) in row.iter().enumerate() {
            let e = crate::detmath::exp(v - m);
            y[r * n + j] = e;
            sum += e;
        }
        let inv = crate::detmath::recip(sum);
        for v in &mut y[r * n..(r + 1) * n] {
            *v = canonicalize(*v * inv);
        }
    }
    y
}

/// GLSL `max(a, b)`: `a < b ? b : a` (its definition), which differs from `f32::max` only on NaN.
fn glsl_max(a: f32, b: f32) -> f32 {
    if a < b { b } else { a }
}

/// Row layer norm in `shaders/layernorm_rows.comp`'s order.
pub fn layernorm_rows(x: &[f32], gamma: &[f32], beta: &[f32], rows: usize, n: usize, eps: f32) -> Vec<f32> {
    assert_eq!(x.len(), rows * n);
    assert_eq!(gamma.len(), n);
    assert_eq!(beta.len(), n);
    let inv_n = crate::detmath::recip(n as f32);
    let mut y = vec![0.0f32; rows * n];
    for r in 0..rows {
        let row = &x[r * n..(r + 1) * n];
        let mut sum = 0.0f32;
        for &v in row {
            sum += v;
        }
        let mean = canonicalize(sum * inv_n);
        let mut sq = 0.0f32;
        for &v in row {
            let d = v - mean;
            sq += d * d;
        }
        let inv = crate::detmath::rsqrt(canonicalize(sq * inv_n) + eps);
        for j in 0..n {
            let t = canonicalize((row[j] - mean) * inv);
            y[r * n + j] = canonicalize(t * gamma[j] + beta[j]);
        }
    }
    y
}

/// Row RMS norm in `shaders/layernorm_rows.comp`'s order (its RMS variant).
pub fn rmsnorm_rows(x: &[f32], gamma: &[f32], rows: usize, n: usize, eps: f32) -> Vec<f32> {
    assert_eq!(x.len(), rows * n);
    assert_eq!(gamma.len(), n);
    let inv_n = crate::detmath::recip(n as f32);
    let mut y = vec![0.0f32; rows * n];
    for r in 0..rows {
        let row = &x[r * n..(r + 1) * n];
        let mut sq = 0.0f32;
        for &v in row {
            let d = v - 0.0;
            sq += d * d;
        }
        let inv = crate::detmath::rsqrt(canonicalize(sq * inv_n) + eps);
        for j in 0..n {
            let t = canonicalize((row[j] - 0.0) * inv);
            y[r * n + j] = canonicalize(t * gamma[j]);
        }
    }
    y
}

/// `a op b` elementwise; `row_broadcast` adds one row `b` of length n to every row of `a`.
pub fn binary(op: BinaryOp, a: &[f32], b: &[f32], n: usize, row_broadcast: bool) -> Vec<f32> {
    a.iter()
        .enumerate()
        .map(|(i, &x)| {
            let y = if row_broadcast { b[i % n] } else { b[i] };
            canonicalize(op.apply(x, y))
        })
        .collect()
}

pub fn gather(table: &[f32], ids: &[u32], dim: usize) -> Vec<f32> {
    ids.iter().flat_map(|&id| table[id as usize * dim..(id as usize + 1) * dim].iter().copied()).collect()
}

pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}

/// Row sums in `shaders/reduce_rows.comp`'s fixed tree: 256 strided partial sums, then pairwise
/// halving.
pub fn sum_rows(x: &[f32], rows: usize, n: usize) -> Vec<f32> {
    assert_eq!(x.len(), rows * n);
    (0..rows)
        .map(|r| {
            let row = &x[r * n..(r + 1) * n];
            let mut partial = [0.0f32; 256];
            for (t, p) in partial.iter_mut().enumerate() {
                let mut acc = 0.0f32;
                let mut j = t;
                while j < n {
                    acc += row[j];
                    j += 256;
                }
                *p = acc;
            }
            let mut stride = 128;
            while stride > 0 {
                for t in 0..stride {
                    partial[t] += partial[t + stride];
                }
                stride /= 2;
            }
            canonicalize(partial[0])
        })
        .collect()
}
