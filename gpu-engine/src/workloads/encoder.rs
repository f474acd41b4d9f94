//! A BERT-family sentence encoder (all-MiniLM-L6-v2 and its kin): embeddings, post-norm encoder
//! layers with erf-GELU, mean pooling over the real tokens and L2 normalization, as
//! sentence-transformers computes them.
//!
//! Per batch the device runs one command buffer: layer norm of the embeddings, then per layer
//!   qkv = x Wqkv + b;  ctx = attention(qkv);  x1 = LN(ctx Wo + bo + x);
//!   x  = LN(gelu(x1 Wi + bi) Wout + bout + x1).
//! The host adds the embedding rows and pools; both are plain f32 loops, the same on every machine.
//! Rows never mix (GEMM rows, layer norms and attention are per token or per sequence, padding
//! keys never enter a sum), so a sentence's bits do not depend on its batch.

use vulkano::buffer::Subbuffer;

use super::tensors::TensorFile;
use crate::{
    EngineError, Gpu, ReproClass,
    attention::{self, Attention, AttentionShape},
    kernels::{
        Gemm,
        elementwise::{Binary, BinaryOp},
        gemm::{Epilogue, GemmShape, GemmVariant},
        rows::{LayerNormRows, RowsShape, Unary},
    },
    numeric::canonicalize,
    reference::{self as cpu, UnaryOp},
    seeded::SplitMix64,
    work,
};

/// The shapes of a BERT encoder (the fields of Hugging Face's `config.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderConfig {
    pub vocab_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
}

impl EncoderConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// The largest shapes an encoder may have: far above any BERT-family sentence encoder
    /// (BERT-large: 1024 wide, 24 layers, 4096 intermediate, 512 positions, 30,522 tokens), and
    /// low enough that no size computed from them overflows (a `num_hidden_layers` of 10^18 in a
    /// package's config.json used to overflow an allocation and crash the provider).
    pub const LIMITS: EncoderConfig = EncoderConfig {
        vocab_size: 1 << 20,
        hidden: 8192,
        layers: 256,
        heads: 8192,
        intermediate: 32_768,
        max_positions: 1 << 16,
        type_vocab_size: 1024,
        layer_norm_eps: 1.0,
    };

    /// Checks the shapes fit together, the kernels and [`EncoderConfig::LIMITS`].
    pub fn validate(&self) -> Result<(), EngineError> {
        let max = Self::LIMITS;
        let sizes = [
            ("vocab_size", self.vocab_size, max.vocab_size),
            ("hidden_size", self.hidden, max.hidden),
            ("num_hidden_layers", self.layers, max.layers),
            ("num_attention_heads", self.heads, max.heads),
            ("intermediate_size", self.intermediate, max.intermediate),
            ("max_position_embeddings", self.max_positions, max.max_positions),
            ("type_vocab_size", self.type_vocab_size, max.type_vocab_size),
        ];
        let eps = ("layer_norm_eps", self.layer_norm_eps);
        super::check_shapes("an encoder", &sizes, eps, ("hidden_size", self.hidden), self.heads)
    }

    /// Work units of encoding one sequence of `tokens` tokens (pooling included), from the shapes.
    pub fn work_units(&self, tokens: usize) -> u64 {
        let (t, h, i) = (tokens as u64, self.hidden as u64, self.intermediate as u64);
        let heads = self.heads as u64;
        let d = h / heads;
        let per_layer = work::gemm(t, 3 * h, h)
            + work::binary(t * 3 * h)
            // attention: two score passes, exp, the weighted sum and the scaling
            + heads * t * (t * (2 * 2 * d + work::EXP + 4) + 2 * t * d + d + work::RECIP)
            + work::gemm(t, h, h)
            + 2 * work::binary(t * h)
            + work::layernorm_rows(t, h)
            + work::gemm(t, i, h)
            + work::binary(t * i)
            + work::unary(t * i, work::GELU)
            + work::gemm(t, h, i)
            + 2 * work::binary(t * h)
            + work::layernorm_rows(t, h);
        // embeddings (2 adds per value), their layer norm, pooling (t adds + 1 divide per column)
        // and normalization (2 per value + square root and divide).
        2 * t * h + work::layernorm_rows(t, h) + self.layers as u64 * per_layer + (t + 1) * h + 3 * h + 2
    }
}

/// One encoder layer's weights, with linear layers stored `[in, out]` (the transpose of PyTorch's
/// `[out, in]`) and Q, K, V packed side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub out_w: Vec<f32>,
    pub out_b: Vec<f32>,
    pub ln1_g: Vec<f32>,
    pub ln1_b: Vec<f32>,
    pub ffn_in_w: Vec<f32>,
    pub ffn_in_b: Vec<f32>,
    pub ffn_out_w: Vec<f32>,
    pub ffn_out_b: Vec<f32>,
    pub ln2_g: Vec<f32>,
    pub ln2_b: Vec<f32>,
}

impl LayerWeights {
    /// The layer's tensors, each with whether weight decay applies to it when training (not to
    /// biases and layer-norm gains: Hugging Face's convention).
    pub fn tensors_mut(&mut self) -> [(&mut Vec<f32>, bool); 12] {
        [
            (&mut self.qkv_w, true),
            (&mut self.qkv_b, false),
            (&mut self.out_w, true),
            (&mut self.out_b, false),
            (&mut self.ln1_g, false),
            (&mut self.ln1_b, false),
            (&mut self.ffn_in_w, true),
            (&mut self.ffn_in_b, false),
            (&mut self.ffn_out_w, true),
            (&mut self.ffn_out_b, false),
            (&mut self.ln2_g, false),
            (&mut self.ln2_b, false),
        ]
    }

    /// A layer of the same shapes, all zeros (gradients and optimizer moments).
    pub fn zeros_like(&self) -> Self {
        let z = |v: &Vec<f32>| vec![0.0f32; v.len()];
        Self {
            qkv_w: z(&self.qkv_w),
            qkv_b: z(&self.qkv_b),
            out_w: z(&self.out_w),
            out_b: z(&self.out_b),
            ln1_g: z(&self.ln1_g),
            ln1_b: z(&self.ln1_b),
            ffn_in_w: z(&self.ffn_in_w),
            ffn_in_b: z(&self.ffn_in_b),
            ffn_out_w: z(&self.ffn_out_w),
            ffn_out_b: z(&self.ffn_out_b),
            ln2_g: z(&self.ln2_g),
            ln2_b: z(&self.ln2_b),
        }
    }
}

/// Every weight of the encoder, canonicalized.
#[derive(Debug, Clone)]
pub struct EncoderWeights {
    pub config: EncoderConfig,
    pub word: Vec<f32>,
    pub position: Vec<f32>,
    pub token_type: Vec<f32>,
    pub emb_ln_g: Vec<f32>,
    pub emb_ln_b: Vec<f32>,
    pub layers: Vec<LayerWeights>,
}

/// PyTorch's `[out, in]` to our `[in, out]`.
fn linear_to_in_out(w: &[f32], out: usize, inp: usize) -> Vec<f32> {
    cpu::transpose(w, out, inp)
}

/// Packs three `[in, out]` matrices side by side into `[in, 3 * out]`.
fn pack_columns(parts: [&[f32]; 3], inp: usize, out: usize) -> Vec<f32> {
    let mut packed = Vec::with_capacity(inp * 3 * out);
    for r in 0..inp {
        for p in parts {
            packed.extend_from_slice(&p[r * out..(r + 1) * out]);
        }
    }
    packed
}

impl EncoderWeights {
    /// Loads a Hugging Face `BertModel` checkpoint (tensor names with or without a `bert.` prefix).
    pub fn from_safetensors(bytes: &[u8], config: EncoderConfig) -> Result<Self, EngineError> {
        config.validate()?;
        let file = TensorFile::parse(bytes)?;
        let (h, i) = (config.hidden, config.intermediate);
        let prefix = if file.contains("bert.embeddings.LayerNorm.weight") { "bert." } else { "" };
        let get = |name: &str, shape: &[usize]| file.f32(&format!("{prefix}{name}"), shape);
        let linear = |name: &str, out: usize, inp: usize| -> Result<(Vec<f32>, Vec<f32>), EngineError> {
            let w = get(&format!("{name}.weight"), &[out, inp])?;
            Ok((linear_to_in_out(&w, out, inp), get(&format!("{name}.bias"), &[out])?))
        };
        let emb_ln_g = get("embeddings.LayerNorm.weight", &[h])?;
        let emb_ln_b = get("embeddings.LayerNorm.bias", &[h])?;
        let word = get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = get("embeddings.position_embeddings.weight", &[config.max_positions, h])?;
        let token_type = get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?;
        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let p = format!("encoder.layer.{l}");
            let (q_w, q_b) = linear(&format!("{p}.attention.self.query"), h, h)?;
            let (k_w, k_b) = linear(&format!("{p}.attention.self.key"), h, h)?;
            let (v_w, v_b) = linear(&format!("{p}.attention.self.value"), h, h)?;
            let (out_w, out_b) = linear(&format!("{p}.attention.output.dense"), h, h)?;
            let (ffn_in_w, ffn_in_b) = linear(&format!("{p}.intermediate.dense"), i, h)?;
            let (ffn_out_w, ffn_out_b) = linear(&format!("{p}.output.dense"), h, i)?;
            layers.push(LayerWeights {
                qkv_w: pack_columns([&q_w, &k_w, &v_w], h, h),
                qkv_b: [q_b, k_b, v_b].concat(),
                out_w,
                out_b,
                ln1_g: get(&format!("{p}.attention.output.LayerNorm.weight"), &[h])?,
                ln1_b: get(&format!("{p}.attention.output.LayerNorm.bias"), &[h])?,
                ffn_in_w,
                ffn_in_b,
                ffn_out_w,
                ffn_out_b,
                ln2_g: get(&format!("{p}.output.LayerNorm.weight"), &[h])?,
                ln2_b: get(&format!("{p}.output.LayerNorm.bias"), &[h])?,
            });
        }
        Ok(Self { config, word, position, token_type, emb_ln_g, emb_ln_b, layers })
    }

    /// Weights of the right shapes made from a seed: the same values on every machine, for
    /// checking bits across devices without moving the real weights.
    pub fn seeded(config: EncoderConfig, seed: u64) -> Result<Self, EngineError> {
        config.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut values = |len: usize, scale: f32, offset: f32| super::uniform(&mut rng, len, scale, offset);
        let (h, i) = (config.hidden, config.intermediate);
        let layers = (0..config.layers)
            .map(|_| LayerWeights {
                qkv_w: values(h * 3 * h, 0.08, 0.0),
                qkv_b: values(3 * h, 0.02, 0.0),
                out_w: values(h * h, 0.08, 0.0),
                out_b: values(h, 0.02, 0.0),
                ln1_g: values(h, 0.1, 1.0),
                ln1_b: values(h, 0.02, 0.0),
                ffn_in_w: values(h * i, 0.08, 0.0),
                ffn_in_b: values(i, 0.02, 0.0),
                ffn_out_w: values(i * h, 0.04, 0.0),
                ffn_out_b: values(h, 0.02, 0.0),
                ln2_g: values(h, 0.1, 1.0),
                ln2_b: values(h, 0.02, 0.0),
            })
            .collect();
        Ok(Self {
            config,
            word: values(config.vocab_size * h, 0.1, 0.0),
            position: values(config.max_positions * h, 0.1, 0.0),
            token_type: values(config.type_vocab_size * h, 0.1, 0.0),
            emb_ln_g: values(h, 0.1, 1.0),
            emb_ln_b: values(h, 0.02, 0.0),
            layers,
        })
    }

    /// Checks every id is in the vocabulary and every sequence fits the position table.
    pub fn check_tokens(&self, sequence: usize, ids: &[u32]) -> Result<(), EngineError> {
        let bad = |message: String| Err(EngineError::Shape { kernel: "encoder", message });
        if ids.is_empty() {
            return bad(format!("sequence {sequence} has no tokens"));
        }
        if ids.len() > self.config.max_positions {
            return bad(format!(
                "sequence {sequence} has {} tokens, more than the {} positions of the model",
                ids.len(),
                self.config.max_positions
            ));
        }
        if let Some((t, id)) = ids.iter().enumerate().find(|(_, id)| **id as usize >= self.config.vocab_size) {
            return bad(format!("sequence {sequence}, token {t}: id {id} is outside the vocabulary"));
        }
        Ok(())
    }

    /// The input rows of one sequence: `(word + token type 0) + position`, canonicalized.
    fn embed_rows(&self, ids: &[u32], into: &mut [f32]) {
        let h = self.config.hidden;
        for (p, &id) in ids.iter().enumerate() {
            let word = &self.word[id as usize * h..][..h];
            let pos = &self.position[p * h..][..h];
            for (j, out) in into[p * h..(p + 1) * h].iter_mut().enumerate() {
                *out = canonicalize(canonicalize(word[j] + self.token_type[j]) + pos[j]);
            }
        }
    }
}

/// Mean over the first `len` rows, then L2 normalization: sentence-transformers' pooling and
/// `Normalize` modules, as one f32 loop.
fn pool(rows: &[f32], len: usize, h: usize) -> Vec<f32> {
    let mut mean = vec![0.0f32; h];
    for t in 0..len {
        for (m, &v) in mean.iter_mut().zip(&rows[t * h..(t + 1) * h]) {
            *m = canonicalize(*m + v);
        }
    }
    let count = len.max(1) as f32;
    for m in &mut mean {
        *m = canonicalize(*m / count);
    }
    let norm = mean.iter().fold(0.0f32, |acc, &v| canonicalize(acc + v * v)).sqrt().max(1e-12);
    mean.iter().map(|&v| canonicalize(v / norm)).collect()
}

/// The encoder's weights on a device, with its pipelines.
#[derive(Debug)]
pub struct Encoder {
    weights: EncoderWeights,
    device_layers: Vec<DeviceLayer>,
    emb_ln: (Subbuffer<[f32]>, Subbuffer<[f32]>),
    gemm: Gemm,
    add_row: Binary,
    add: Binary,
    gelu: Unary,
    norm: LayerNormRows,
    attention: Attention,
}

#[derive(Debug)]
struct DeviceLayer {
    qkv_w: Subbuffer<[f32]>,
    qkv_b: Subbuffer<[f32]>,
    out_w: Subbuffer<[f32]>,
    out_b: Subbuffer<[f32]>,
    ln1: (Subbuffer<[f32]>, Subbuffer<[f32]>),
    ffn_in_w: Subbuffer<[f32]>,
    ffn_in_b: Subbuffer<[f32]>,
    ffn_out_w: Subbuffer<[f32]>,
    ffn_out_b: Subbuffer<[f32]>,
    ln2: (Subbuffer<[f32]>, Subbuffer<[f32]>),
}

/// Most padded tokens in one batch: bounds the activations (about 40 KiB per token for MiniLM).
pub const DEFAULT_BATCH_TOKENS: usize = 8192;

impl Encoder {
    /// Uploads the weights and builds the pipelines, the GEMM in the device's faster layout.
    pub fn new(gpu: &Gpu, weights: EncoderWeights, class: ReproClass) -> Result<Self, EngineError> {
        Self::with_layout(gpu, weights, class, gpu.gemm_layout(class))
    }

    /// Like [`Encoder::new`] with the GEMM in a given layout (all give the same bits; the texel
    /// layout adds the projections' biases as it stores, the others run the separate kernels).
    pub fn with_layout(
        gpu: &Gpu,
        weights: EncoderWeights,
        class: ReproClass,
        layout: GemmVariant,
    ) -> Result<Self, EngineError> {
        let c = weights.config;
        let layer_bytes = (c.hidden * 4 * c.hidden + 2 * c.hidden * c.intermediate) as u64 * 4;
        gpu.check_memory("the encoder weights", layer_bytes * c.layers as u64)?;
        let device_layers = weights
            .layers
            .iter()
            .map(|l| {
                Ok(DeviceLayer {
                    qkv_w: gpu.upload(&l.qkv_w)?,
                    qkv_b: gpu.upload(&l.qkv_b)?,
                    out_w: gpu.upload(&l.out_w)?,
                    out_b: gpu.upload(&l.out_b)?,
                    ln1: (gpu.upload(&l.ln1_g)?, gpu.upload(&l.ln1_b)?),
                    ffn_in_w: gpu.upload(&l.ffn_in_w)?,
                    ffn_in_b: gpu.upload(&l.ffn_in_b)?,
                    ffn_out_w: gpu.upload(&l.ffn_out_w)?,
                    ffn_out_b: gpu.upload(&l.ffn_out_b)?,
                    ln2: (gpu.upload(&l.ln2_g)?, gpu.upload(&l.ln2_b)?),
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(Self {
            emb_ln: (gpu.upload(&weights.emb_ln_g)?, gpu.upload(&weights.emb_ln_b)?),
            device_layers,
            gemm: Gemm::with_variant(gpu, class, layout)?,
            add_row: Binary::new(gpu, BinaryOp::Add, true)?,
            add: Binary::new(gpu, BinaryOp::Add, false)?,
            gelu: Unary::new(gpu, UnaryOp::Gelu)?,
            norm: LayerNormRows::new(gpu)?,
            attention: Attention::new(gpu, class, c.head_dim())?,
            weights,
        })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.weights.config
    }

    /// Sentence embeddings of `sequences` (token ids), in input order. Sequences are sorted by
    /// length into batches of at most `batch_tokens` padded tokens; `progress` hears the number
    /// of sequences done after each batch.
    pub fn encode(
        &self,
        gpu: &Gpu,
        sequences: &[Vec<u32>],
        batch_tokens: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        for (s, ids) in sequences.iter().enumerate() {
            self.weights.check_tokens(s, ids)?;
        }
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&s| (sequences[s].len(), s));
        let mut out = vec![Vec::new(); sequences.len()];
        let mut done = 0;
        let mut start = 0;
        while start < order.len() {
            // Sorted by length, so the last sequence taken sets the padded length.
            let mut end = start + 1;
            while end < order.len() && (end + 1 - start) * sequences[order[end]].len() <= batch_tokens.max(1) {
                end += 1;
            }
            let batch: Vec<&[u32]> = order[start..end].iter().map(|&s| sequences[s].as_slice()).collect();
            for (pooled, &s) in self.encode_batch(gpu, &batch)?.into_iter().zip(&order[start..end]) {
                out[s] = pooled;
            }
            done += end - start;
            progress(done);
            start = end;
        }
        Ok(out)
    }

    /// One padded batch in one command buffer, or several when the device is steered (an owner's
    /// pause then waits for one layer or one kernel, not the batch); ids must have been checked.
    fn encode_batch(&self, gpu: &Gpu, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, EngineError> {
        let c = self.weights.config;
        let (h, i) = (c.hidden, c.intermediate);
        let seq = batch.iter().map(|s| s.len()).max().unwrap_or(1);
        let rows = batch.len() * seq;
        gpu.check_memory("one encoder batch", (rows * (6 * h + 2 * 3 * h + 2 * i)) as u64 * 4)?;
        let mut x = vec![0.0f32; rows * h];
        for (b, ids) in batch.iter().enumerate() {
            self.weights.embed_rows(ids, &mut x[b * seq * h..]);
        }
        let lens: Vec<u32> = batch.iter().map(|s| s.len() as u32).collect();
        let x = gpu.upload(&x)?;
        let lens = gpu.upload(&lens)?;
        let wide = |n: usize| gpu.output::<f32>((rows * n) as u64);
        let (a, b, cc, d) = (wide(h)?, wide(h)?, wide(h)?, wide(h)?);
        let (q2, f1) = (wide(3 * h)?, wide(i)?);
        // Scratch that only the unfused projections write (GEMM, then the bias add): allocated on
        // first use, so a layout that adds the bias as it stores never holds it.
        let (q1, f2) = (std::cell::OnceCell::new(), std::cell::OnceCell::new());
        let scratch =
            |cell: &std::cell::OnceCell<Subbuffer<[f32]>>, n: usize| -> Result<Subbuffer<[f32]>, EngineError> {
                if let Some(buf) = cell.get() {
                    return Ok(buf.clone());
                }
                let buf = wide(n)?;
                Ok(cell.get_or_init(|| buf).clone())
            };
        let shape = RowsShape { rows, n: h };
        let eps = c.layer_norm_eps;
        let att = AttentionShape { batch: batch.len(), seq, heads: c.heads, head_dim: c.head_dim() };
        let scale = crate::detmath::rsqrt(c.head_dim() as f32);
        // Steered (an owner may want the device back), the batch is cut into submissions, each a
        // point where a pause takes effect: one per layer on a GPU (a layer takes milliseconds),
        // one per kernel on a CPU driver, where a layer of a large batch takes seconds.
        let steered = gpu.is_steered();
        let per_kernel = steered && gpu.info().device_type == crate::DeviceType::Cpu;
        let mut rec = gpu.recorder()?;
        let cut = |rec: &mut crate::Recorder, here: bool| -> Result<(), EngineError> {
            if here {
                gpu.submit("encoder", std::mem::replace(rec, gpu.recorder()?))?;
            }
            Ok(())
        };
        macro_rules! kernel {
            ($record:expr) => {{
                $record?;
                cut(&mut rec, per_kernel)?;
            }};
        }
        // out = x W + bias (then GELU): one dispatch where the GEMM's layout adds the bias as it
        // stores (the same bits), else the GEMM into `tmp` and the row-broadcast add (and GELU).
        // `tmp` is evaluated only on the unfused path.
        macro_rules! linear {
            ($x:expr, $w:expr, $bias:expr, $epilogue:expr, $tmp:expr, $out:expr, $n:expr, $k:expr) => {{
                let shape = GemmShape { m: rows, n: $n, k: $k };
                if self.gemm.fuses(gpu, $x, $w, shape) {
                    kernel!(self.gemm.record_fused(gpu, &mut rec, $x, $w, $bias, $epilogue, $out, shape));
                } else if $epilogue == Epilogue::Bias {
                    kernel!(self.gemm.record(gpu, &mut rec, $x, $w, $tmp, shape));
                    kernel!(self.add_row.record(gpu, &mut rec, $tmp, $bias, $out, $n));
                } else {
                    kernel!(self.gemm.record(gpu, &mut rec, $x, $w, $out, shape));
                    kernel!(self.add_row.record(gpu, &mut rec, $out, $bias, $tmp, $n));
                    kernel!(self.gelu.record(gpu, &mut rec, $tmp, $out));
                }
            }};
        }
        kernel!(self.norm.record(gpu, &mut rec, &x, &self.emb_ln.0, &self.emb_ln.1, &a, shape, eps));
        for l in &self.device_layers {
            cut(&mut rec, steered && !per_kernel)?;
            linear!(&a, &l.qkv_w, &l.qkv_b, Epilogue::Bias, &scratch(&q1, 3 * h)?, &q2, 3 * h, h);
            kernel!(self.attention.record(gpu, &mut rec, &q2, &lens, &b, att, scale));
            linear!(&b, &l.out_w, &l.out_b, Epilogue::Bias, &cc, &d, h, h);
            kernel!(self.add.record(gpu, &mut rec, &d, &a, &cc, h));
            kernel!(self.norm.record(gpu, &mut rec, &cc, &l.ln1.0, &l.ln1.1, &b, shape, eps));
            linear!(&b, &l.ffn_in_w, &l.ffn_in_b, Epilogue::BiasGelu, &scratch(&f2, i)?, &f1, i, h);
            linear!(&f1, &l.ffn_out_w, &l.ffn_out_b, Epilogue::Bias, &cc, &d, h, i);
            kernel!(self.add.record(gpu, &mut rec, &d, &b, &cc, h));
            kernel!(self.norm.record(gpu, &mut rec, &cc, &l.ln2.0, &l.ln2.1, &a, shape, eps));
        }
        gpu.submit("encoder", rec)?;
        let hidden = gpu.download(&a)?;
        Ok(batch.iter().enumerate().map(|(b, ids)| pool(&hidden[b * seq * h..], ids.len(), h)).collect())
    }
}

/// The CPU twin of [`Encoder::encode`] for one sequence (any batch gives the same bits).
pub fn reference(weights: &EncoderWeights, class: ReproClass, ids: &[u32]) -> Result<Vec<f32>, EngineError> {
    weights.check_tokens(0, ids)?;
    let c = weights.config;
    let (t, h, i) = (ids.len(), c.hidden, c.intermediate);
    let eps = c.layer_norm_eps;
    let mut x = vec![0.0f32; t * h];
    weights.embed_rows(ids, &mut x);
    let mut a = cpu::layernorm_rows(&x, &weights.emb_ln_g, &weights.emb_ln_b, t, h, eps);
    let att = AttentionShape { batch: 1, seq: t, heads: c.heads, head_dim: c.head_dim() };
    let scale = crate::detmath::rsqrt(c.head_dim() as f32);
    let add_row = |x: &[f32], b: &[f32], n| cpu::binary(BinaryOp::Add, x, b, n, true);
    let add = |x: &[f32], y: &[f32]| cpu::binary(BinaryOp::Add, x, y, h, false);
    for l in &weights.layers {
        let qkv = add_row(&cpu::gemm(class, &a, &l.qkv_w, t, 3 * h, h), &l.qkv_b, 3 * h);
        let ctx = attention::reference(class, &qkv, &[t as u32], att, scale);
        let r1 = add(&add_row(&cpu::gemm(class, &ctx, &l.out_w, t, h, h), &l.out_b, h), &a);
        let x1 = cpu::layernorm_rows(&r1, &l.ln1_g, &l.ln1_b, t, h, eps);
        let f = cpu::unary(UnaryOp::Gelu, &add_row(&cpu::gemm(class, &x1, &l.ffn_in_w, t, i, h), &l.ffn_in_b, i));
        let r2 = add(&add_row(&cpu::gemm(class, &f, &l.ffn_out_w, t, h, i), &l.ffn_out_b, h), &x1);
        a = cpu::layernorm_rows(&r2, &l.ln2_g, &l.ln2_b, t, h, eps);
    }
    Ok(pool(&a, t, h))
}
