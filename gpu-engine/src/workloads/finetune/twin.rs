//! The CPU twin of [`super::Finetuner`]: every kernel's twin in the device's order.

use super::{ClassifierHead, FinetuneOptions, HeadState, Padded, first_trained};
use crate::{
    EngineError, ReproClass,
    attention::{self, AttentionShape, backward::attention_backward},
    kernels::{
        backward::{layernorm_backward, scatter_rows},
        train::adamw,
    },
    reference::{self as cpu, BinaryOp, UnaryOp},
    workloads::encoder::{EncoderWeights, LayerWeights},
};

/// What a trained layer's backward pass needs of its forward pass.
struct Saved {
    input: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    r1: Vec<f32>,
    x1: Vec<f32>,
    f_pre: Vec<f32>,
    f: Vec<f32>,
    r2: Vec<f32>,
}

/// The embeddings' tensors in training order: word, position, token type, the norm's gain and bias.
type Embeddings = [Vec<f32>; 5];

/// Fine-tuning on the CPU, the same bits as [`super::Finetuner`] after every step.
#[derive(Debug, Clone)]
pub struct ReferenceFinetuner {
    weights: EncoderWeights,
    head: HeadState,
    options: FinetuneOptions,
    class: ReproClass,
    /// AdamW's moments of the trained layers (from the first trained one up) and, with every layer
    /// trained, of the embeddings.
    layer_moments: Vec<(LayerWeights, LayerWeights)>,
    embedding_moments: Option<(Embeddings, Embeddings)>,
    steps: u32,
}

/// `col_sums` as the device computes them: a transpose, then row sums in reduce_rows' tree.
fn column_sums(x: &[f32], rows: usize, n: usize) -> Vec<f32> {
    cpu::sum_rows(&cpu::transpose(x, rows, n), n, rows)
}

impl ReferenceFinetuner {
    pub fn new(
        weights: EncoderWeights,
        head: ClassifierHead,
        options: FinetuneOptions,
        class: ReproClass,
    ) -> Result<Self, EngineError> {
        let c = weights.config;
        options.check(&c, &head)?;
        let first = first_trained(&c, &options);
        let layer_moments = weights.layers[first..].iter().map(|l| (l.zeros_like(), l.zeros_like())).collect();
        let embedding_moments = (first == 0).then(|| {
            let z = || {
                [&weights.word, &weights.position, &weights.token_type, &weights.emb_ln_g, &weights.emb_ln_b]
                    .map(|t| vec![0.0f32; t.len()])
            };
            (z(), z())
        });
        Ok(Self { weights, head: HeadState::new(head), options, class, layer_moments, embedding_moments, steps: 0 })
    }

    pub fn weights(&self) -> (&EncoderWeights, &ClassifierHead) {
        (&self.weights, &self.head.head)
    }

    /// Steps taken.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// One optimizer step on a batch; returns the batch's mean loss before the step.
    pub fn step(&mut self, sequences: &[Vec<u32>], labels: &[u32]) -> Result<f64, EngineError> {
        let c = self.weights.config;
        let batch = Padded::new(&c, sequences, labels, self.head.head.labels, self.options.pad_id)?;
        let (h, i, rows, eps) = (c.hidden, c.intermediate, batch.ids.len(), c.layer_norm_eps);
        let first = first_trained(&c, &self.options);
        let att = AttentionShape { batch: sequences.len(), seq: batch.seq, heads: c.heads, head_dim: c.head_dim() };
        let scale = crate::detmath::rsqrt(c.head_dim() as f32);
        let class = self.class;
        let gemm = |a: &[f32], b: &[f32], m, n, k| cpu::gemm(class, a, b, m, n, k);
        let add_row = |x: &[f32], b: &[f32], n| cpu::binary(BinaryOp::Add, x, b, n, true);
        let add = |x: &[f32], y: &[f32]| cpu::binary(BinaryOp::Add, x, y, h, false);

        // Forward: the embeddings (word + token type 0, then + position), their norm, the layers.
        let w = &self.weights;
        let words = cpu::gather(&w.word, &batch.ids, h);
        let positions: Vec<u32> = (0..rows).map(|r| (r % batch.seq) as u32).collect();
        let typed = add_row(&words, &w.token_type[..h], h);
        let x_emb = cpu::binary(BinaryOp::Add, &typed, &cpu::gather(&w.position, &positions, h), h, false);
        let mut a = cpu::layernorm_rows(&x_emb, &w.emb_ln_g, &w.emb_ln_b, rows, h, eps);
        let mut saved = Vec::new();
        for (l, lw) in w.layers.iter().enumerate() {
            let qkv = add_row(&gemm(&a, &lw.qkv_w, rows, 3 * h, h), &lw.qkv_b, 3 * h);
            let ctx = attention::reference(class, &qkv, &batch.lens, att, scale);
            let r1 = add(&add_row(&gemm(&ctx, &lw.out_w, rows, h, h), &lw.out_b, h), &a);
            let x1 = cpu::layernorm_rows(&r1, &lw.ln1_g, &lw.ln1_b, rows, h, eps);
            let f_pre = add_row(&gemm(&x1, &lw.ffn_in_w, rows, i, h), &lw.ffn_in_b, i);
            let f = cpu::unary(UnaryOp::Gelu, &f_pre);
            let r2 = add(&add_row(&gemm(&f, &lw.ffn_out_w, rows, h, i), &lw.ffn_out_b, h), &x1);
            let out = cpu::layernorm_rows(&r2, &lw.ln2_g, &lw.ln2_b, rows, h, eps);
            if l >= first {
                saved.push(Saved { input: a, qkv, ctx, r1, x1, f_pre, f, r2 });
            }
            a = out;
        }

        // The head on the host, then back through the trained layers.
        let (loss, dcls, head_grads) = self.head.head.loss_and_grads(&batch.cls_rows(&a, h), labels, self.steps)?;
        let mut da = batch.spread_cls(&dcls, h);
        let mut grads: Vec<LayerWeights> = Vec::with_capacity(saved.len());
        for (s, lw) in saved.iter().zip(&w.layers[first..]).rev() {
            let mut g = lw.zeros_like();
            let (dr2, xdy2) = layernorm_backward(&s.r2, &lw.ln2_g, &da, rows, h, eps);
            g.ln2_g = column_sums(&xdy2, rows, h);
            g.ln2_b = column_sums(&da, rows, h);
            g.ffn_out_w = gemm(&cpu::transpose(&s.f, rows, i), &dr2, i, h, rows);
            g.ffn_out_b = column_sums(&dr2, rows, h);
            let df = gemm(&dr2, &cpu::transpose(&lw.ffn_out_w, i, h), rows, i, h);
            let df_pre = cpu::binary(BinaryOp::GeluGrad, &df, &s.f_pre, i, false);
            g.ffn_in_w = gemm(&cpu::transpose(&s.x1, rows, h), &df_pre, h, i, rows);
            g.ffn_in_b = column_sums(&df_pre, rows, i);
            let dx1 = add(&dr2, &gemm(&df_pre, &cpu::transpose(&lw.ffn_in_w, h, i), rows, h, i));
            let (dr1, xdy1) = layernorm_backward(&s.r1, &lw.ln1_g, &dx1, rows, h, eps);
            g.ln1_g = column_sums(&xdy1, rows, h);
            g.ln1_b = column_sums(&dx1, rows, h);
            g.out_w = gemm(&cpu::transpose(&s.ctx, rows, h), &dr1, h, h, rows);
            g.out_b = column_sums(&dr1, rows, h);
            let dctx = gemm(&dr1, &cpu::transpose(&lw.out_w, h, h), rows, h, h);
            let dqkv = attention_backward(&s.qkv, &batch.lens, &dctx, att, scale);
            g.qkv_w = gemm(&cpu::transpose(&s.input, rows, h), &dqkv, h, 3 * h, rows);
            g.qkv_b = column_sums(&dqkv, rows, 3 * h);
            da = add(&dr1, &gemm(&dqkv, &cpu::transpose(&lw.qkv_w, h, 3 * h), rows, h, 3 * h));
            grads.push(g);
        }
        grads.reverse();
        let embedding_grads = (first == 0).then(|| {
            let (dx, xdy) = layernorm_backward(&x_emb, &w.emb_ln_g, &da, rows, h, eps);
            let table = |t: &Vec<f32>, lists| {
                let mut out = vec![0.0f32; t.len()];
                scatter_rows(&dx, lists, &mut out, h);
                out
            };
            [
                table(&w.word, &batch.words),
                table(&w.position, &batch.positions),
                table(&w.token_type, &batch.types),
                column_sums(&xdy, rows, h),
                column_sums(&da, rows, h),
            ]
        });

        // AdamW, every tensor in the same order as the device.
        let step = self.steps;
        let options = self.options;
        for ((lw, g), (m, v)) in self.weights.layers[first..].iter_mut().zip(&mut grads).zip(&mut self.layer_moments) {
            let tensors =
                lw.tensors_mut().into_iter().zip(g.tensors_mut()).zip(m.tensors_mut().into_iter().zip(v.tensors_mut()));
            for (((w, decay), (g, _)), ((m, _), (v, _))) in tensors {
                adamw(w, m, v, g, options.adamw(step, decay));
            }
        }
        if let (Some(grads), Some((m, v))) = (embedding_grads, self.embedding_moments.as_mut()) {
            let w = &mut self.weights;
            let tensors = [
                (&mut w.word, true),
                (&mut w.position, true),
                (&mut w.token_type, true),
                (&mut w.emb_ln_g, false),
                (&mut w.emb_ln_b, false),
            ];
            for ((((w, decay), g), m), v) in tensors.into_iter().zip(&grads).zip(m.iter_mut()).zip(v.iter_mut()) {
                adamw(w, m, v, g, options.adamw(step, decay));
            }
        }
        self.head.head.update(&head_grads, &mut self.head.moments, &options, step);
        self.steps += 1;
        Ok(loss)
    }
}
