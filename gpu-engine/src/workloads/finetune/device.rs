//! Fine-tuning on a device: the encoder's weights, gradients and AdamW's moments stay there; per
//! step the host uploads the batch's ids, reads back the last layer's output, runs the head (its
//! weights and moments live on the host) on the `[CLS]` rows and uploads the output's gradient
//! (the `[CLS]` rows', zeros elsewhere). One submission for the forward pass, one per trained
//! layer backward, one for the embeddings and the optimizer.

use vulkano::buffer::Subbuffer;

use super::{
    ClassifierHead, EmbeddingMoments, FinetuneOptions, HeadState, HeadTensors, Moments, Padded, first_trained,
};
use crate::{
    EngineError, Gpu, Recorder, ReproClass,
    attention::{Attention, AttentionShape, backward::AttentionBackward},
    kernels::{
        Gemm,
        backward::{LayerNormBackward, ScatterRows, record_zero},
        elementwise::{Binary, BinaryOp, Gather, Transpose},
        gemm::{GemmShape, GemmVariant},
        rows::{LayerNormRows, RowsShape, SumRows, Unary},
        train::AdamW,
    },
    reference::UnaryOp,
    workloads::encoder::EncoderWeights,
};

/// A tensor being trained: its weights, gradient and AdamW's two moments, on the device.
#[derive(Debug)]
struct Trained {
    w: Subbuffer<[f32]>,
    g: Subbuffer<[f32]>,
    m: Subbuffer<[f32]>,
    v: Subbuffer<[f32]>,
    decay: bool,
}

impl Trained {
    fn new(gpu: &Gpu, w: &Subbuffer<[f32]>, decay: bool) -> Result<Self, EngineError> {
        let zeros = || gpu.upload(&vec![0.0f32; w.len() as usize]);
        Ok(Self { w: w.clone(), g: gpu.output(w.len())?, m: zeros()?, v: zeros()?, decay })
    }
}

/// The activations of a trained layer's forward pass that its backward pass reads.
struct Saved {
    input: Subbuffer<[f32]>,
    qkv: Subbuffer<[f32]>,
    ctx: Subbuffer<[f32]>,
    r1: Subbuffer<[f32]>,
    x1: Subbuffer<[f32]>,
    f_pre: Subbuffer<[f32]>,
    f: Subbuffer<[f32]>,
    r2: Subbuffer<[f32]>,
}

/// A forward pass's results: the last layer's output, the embeddings' sum before their norm, and
/// the kept layers' activations.
type Forward = (Subbuffer<[f32]>, Subbuffer<[f32]>, Vec<Saved>);

/// The kernels a step records.
#[derive(Debug)]
struct Kernels {
    gemm: Gemm,
    add_row: Binary,
    add: Binary,
    gelu: Unary,
    gelu_grad: Binary,
    norm: LayerNormRows,
    norm_back: LayerNormBackward,
    attention: Attention,
    attention_back: AttentionBackward,
    gather: Gather,
    scatter: ScatterRows,
    transpose: Transpose,
    sum_rows: SumRows,
    adamw: AdamW,
}

/// Fine-tuning on a device; [`super::ReferenceFinetuner`] is its CPU twin.
#[derive(Debug)]
pub struct Finetuner {
    weights: EncoderWeights,
    /// Every layer's tensors in [`crate::workloads::encoder::LayerWeights::tensors_mut`]'s order.
    layers: Vec<Vec<Subbuffer<[f32]>>>,
    /// The embeddings: word, position, token type, the norm's gain and bias.
    embeddings: Vec<Subbuffer<[f32]>>,
    /// The trained layers' tensors (from the first trained layer up), then the embeddings' when
    /// every layer is trained.
    trained_layers: Vec<Vec<Trained>>,
    trained_embeddings: Vec<Trained>,
    head: HeadState,
    options: FinetuneOptions,
    kernels: Kernels,
    steps: u32,
}

impl Finetuner {
    pub fn new(
        gpu: &Gpu,
        weights: EncoderWeights,
        head: ClassifierHead,
        options: FinetuneOptions,
        class: ReproClass,
    ) -> Result<Self, EngineError> {
        Self::with_layout(gpu, weights, head, options, class, gpu.gemm_layout(class))
    }

    /// Like [`Finetuner::new`] with the GEMM in a given layout (all give the same bits).
    pub fn with_layout(
        gpu: &Gpu,
        mut weights: EncoderWeights,
        head: ClassifierHead,
        options: FinetuneOptions,
        class: ReproClass,
        layout: GemmVariant,
    ) -> Result<Self, EngineError> {
        let c = weights.config;
        options.check(&c, &head)?;
        let params: usize =
            weights.layers.iter_mut().map(|l| l.tensors_mut().iter().map(|t| t.0.len()).sum::<usize>()).sum();
        let table = weights.word.len() + weights.position.len() + weights.token_type.len();
        gpu.check_memory("the weights, gradients and moments", 4 * 4 * (params + table) as u64)?;
        let layers = weights
            .layers
            .iter_mut()
            .map(|l| l.tensors_mut().into_iter().map(|(t, _)| gpu.upload(t)).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        let embeddings = [&weights.word, &weights.position, &weights.token_type, &weights.emb_ln_g, &weights.emb_ln_b]
            .into_iter()
            .map(|t| gpu.upload(t))
            .collect::<Result<Vec<_>, _>>()?;
        let first = first_trained(&c, &options);
        let decays = weights.layers[0].tensors_mut().map(|(_, decay)| decay);
        let trained_layers = layers[first..]
            .iter()
            .map(|l| l.iter().zip(decays).map(|(w, decay)| Trained::new(gpu, w, decay)).collect())
            .collect::<Result<Vec<_>, _>>()?;
        let trained_embeddings = if first == 0 {
            embeddings
                .iter()
                .zip([true, true, true, false, false])
                .map(|(w, d)| Trained::new(gpu, w, d))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let kernels = Kernels {
            gemm: Gemm::with_variant(gpu, class, layout)?,
            add_row: Binary::new(gpu, BinaryOp::Add, true)?,
            add: Binary::new(gpu, BinaryOp::Add, false)?,
            gelu: Unary::new(gpu, UnaryOp::Gelu)?,
            gelu_grad: Binary::new(gpu, BinaryOp::GeluGrad, false)?,
            norm: LayerNormRows::new(gpu)?,
            norm_back: LayerNormBackward::new(gpu)?,
            attention: Attention::new(gpu, class, c.head_dim())?,
            attention_back: AttentionBackward::new(gpu, c.head_dim())?,
            gather: Gather::new(gpu)?,
            scatter: ScatterRows::new(gpu)?,
            transpose: Transpose::new(gpu)?,
            sum_rows: SumRows::new(gpu)?,
            adamw: AdamW::new(gpu)?,
        };
        Ok(Self {
            weights,
            layers,
            embeddings,
            trained_layers,
            trained_embeddings,
            head: HeadState::new(head),
            options,
            kernels,
            steps: 0,
        })
    }

    /// A run that resumes from `weights`, `head` and AdamW's `moments` as another run left them
    /// ([`Finetuner::moments`]): its next steps give the bits the other run's next steps would.
    pub fn resume(
        gpu: &Gpu,
        weights: EncoderWeights,
        head: ClassifierHead,
        options: FinetuneOptions,
        class: ReproClass,
        moments: Moments,
    ) -> Result<Self, EngineError> {
        let mut tuner = Self::new(gpu, weights, head, options, class)?;
        let first = first_trained(&tuner.weights.config, &options);
        let bad = |message: String| Err(EngineError::Shape { kernel: "finetune", message });
        if moments.first_layer != first
            || moments.layers.len() != tuner.trained_layers.len()
            || moments.embeddings.is_some() == tuner.trained_embeddings.is_empty()
            || moments.steps > options.total_steps
        {
            return bad(format!(
                "the optimizer's state is for layers {} up at step {}; this run trains layers {first} up over {} steps",
                moments.first_layer, moments.steps, options.total_steps
            ));
        }
        for (trained, (m, v)) in tuner.trained_layers.iter_mut().zip(moments.layers) {
            let (mut m, mut v) = (m, v);
            for (t, ((m, _), (v, _))) in trained.iter_mut().zip(m.tensors_mut().into_iter().zip(v.tensors_mut())) {
                if m.len() as u64 != t.w.len() || v.len() as u64 != t.w.len() {
                    return bad("a moment's length is not its tensor's".to_owned());
                }
                (t.m, t.v) = (gpu.upload(m)?, gpu.upload(v)?);
            }
        }
        if let Some((m, v)) = moments.embeddings {
            for (t, (m, v)) in tuner.trained_embeddings.iter_mut().zip(m.iter().zip(v.iter())) {
                if m.len() as u64 != t.w.len() || v.len() as u64 != t.w.len() {
                    return bad("an embedding moment's length is not its table's".to_owned());
                }
                (t.m, t.v) = (gpu.upload(m)?, gpu.upload(v)?);
            }
        }
        let shapes = |h: &HeadTensors| h.iter().map(Vec::len).collect::<Vec<_>>();
        let want = shapes(&tuner.head.moments.0);
        if shapes(&moments.head.0) != want || shapes(&moments.head.1) != want {
            return bad("the head's moments are not the head's shapes".to_owned());
        }
        tuner.head.moments = moments.head;
        tuner.steps = moments.steps;
        Ok(tuner)
    }

    /// AdamW's state as it is now (the steps taken and every trained tensor's moments), read back.
    pub fn moments(&self, gpu: &Gpu) -> Result<Moments, EngineError> {
        let first = first_trained(&self.weights.config, &self.options);
        let mut layers = Vec::with_capacity(self.trained_layers.len());
        for (trained, lw) in self.trained_layers.iter().zip(&self.weights.layers[first..]) {
            let (mut m, mut v) = (lw.zeros_like(), lw.zeros_like());
            for (t, ((m, _), (v, _))) in trained.iter().zip(m.tensors_mut().into_iter().zip(v.tensors_mut())) {
                (*m, *v) = (gpu.download(&t.m)?, gpu.download(&t.v)?);
            }
            layers.push((m, v));
        }
        let embeddings = if self.trained_embeddings.is_empty() {
            None
        } else {
            let mut pair: EmbeddingMoments = Default::default();
            for (t, (m, v)) in self.trained_embeddings.iter().zip(pair.0.iter_mut().zip(pair.1.iter_mut())) {
                (*m, *v) = (gpu.download(&t.m)?, gpu.download(&t.v)?);
            }
            Some(pair)
        };
        Ok(Moments { steps: self.steps, first_layer: first, layers, embeddings, head: self.head.moments.clone() })
    }

    /// Whether a step on `sequences` sequences padded to `seq` tokens fits the device's memory
    /// (every layer's activations of one forward pass, the backward pass's scratch).
    pub fn check_batch_memory(&self, gpu: &Gpu, sequences: usize, seq: usize) -> Result<(), EngineError> {
        let c = self.weights.config;
        let rows = sequences as u64 * seq as u64;
        let per_row = (16 * c.hidden + 4 * c.intermediate) as u64 * (c.layers as u64 + 1);
        let scratch = AttentionBackward::scratch_len(AttentionShape {
            batch: sequences,
            seq,
            heads: c.heads,
            head_dim: c.head_dim(),
        });
        gpu.check_memory(
            "one fine-tuning batch",
            rows.saturating_mul(per_row).saturating_add(2 * scratch).saturating_mul(4),
        )
    }

    /// Steps taken.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The forward pass of `batch`, keeping the activations of the layers from `keep_from` up:
    /// `(the last layer's output, the embeddings' sum before their norm, the kept layers)`.
    fn forward(
        &self,
        gpu: &Gpu,
        batch: &Padded,
        lens: &Subbuffer<[u32]>,
        keep_from: usize,
    ) -> Result<Forward, EngineError> {
        let c = self.weights.config;
        let (h, i, rows, eps) = (c.hidden, c.intermediate, batch.ids.len(), c.layer_norm_eps);
        let att = AttentionShape { batch: batch.lens.len(), seq: batch.seq, heads: c.heads, head_dim: c.head_dim() };
        let scale = crate::detmath::rsqrt(c.head_dim() as f32);
        let k = &self.kernels;
        let out = |n: usize| gpu.output::<f32>((rows * n) as u64);
        let shape = RowsShape { rows, n: h };
        let ids = gpu.upload(&batch.ids)?;
        let positions: Vec<u32> = (0..rows).map(|r| (r % batch.seq) as u32).collect();
        let positions = gpu.upload(&positions)?;
        let e = &self.embeddings;
        let mut rec = gpu.recorder()?;
        let (words, typed, pos, x_emb, mut a) = (out(h)?, out(h)?, out(h)?, out(h)?, out(h)?);
        k.gather.record(gpu, &mut rec, &e[0], &ids, &words, h)?;
        k.add_row.record(gpu, &mut rec, &words, &e[2].clone().slice(0..h as u64), &typed, h)?;
        k.gather.record(gpu, &mut rec, &e[1], &positions, &pos, h)?;
        k.add.record(gpu, &mut rec, &typed, &pos, &x_emb, h)?;
        k.norm.record(gpu, &mut rec, &x_emb, &e[3], &e[4], &a, shape, eps)?;
        let mut saved = Vec::new();
        for (l, t) in self.layers.iter().enumerate() {
            let s = Saved {
                input: a.clone(),
                qkv: out(3 * h)?,
                ctx: out(h)?,
                r1: out(h)?,
                x1: out(h)?,
                f_pre: out(i)?,
                f: out(i)?,
                r2: out(h)?,
            };
            let linear = |rec: &mut Recorder,
                          x: &Subbuffer<[f32]>,
                          w: &Subbuffer<[f32]>,
                          b: &Subbuffer<[f32]>,
                          y: &Subbuffer<[f32]>,
                          n: usize,
                          kk: usize|
             -> Result<(), EngineError> {
                let tmp = out(n)?;
                k.gemm.record(gpu, rec, x, w, &tmp, GemmShape { m: rows, n, k: kk })?;
                k.add_row.record(gpu, rec, &tmp, b, y, n)
            };
            linear(&mut rec, &a, &t[0], &t[1], &s.qkv, 3 * h, h)?;
            k.attention.record(gpu, &mut rec, &s.qkv, lens, &s.ctx, att, scale)?;
            let tmp = out(h)?;
            linear(&mut rec, &s.ctx, &t[2], &t[3], &tmp, h, h)?;
            k.add.record(gpu, &mut rec, &tmp, &a, &s.r1, h)?;
            k.norm.record(gpu, &mut rec, &s.r1, &t[4], &t[5], &s.x1, shape, eps)?;
            linear(&mut rec, &s.x1, &t[6], &t[7], &s.f_pre, i, h)?;
            k.gelu.record(gpu, &mut rec, &s.f_pre, &s.f)?;
            let tmp = out(h)?;
            linear(&mut rec, &s.f, &t[8], &t[9], &tmp, h, i)?;
            k.add.record(gpu, &mut rec, &tmp, &s.x1, &s.r2, h)?;
            a = out(h)?;
            k.norm.record(gpu, &mut rec, &s.r2, &t[10], &t[11], &a, shape, eps)?;
            if l >= keep_from {
                saved.push(s);
            }
        }
        gpu.submit("finetune", rec)?;

        Ok((a, x_emb, saved))
    }

    /// One optimizer step on a batch; returns the batch's mean loss before the step.
    pub fn step(&mut self, gpu: &Gpu, sequences: &[Vec<u32>], labels: &[u32]) -> Result<f64, EngineError> {
        let c = self.weights.config;
        let batch = Padded::new(&c, sequences, labels, self.head.head.labels, self.options.pad_id)?;
        let (h, i, rows, eps) = (c.hidden, c.intermediate, batch.ids.len(), c.layer_norm_eps);
        self.check_batch_memory(gpu, sequences.len(), batch.seq)?;
        let first = first_trained(&c, &self.options);
        let att = AttentionShape { batch: sequences.len(), seq: batch.seq, heads: c.heads, head_dim: c.head_dim() };
        let scale = crate::detmath::rsqrt(c.head_dim() as f32);
        let k = &self.kernels;
        let out = |n: usize| gpu.output::<f32>((rows * n) as u64);
        let shape = RowsShape { rows, n: h };
        let lens = gpu.upload(&batch.lens)?;
        let e = &self.embeddings;
        let (a, x_emb, saved) = self.forward(gpu, &batch, &lens, first)?;

        // The head on the host.
        let hidden = gpu.download(&a)?;
        let (loss, dcls, head_grads) =
            self.head.head.loss_and_grads(&batch.cls_rows(&hidden, h), labels, self.steps)?;
        let mut da = gpu.upload(&batch.spread_cls(&dcls, h))?;

        // Backward, one submission per layer.
        let transposed = |rec: &mut Recorder, x: &Subbuffer<[f32]>, r: usize, cols: usize| {
            let t = gpu.output::<f32>((r * cols) as u64)?;
            k.transpose.record(gpu, rec, x, &t, r, cols)?;
            Ok::<_, EngineError>(t)
        };
        let column_sums = |rec: &mut Recorder, x: &Subbuffer<[f32]>, n: usize, into: &Subbuffer<[f32]>| {
            let t = transposed(rec, x, rows, n)?;
            k.sum_rows.record(gpu, rec, &t, into, RowsShape { rows: n, n: rows })
        };
        // dW = x^T dy, into the tensor's gradient.
        let weight_grad = |rec: &mut Recorder,
                           x: &Subbuffer<[f32]>,
                           kk: usize,
                           dy: &Subbuffer<[f32]>,
                           n: usize,
                           into: &Subbuffer<[f32]>| {
            let xt = transposed(rec, x, rows, kk)?;
            k.gemm.record(gpu, rec, &xt, dy, into, GemmShape { m: kk, n, k: rows })
        };
        // dx = dy W^T.
        let input_grad = |rec: &mut Recorder, dy: &Subbuffer<[f32]>, w: &Subbuffer<[f32]>, kk: usize, n: usize| {
            let wt = transposed(rec, w, kk, n)?;
            let dx = out(kk)?;
            k.gemm.record(gpu, rec, dy, &wt, &dx, GemmShape { m: rows, n: kk, k: n })?;
            Ok::<_, EngineError>(dx)
        };
        for ((s, t), g) in saved.iter().zip(&self.layers[first..]).zip(&self.trained_layers).rev() {
            let mut rec = gpu.recorder()?;
            let (dr2, xdy) = (out(h)?, out(h)?);
            k.norm_back.record(gpu, &mut rec, &s.r2, &t[10], &da, &dr2, &xdy, shape, eps)?;
            column_sums(&mut rec, &xdy, h, &g[10].g)?;
            column_sums(&mut rec, &da, h, &g[11].g)?;
            weight_grad(&mut rec, &s.f, i, &dr2, h, &g[8].g)?;
            column_sums(&mut rec, &dr2, h, &g[9].g)?;
            let df = input_grad(&mut rec, &dr2, &t[8], i, h)?;
            let df_pre = out(i)?;
            k.gelu_grad.record(gpu, &mut rec, &df, &s.f_pre, &df_pre, i)?;
            weight_grad(&mut rec, &s.x1, h, &df_pre, i, &g[6].g)?;
            column_sums(&mut rec, &df_pre, i, &g[7].g)?;
            let back = input_grad(&mut rec, &df_pre, &t[6], h, i)?;
            let dx1 = out(h)?;
            k.add.record(gpu, &mut rec, &dr2, &back, &dx1, h)?;
            let (dr1, xdy) = (out(h)?, out(h)?);
            k.norm_back.record(gpu, &mut rec, &s.r1, &t[4], &dx1, &dr1, &xdy, shape, eps)?;
            column_sums(&mut rec, &xdy, h, &g[4].g)?;
            column_sums(&mut rec, &dx1, h, &g[5].g)?;
            weight_grad(&mut rec, &s.ctx, h, &dr1, h, &g[2].g)?;
            column_sums(&mut rec, &dr1, h, &g[3].g)?;
            let dctx = input_grad(&mut rec, &dr1, &t[2], h, h)?;
            let scratch = AttentionBackward::scratch_len(att);
            let (p, ds, dqkv) = (gpu.output::<f32>(scratch)?, gpu.output::<f32>(scratch)?, out(3 * h)?);
            k.attention_back.record(gpu, &mut rec, &s.qkv, &batch.lens, &dctx, (&p, &ds), &dqkv, att, scale)?;
            weight_grad(&mut rec, &s.input, h, &dqkv, 3 * h, &g[0].g)?;
            column_sums(&mut rec, &dqkv, 3 * h, &g[1].g)?;
            let back = input_grad(&mut rec, &dqkv, &t[0], h, 3 * h)?;
            let next = out(h)?;
            k.add.record(gpu, &mut rec, &dr1, &back, &next, h)?;
            gpu.submit("finetune", rec)?;
            da = next;
        }

        // The embeddings' gradients, then AdamW on every trained tensor.
        let mut rec = gpu.recorder()?;
        if let [word, position, token_type, ln_g, ln_b] = &self.trained_embeddings[..] {
            let (dx, xdy) = (out(h)?, out(h)?);
            k.norm_back.record(gpu, &mut rec, &x_emb, &e[3], &da, &dx, &xdy, shape, eps)?;
            for (table, lists) in [(word, &batch.words), (position, &batch.positions), (token_type, &batch.types)] {
                record_zero(&mut rec, &table.g)?;
                k.scatter.record(gpu, &mut rec, &dx, lists, &table.g, h)?;
            }
            column_sums(&mut rec, &xdy, h, &ln_g.g)?;
            column_sums(&mut rec, &da, h, &ln_b.g)?;
        }
        let step = self.steps;
        for t in self.trained_layers.iter().flatten().chain(&self.trained_embeddings) {
            k.adamw.record(gpu, &mut rec, &t.w, (&t.m, &t.v), &t.g, self.options.adamw(step, t.decay))?;
        }
        gpu.submit("finetune", rec)?;
        self.head.head.update(&head_grads, &mut self.head.moments, &self.options, step);
        self.steps += 1;
        Ok(loss)
    }

    /// Class scores of `sequences` with the weights as trained so far, `batch` sequences a pass.
    pub fn logits(&self, gpu: &Gpu, sequences: &[Vec<u32>], batch: usize) -> Result<Vec<Vec<f32>>, EngineError> {
        let c = self.weights.config;
        let labels = self.head.head.labels;
        let mut out = Vec::with_capacity(sequences.len());
        for chunk in sequences.chunks(batch.max(1)) {
            let padded = Padded::new(&c, chunk, &vec![0; chunk.len()], labels, self.options.pad_id)?;
            let rows = padded.ids.len();
            gpu.check_memory("one batch of class scores", 4 * (rows * (8 * c.hidden + 2 * c.intermediate)) as u64)?;
            let lens = gpu.upload(&padded.lens)?;
            let (a, _, _) = self.forward(gpu, &padded, &lens, c.layers)?;
            let logits = self.head.head.logits(&padded.cls_rows(&gpu.download(&a)?, c.hidden));
            out.extend(logits.chunks(labels).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// The weights as trained so far, read back from the device.
    pub fn weights(&self, gpu: &Gpu) -> Result<(EncoderWeights, ClassifierHead), EngineError> {
        let mut weights = self.weights.clone();
        for (layer, buffers) in weights.layers.iter_mut().zip(&self.layers) {
            for ((t, _), buf) in layer.tensors_mut().into_iter().zip(buffers) {
                *t = gpu.download(buf)?;
            }
        }
        let w = &mut weights;
        for (t, buf) in [&mut w.word, &mut w.position, &mut w.token_type, &mut w.emb_ln_g, &mut w.emb_ln_b]
            .into_iter()
            .zip(&self.embeddings)
        {
            *t = gpu.download(buf)?;
        }
        Ok((weights, self.head.head.clone()))
    }
}
