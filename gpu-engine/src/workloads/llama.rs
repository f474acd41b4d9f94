//! A Llama-family decoder (`LlamaForCausalLM`, and Qwen2- and Mistral-style checkpoints whose
//! configs differ only in known fields): RMSNorm, rotary position embeddings, grouped-query
//! attention over a key-value cache, a SwiGLU MLP, optional biases, a tied or separate head.
//!
//! Per block, for the new rows `x` of a sequence at positions `past..past + t`:
//!   qkv = RMS1(x) Wqkv + b;  q, k rotated by position;  (k, v) of the new rows join the cache;
//!   x += attention(q, cache[0..=position]) Wo + bo   (query head h reads key-value head h / group);
//!   x += (silu(RMS2(x) Wgate + bg) * (RMS2(x) Wup + bu)) Wdown + bd.
//! The logits of a row are `RMSf(x) Whead`. Absent biases are zeros (adding +0 changes no value
//! but a -0). As for GPT-2 ([`super::decoder`]), rows never mix: a token's logits are the same
//! bits in a prefill or a decode step, in any batch; [`reference_step`] is the CPU twin [`Llama`]
//! matches bit for bit.

use vulkano::buffer::Subbuffer;

use super::{decoder::KvCache, tensors::Tensors};
use crate::{
    EngineError, Gpu, ReproClass,
    attention::cache::{self as kv, CacheShape, KvAppend, KvAttention, Rope},
    kernels::{
        Gemm,
        elementwise::Binary,
        gemm::{Epilogue, GemmShape},
        rows::{LayerNormRows, RowsShape, Unary},
    },
    reference::{self as cpu, BinaryOp, UnaryOp},
    seeded::SplitMix64,
    work,
};

/// The shapes and constants of a Llama-family decoder (Hugging Face's `config.json`:
/// `vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
/// `num_key_value_heads`, `head_dim`, `intermediate_size`, `max_position_embeddings`,
/// `rms_norm_eps`, `rope_theta`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f32,
}

impl LlamaConfig {
    /// The largest shapes: above Llama 3 70B's widths and Qwen2's vocabulary, low enough that no
    /// size computed from them overflows; positions up to 2^17.
    pub const LIMITS: LlamaConfig = LlamaConfig {
        vocab_size: 1 << 18,
        hidden: 16_384,
        layers: 256,
        heads: 256,
        kv_heads: 256,
        head_dim: super::super::attention::MAX_HEAD_DIM,
        intermediate: 65_536,
        max_positions: 1 << 17,
        rms_norm_eps: 1.0,
        rope_theta: 1e9,
    };

    pub fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    fn qkv_width(&self) -> usize {
        self.q_width() + 2 * self.kv_width()
    }

    /// Checks the shapes fit together, the kernels and [`LlamaConfig::LIMITS`].
    pub fn validate(&self) -> Result<(), EngineError> {
        let max = Self::LIMITS;
        let sizes = [
            ("vocab_size", self.vocab_size, max.vocab_size),
            ("hidden_size", self.hidden, max.hidden),
            ("num_hidden_layers", self.layers, max.layers),
            ("num_attention_heads", self.heads, max.heads),
            ("num_key_value_heads", self.kv_heads, max.kv_heads),
            ("intermediate_size", self.intermediate, max.intermediate),
            ("max_position_embeddings", self.max_positions, max.max_positions),
        ];
        let eps = ("rms_norm_eps", self.rms_norm_eps);
        super::check_shapes("a Llama decoder", &sizes, eps, ("query width", self.q_width()), self.heads)?;
        let bad = |message: String| Err(EngineError::Weights { tensor: "(config)".to_owned(), message });
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) || self.head_dim > max.head_dim {
            return bad(format!("head_dim {} must be even, 2 to {}", self.head_dim, max.head_dim));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.heads, self.kv_heads
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0 && self.rope_theta <= max.rope_theta) {
            return bad(format!("rope_theta {} is outside (1, {}]", self.rope_theta, max.rope_theta));
        }
        Ok(())
    }

    /// Work units of `t` new rows of one sequence after `past` cached ones, up to the logits of
    /// the last row, from the shapes alone.
    pub fn work_units(&self, past: usize, t: usize) -> u64 {
        let (t64, h, i, v) = (t as u64, self.hidden as u64, self.intermediate as u64, self.vocab_size as u64);
        let (d, qw, kw) = (self.head_dim as u64, self.q_width() as u64, self.kv_width() as u64);
        let keys: u64 = (0..t as u64).map(|j| past as u64 + j + 1).sum();
        let attention = self.heads as u64 * (keys * (2 * 2 * d + work::EXP + 4 + 2 * d) + t64 * (d + work::RECIP));
        let per_layer = work::rmsnorm_rows(t64, h)
            + work::gemm(t64, qw + 2 * kw, h)
            + work::binary(t64 * (qw + 2 * kw))
            + work::rope(t64, (self.heads + self.kv_heads) as u64, d)
            + attention
            + work::gemm(t64, h, qw)
            + 2 * work::binary(t64 * h)
            + work::rmsnorm_rows(t64, h)
            + 2 * (work::gemm(t64, i, h) + work::binary(t64 * i))
            + work::unary(t64 * i, work::SILU)
            + work::binary(t64 * i)
            + work::gemm(t64, h, i)
            + 2 * work::binary(t64 * h);
        self.layers as u64 * per_layer + work::rmsnorm_rows(1, h) + work::gemm(1, v, h)
    }
}

/// Which biases a checkpoint has (the rest are zeros).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Biases {
    /// `q_proj`, `k_proj`, `v_proj` (Qwen2; Llama's `attention_bias`).
    pub qkv: bool,
    /// `o_proj` (Llama's `attention_bias`).
    pub o: bool,
    /// `gate_proj`, `up_proj`, `down_proj` (Llama's `mlp_bias`).
    pub mlp: bool,
}

/// One block's weights, linear layers stored `[in, out]`; the queries, keys and values in one.
#[derive(Debug, Clone)]
pub struct LlamaLayer {
    pub attn_norm: Vec<f32>,
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub o_w: Vec<f32>,
    pub o_b: Vec<f32>,
    pub mlp_norm: Vec<f32>,
    pub gate_w: Vec<f32>,
    pub gate_b: Vec<f32>,
    pub up_w: Vec<f32>,
    pub up_b: Vec<f32>,
    pub down_w: Vec<f32>,
    pub down_b: Vec<f32>,
}

/// Every weight, canonicalized; the head stored `[hidden, vocab]`.
#[derive(Debug, Clone)]
pub struct LlamaWeights {
    pub config: LlamaConfig,
    pub embed: Vec<f32>,
    pub layers: Vec<LlamaLayer>,
    pub norm: Vec<f32>,
    pub head: Vec<f32>,
}

impl LlamaWeights {
    /// Loads a Hugging Face checkpoint (`model.` prefixed names, F32, F16 or BF16), the biases
    /// `biases` names, the head tied to the embeddings or its own `lm_head.weight`.
    pub fn from_tensors(
        file: &Tensors,
        config: LlamaConfig,
        biases: Biases,
        head: super::decoder::Head,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        let c = config;
        let (h, i, v) = (c.hidden, c.intermediate, c.vocab_size);
        let get = |name: &str, shape: &[usize]| file.floats(&format!("model.{name}"), shape);
        // nn.Linear keeps [out, in]; the engine [in, out].
        let linear = |name: &str, out: usize, inp: usize| -> Result<Vec<f32>, EngineError> {
            Ok(cpu::transpose(&get(&format!("{name}.weight"), &[out, inp])?, out, inp))
        };
        let bias = |name: &str, n: usize, present: bool| {
            if present { get(&format!("{name}.bias"), &[n]) } else { Ok(vec![0.0; n]) }
        };
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            let p = format!("layers.{l}");
            let (q, k, vv) = (
                linear(&format!("{p}.self_attn.q_proj"), c.q_width(), h)?,
                linear(&format!("{p}.self_attn.k_proj"), c.kv_width(), h)?,
                linear(&format!("{p}.self_attn.v_proj"), c.kv_width(), h)?,
            );
            // [h, q | k | v]: each input row's outputs side by side.
            let mut qkv_w = Vec::with_capacity(h * c.qkv_width());
            for r in 0..h {
                qkv_w.extend_from_slice(&q[r * c.q_width()..][..c.q_width()]);
                qkv_w.extend_from_slice(&k[r * c.kv_width()..][..c.kv_width()]);
                qkv_w.extend_from_slice(&vv[r * c.kv_width()..][..c.kv_width()]);
            }
            let mut qkv_b = bias(&format!("{p}.self_attn.q_proj"), c.q_width(), biases.qkv)?;
            qkv_b.extend(bias(&format!("{p}.self_attn.k_proj"), c.kv_width(), biases.qkv)?);
            qkv_b.extend(bias(&format!("{p}.self_attn.v_proj"), c.kv_width(), biases.qkv)?);
            layers.push(LlamaLayer {
                attn_norm: get(&format!("{p}.input_layernorm.weight"), &[h])?,
                qkv_w,
                qkv_b,
                o_w: linear(&format!("{p}.self_attn.o_proj"), h, c.q_width())?,
                o_b: bias(&format!("{p}.self_attn.o_proj"), h, biases.o)?,
                mlp_norm: get(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                gate_w: linear(&format!("{p}.mlp.gate_proj"), i, h)?,
                gate_b: bias(&format!("{p}.mlp.gate_proj"), i, biases.mlp)?,
                up_w: linear(&format!("{p}.mlp.up_proj"), i, h)?,
                up_b: bias(&format!("{p}.mlp.up_proj"), i, biases.mlp)?,
                down_w: linear(&format!("{p}.mlp.down_proj"), h, i)?,
                down_b: bias(&format!("{p}.mlp.down_proj"), h, biases.mlp)?,
            });
        }
        let embed = get("embed_tokens.weight", &[v, h])?;
        let head = match head {
            super::decoder::Head::Tied => cpu::transpose(&embed, v, h),
            super::decoder::Head::Own => cpu::transpose(&file.floats("lm_head.weight", &[v, h])?, v, h),
        };
        Ok(Self { config, norm: get("norm.weight", &[h])?, layers, head, embed })
    }

    /// Weights of the right shapes made from a seed (for cross-device checks without files).
    pub fn seeded(config: LlamaConfig, seed: u64) -> Result<Self, EngineError> {
        config.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut values = |len: usize, scale: f32, offset: f32| super::uniform(&mut rng, len, scale, offset);
        let c = config;
        let (h, i, v) = (c.hidden, c.intermediate, c.vocab_size);
        let layers = (0..c.layers)
            .map(|_| LlamaLayer {
                attn_norm: values(h, 0.1, 1.0),
                qkv_w: values(h * c.qkv_width(), 0.08, 0.0),
                qkv_b: values(c.qkv_width(), 0.02, 0.0),
                o_w: values(c.q_width() * h, 0.08, 0.0),
                o_b: values(h, 0.02, 0.0),
                mlp_norm: values(h, 0.1, 1.0),
                gate_w: values(h * i, 0.08, 0.0),
                gate_b: values(i, 0.02, 0.0),
                up_w: values(h * i, 0.08, 0.0),
                up_b: values(i, 0.02, 0.0),
                down_w: values(i * h, 0.04, 0.0),
                down_b: values(h, 0.02, 0.0),
            })
            .collect();
        let embed = values(v * h, 0.1, 0.0);
        Ok(Self { config, norm: values(h, 0.1, 1.0), layers, head: cpu::transpose(&embed, v, h), embed })
    }

    /// Checks the config and every tensor's length (the fields are public).
    pub fn check(&self) -> Result<(), EngineError> {
        let c = self.config;
        c.validate()?;
        let (h, i, v) = (c.hidden, c.intermediate, c.vocab_size);
        let mut lengths = vec![
            ("embed_tokens", self.embed.len(), v * h),
            ("norm", self.norm.len(), h),
            ("head", self.head.len(), h * v),
            ("layers", self.layers.len(), c.layers),
        ];
        for l in &self.layers {
            lengths.extend([
                ("input_layernorm", l.attn_norm.len(), h),
                ("qkv", l.qkv_w.len() + l.qkv_b.len(), (h + 1) * c.qkv_width()),
                ("o_proj", l.o_w.len() + l.o_b.len(), c.q_width() * h + h),
                ("post_attention_layernorm", l.mlp_norm.len(), h),
                ("gate_proj", l.gate_w.len() + l.gate_b.len(), (h + 1) * i),
                ("up_proj", l.up_w.len() + l.up_b.len(), (h + 1) * i),
                ("down_proj", l.down_w.len() + l.down_b.len(), i * h + h),
            ]);
        }
        match lengths.into_iter().find(|(_, got, want)| got != want) {
            Some((tensor, got, want)) => Err(EngineError::Weights {
                tensor: tensor.into(),
                message: format!("{got} values, the config asks for {want}"),
            }),
            None => Ok(()),
        }
    }

    /// Checks `ids` after `past` rows: ids in the vocabulary, positions within the model's.
    pub fn check_tokens(&self, sequence: usize, past: usize, ids: &[u32]) -> Result<(), EngineError> {
        super::sequences::check_ids(sequence, past, ids, self.config.vocab_size, self.config.max_positions)
    }

    /// The input rows of `ids`: their embeddings (no positions: those are rotations).
    pub fn embed_rows(&self, ids: &[u32]) -> Vec<f32> {
        cpu::gather(&self.embed, ids, self.config.hidden)
    }
}

fn cache_shape(c: &LlamaConfig, slots: usize, cap: usize) -> CacheShape {
    CacheShape { slots, cap, heads: c.heads, kv_heads: c.kv_heads, head_dim: c.head_dim }
}

/// The CPU twin of a step: runs `ids` (new tokens of one sequence) after the rows in `cache`
/// and returns the logits of every new row (`all_rows`: `[t, vocab]`) or of the last (`[vocab]`).
pub fn reference_step(
    weights: &LlamaWeights,
    class: ReproClass,
    cache: &mut KvCache,
    ids: &[u32],
    all_rows: bool,
) -> Result<Vec<f32>, EngineError> {
    let c = weights.config;
    if cache.layers.len() != c.layers && cache.rows != 0 {
        return Err(EngineError::Shape {
            kernel: "llama",
            message: format!("the cache holds {} layers, the model {}", cache.layers.len(), c.layers),
        });
    }
    let past = cache.rows;
    weights.check_tokens(0, past, ids)?;
    let (t, h, i, v) = (ids.len(), c.hidden, c.intermediate, c.vocab_size);
    if cache.layers.len() != c.layers {
        cache.layers = vec![Vec::new(); c.layers];
    }
    let shape = cache_shape(&c, 1, past + t);
    let table = kv::rope_table(past + t, c.head_dim, c.rope_theta);
    let positions: Vec<usize> = (past..past + t).collect();
    let scale = crate::detmath::rsqrt(c.head_dim as f32);
    let add_row = |x: &[f32], b: &[f32], n| cpu::binary(BinaryOp::Add, x, b, n, true);
    let add = |x: &[f32], y: &[f32]| cpu::binary(BinaryOp::Add, x, y, h, false);
    let (qw, w) = (c.q_width(), c.qkv_width());
    let mut x = weights.embed_rows(ids);
    for (l, kv_rows) in weights.layers.iter().zip(cache.layers.iter_mut()) {
        let a = cpu::rmsnorm_rows(&x, &l.attn_norm, t, h, c.rms_norm_eps);
        let mut qkv = add_row(&cpu::gemm(class, &a, &l.qkv_w, t, w, h), &l.qkv_b, w);
        kv::rope_reference(&mut qkv, &positions, &table, shape);
        let mut q = Vec::with_capacity(t * qw);
        for row in qkv.chunks_exact(w) {
            q.extend_from_slice(&row[..qw]);
            kv_rows.extend_from_slice(&row[qw..]);
        }
        let ctx = super::decoder::causal_attention(class, &q, kv_rows, past, c.heads, c.kv_heads, c.head_dim, scale);
        x = add(&add_row(&cpu::gemm(class, &ctx, &l.o_w, t, h, qw), &l.o_b, h), &x);
        let m = cpu::rmsnorm_rows(&x, &l.mlp_norm, t, h, c.rms_norm_eps);
        let gate = cpu::unary(UnaryOp::Silu, &add_row(&cpu::gemm(class, &m, &l.gate_w, t, i, h), &l.gate_b, i));
        let up = add_row(&cpu::gemm(class, &m, &l.up_w, t, i, h), &l.up_b, i);
        let f = cpu::binary(BinaryOp::Mul, &gate, &up, i, false);
        x = add(&add_row(&cpu::gemm(class, &f, &l.down_w, t, h, i), &l.down_b, h), &x);
    }
    cache.rows = past + t;
    let (rows, first) = if all_rows { (t, 0) } else { (1, t - 1) };
    let n = cpu::rmsnorm_rows(&x[first * h..], &weights.norm, rows, h, c.rms_norm_eps);
    Ok(cpu::gemm(class, &n, &weights.head, rows, v, h))
}

/// One block's weights on the device.
#[derive(Debug)]
struct DeviceLayer {
    attn_norm: Subbuffer<[f32]>,
    qkv_w: Subbuffer<[f32]>,
    qkv_b: Subbuffer<[f32]>,
    o_w: Subbuffer<[f32]>,
    o_b: Subbuffer<[f32]>,
    mlp_norm: Subbuffer<[f32]>,
    gate_w: Subbuffer<[f32]>,
    gate_b: Subbuffer<[f32]>,
    up_w: Subbuffer<[f32]>,
    up_b: Subbuffer<[f32]>,
    down_w: Subbuffer<[f32]>,
    down_b: Subbuffer<[f32]>,
}

/// A Llama-family decoder on a device, with its pipelines.
#[derive(Debug)]
pub struct Llama {
    weights: LlamaWeights,
    layers: Vec<DeviceLayer>,
    norm_w: Subbuffer<[f32]>,
    head: Subbuffer<[f32]>,
    gemm: Gemm,
    add_row: Binary,
    add: Binary,
    mul: Binary,
    silu: Unary,
    norm: LayerNormRows,
    rope: Rope,
    append: KvAppend,
    attention: KvAttention,
}

impl Llama {
    /// Uploads the weights and builds the pipelines.
    pub fn new(gpu: &Gpu, weights: LlamaWeights, class: ReproClass) -> Result<Self, EngineError> {
        weights.check()?;
        let c = weights.config;
        let per_layer =
            (c.hidden * (c.qkv_width() + 1) + c.q_width() * c.hidden + 3 * c.hidden * c.intermediate) as u64;
        let head = (c.vocab_size.next_multiple_of(4) * c.hidden) as u64;
        gpu.check_memory("the decoder weights", (per_layer * c.layers as u64 + head) * 4)?;
        let up = |v: &Vec<f32>| gpu.upload(v);
        let layers = weights
            .layers
            .iter()
            .map(|l| {
                Ok(DeviceLayer {
                    attn_norm: up(&l.attn_norm)?,
                    qkv_w: up(&l.qkv_w)?,
                    qkv_b: up(&l.qkv_b)?,
                    o_w: up(&l.o_w)?,
                    o_b: up(&l.o_b)?,
                    mlp_norm: up(&l.mlp_norm)?,
                    gate_w: up(&l.gate_w)?,
                    gate_b: up(&l.gate_b)?,
                    up_w: up(&l.up_w)?,
                    up_b: up(&l.up_b)?,
                    down_w: up(&l.down_w)?,
                    down_b: up(&l.down_b)?,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(Self {
            layers,
            norm_w: up(&weights.norm)?,
            head: gpu.upload(&super::sequences::padded_head(&weights.head, c.hidden, c.vocab_size))?,
            gemm: Gemm::with_variant(gpu, class, gpu.gemm_layout(class))?,
            add_row: Binary::new(gpu, BinaryOp::Add, true)?,
            add: Binary::new(gpu, BinaryOp::Add, false)?,
            mul: Binary::new(gpu, BinaryOp::Mul, false)?,
            silu: Unary::new(gpu, UnaryOp::Silu)?,
            norm: LayerNormRows::rms(gpu)?,
            rope: Rope::new(gpu)?,
            append: KvAppend::new(gpu)?,
            attention: KvAttention::new(gpu, class, c.head_dim)?,
            weights,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.weights.config
    }

    /// Caches for `slots` sequences of at most `cap` positions each (at most the model's), with
    /// the rotation table for their positions.
    pub fn cache(&self, gpu: &Gpu, slots: usize, cap: usize) -> Result<super::sequences::DeviceCache, EngineError> {
        let c = self.weights.config;
        let shape = cache_shape(&c, slots, cap.min(c.max_positions));
        let table = kv::rope_table(shape.cap, c.head_dim, c.rope_theta);
        super::sequences::DeviceCache::new(gpu, shape, c.layers, Some(&table))
    }

    /// As [`super::decoder::Decoder::step`]: new tokens of some of the cache's sequences in one
    /// batch; the logits of each one's last new row, in `work`'s order.
    pub fn step(
        &self,
        gpu: &Gpu,
        cache: &mut super::sequences::DeviceCache,
        work: &[(usize, &[u32])],
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let c = self.weights.config;
        let (h, i) = (c.hidden, c.intermediate);
        let (qw, w) = (c.q_width(), c.qkv_width());
        let batch = cache.batch(work, |slot, past, ids| {
            self.weights.check_tokens(slot, past, ids)?;
            Ok(self.weights.embed_rows(ids))
        })?;
        let rows = batch.rows;
        let shape = cache.shape();
        gpu.check_memory(
            "one decoder step",
            (rows * (4 * h + 2 * w + qw + 3 * i) + work.len() * (2 * h + c.vocab_size)) as u64 * 4,
        )?;
        let x = gpu.upload(&batch.x)?;
        let meta = gpu.upload(&batch.meta)?;
        let wide = |n: usize| gpu.output::<f32>((rows * n) as u64);
        let (a, t, y) = (wide(h)?, wide(h)?, wide(h)?);
        let (qkv, qkv_tmp, ctx) = (wide(w)?, wide(w)?, wide(qw)?);
        let (g, g_tmp, u) = (wide(i)?, wide(i)?, wide(i)?);
        let norm_shape = RowsShape { rows, n: h };
        let eps = c.rms_norm_eps;
        let scale = crate::detmath::rsqrt(c.head_dim as f32);
        let table = cache.rope_table()?;
        let mut rec = gpu.recorder()?;
        let lin = |rec: &mut crate::Recorder,
                   x: &Subbuffer<[f32]>,
                   wt: &Subbuffer<[f32]>,
                   bias: &Subbuffer<[f32]>,
                   tmp: &Subbuffer<[f32]>,
                   out: &Subbuffer<[f32]>,
                   n: usize,
                   k: usize| {
            linear(gpu, rec, &self.gemm, &self.add_row, x, wt, bias, tmp, out, GemmShape { m: rows, n, k })
        };
        let (cur, next) = (x, y);
        for (l, layer_cache) in self.layers.iter().zip(cache.layers()) {
            self.norm.record(gpu, &mut rec, &cur, &l.attn_norm, &l.attn_norm, &a, norm_shape, eps)?;
            lin(&mut rec, &a, &l.qkv_w, &l.qkv_b, &qkv_tmp, &qkv, w, h)?;
            self.rope.record(gpu, &mut rec, &qkv, &meta, table, rows, shape)?;
            self.append.record(gpu, &mut rec, &qkv, &meta, layer_cache, rows, shape)?;
            self.attention.record(gpu, &mut rec, &qkv, &meta, layer_cache, &ctx, rows, shape, scale)?;
            lin(&mut rec, &ctx, &l.o_w, &l.o_b, &t, &a, h, qw)?;
            self.add.record(gpu, &mut rec, &a, &cur, &next, h)?;
            self.norm.record(gpu, &mut rec, &next, &l.mlp_norm, &l.mlp_norm, &a, norm_shape, eps)?;
            lin(&mut rec, &a, &l.gate_w, &l.gate_b, &g_tmp, &g, i, h)?;
            self.silu.record(gpu, &mut rec, &g, &g_tmp)?;
            lin(&mut rec, &a, &l.up_w, &l.up_b, &g, &u, i, h)?;
            self.mul.record(gpu, &mut rec, &g_tmp, &u, &g, i)?;
            lin(&mut rec, &g, &l.down_w, &l.down_b, &t, &a, h, i)?;
            // `cur` holds the block's output again; `next` is free.
            self.add.record(gpu, &mut rec, &a, &next, &cur, h)?;
        }
        gpu.submit("llama", rec)?;
        let logits = super::sequences::head_logits(
            gpu,
            &self.norm,
            &self.gemm,
            &cur,
            &batch.last,
            (&self.norm_w, &self.norm_w),
            &self.head,
            (h, c.vocab_size),
            eps,
        )?;
        cache.advance(work);
        Ok(logits)
    }
}

/// `out = x W + bias`: one dispatch where the GEMM's layout adds the bias as it stores (the same
/// bits), else the GEMM into `tmp` and the row-broadcast add.
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear(
    gpu: &Gpu,
    rec: &mut crate::Recorder,
    gemm: &Gemm,
    add_row: &Binary,
    x: &Subbuffer<[f32]>,
    w: &Subbuffer<[f32]>,
    bias: &Subbuffer<[f32]>,
    tmp: &Subbuffer<[f32]>,
    out: &Subbuffer<[f32]>,
    shape: GemmShape,
) -> Result<(), EngineError> {
    if gemm.fuses(gpu, x, w, shape) {
        gemm.record_fused(gpu, rec, x, w, bias, Epilogue::Bias, out, shape)
    } else {
        gemm.record(gpu, rec, x, w, tmp, shape)?;
        add_row.record(gpu, rec, tmp, bias, out, shape.n)
    }
}
