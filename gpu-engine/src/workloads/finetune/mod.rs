//! Fine-tuning a BERT-family encoder for sequence classification, as Hugging Face's
//! `BertForSequenceClassification` computes it without dropout: the encoder, then the first
//! token's row (`[CLS]`) through the pooler (a dense layer and tanh) and a linear classifier;
//! mean cross-entropy over the batch; AdamW in fp32 with a linear warm-up and decay of the
//! learning rate; weight decay on every tensor but biases and layer-norm parameters.
//!
//! One step is a forward pass that keeps the activations of the trained layers, the backward pass
//! (`kernels::backward`, GEMMs of transposes, and the head on the host) and AdamW
//! ([`crate::kernels::train::AdamW`]). The top `trained_layers` layers, the pooler and the
//! classifier are trained; with every layer trained, the embeddings are too (the padding token's
//! row gets no gradient, as PyTorch's `padding_idx`). [`Finetuner`] runs on a device and
//! [`ReferenceFinetuner`] is its CPU twin: the same bits after every step.
//!
//! A batch's sequences are padded to its longest with the padding token at their positions;
//! padding rows never reach a real row, and their gradients are zero.

mod device;
mod twin;

pub use device::Finetuner;
pub use twin::ReferenceFinetuner;

use super::encoder::{EncoderConfig, EncoderWeights, LayerWeights};
use crate::{
    EngineError, detmath,
    kernels::{backward::RowLists, train::AdamWStep},
    numeric::canonicalize as canon,
    seeded::SplitMix64,
};

/// The hyper-parameters of a fine-tuning run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinetuneOptions {
    /// Classes of the classifier (at least 2).
    pub labels: usize,
    /// The peak learning rate.
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Steps of linear warm-up from 0, then linear decay to 0 at `total_steps`.
    pub warmup_steps: u32,
    pub total_steps: u32,
    /// The top layers trained (with the pooler and the classifier); all of them trains the
    /// embeddings too.
    pub trained_layers: usize,
    pub betas: (f64, f64),
    pub eps: f64,
    /// The padding token's id (the model's `pad_token_id`): a batch is padded with it, and its
    /// embedding row gets no gradient (PyTorch's `padding_idx`).
    pub pad_id: u32,
}

impl FinetuneOptions {
    /// PyTorch's AdamW defaults.
    pub const BETAS: (f64, f64) = (0.9, 0.999);
    pub const EPS: f64 = 1e-8;

    /// The learning rate of step `step` (0 for the first), as `transformers`'
    /// `get_linear_schedule_with_warmup` computes it.
    pub fn learning_rate_at(&self, step: u32) -> f64 {
        let (s, w, t) = (f64::from(step), f64::from(self.warmup_steps), f64::from(self.total_steps));
        let factor = if step < self.warmup_steps { s / w.max(1.0) } else { ((t - s) / (t - w).max(1.0)).max(0.0) };
        self.learning_rate * factor
    }

    /// AdamW's scalars for step `step` (0 for the first) with or without weight decay.
    pub(crate) fn adamw(&self, step: u32, decay: bool) -> AdamWStep {
        let wd = if decay { self.weight_decay } else { 0.0 };
        AdamWStep::new(self.learning_rate_at(step), wd, self.betas, self.eps, step + 1)
    }

    fn check(&self, config: &EncoderConfig, head: &ClassifierHead) -> Result<(), EngineError> {
        let bad = |message: String| Err(EngineError::Shape { kernel: "finetune", message });
        if head.hidden != config.hidden || head.labels != self.labels {
            return bad(format!(
                "a head of {} inputs and {} classes for a model of width {} and {} classes",
                head.hidden, head.labels, config.hidden, self.labels
            ));
        }
        if !self.eps.is_finite() || self.eps <= 0.0 {
            return bad(format!("eps {} must be above 0", self.eps));
        }
        if self.pad_id as usize >= config.vocab_size {
            return bad(format!("the padding id {} is outside the vocabulary", self.pad_id));
        }
        if !(2..=1 << 16).contains(&self.labels) {
            return bad(format!("{} labels: a classifier needs 2 to 65,536", self.labels));
        }
        if self.trained_layers > config.layers {
            return bad(format!("{} layers to train, but the model has {}", self.trained_layers, config.layers));
        }
        let finite = [self.learning_rate, self.weight_decay, self.betas.0, self.betas.1, self.eps];
        if finite.iter().any(|v| !v.is_finite() || *v < 0.0) || self.betas.0 >= 1.0 || self.betas.1 >= 1.0 {
            return bad(
                "the learning rate, weight decay, betas and eps must be finite, non-negative, betas below 1".to_owned()
            );
        }
        Ok(())
    }
}

/// The classification head: the pooler's dense layer (`[in, out]`, applied to the `[CLS]` row,
/// then tanh) and the classifier (`[hidden, labels]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierHead {
    pub hidden: usize,
    pub labels: usize,
    pub pooler_w: Vec<f32>,
    pub pooler_b: Vec<f32>,
    pub classifier_w: Vec<f32>,
    pub classifier_b: Vec<f32>,
}

/// The head's gradients, or its optimizer moments: the same shapes.
pub type HeadTensors = [Vec<f32>; 4];

impl ClassifierHead {
    /// A head over a checkpoint's pooler (`[in, out]`), with a classifier drawn as Hugging Face
    /// initializes one (normal with standard deviation 0.02, zero bias) from `seed`: Box-Muller
    /// over SplitMix64 with this crate's f64 functions, the same bits on every machine.
    pub fn new(pooler_w: Vec<f32>, pooler_b: Vec<f32>, labels: usize, seed: u64) -> Result<Self, EngineError> {
        let hidden = pooler_b.len();
        if pooler_w.len() != hidden * hidden || hidden == 0 {
            return Err(EngineError::Shape {
                kernel: "finetune",
                message: format!("the pooler has {} weights for {hidden} outputs", pooler_w.len()),
            });
        }
        let classifier_w = normal_draws(seed, hidden * labels);
        Ok(Self { hidden, labels, pooler_w, pooler_b, classifier_w, classifier_b: vec![0.0; labels] })
    }

    /// A head whose pooler is drawn like its classifier (for a checkpoint without one, as
    /// transformers initializes it: normal with standard deviation 0.02, zero bias).
    pub fn drawn(hidden: usize, labels: usize, seed: u64) -> Result<Self, EngineError> {
        let pooler = normal_draws(seed ^ 0x706f_6f6c_6572, hidden * hidden);
        Self::new(pooler, vec![0.0; hidden], labels, seed)
    }

    /// A head over the pooler of a Hugging Face checkpoint (`pooler.dense`, with or without a
    /// `bert.` prefix), with a classifier of `labels` classes drawn from `seed` ([`ClassifierHead::new`]).
    pub fn from_safetensors(bytes: &[u8], hidden: usize, labels: usize, seed: u64) -> Result<Self, EngineError> {
        match pooler(bytes, hidden)? {
            Some((w, b)) => Self::new(w, b, labels, seed),
            None => Err(EngineError::Weights {
                tensor: "pooler.dense.weight".to_owned(),
                message: "is not in the checkpoint".to_owned(),
            }),
        }
    }

    fn tensors_mut(&mut self) -> [(&mut Vec<f32>, bool); 4] {
        [
            (&mut self.pooler_w, true),
            (&mut self.pooler_b, false),
            (&mut self.classifier_w, true),
            (&mut self.classifier_b, false),
        ]
    }

    fn zeros(&self) -> HeadTensors {
        [
            vec![0.0; self.pooler_w.len()],
            vec![0.0; self.pooler_b.len()],
            vec![0.0; self.classifier_w.len()],
            vec![0.0; self.classifier_b.len()],
        ]
    }

    /// Logits of `cls` (`[batch, hidden]` rows), with the pooled rows: `(logits, pooled)`.
    fn forward(&self, cls: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (h, l) = (self.hidden, self.labels);
        let pooled: Vec<f32> =
            linear(cls, &self.pooler_w, &self.pooler_b, h, h).iter().map(|&v| canon(detmath::tanh(v))).collect();
        (linear(&pooled, &self.classifier_w, &self.classifier_b, h, l), pooled)
    }

    /// Class scores of `cls` rows.
    pub fn logits(&self, cls: &[f32]) -> Vec<f32> {
        self.forward(cls).0
    }

    /// The mean cross-entropy of the batch (`cls` rows and their labels), the gradient of `cls`,
    /// and the head's gradients; an error when a class score is not finite (step `step` diverged).
    fn loss_and_grads(
        &self,
        cls: &[f32],
        labels: &[u32],
        step: u32,
    ) -> Result<(f64, Vec<f32>, HeadTensors), EngineError> {
        let (h, l, batch) = (self.hidden, self.labels, labels.len());
        let (logits, pooled) = self.forward(cls);
        let inv_batch = canon(1.0 / batch as f32);
        let mut loss = 0.0f64;
        let mut dlogits = vec![0.0f32; batch * l];
        for (b, &label) in labels.iter().enumerate() {
            let row = &logits[b * l..(b + 1) * l];
            if let Some(c) = row.iter().position(|v| !v.is_finite()) {
                return Err(EngineError::Shape {
                    kernel: "finetune",
                    message: format!(
                        "step {}: sample {b}'s score for class {c} is {}: the training diverged (a smaller learning rate may not)",
                        step + 1,
                        row[c]
                    ),
                });
            }
            let m = row.iter().copied().fold(row[0], |m, v| if v > m { v } else { m });
            let e: Vec<f32> = row.iter().map(|&v| canon(detmath::exp(v - m))).collect();
            let z = canon(e.iter().sum::<f32>());
            loss += f64::from(m) - f64::from(row[label as usize]) + detmath::ln64(f64::from(z));
            for (c, &ec) in e.iter().enumerate() {
                let p = canon(ec / z);
                let target = if c == label as usize { 1.0 } else { 0.0 };
                dlogits[b * l + c] = canon(canon(p - target) * inv_batch);
            }
        }
        let d_classifier_w = outer_sum(&pooled, &dlogits, batch, h, l);
        let d_classifier_b = column_sums(&dlogits, batch, l);
        let dpooled = back_through(&dlogits, &self.classifier_w, batch, h, l);
        let dpre: Vec<f32> = dpooled.iter().zip(&pooled).map(|(&d, &p)| canon(d * canon(1.0 - canon(p * p)))).collect();
        let d_pooler_w = outer_sum(cls, &dpre, batch, h, h);
        let d_pooler_b = column_sums(&dpre, batch, h);
        let dcls = back_through(&dpre, &self.pooler_w, batch, h, h);
        Ok((loss / batch as f64, dcls, [d_pooler_w, d_pooler_b, d_classifier_w, d_classifier_b]))
    }

    /// One AdamW step of the head on the host (the CPU twin of the device's, so either runner
    /// gives the same bits).
    fn update(
        &mut self,
        grads: &HeadTensors,
        moments: &mut (HeadTensors, HeadTensors),
        options: &FinetuneOptions,
        step: u32,
    ) {
        let (m, v) = moments;
        for (((w, decay), g), (m, v)) in self.tensors_mut().into_iter().zip(grads).zip(m.iter_mut().zip(v.iter_mut())) {
            crate::kernels::train::adamw(w, m, v, g, options.adamw(step, decay));
        }
    }
}

/// Safetensors bytes of a fine-tuned model in transformers' `BertForSequenceClassification`
/// names and layouts (`bert.`-prefixed encoder tensors, linear weights `[out, in]`, the pooler and
/// `classifier.weight` `[labels, hidden]`).
pub fn to_safetensors(weights: &EncoderWeights, head: &ClassifierHead) -> Result<Vec<u8>, EngineError> {
    let c = weights.config;
    let (h, i) = (c.hidden, c.intermediate);
    let mut named = std::collections::BTreeMap::new();
    let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
        named.insert(name, (shape, values));
    };
    // Ours are [in, out]; theirs [out, in].
    let linear = |w: &[f32], inp: usize, out: usize| crate::reference::transpose(w, inp, out);
    put("bert.embeddings.word_embeddings.weight".into(), vec![c.vocab_size, h], weights.word.clone());
    put("bert.embeddings.position_embeddings.weight".into(), vec![c.max_positions, h], weights.position.clone());
    put("bert.embeddings.token_type_embeddings.weight".into(), vec![c.type_vocab_size, h], weights.token_type.clone());
    put("bert.embeddings.LayerNorm.weight".into(), vec![h], weights.emb_ln_g.clone());
    put("bert.embeddings.LayerNorm.bias".into(), vec![h], weights.emb_ln_b.clone());
    for (l, lw) in weights.layers.iter().enumerate() {
        let p = format!("bert.encoder.layer.{l}");
        for (part, name) in ["query", "key", "value"].into_iter().enumerate() {
            let cols: Vec<f32> = (0..h).flat_map(|r| lw.qkv_w[r * 3 * h + part * h..][..h].iter().copied()).collect();
            put(format!("{p}.attention.self.{name}.weight"), vec![h, h], linear(&cols, h, h));
            put(format!("{p}.attention.self.{name}.bias"), vec![h], lw.qkv_b[part * h..(part + 1) * h].to_vec());
        }
        put(format!("{p}.attention.output.dense.weight"), vec![h, h], linear(&lw.out_w, h, h));
        put(format!("{p}.attention.output.dense.bias"), vec![h], lw.out_b.clone());
        put(format!("{p}.attention.output.LayerNorm.weight"), vec![h], lw.ln1_g.clone());
        put(format!("{p}.attention.output.LayerNorm.bias"), vec![h], lw.ln1_b.clone());
        put(format!("{p}.intermediate.dense.weight"), vec![i, h], linear(&lw.ffn_in_w, h, i));
        put(format!("{p}.intermediate.dense.bias"), vec![i], lw.ffn_in_b.clone());
        put(format!("{p}.output.dense.weight"), vec![h, i], linear(&lw.ffn_out_w, i, h));
        put(format!("{p}.output.dense.bias"), vec![h], lw.ffn_out_b.clone());
        put(format!("{p}.output.LayerNorm.weight"), vec![h], lw.ln2_g.clone());
        put(format!("{p}.output.LayerNorm.bias"), vec![h], lw.ln2_b.clone());
    }
    put("bert.pooler.dense.weight".into(), vec![h, h], linear(&head.pooler_w, h, h));
    put("bert.pooler.dense.bias".into(), vec![h], head.pooler_b.clone());
    put("classifier.weight".into(), vec![head.labels, h], linear(&head.classifier_w, h, head.labels));
    put("classifier.bias".into(), vec![head.labels], head.classifier_b.clone());
    super::tensors::to_bytes(&named)
}

/// The pooler of a Hugging Face BERT checkpoint (`pooler.dense`, with or without a `bert.` prefix)
/// as `([in, out] weights, bias)`, or `None` when it has none.
pub fn pooler(bytes: &[u8], hidden: usize) -> Result<Option<Pooler>, EngineError> {
    let file = super::tensors::TensorFile::parse(bytes)?;
    let prefix = if file.contains("bert.pooler.dense.weight") { "bert." } else { "" };
    if !file.contains(&format!("{prefix}pooler.dense.weight")) {
        return Ok(None);
    }
    let w = file.f32(&format!("{prefix}pooler.dense.weight"), &[hidden, hidden])?;
    let b = file.f32(&format!("{prefix}pooler.dense.bias"), &[hidden])?;
    Ok(Some((crate::reference::transpose(&w, hidden, hidden), b)))
}

/// A pooler's `[in, out]` weights and its bias.
pub type Pooler = (Vec<f32>, Vec<f32>);
/// `(m, v)` of the embeddings' five tensors (word, position, token type, the norm's gain and bias).
pub type EmbeddingMoments = ([Vec<f32>; 5], [Vec<f32>; 5]);

/// The names of an encoder layer's tensors in [`LayerWeights::tensors_mut`]'s order.
const LAYER_FIELDS: [&str; 12] = [
    "qkv_w",
    "qkv_b",
    "out_w",
    "out_b",
    "ln1_g",
    "ln1_b",
    "ffn_in_w",
    "ffn_in_b",
    "ffn_out_w",
    "ffn_out_b",
    "ln2_g",
    "ln2_b",
];
/// The embeddings' tensors in training order, and the head's.
const EMBEDDING_FIELDS: [&str; 5] = ["word", "position", "token_type", "ln_g", "ln_b"];
const HEAD_FIELDS: [&str; 4] = ["pooler_w", "pooler_b", "classifier_w", "classifier_b"];

/// AdamW's state besides the weights: the steps taken and the two moments of every trained
/// tensor. With the weights it is all a run resumes from, elsewhere, to the same bits.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    pub steps: u32,
    /// The first trained layer: `layers` holds it and those above.
    pub first_layer: usize,
    /// `(m, v)` of each trained layer, from the first trained layer up.
    pub layers: Vec<(LayerWeights, LayerWeights)>,
    /// `(m, v)` of the embeddings, when every layer is trained.
    pub embeddings: Option<EmbeddingMoments>,
    pub head: (HeadTensors, HeadTensors),
}

/// The most steps a run counts (the step is stored as an f32, exact up to 2^24).
pub const MAX_STEPS: u32 = 1 << 24;

impl Moments {
    /// Safetensors bytes: `adamw.steps` and `adamw.{m,v}.{layer.L,embeddings,head}.FIELD` (flat).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, EngineError> {
        let mut named = std::collections::BTreeMap::new();
        named.insert("adamw.steps".to_owned(), (vec![1], vec![self.steps as f32]));
        let mut put = |which: &str, part: String, values: &[f32]| {
            named.insert(format!("adamw.{which}.{part}"), (vec![values.len()], values.to_vec()));
        };
        let first = self.first_layer;
        for (l, (m, v)) in self.layers.iter().enumerate() {
            for (which, t) in [("m", m), ("v", v)] {
                let mut t = t.clone();
                for ((values, _), field) in t.tensors_mut().into_iter().zip(LAYER_FIELDS) {
                    put(which, format!("layer.{}.{field}", first + l), values);
                }
            }
        }
        if let Some((m, v)) = &self.embeddings {
            for (which, t) in [("m", m), ("v", v)] {
                for (values, field) in t.iter().zip(EMBEDDING_FIELDS) {
                    put(which, format!("embeddings.{field}"), values);
                }
            }
        }
        for (which, t) in [("m", &self.head.0), ("v", &self.head.1)] {
            for (values, field) in t.iter().zip(HEAD_FIELDS) {
                put(which, format!("head.{field}"), values);
            }
        }
        super::tensors::to_bytes(&named)
    }

    /// The steps an optimizer state's bytes say were taken (its `adamw.steps`), read alone.
    pub fn steps_in(bytes: &[u8]) -> Result<u32, EngineError> {
        let file = super::tensors::TensorFile::parse(bytes)?;
        let steps = file.f32("adamw.steps", &[1])?[0];
        if !(steps >= 0.0 && steps <= MAX_STEPS as f32 && steps.fract() == 0.0) {
            return Err(EngineError::Weights {
                tensor: "adamw.steps".to_owned(),
                message: format!("{steps} is not a count of steps from 0 to {MAX_STEPS}"),
            });
        }
        Ok(steps as u32)
    }

    /// Reads [`Moments::to_safetensors`]'s bytes for a run of `options` over `weights` and `head`
    /// (their shapes): every tensor must be there, of its tensor's length.
    pub fn from_safetensors(
        bytes: &[u8],
        weights: &EncoderWeights,
        head: &ClassifierHead,
        options: &FinetuneOptions,
    ) -> Result<Self, EngineError> {
        let steps = Self::steps_in(bytes)?;
        let file = super::tensors::TensorFile::parse(bytes)?;
        // Every moment finite, and v (a mean of squares) never negative: a state no run leaves
        // would turn the weights it touches into NaN, maybe hours later.
        let read = |which: &str, part: String, len: usize| -> Result<Vec<f32>, EngineError> {
            let name = format!("adamw.{which}.{part}");
            let values = file.f32(&name, &[len])?;
            if let Some(v) = values.iter().find(|v| !v.is_finite() || (which == "v" && **v < 0.0)) {
                return Err(EngineError::Weights {
                    tensor: name,
                    message: format!("holds {v}; a moment is finite (and v not negative)"),
                });
            }
            Ok(values)
        };
        let first = first_trained(&weights.config, options);
        let mut layers = Vec::new();
        for (l, lw) in weights.layers.iter().enumerate().skip(first) {
            let mut pair = (lw.zeros_like(), lw.zeros_like());
            for (which, t) in [("m", &mut pair.0), ("v", &mut pair.1)] {
                for ((values, _), field) in t.tensors_mut().into_iter().zip(LAYER_FIELDS) {
                    *values = read(which, format!("layer.{l}.{field}"), values.len())?;
                }
            }
            layers.push(pair);
        }
        let embeddings = if first == 0 {
            let w = weights;
            let lens = [&w.word, &w.position, &w.token_type, &w.emb_ln_g, &w.emb_ln_b].map(Vec::len);
            let mut pair: EmbeddingMoments = Default::default();
            for (which, t) in [("m", &mut pair.0), ("v", &mut pair.1)] {
                for ((values, field), len) in t.iter_mut().zip(EMBEDDING_FIELDS).zip(lens) {
                    *values = read(which, format!("embeddings.{field}"), len)?;
                }
            }
            Some(pair)
        } else {
            None
        };
        let mut pair = (head.zeros(), head.zeros());
        for (which, t) in [("m", &mut pair.0), ("v", &mut pair.1)] {
            for (values, field) in t.iter_mut().zip(HEAD_FIELDS) {
                *values = read(which, format!("head.{field}"), values.len())?;
            }
        }
        Ok(Self { steps, first_layer: first, layers, embeddings, head: pair })
    }
}

/// The weights of a fine-tuned model from [`to_safetensors`]'s bytes: the encoder and the head.
pub fn from_safetensors(
    bytes: &[u8],
    config: EncoderConfig,
    labels: usize,
) -> Result<(EncoderWeights, ClassifierHead), EngineError> {
    let weights = EncoderWeights::from_safetensors(bytes, config)?;
    let (pooler_w, pooler_b) = pooler(bytes, config.hidden)?.ok_or_else(|| EngineError::Weights {
        tensor: "bert.pooler.dense.weight".to_owned(),
        message: "is not in the checkpoint".to_owned(),
    })?;
    let file = super::tensors::TensorFile::parse(bytes)?;
    let h = config.hidden;
    let classifier_w = crate::reference::transpose(&file.f32("classifier.weight", &[labels, h])?, labels, h);
    let classifier_b = file.f32("classifier.bias", &[labels])?;
    let head = ClassifierHead { hidden: h, labels, pooler_w, pooler_b, classifier_w, classifier_b };
    // A run leaves finite weights: a state with others is no run's (and would diverge here).
    let w = &weights;
    let mut tensors: Vec<&Vec<f32>> = vec![&w.word, &w.position, &w.token_type, &w.emb_ln_g, &w.emb_ln_b];
    for l in &w.layers {
        tensors.extend([&l.qkv_w, &l.qkv_b, &l.out_w, &l.out_b, &l.ln1_g, &l.ln1_b]);
        tensors.extend([&l.ffn_in_w, &l.ffn_in_b, &l.ffn_out_w, &l.ffn_out_b, &l.ln2_g, &l.ln2_b]);
    }
    tensors.extend([&head.pooler_w, &head.pooler_b, &head.classifier_w, &head.classifier_b]);
    if tensors.iter().any(|t| t.iter().any(|v| !v.is_finite())) {
        return Err(EngineError::Weights {
            tensor: "(the weights)".to_owned(),
            message: "hold a value that is not finite; a run leaves finite weights".to_owned(),
        });
    }
    Ok((weights, head))
}

/// `n` draws from a normal distribution with standard deviation 0.02 (transformers' initializer
/// range): Box-Muller over SplitMix64 with this crate's f64 functions, the same bits on every machine.
fn normal_draws(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
            let u2 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let radius = (-2.0 * detmath::ln64(u1)).sqrt();
            let (sin, _) = detmath::sin_cos64(2.0 * std::f64::consts::PI * u2);
            canon((0.02 * radius * sin) as f32)
        })
        .collect()
}

/// `x W + b` for `x` of `[rows, k]` rows and `W` of `[k, n]`: sums in increasing k.
fn linear(x: &[f32], w: &[f32], b: &[f32], k: usize, n: usize) -> Vec<f32> {
    let rows = x.len() / k;
    let mut out = vec![0.0f32; rows * n];
    for r in 0..rows {
        for j in 0..n {
            let acc = (0..k).fold(0.0f32, |acc, i| acc + x[r * k + i] * w[i * n + j]);
            out[r * n + j] = canon(canon(acc) + b[j]);
        }
    }
    out
}

/// `x^T dy` for `x` of `[rows, k]` and `dy` of `[rows, n]`: a weight's gradient, sums over rows in
/// increasing order.
fn outer_sum(x: &[f32], dy: &[f32], rows: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; k * n];
    for i in 0..k {
        for j in 0..n {
            out[i * n + j] = canon((0..rows).fold(0.0f32, |acc, r| acc + x[r * k + i] * dy[r * n + j]));
        }
    }
    out
}

/// `dy W^T` for `dy` of `[rows, n]` and `W` of `[k, n]`: the input's gradient.
fn back_through(dy: &[f32], w: &[f32], rows: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * k];
    for r in 0..rows {
        for i in 0..k {
            out[r * k + i] = canon((0..n).fold(0.0f32, |acc, j| acc + dy[r * n + j] * w[i * n + j]));
        }
    }
    out
}

/// Sums over the rows of `[rows, n]`, in increasing row order.
fn column_sums(x: &[f32], rows: usize, n: usize) -> Vec<f32> {
    (0..n).map(|j| canon((0..rows).fold(0.0f32, |acc, r| acc + x[r * n + j]))).collect()
}

/// A batch padded for the encoder: ids `[batch, seq]` (the padding id after each sequence's end), the
/// lengths, and the lists the embeddings' gradients are summed by.
#[derive(Debug, Clone)]
struct Padded {
    seq: usize,
    ids: Vec<u32>,
    lens: Vec<u32>,
    /// The real tokens' rows by word id (the padding id left out), by position, and all of
    /// them (the token type, 0 for every token).
    words: RowLists,
    positions: RowLists,
    types: RowLists,
}

impl Padded {
    fn new(
        config: &EncoderConfig,
        sequences: &[Vec<u32>],
        labels: &[u32],
        classes: usize,
        pad_id: u32,
    ) -> Result<Self, EngineError> {
        let bad = |message: String| Err(EngineError::Shape { kernel: "finetune", message });
        if sequences.is_empty() || sequences.len() != labels.len() {
            return bad(format!("a batch of {} sequences and {} labels", sequences.len(), labels.len()));
        }
        if let Some((b, l)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
            return bad(format!("sequence {b} has label {l}, but the classifier has {classes} classes"));
        }
        for (s, ids) in sequences.iter().enumerate() {
            if ids.is_empty() || ids.len() > config.max_positions {
                return bad(format!("sequence {s} has {} tokens (1 to {})", ids.len(), config.max_positions));
            }
            if let Some(id) = ids.iter().find(|&&id| id as usize >= config.vocab_size) {
                return bad(format!("sequence {s}: id {id} is outside the vocabulary"));
            }
        }
        let seq = sequences.iter().map(Vec::len).max().unwrap_or(1);
        let mut ids = vec![pad_id; sequences.len() * seq];
        for (b, s) in sequences.iter().enumerate() {
            ids[b * seq..b * seq + s.len()].copy_from_slice(s);
        }
        let real = |r: usize| r % seq < sequences[r / seq].len();
        let rows = ids.len();
        let words = RowLists::group((0..rows).map(|r| (real(r) && ids[r] != pad_id).then_some(ids[r])));
        let positions = RowLists::group((0..rows).map(|r| real(r).then_some((r % seq) as u32)));
        let types = RowLists::group((0..rows).map(|r| real(r).then_some(0)));
        Ok(Self { seq, ids, lens: sequences.iter().map(|s| s.len() as u32).collect(), words, positions, types })
    }

    /// The `[CLS]` rows (each sequence's first) of `hidden` (`[batch * seq, h]`).
    fn cls_rows(&self, hidden: &[f32], h: usize) -> Vec<f32> {
        (0..self.lens.len()).flat_map(|b| hidden[b * self.seq * h..][..h].iter().copied()).collect()
    }

    /// A gradient of the whole hidden state that is `dcls` at the `[CLS]` rows, zero elsewhere.
    fn spread_cls(&self, dcls: &[f32], h: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.ids.len() * h];
        for b in 0..self.lens.len() {
            out[b * self.seq * h..][..h].copy_from_slice(&dcls[b * h..(b + 1) * h]);
        }
        out
    }
}

/// The head and the steps taken: what both runners share.
#[derive(Debug, Clone)]
struct HeadState {
    head: ClassifierHead,
    moments: (HeadTensors, HeadTensors),
}

impl HeadState {
    fn new(head: ClassifierHead) -> Self {
        let moments = (head.zeros(), head.zeros());
        Self { head, moments }
    }
}

/// The first layer trained.
fn first_trained(config: &EncoderConfig, options: &FinetuneOptions) -> usize {
    config.layers - options.trained_layers
}
