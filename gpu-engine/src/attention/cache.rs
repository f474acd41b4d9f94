//! A decoder's key-value cache on the device: the new rows' keys and values appended
//! (`shaders/kv_append.comp`) and the causal attention of new rows over the cache
//! (`shaders/kv_attention.comp`, whose CPU twin is `workloads::decoder::causal_attention`).
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
/// `heads * head_dim` floats each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheShape {
    pub slots: usize,
    pub cap: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl CacheShape {
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Floats of one layer's cache.
    pub fn len(&self) -> usize {
        self.slots * self.cap * 2 * self.width()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the cache's indices fit the kernels' 32-bit arithmetic.
    pub fn check(&self) -> Result<(), EngineError> {
        check_u32("kv cache", "slots * cap * 2 * width", self.len())?;
        check_u32("kv cache", "heads", self.heads)?;
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
    width: u32,
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
        let w = shape.width();
        check_u32("kv_append", "rows * 3 * width", rows * 3 * w)?;
        check_len("kv_append", "qkv", qkv.len(), (rows * 3 * w) as u64)?;
        check_len("kv_append", "rows", meta.len(), (rows * 2) as u64)?;
        check_len("kv_append", "cache", cache.len(), shape.len() as u64)?;
        let n = check_u32("kv_append", "rows * 2 * width", rows * 2 * w)?;
        let push = AppendPush {
            rows: check_u32("kv_append", "rows", rows)?,
            width: w as u32,
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
        let w = shape.width();
        check_u32("kv_attention", "rows * 3 * width", rows * 3 * w)?;
        check_len("kv_attention", "qkv", qkv.len(), (rows * 3 * w) as u64)?;
        check_len("kv_attention", "rows", meta.len(), (rows * 2) as u64)?;
        check_len("kv_attention", "cache", cache.len(), shape.len() as u64)?;
        check_len("kv_attention", "out", out.len(), (rows * w) as u64)?;
        let n = check_u32("kv_attention", "rows * heads", rows * shape.heads)?;
        let push = AttentionPush {
            rows: check_u32("kv_attention", "rows", rows)?,
            heads: shape.heads as u32,
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
