//! A decoder's key-value cache on the device: the new rows' keys and values appended
//! (`shaders/kv_append.comp`), the causal attention of new rows over the cache
//! (`shaders/kv_attention.comp`, whose CPU twin is `workloads::decoder::causal_attention`), with
//! fewer key-value heads than query heads where a model has them (grouped-query attention), and the
//! rotary position embedding of new rows' queries and keys (`shaders/rope.comp`, Llama's).
//!
//! New rows are described by `meta`: per row, its sequence's slot in the cache and its position.

use std::sync::Arc;

use vulkano::{
    buffer::{BufferContents, Subbuffer},
    pipeline::ComputePipeline,
};

use crate::{
    EngineError, Gpu, Recorder, ReproClass,
    kernels::{check_len, check_u32, linear_groups, record_library},
    shaders,
};

/// The cache's shape: `slots` sequences of at most `cap` positions, each position `k | v` of
/// `kv_heads * head_dim` floats each, for `heads` query heads (a multiple of `kv_heads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheShape {
    pub slots: usize,
    pub cap: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl CacheShape {
    /// The queries' width in a QKV row.
    pub fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// The keys' width (and the values'), in a QKV row and a cache row.
    pub fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// A QKV row: `q | k | v`.
    pub fn qkv_width(&self) -> usize {
        self.q_width() + 2 * self.kv_width()
    }

    /// Floats of one layer's cache.
    pub fn len(&self) -> usize {
        self.slots * self.cap * 2 * self.kv_width()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the cache's indices fit the kernels' 32-bit arithmetic.
    pub fn check(&self) -> Result<(), EngineError> {
        check_u32("kv cache", "slots * cap * 2 * width", self.len())?;
        check_u32("kv cache", "heads", self.heads)?;
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(EngineError::Shape {
                kernel: "kv cache",
                message: format!("{} query heads are not a multiple of {} key-value heads", self.heads, self.kv_heads),
            });
        }
        Ok(())
    }

    /// Checks every new row's slot and position (`meta`: slot, position per row) against the
    /// cache, before anything runs.
    pub fn check_rows(&self, meta: &[u32]) -> Result<(), EngineError> {
        for (r, row) in meta.chunks(2).enumerate() {
            let (slot, pos) = (row[0] as usize, row.get(1).copied().unwrap_or(u32::MAX) as usize);
            if slot >= self.slots || pos >= self.cap {
                return Err(EngineError::Shape {
                    kernel: "kv cache",
                    message: format!(
                        "row {r} is slot {slot}, position {pos}; the cache holds {} slots of {} positions",
                        self.slots, self.cap
                    ),
                });
            }
        }
        Ok(())
    }
}

#[derive(BufferContents, Clone, Copy)]
#[repr(C)]
struct AppendPush {
    rows: u32,
    q_width: u32,
    kv_width: u32,
    slots: u32,
    cap: u32,
}

/// Copies the keys and values of new rows (from the QKV projection) into the cache.
#[derive(Debug)]
pub struct KvAppend {
    pipeline: Arc<ComputePipeline>,
}

impl KvAppend {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::KV_APPEND, &[])? })
    }

    /// Records the append of `rows` new rows; `meta` (on the device) must have been checked with
    /// [`CacheShape::check_rows`].
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        qkv: &Subbuffer<[f32]>,
        meta: &Subbuffer<[u32]>,
        cache: &Subbuffer<[f32]>,
        rows: usize,
        shape: CacheShape,
    ) -> Result<(), EngineError> {
        shape.check()?;
        let w = shape.qkv_width();
        check_u32("kv_append", "rows * qkv width", rows * w)?;
        check_len("kv_append", "qkv", qkv.len(), (rows * w) as u64)?;
        check_len("kv_append", "rows", meta.len(), (rows * 2) as u64)?;
        check_len("kv_append", "cache", cache.len(), shape.len() as u64)?;
        let n = check_u32("kv_append", "rows * 2 * kv width", rows * 2 * shape.kv_width())?;
        let push = AppendPush {
            rows: check_u32("kv_append", "rows", rows)?,
            q_width: shape.q_width() as u32,
            kv_width: shape.kv_width() as u32,
            slots: shape.slots as u32,
            cap: shape.cap as u32,
        };
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[qkv.as_bytes(), meta.as_bytes(), cache.as_bytes()],
            push,
            linear_groups(n, 256),
        )
    }
}

#[derive(BufferContents, Clone, Copy)]
#[repr(C)]
struct AttentionPush {
    rows: u32,
    heads: u32,
    kv_heads: u32,
    slots: u32,
    cap: u32,
    scale: f32,
}

/// Causal attention of new rows over the cache, for one head width and reproducibility class.
#[derive(Debug)]
pub struct KvAttention {
    pipeline: Arc<ComputePipeline>,
    head_dim: usize,
}

impl KvAttention {
    pub fn new(gpu: &Gpu, class: ReproClass, head_dim: usize) -> Result<Self, EngineError> {
        let constants = super::constants(gpu, "kv_attention", class, head_dim)?;
        Ok(Self { pipeline: gpu.pipeline(shaders::KV_ATTENTION, &constants)?, head_dim })
    }

    /// Records `out = attention(q of qkv, cache)` for `rows` new rows already appended to the
    /// cache; `meta` must have been checked with [`CacheShape::check_rows`].
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        qkv: &Subbuffer<[f32]>,
        meta: &Subbuffer<[u32]>,
        cache: &Subbuffer<[f32]>,
        out: &Subbuffer<[f32]>,
        rows: usize,
        shape: CacheShape,
        scale: f32,
    ) -> Result<(), EngineError> {
        if shape.head_dim != self.head_dim {
            return Err(EngineError::Shape {
                kernel: "kv_attention",
                message: format!("built for head_dim {}, called with {}", self.head_dim, shape.head_dim),
            });
        }
        shape.check()?;
        let w = shape.qkv_width();
        check_u32("kv_attention", "rows * qkv width", rows * w)?;
        check_len("kv_attention", "qkv", qkv.len(), (rows * w) as u64)?;
        check_len("kv_attention", "rows", meta.len(), (rows * 2) as u64)?;
        check_len("kv_attention", "cache", cache.len(), shape.len() as u64)?;
        check_len("kv_attention", "out", out.len(), (rows * shape.q_width()) as u64)?;
        let n = check_u32("kv_attention", "rows * heads", rows * shape.heads)?;
        let push = AttentionPush {
            rows: check_u32("kv_attention", "rows", rows)?,
            heads: shape.heads as u32,
            kv_heads: shape.kv_heads as u32,
            slots: shape.slots as u32,
            cap: shape.cap as u32,
            scale,
        };
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[qkv.as_bytes(), meta.as_bytes(), cache.as_bytes(), out.as_bytes()],
            push,
            linear_groups(n, 64),
        )
    }
}

#[derive(BufferContents, Clone, Copy)]
#[repr(C)]
struct RopePush {
    rows: u32,
    heads: u32,
    kv_heads: u32,
    dim: u32,
    positions: u32,
}

/// The table [`Rope`] reads: for each position `p < positions` and pair `i < head_dim / 2`,
/// `cos(p * inv_freq[i])` then `sin(...)`, each rounded to f32 from a deterministic f64
/// evaluation (the host's libm is not the same everywhere), with the angle `p * inv_freq[i]`
/// computed in f32 as transformers computes it. `inv_freq[i] = 1 / theta^(2i / head_dim)` in f32.
pub fn rope_table(positions: usize, head_dim: usize, theta: f32) -> Vec<f32> {
    let half = head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| {
            let exponent = (2 * i) as f32 / head_dim as f32;
            1.0f32 / (crate::detmath::pow64(f64::from(theta), f64::from(exponent)) as f32)
        })
        .collect();
    let mut table = Vec::with_capacity(positions * half * 2);
    for p in 0..positions {
        for f in &inv_freq {
            let angle = f64::from(p as f32 * f);
            let (sin, cos) = crate::detmath::sin_cos64(angle);
            table.push(crate::numeric::canonicalize(cos as f32));
            table.push(crate::numeric::canonicalize(sin as f32));
        }
    }
    table
}

/// Rotary position embedding of new rows' queries and keys, in place in their QKV rows.
#[derive(Debug)]
pub struct Rope {
    pipeline: Arc<ComputePipeline>,
}

impl Rope {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::ROPE, &[])? })
    }

    /// Records the rotation of `rows` QKV rows (`meta` checked with [`CacheShape::check_rows`];
    /// `table` from [`rope_table`] for at least `shape.cap` positions).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut Recorder,
        qkv: &Subbuffer<[f32]>,
        meta: &Subbuffer<[u32]>,
        table: &Subbuffer<[f32]>,
        rows: usize,
        shape: CacheShape,
    ) -> Result<(), EngineError> {
        shape.check()?;
        if !shape.head_dim.is_multiple_of(2) {
            return Err(EngineError::Shape { kernel: "rope", message: format!("head_dim {} is odd", shape.head_dim) });
        }
        let half = shape.head_dim / 2;
        check_u32("rope", "rows * qkv width", rows * shape.qkv_width())?;
        check_len("rope", "qkv", qkv.len(), (rows * shape.qkv_width()) as u64)?;
        check_len("rope", "rows", meta.len(), (rows * 2) as u64)?;
        let positions = table.len() as usize / (2 * half).max(1);
        if positions < shape.cap {
            return Err(EngineError::Shape {
                kernel: "rope",
                message: format!("the table holds {positions} positions; the cache {}", shape.cap),
            });
        }
        check_u32("rope", "table", table.len() as usize)?;
        let n = check_u32("rope", "rows * heads * pairs", rows * (shape.heads + shape.kv_heads) * half)?;
        let push = RopePush {
            rows: check_u32("rope", "rows", rows)?,
            heads: shape.heads as u32,
            kv_heads: shape.kv_heads as u32,
            dim: shape.head_dim as u32,
            positions: positions as u32,
        };
        record_library(
            gpu,
            builder,
            &self.pipeline,
            &[qkv.as_bytes(), meta.as_bytes(), table.as_bytes()],
            push,
            linear_groups(n, 64),
        )
    }
}

/// The CPU twin of [`Rope`]: rotates the queries and keys of `rows` QKV rows at `positions`.
pub fn rope_reference(qkv: &mut [f32], positions: &[usize], table: &[f32], shape: CacheShape) {
    let (d, half, stride) = (shape.head_dim, shape.head_dim / 2, shape.qkv_width());
    for (r, &pos) in positions.iter().enumerate() {
        for h in 0..shape.heads + shape.kv_heads {
            let base = r * stride + h * d;
            for i in 0..half {
                let (c, s) = (table[(pos * half + i) * 2], table[(pos * half + i) * 2 + 1]);
                let (x1, x2) = (qkv[base + i], qkv[base + i + half]);
                qkv[base + i] = crate::numeric::canonicalize(x1 * c - x2 * s);
                qkv[base + i + half] = crate::numeric::canonicalize(x2 * c + x1 * s);
            }
        }
    }
}
