//! A GPT-2 decoder (`GPT2LMHeadModel`): learned positions, pre-norm blocks with LayerNorm, fused
//! QKV, causal self-attention over a key-value cache, GELU with the tanh approximation, a final
//! LayerNorm and the language-model head (the token embeddings, or the checkpoint's own
//! `lm_head.weight`, as the caller's [`Head`] says: transformers' `tie_word_embeddings`).
//!
//! Per block, for the new rows `x` of a sequence at positions `past..past + t`:
//!   qkv = LN1(x) Wqkv + b;  (k, v) of the new rows join the cache;
//!   x += attention(q, cache[0..=position]) Wo + bo;
//!   x += gelu_tanh(LN2(x) Wfc + bfc) Wproj + bproj.
//! The logits of a row are `LNf(x) Whead`.
//!
//! Rows never mix: a GEMM row, a layer norm and a row's attention (its keys in position order)
//! depend on that row's inputs alone, so a token's logits are the same bits whether its prompt was
//! read in one prefill or one token at a time, and whatever else shares its batch. This module is
//! the CPU twin ([`reference_step`]) the device ([`Decoder`]) matches bit for bit.

use vulkano::buffer::Subbuffer;

pub use super::sequences::{DeviceCache, check_ids};
use super::{
    sequences::{head_logits, padded_head},
    tensors::Tensors,
};
use crate::{
    EngineError, Gpu, ReproClass,
    attention::{
        self,
        cache::{CacheShape, KvAppend, KvAttention},
    },
    kernels::{
        Gemm,
        elementwise::Binary,
        gemm::GemmShape,
        rows::{LayerNormRows, RowsShape, Unary},
    },
    numeric::canonicalize,
    reference::{self as cpu, BinaryOp, UnaryOp},
    seeded::SplitMix64,
    work,
};

/// The shapes of a GPT-2 decoder (the fields of Hugging Face's `config.json`: `vocab_size`,
/// `n_embd`, `n_layer`, `n_head`, `n_inner`, `n_positions`, `layer_norm_epsilon`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoderConfig {
    pub vocab_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub layer_norm_eps: f32,
}

impl DecoderConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// The largest shapes a decoder may have: above GPT-2 XL (1600 wide, 48 layers, 50,257
    /// tokens, 1,024 positions) and the Llama family's vocabularies, and low enough that no size
    /// computed from them overflows.
    pub const LIMITS: DecoderConfig = DecoderConfig {
        vocab_size: 1 << 18,
        hidden: 8192,
        layers: 256,
        heads: 256,
        intermediate: 32_768,
        max_positions: 1 << 16,
        layer_norm_eps: 1.0,
    };

    /// Checks the shapes fit together, the kernels and [`DecoderConfig::LIMITS`].
    pub fn validate(&self) -> Result<(), EngineError> {
        let max = Self::LIMITS;
        let sizes = [
            ("vocab_size", self.vocab_size, max.vocab_size),
            ("n_embd", self.hidden, max.hidden),
            ("n_layer", self.layers, max.layers),
            ("n_head", self.heads, max.heads),
            ("n_inner", self.intermediate, max.intermediate),
            ("n_positions", self.max_positions, max.max_positions),
        ];
        let eps = ("layer_norm_epsilon", self.layer_norm_eps);
        super::check_shapes("a decoder", &sizes, eps, ("n_embd", self.hidden), self.heads)
    }

    /// Work units of running `t` new rows of one sequence after `past` cached ones, up to the
    /// logits of the last row, from the shapes alone.
    pub fn work_units(&self, past: usize, t: usize) -> u64 {
        let (t64, h, i, v) = (t as u64, self.hidden as u64, self.intermediate as u64, self.vocab_size as u64);
        let d = h / self.heads as u64;
        // Row j attends to past + j + 1 keys: two score passes, exp, the weighted sum and scaling.
        let keys: u64 = (0..t as u64).map(|j| past as u64 + j + 1).sum();
        let attention = self.heads as u64 * (keys * (2 * 2 * d + work::EXP + 4 + 2 * d) + t64 * (d + work::RECIP));
        let per_layer = work::layernorm_rows(t64, h)
            + work::gemm(t64, 3 * h, h)
            + work::binary(t64 * 3 * h)
            + attention
            + work::gemm(t64, h, h)
            + 2 * work::binary(t64 * h)
            + work::layernorm_rows(t64, h)
            + work::gemm(t64, i, h)
            + work::binary(t64 * i)
            + work::unary(t64 * i, work::GELU_TANH)
            + work::gemm(t64, h, i)
            + 2 * work::binary(t64 * h);
        // Embeddings (one add per value), then the final norm and head of the last row.
        t64 * h + self.layers as u64 * per_layer + work::layernorm_rows(1, h) + work::gemm(1, v, h)
    }
}

/// One block's weights, linear layers stored `[in, out]` (as GPT-2's `Conv1D` keeps them).
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub ln1_g: Vec<f32>,
    pub ln1_b: Vec<f32>,
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub proj_w: Vec<f32>,
    pub proj_b: Vec<f32>,
    pub ln2_g: Vec<f32>,
    pub ln2_b: Vec<f32>,
    pub fc_w: Vec<f32>,
    pub fc_b: Vec<f32>,
    pub fc_proj_w: Vec<f32>,
    pub fc_proj_b: Vec<f32>,
}

/// Every weight of the decoder, canonicalized; the head stored `[hidden, vocab]`.
#[derive(Debug, Clone)]
pub struct DecoderWeights {
    pub config: DecoderConfig,
    pub wte: Vec<f32>,
    pub wpe: Vec<f32>,
    pub layers: Vec<DecoderLayer>,
    pub lnf_g: Vec<f32>,
    pub lnf_b: Vec<f32>,
    pub head: Vec<f32>,
}

/// Where a checkpoint's output head comes from (`tie_word_embeddings` in Hugging Face's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// The token embeddings, transposed (an `lm_head.weight` in the file is ignored, as
    /// transformers ties it).
    Tied,
    /// `lm_head.weight`, which must be in the file.
    Own,
}

impl DecoderWeights {
    /// Loads a Hugging Face GPT-2 checkpoint (names with or without a `transformer.` prefix;
    /// F32, F16 or BF16 tensors), its head as `head` says.
    pub fn from_safetensors(bytes: &[u8], config: DecoderConfig, head: Head) -> Result<Self, EngineError> {
        config.validate()?;
        Self::from_tensors(&Tensors::parse(&[bytes])?, config, head)
    }

    /// As [`DecoderWeights::from_safetensors`], from a checkpoint in one file or several.
    pub fn from_tensors(file: &Tensors, config: DecoderConfig, head: Head) -> Result<Self, EngineError> {
        config.validate()?;
        let (h, i, v) = (config.hidden, config.intermediate, config.vocab_size);
        let prefix = if file.contains("transformer.wte.weight") { "transformer." } else { "" };
        let get = |name: &str, shape: &[usize]| file.floats(&format!("{prefix}{name}"), shape);
        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let p = format!("h.{l}");
            layers.push(DecoderLayer {
                ln1_g: get(&format!("{p}.ln_1.weight"), &[h])?,
                ln1_b: get(&format!("{p}.ln_1.bias"), &[h])?,
                qkv_w: get(&format!("{p}.attn.c_attn.weight"), &[h, 3 * h])?,
                qkv_b: get(&format!("{p}.attn.c_attn.bias"), &[3 * h])?,
                proj_w: get(&format!("{p}.attn.c_proj.weight"), &[h, h])?,
                proj_b: get(&format!("{p}.attn.c_proj.bias"), &[h])?,
                ln2_g: get(&format!("{p}.ln_2.weight"), &[h])?,
                ln2_b: get(&format!("{p}.ln_2.bias"), &[h])?,
                fc_w: get(&format!("{p}.mlp.c_fc.weight"), &[h, i])?,
                fc_b: get(&format!("{p}.mlp.c_fc.bias"), &[i])?,
                fc_proj_w: get(&format!("{p}.mlp.c_proj.weight"), &[i, h])?,
                fc_proj_b: get(&format!("{p}.mlp.c_proj.bias"), &[h])?,
            });
        }
        let wte = get("wte.weight", &[v, h])?;
        let head = match head {
            Head::Own => cpu::transpose(&file.floats("lm_head.weight", &[v, h])?, v, h),
            Head::Tied => cpu::transpose(&wte, v, h),
        };
        Ok(Self {
            config,
            wpe: get("wpe.weight", &[config.max_positions, h])?,
            lnf_g: get("ln_f.weight", &[h])?,
            lnf_b: get("ln_f.bias", &[h])?,
            layers,
            head,
            wte,
        })
    }

    /// Weights of the right shapes made from a seed: the same values on every machine, for
    /// checking bits across devices without moving real weights.
    pub fn seeded(config: DecoderConfig, seed: u64) -> Result<Self, EngineError> {
        config.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut values = |len: usize, scale: f32, offset: f32| super::uniform(&mut rng, len, scale, offset);
        let (h, i, v) = (config.hidden, config.intermediate, config.vocab_size);
        let layers = (0..config.layers)
            .map(|_| DecoderLayer {
                ln1_g: values(h, 0.1, 1.0),
                ln1_b: values(h, 0.02, 0.0),
                qkv_w: values(h * 3 * h, 0.08, 0.0),
                qkv_b: values(3 * h, 0.02, 0.0),
                proj_w: values(h * h, 0.08, 0.0),
                proj_b: values(h, 0.02, 0.0),
                ln2_g: values(h, 0.1, 1.0),
                ln2_b: values(h, 0.02, 0.0),
                fc_w: values(h * i, 0.08, 0.0),
                fc_b: values(i, 0.02, 0.0),
                fc_proj_w: values(i * h, 0.04, 0.0),
                fc_proj_b: values(h, 0.02, 0.0),
            })
            .collect();
        let wte = values(v * h, 0.1, 0.0);
        Ok(Self {
            config,
            wpe: values(config.max_positions * h, 0.1, 0.0),
            lnf_g: values(h, 0.1, 1.0),
            lnf_b: values(h, 0.02, 0.0),
            layers,
            head: cpu::transpose(&wte, v, h),
            wte,
        })
    }

    /// Checks the config and that every tensor has its config's length (the fields are public:
    /// weights built by hand must hold what the device path reads).
    pub fn check(&self) -> Result<(), EngineError> {
        let c = self.config;
        c.validate()?;
        let (h, i, v) = (c.hidden, c.intermediate, c.vocab_size);
        let mut lengths = vec![
            ("wte", self.wte.len(), v * h),
            ("wpe", self.wpe.len(), c.max_positions * h),
            ("ln_f.weight", self.lnf_g.len(), h),
            ("ln_f.bias", self.lnf_b.len(), h),
            ("head", self.head.len(), h * v),
        ];
        if self.layers.len() != c.layers {
            return Err(EngineError::Weights {
                tensor: "h".into(),
                message: format!("{} layers, the config says {}", self.layers.len(), c.layers),
            });
        }
        for l in &self.layers {
            lengths.extend([
                ("ln_1", l.ln1_g.len() + l.ln1_b.len(), 2 * h),
                ("attn.c_attn", l.qkv_w.len() + l.qkv_b.len(), h * 3 * h + 3 * h),
                ("attn.c_proj", l.proj_w.len() + l.proj_b.len(), h * h + h),
                ("ln_2", l.ln2_g.len() + l.ln2_b.len(), 2 * h),
                ("mlp.c_fc", l.fc_w.len() + l.fc_b.len(), h * i + i),
                ("mlp.c_proj", l.fc_proj_w.len() + l.fc_proj_b.len(), i * h + h),
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

    /// Checks `t` new ids after `past` cached rows: ids in the vocabulary, positions in the table.
    pub fn check_tokens(&self, sequence: usize, past: usize, ids: &[u32]) -> Result<(), EngineError> {
        check_ids(sequence, past, ids, self.config.vocab_size, self.config.max_positions)
    }

    /// The input rows of `ids` at positions `past..`: `wte[id] + wpe[position]`, canonicalized.
    pub fn embed_rows(&self, past: usize, ids: &[u32]) -> Vec<f32> {
        let h = self.config.hidden;
        let mut rows = vec![0.0f32; ids.len() * h];
        for (j, &id) in ids.iter().enumerate() {
            let word = &self.wte[id as usize * h..][..h];
            let pos = &self.wpe[(past + j) * h..][..h];
            for (out, (&w, &p)) in rows[j * h..(j + 1) * h].iter_mut().zip(word.iter().zip(pos)) {
                *out = canonicalize(w + p);
            }
        }
        rows
    }
}

/// The keys and values of one sequence's rows so far, per layer: row `p` is `k | v` of position
/// `p` (`2 * hidden` floats).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub rows: usize,
    pub layers: Vec<Vec<f32>>,
}

/// Causal attention of `t` new rows at positions `past..past + t` (their queries `q`, `[t, width]`)
/// over the keys and values of positions `0..=position` in `kv` (`[past + t, 2 * kv width]`; query
/// head `h` reads key-value head `h / (heads / kv_heads)`), in the
/// order of [`attention::reference`]: so the same row gives the same bits in a prefill and a
/// decode step.
#[allow(clippy::too_many_arguments)]
pub fn causal_attention(
    class: ReproClass,
    q: &[f32],
    kv: &[f32],
    past: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f32,
) -> Vec<f32> {
    let (w, kw) = (heads * head_dim, kv_heads * head_dim);
    let t = q.len() / w;
    let mut out = vec![0.0f32; t * w];
    for j in 0..t {
        for hd in 0..heads {
            let d = head_dim;
            let kvh = hd / (heads / kv_heads);
            let key = |p: usize| &kv[p * 2 * kw + kvh * d..][..d];
            let value = |p: usize| &kv[p * 2 * kw + kw + kvh * d..][..d];
            let q = &q[j * w + hd * d..][..d];
            attention::attend(class, q, past + j + 1, key, value, scale, &mut out[j * w + hd * d..][..d]);
        }
    }
    out
}

/// The CPU twin of a decoder step: runs `ids` (new tokens of one sequence) after the rows in
/// `cache` (which they join) and returns the logits of every new row (`all_rows`, teacher forcing:
/// `[t, vocab]`) or of the last one (`[vocab]`).
pub fn reference_step(
    weights: &DecoderWeights,
    class: ReproClass,
    cache: &mut KvCache,
    ids: &[u32],
    all_rows: bool,
) -> Result<Vec<f32>, EngineError> {
    let c = weights.config;
    if cache.layers.len() != c.layers && cache.rows != 0 {
        return Err(EngineError::Shape {
            kernel: "decoder",
            message: format!("the cache holds {} layers, the model {}", cache.layers.len(), c.layers),
        });
    }
    let past = cache.rows;
    weights.check_tokens(0, past, ids)?;
    let (t, h, i, v) = (ids.len(), c.hidden, c.intermediate, c.vocab_size);
    let eps = c.layer_norm_eps;
    if cache.layers.len() != c.layers {
        cache.layers = vec![Vec::new(); c.layers];
    }
    let scale = crate::detmath::rsqrt(c.head_dim() as f32);
    let add_row = |x: &[f32], b: &[f32], n| cpu::binary(BinaryOp::Add, x, b, n, true);
    let add = |x: &[f32], y: &[f32]| cpu::binary(BinaryOp::Add, x, y, h, false);
    let mut x = weights.embed_rows(past, ids);
    for (l, kv) in weights.layers.iter().zip(cache.layers.iter_mut()) {
        let a = cpu::layernorm_rows(&x, &l.ln1_g, &l.ln1_b, t, h, eps);
        let qkv = add_row(&cpu::gemm(class, &a, &l.qkv_w, t, 3 * h, h), &l.qkv_b, 3 * h);
        let mut q = Vec::with_capacity(t * h);
        for row in qkv.chunks_exact(3 * h) {
            q.extend_from_slice(&row[..h]);
            kv.extend_from_slice(&row[h..]);
        }
        let ctx = causal_attention(class, &q, kv, past, c.heads, c.heads, c.head_dim(), scale);
        x = add(&add_row(&cpu::gemm(class, &ctx, &l.proj_w, t, h, h), &l.proj_b, h), &x);
        let m = cpu::layernorm_rows(&x, &l.ln2_g, &l.ln2_b, t, h, eps);
        let f = cpu::unary(UnaryOp::GeluTanh, &add_row(&cpu::gemm(class, &m, &l.fc_w, t, i, h), &l.fc_b, i));
        x = add(&add_row(&cpu::gemm(class, &f, &l.fc_proj_w, t, h, i), &l.fc_proj_b, h), &x);
    }
    cache.rows = past + t;
    let (rows, first) = if all_rows { (t, 0) } else { (1, t - 1) };
    let last = &x[first * h..];
    let n = cpu::layernorm_rows(last, &weights.lnf_g, &weights.lnf_b, rows, h, eps);
    Ok(cpu::gemm(class, &n, &weights.head, rows, v, h))
}

/// The index of the largest logit (the first of equals; NaN never, unless every logit is NaN:
/// then 0): greedy decoding's choice.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best: Option<usize> = None;
    for (j, &l) in logits.iter().enumerate() {
        if !l.is_nan() && best.is_none_or(|b| l > logits[b]) {
            best = Some(j);
        }
    }
    best.unwrap_or(0) as u32
}

/// Greedy generation on the CPU twin: the prompt in one prefill, then one token at a time, at most
/// `max_new` tokens, stopping after `eos`. Returns the new tokens.
pub fn reference_greedy(
    weights: &DecoderWeights,
    class: ReproClass,
    prompt: &[u32],
    max_new: usize,
    eos: Option<u32>,
) -> Result<Vec<u32>, EngineError> {
    let max_new = max_new.min(weights.config.max_positions);
    let mut cache = KvCache::default();
    let mut logits = reference_step(weights, class, &mut cache, prompt, false)?;
    let mut out = Vec::new();
    while out.len() < max_new {
        let next = argmax(&logits);
        out.push(next);
        if Some(next) == eos || out.len() == max_new || cache.rows == weights.config.max_positions {
            break;
        }
        logits = reference_step(weights, class, &mut cache, &[next], false)?;
    }
    Ok(out)
}

/// One block's weights on the device.
#[derive(Debug)]
struct DeviceLayer {
    ln1: (Subbuffer<[f32]>, Subbuffer<[f32]>),
    qkv_w: Subbuffer<[f32]>,
    qkv_b: Subbuffer<[f32]>,
    proj_w: Subbuffer<[f32]>,
    proj_b: Subbuffer<[f32]>,
    ln2: (Subbuffer<[f32]>, Subbuffer<[f32]>),
    fc_w: Subbuffer<[f32]>,
    fc_b: Subbuffer<[f32]>,
    fc_proj_w: Subbuffer<[f32]>,
    fc_proj_b: Subbuffer<[f32]>,
}

/// The decoder's weights on a device, with its pipelines.
#[derive(Debug)]
pub struct Decoder {
    weights: DecoderWeights,
    layers: Vec<DeviceLayer>,
    lnf: (Subbuffer<[f32]>, Subbuffer<[f32]>),
    head: Subbuffer<[f32]>,
    gemm: Gemm,
    add_row: Binary,
    add: Binary,
    gelu: Unary,
    norm: LayerNormRows,
    append: KvAppend,
    attention: KvAttention,
}

impl Decoder {
    /// Uploads the weights and builds the pipelines.
    pub fn new(gpu: &Gpu, weights: DecoderWeights, class: ReproClass) -> Result<Self, EngineError> {
        let c = weights.config;
        weights.check()?;
        let layer_bytes = (c.hidden * 4 * c.hidden + 2 * c.hidden * c.intermediate) as u64 * 4;
        let head_bytes = (c.vocab_size.next_multiple_of(4) * c.hidden) as u64 * 4;
        gpu.check_memory("the decoder weights", layer_bytes * c.layers as u64 + head_bytes)?;
        let layers = weights
            .layers
            .iter()
            .map(|l| {
                Ok(DeviceLayer {
                    ln1: (gpu.upload(&l.ln1_g)?, gpu.upload(&l.ln1_b)?),
                    qkv_w: gpu.upload(&l.qkv_w)?,
                    qkv_b: gpu.upload(&l.qkv_b)?,
                    proj_w: gpu.upload(&l.proj_w)?,
                    proj_b: gpu.upload(&l.proj_b)?,
                    ln2: (gpu.upload(&l.ln2_g)?, gpu.upload(&l.ln2_b)?),
                    fc_w: gpu.upload(&l.fc_w)?,
                    fc_b: gpu.upload(&l.fc_b)?,
                    fc_proj_w: gpu.upload(&l.fc_proj_w)?,
                    fc_proj_b: gpu.upload(&l.fc_proj_b)?,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(Self {
            layers,
            lnf: (gpu.upload(&weights.lnf_g)?, gpu.upload(&weights.lnf_b)?),
            head: gpu.upload(&padded_head(&weights.head, c.hidden, c.vocab_size))?,
            gemm: Gemm::with_variant(gpu, class, gpu.gemm_layout(class))?,
            add_row: Binary::new(gpu, BinaryOp::Add, true)?,
            add: Binary::new(gpu, BinaryOp::Add, false)?,
            gelu: Unary::new(gpu, UnaryOp::GeluTanh)?,
            norm: LayerNormRows::new(gpu)?,
            append: KvAppend::new(gpu)?,
            attention: KvAttention::new(gpu, class, c.head_dim())?,
            weights,
        })
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.weights.config
    }

    /// Caches for `slots` sequences of at most `cap` positions each (at most the model's).
    pub fn cache(&self, gpu: &Gpu, slots: usize, cap: usize) -> Result<DeviceCache, EngineError> {
        let c = self.weights.config;
        let shape = CacheShape {
            slots,
            cap: cap.min(c.max_positions),
            heads: c.heads,
            kv_heads: c.heads,
            head_dim: c.head_dim(),
        };
        DeviceCache::new(gpu, shape, c.layers, None)
    }

    /// Runs new tokens for some of the cache's sequences (`work`: slot and its new ids, each slot
    /// at most once) in one batch, and returns the logits of each one's last new row, in `work`'s
    /// order. Every row's bits are the CPU twin's ([`reference_step`]), whatever shares its batch.
    pub fn step(
        &self,
        gpu: &Gpu,
        cache: &mut DeviceCache,
        work: &[(usize, &[u32])],
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let c = self.weights.config;
        let (h, i, v) = (c.hidden, c.intermediate, c.vocab_size);
        let batch = cache.batch(work, |slot, past, ids| {
            self.weights.check_tokens(slot, past, ids)?;
            Ok(self.weights.embed_rows(past, ids))
        })?;
        let rows = batch.rows;
        let head_stage = work.len() * (2 * h + v);
        gpu.check_memory("one decoder step", (rows * (5 * h + 2 * 3 * h + 2 * i) + head_stage) as u64 * 4)?;
        let x = gpu.upload(&batch.x)?;
        let meta_dev = gpu.upload(&batch.meta)?;
        let wide = |n: usize| gpu.output::<f32>((rows * n) as u64);
        let (a, b, t, y) = (wide(h)?, wide(h)?, wide(h)?, wide(h)?);
        let (qkv, qkv_tmp, f, f_tmp) = (wide(3 * h)?, wide(3 * h)?, wide(i)?, wide(i)?);
        let shape = RowsShape { rows, n: h };
        let cache_shape = cache.shape();
        let eps = c.layer_norm_eps;
        let scale = crate::detmath::rsqrt(c.head_dim() as f32);
        let mut rec = gpu.recorder()?;
        let linear = |rec: &mut crate::Recorder,
                      x: &Subbuffer<[f32]>,
                      w: &Subbuffer<[f32]>,
                      bias: &Subbuffer<[f32]>,
                      tmp: &Subbuffer<[f32]>,
                      out: &Subbuffer<[f32]>,
                      n: usize,
                      k: usize| {
            super::llama::linear(gpu, rec, &self.gemm, &self.add_row, x, w, bias, tmp, out, GemmShape { m: rows, n, k })
        };
        // The residual stream lives in `x` then `y` (swapped each layer); `a`, `b`, `t` are scratch.
        let (cur, next) = (x, y);
        for (l, layer_cache) in self.layers.iter().zip(cache.layers()) {
            self.norm.record(gpu, &mut rec, &cur, &l.ln1.0, &l.ln1.1, &a, shape, eps)?;
            linear(&mut rec, &a, &l.qkv_w, &l.qkv_b, &qkv_tmp, &qkv, 3 * h, h)?;
            self.append.record(gpu, &mut rec, &qkv, &meta_dev, layer_cache, rows, cache_shape)?;
            self.attention.record(gpu, &mut rec, &qkv, &meta_dev, layer_cache, &b, rows, cache_shape, scale)?;
            linear(&mut rec, &b, &l.proj_w, &l.proj_b, &t, &a, h, h)?;
            self.add.record(gpu, &mut rec, &a, &cur, &next, h)?;
            self.norm.record(gpu, &mut rec, &next, &l.ln2.0, &l.ln2.1, &a, shape, eps)?;
            linear(&mut rec, &a, &l.fc_w, &l.fc_b, &f_tmp, &f, i, h)?;
            self.gelu.record(gpu, &mut rec, &f, &f_tmp)?;
            linear(&mut rec, &f_tmp, &l.fc_proj_w, &l.fc_proj_b, &t, &b, h, i)?;
            // `cur` holds the block's output again; `next` is free.
            self.add.record(gpu, &mut rec, &b, &next, &cur, h)?;
        }
        gpu.submit("decoder", rec)?;
        // The last new row of each sequence: its final norm and the head, in a second submission.
        let lnf = (&self.lnf.0, &self.lnf.1);
        let logits = head_logits(gpu, &self.norm, &self.gemm, &cur, &batch.last, lnf, &self.head, (h, v), eps)?;
        cache.advance(work);
        Ok(logits)
    }

    /// Greedy generation for a batch of prompts on the device: every prompt in one prefill, then
    /// one token per unfinished sequence per step, at most `max_new` new tokens each, a sequence
    /// stopping after `eos` or at the model's positions. Returns each prompt's new tokens.
    pub fn greedy(
        &self,
        gpu: &Gpu,
        prompts: &[Vec<u32>],
        max_new: usize,
        eos: Option<u32>,
    ) -> Result<Vec<Vec<u32>>, EngineError> {
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        // No sequence holds more than the model's positions: neither may a request's count.
        let max_new = max_new.min(self.weights.config.max_positions);
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mut cache = self.cache(gpu, prompts.len(), longest.saturating_add(max_new))?;
        let work: Vec<(usize, &[u32])> = prompts.iter().enumerate().map(|(s, p)| (s, p.as_slice())).collect();
        let mut logits = self.step(gpu, &mut cache, &work)?;
        let mut out = vec![Vec::new(); prompts.len()];
        let mut active: Vec<usize> = (0..prompts.len()).collect();
        while !active.is_empty() && max_new > 0 {
            let mut next = Vec::with_capacity(active.len());
            for (&slot, row) in active.iter().zip(&logits) {
                let token = argmax(row);
                out[slot].push(token);
                let full = cache.rows(slot) == self.weights.config.max_positions;
                if Some(token) != eos && out[slot].len() < max_new && !full {
                    next.push((slot, token));
                }
            }
            if next.is_empty() {
                break;
            }
            let tokens: Vec<[u32; 1]> = next.iter().map(|(_, t)| [*t]).collect();
            let work: Vec<(usize, &[u32])> = next.iter().zip(&tokens).map(|((s, _), t)| (*s, &t[..])).collect();
            logits = self.step(gpu, &mut cache, &work)?;
            active = next.iter().map(|(s, _)| *s).collect();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> DecoderWeights {
        let config = DecoderConfig {
            vocab_size: 97,
            hidden: 32,
            layers: 2,
            heads: 4,
            intermediate: 128,
            max_positions: 40,
            layer_norm_eps: 1e-5,
        };
        DecoderWeights::seeded(config, 7).expect("weights")
    }

    /// A prompt read in one prefill or one token at a time gives the same bits: every row's
    /// logits and every cached key and value.
    #[test]
    fn a_prefill_and_token_by_token_give_the_same_bits() {
        let w = tiny();
        let prompt = [3u32, 14, 15, 92, 65, 35, 89, 79];
        for class in [ReproClass::Unfused, ReproClass::Fused] {
            let mut once = KvCache::default();
            let all = reference_step(&w, class, &mut once, &prompt, true).expect("prefill");
            let mut steps = KvCache::default();
            for (j, id) in prompt.iter().enumerate() {
                let row = reference_step(&w, class, &mut steps, &[*id], false).expect("step");
                let want = &all[j * 97..(j + 1) * 97];
                assert!(row.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()), "{class:?} row {j}");
            }
            assert_eq!(once.rows, steps.rows);
            for (a, b) in once.layers.iter().zip(&steps.layers) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{class:?} cache");
            }
        }
    }

    /// Greedy decoding continues from the cache; what does not fit is refused with where.
    #[test]
    fn greedy_generation_stops_at_the_limit_or_the_positions_and_bad_ids_are_refused() {
        let w = tiny();
        let out = reference_greedy(&w, ReproClass::Unfused, &[1, 2, 3], 5, None).expect("greedy");
        assert_eq!(out.len(), 5);
        let again = reference_greedy(&w, ReproClass::Unfused, &[1, 2, 3], 5, None).expect("greedy");
        assert_eq!(out, again, "deterministic");
        let long: Vec<u32> = (0..38).collect();
        assert_eq!(reference_greedy(&w, ReproClass::Unfused, &long, 10, None).expect("fills").len(), 3);
        let err = reference_greedy(&w, ReproClass::Unfused, &[1, 97], 1, None).expect_err("outside");
        assert!(err.to_string().contains("token 1: id 97"), "{err}");
        let err = reference_greedy(&w, ReproClass::Unfused, &(0..41).collect::<Vec<_>>(), 1, None).expect_err("long");
        assert!(err.to_string().contains("more than the 40 positions"), "{err}");
        let eos = out[1];
        let stopped = reference_greedy(&w, ReproClass::Unfused, &[1, 2, 3], 5, Some(eos)).expect("greedy");
        assert_eq!(stopped.last(), Some(&eos));
    }
}
