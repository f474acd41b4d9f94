//! An MLP classifier trained with softmax cross-entropy and SGD with momentum.
//!
//! One minibatch step is one command buffer: the forward pass (GEMM, bias, activation), the
//! gradient of the mean cross-entropy `(softmax(z) - onehot) / B`, the backward pass (transposes,
//! GEMMs, fixed-tree column sums for the biases) and the in-place optimizer step. Every kernel is
//! deterministic and the sample order comes from the seed, so two runs on any devices give the
//! same weights, bit for bit.

use std::collections::BTreeMap;

use vulkano::buffer::Subbuffer;

use super::tensors::{self, TensorFile};
use crate::{
    EngineError, Gpu, Recorder, ReproClass,
    kernels::{
        Gemm,
        elementwise::{Binary, BinaryOp, Transpose},
        gemm::GemmShape,
        rows::{RowsShape, SoftmaxRows, SumRows, Unary},
        train::{SgdMomentum, SgdParams},
    },
    numeric::canonicalize,
    reference::UnaryOp,
    seeded::SplitMix64,
    work,
};

/// The hidden layers' activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Tanh,
}

impl Activation {
    fn op(self) -> UnaryOp {
        match self {
            Activation::Relu => UnaryOp::Relu,
            Activation::Tanh => UnaryOp::Tanh,
        }
    }
}

/// The weights: per layer `w[in, out]` and `b[out]`; `sizes` is `[inputs, hidden..., classes]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpParams {
    pub sizes: Vec<usize>,
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
}

fn check_sizes(sizes: &[usize]) -> Result<(), EngineError> {
    if sizes.len() < 2 || sizes.contains(&0) {
        return Err(EngineError::Shape {
            kernel: "mlp",
            message: format!("layer sizes {sizes:?} need an input and an output size, each at least 1"),
        });
    }
    Ok(())
}

impl MlpParams {
    /// PyTorch's default `Linear` initialization, U(-1/sqrt(in), 1/sqrt(in)), from a seed.
    pub fn seeded(sizes: &[usize], seed: u64) -> Result<Self, EngineError> {
        check_sizes(sizes)?;
        let mut rng = SplitMix64::new(seed);
        let layers = sizes
            .windows(2)
            .map(|io| {
                let bound = 1.0 / (io[0] as f32).sqrt();
                let mut draw = |n: usize| (0..n).map(|_| canonicalize(rng.range(-bound, bound))).collect::<Vec<f32>>();
                (draw(io[0] * io[1]), draw(io[1]))
            })
            .collect();
        Ok(Self { sizes: sizes.to_vec(), layers })
    }

    /// Safetensors bytes: `layers.{l}.weight` as `[in, out]`, `layers.{l}.bias` as `[out]`.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, EngineError> {
        let mut named = BTreeMap::new();
        for (l, ((w, b), io)) in self.layers.iter().zip(self.sizes.windows(2)).enumerate() {
            named.insert(format!("layers.{l}.weight"), (vec![io[0], io[1]], w.clone()));
            named.insert(format!("layers.{l}.bias"), (vec![io[1]], b.clone()));
        }
        tensors::to_bytes(&named)
    }

    pub fn from_safetensors(bytes: &[u8], sizes: &[usize]) -> Result<Self, EngineError> {
        check_sizes(sizes)?;
        let file = TensorFile::parse(bytes)?;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(l, io)| {
                Ok((
                    file.f32(&format!("layers.{l}.weight"), &[io[0], io[1]])?,
                    file.f32(&format!("layers.{l}.bias"), &[io[1]])?,
                ))
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Self { sizes: sizes.to_vec(), layers })
    }
}

/// Work units of one epoch over `samples` samples: the forward pass (GEMM, bias, activation,
/// softmax), the loss gradient, the backward pass and the optimizer step, from the shapes.
pub fn epoch_work_units(sizes: &[usize], samples: usize) -> u64 {
    let n = samples as u64;
    let classes = *sizes.last().unwrap_or(&1) as u64;
    let mut total = work::softmax_rows(n, classes) + 2 * work::binary(n * classes);
    let last = sizes.len().saturating_sub(2);
    for (l, io) in sizes.windows(2).enumerate() {
        let (i, o) = (io[0] as u64, io[1] as u64);
        total += work::gemm(n, o, i) + work::binary(n * o); // forward
        if l < last {
            total += work::unary(n * o, work::TANH) + 3 * work::binary(n * o); // activation, its gradient
        }
        total += work::gemm(i, o, n) + work::sum_rows(o, n) + work::moved(n * i + n * o); // dW, db
        if l > 0 {
            total += work::gemm(n, i, o) + work::moved(i * o); // dA
        }
        total += 4 * (i * o + o); // optimizer, per step: 4 ops per parameter (counted once per sample batch)
    }
    total
}

/// The sample order of epoch `epoch` (from 0): a Fisher–Yates shuffle driven by the seed.
pub fn epoch_order(samples: usize, seed: u64, epoch: u32) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ (u64::from(epoch) + 1).wrapping_mul(0xa076_1d64_78bd_642f));
    let mut order: Vec<usize> = (0..samples).collect();
    for i in (1..samples).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub activation: Activation,
    pub sgd: SgdParams,
    pub batch_size: usize,
}

/// A layer's weight and bias on the device.
type DeviceLayer = (Subbuffer<[f32]>, Subbuffer<[f32]>);

/// The buffers a recorded forward pass leaves: every layer's pre-activation (the last is the
/// logits) and every layer's input (`inputs[0]` is the batch).
struct Forward {
    pre: Vec<Subbuffer<[f32]>>,
    inputs: Vec<Subbuffer<[f32]>>,
}

/// An MLP's parameters and optimizer state on a device, with its pipelines.
#[derive(Debug)]
pub struct Trainer {
    sizes: Vec<usize>,
    options: TrainOptions,
    weights: Vec<DeviceLayer>,
    velocity: Vec<DeviceLayer>,
    gemm: Gemm,
    add_row: Binary,
    sub: Binary,
    mul: Binary,
    mul_row: Binary,
    pass_positive: Binary,
    act: Unary,
    softmax: SoftmaxRows,
    transpose: Transpose,
    sum_rows: SumRows,
    sgd: SgdMomentum,
}

impl Trainer {
    pub fn new(gpu: &Gpu, params: &MlpParams, options: TrainOptions, class: ReproClass) -> Result<Self, EngineError> {
        check_sizes(&params.sizes)?;
        if options.batch_size == 0 {
            return Err(EngineError::Shape { kernel: "mlp", message: "batch size must be at least 1".to_owned() });
        }
        let weights = params
            .layers
            .iter()
            .map(|(w, b)| Ok((gpu.upload(w)?, gpu.upload(b)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let velocity = params
            .layers
            .iter()
            .map(|(w, b)| Ok((gpu.upload(&vec![0.0f32; w.len()])?, gpu.upload(&vec![0.0f32; b.len()])?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(Self {
            sizes: params.sizes.clone(),
            options,
            weights,
            velocity,
            gemm: Gemm::new(gpu, class)?,
            add_row: Binary::new(gpu, BinaryOp::Add, true)?,
            sub: Binary::new(gpu, BinaryOp::Sub, false)?,
            mul: Binary::new(gpu, BinaryOp::Mul, false)?,
            mul_row: Binary::new(gpu, BinaryOp::Mul, true)?,
            pass_positive: Binary::new(gpu, BinaryOp::PassWherePositive, false)?,
            act: Unary::new(gpu, options.activation.op())?,
            softmax: SoftmaxRows::new(gpu)?,
            transpose: Transpose::new(gpu)?,
            sum_rows: SumRows::new(gpu)?,
            sgd: SgdMomentum::new(gpu)?,
        })
    }

    fn inputs(&self) -> usize {
        self.sizes[0]
    }

    fn classes(&self) -> usize {
        *self.sizes.last().expect("checked: at least two sizes")
    }

    fn check_data(&self, x: &[f32], labels: &[u32]) -> Result<(), EngineError> {
        if x.len() != labels.len() * self.inputs() {
            return Err(EngineError::Shape {
                kernel: "mlp",
                message: format!("{} feature values for {} samples of {}", x.len(), labels.len(), self.inputs()),
            });
        }
        if let Some((s, l)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= self.classes()) {
            return Err(EngineError::Shape {
                kernel: "mlp",
                message: format!("sample {s} has label {l}, outside 0..{}", self.classes()),
            });
        }
        Ok(())
    }

    /// Records the forward pass of `rows` rows from `x`.
    fn forward(&self, gpu: &Gpu, r: &mut Recorder, x: Subbuffer<[f32]>, rows: usize) -> Result<Forward, EngineError> {
        let mut acts = vec![x];
        let mut pre = Vec::new();
        let last = self.weights.len() - 1;
        for (l, ((w, b), io)) in self.weights.iter().zip(self.sizes.windows(2)).enumerate() {
            let (i, o) = (io[0], io[1]);
            let z = gpu.output::<f32>((rows * o) as u64)?;
            let zb = gpu.output::<f32>((rows * o) as u64)?;
            self.gemm.record(gpu, r, &acts[l], w, &z, GemmShape { m: rows, n: o, k: i })?;
            self.add_row.record(gpu, r, &z, b, &zb, o)?;
            if l < last {
                let a = gpu.output::<f32>((rows * o) as u64)?;
                self.act.record(gpu, r, &zb, &a)?;
                acts.push(a);
            }
            pre.push(zb);
        }
        Ok(Forward { pre, inputs: acts })
    }

    /// One pass over the samples in `order`, in minibatches (the last one may be smaller).
    pub fn epoch(
        &self,
        gpu: &Gpu,
        x: &[f32],
        labels: &[u32],
        order: &[usize],
        mut progress: impl FnMut(usize),
    ) -> Result<(), EngineError> {
        self.check_data(x, labels)?;
        let (f, c) = (self.inputs(), self.classes());
        for (step, chunk) in order.chunks(self.options.batch_size).enumerate() {
            let rows = chunk.len();
            let xb: Vec<f32> = chunk.iter().flat_map(|&s| x[s * f..(s + 1) * f].iter().copied()).collect();
            let mut onehot = vec![0.0f32; rows * c];
            for (r, &s) in chunk.iter().enumerate() {
                onehot[r * c + labels[s] as usize] = 1.0;
            }
            let inv_rows = gpu.upload(&vec![1.0 / rows as f32; c])?;
            let onehot = gpu.upload(&onehot)?;
            let mut rec = gpu.recorder()?;
            let r = &mut rec;
            let Forward { pre, inputs: acts } = self.forward(gpu, r, gpu.upload(&xb)?, rows)?;
            let probs = gpu.output::<f32>((rows * c) as u64)?;
            let diff = gpu.output::<f32>((rows * c) as u64)?;
            let mut dz = gpu.output::<f32>((rows * c) as u64)?;
            self.softmax.record(gpu, r, pre.last().expect("one layer at least"), &probs, RowsShape { rows, n: c })?;
            self.sub.record(gpu, r, &probs, &onehot, &diff, c)?;
            self.mul_row.record(gpu, r, &diff, &inv_rows, &dz, c)?;
            for l in (0..self.weights.len()).rev() {
                let (i, o) = (self.sizes[l], self.sizes[l + 1]);
                let (w, b) = &self.weights[l];
                let at = gpu.output::<f32>((i * rows) as u64)?;
                let dw = gpu.output::<f32>((i * o) as u64)?;
                let dzt = gpu.output::<f32>((o * rows) as u64)?;
                let db = gpu.output::<f32>(o as u64)?;
                self.transpose.record(gpu, r, &acts[l], &at, rows, i)?;
                self.gemm.record(gpu, r, &at, &dz, &dw, GemmShape { m: i, n: o, k: rows })?;
                self.transpose.record(gpu, r, &dz, &dzt, rows, o)?;
                self.sum_rows.record(gpu, r, &dzt, &db, RowsShape { rows: o, n: rows })?;
                let next = if l > 0 {
                    let wt = gpu.output::<f32>((o * i) as u64)?;
                    let da = gpu.output::<f32>((rows * i) as u64)?;
                    let dprev = gpu.output::<f32>((rows * i) as u64)?;
                    self.transpose.record(gpu, r, w, &wt, i, o)?;
                    self.gemm.record(gpu, r, &dz, &wt, &da, GemmShape { m: rows, n: i, k: o })?;
                    match self.options.activation {
                        Activation::Relu => self.pass_positive.record(gpu, r, &da, &pre[l - 1], &dprev, i)?,
                        Activation::Tanh => {
                            // d tanh = dA * (1 - a^2) = dA - dA * a^2
                            let sq = gpu.output::<f32>((rows * i) as u64)?;
                            let t = gpu.output::<f32>((rows * i) as u64)?;
                            self.mul.record(gpu, r, &acts[l], &acts[l], &sq, i)?;
                            self.mul.record(gpu, r, &da, &sq, &t, i)?;
                            self.sub.record(gpu, r, &da, &t, &dprev, i)?;
                        }
                    }
                    Some(dprev)
                } else {
                    None
                };
                let (vw, vb) = &self.velocity[l];
                self.sgd.record(gpu, r, w, vw, &dw, self.options.sgd)?;
                self.sgd.record(gpu, r, b, vb, &db, self.options.sgd)?;
                if let Some(next) = next {
                    dz = next;
                }
            }
            gpu.submit("mlp training step", rec)?;
            progress(step + 1);
        }
        Ok(())
    }

    /// Class probabilities `[n, classes]` of `n` samples.
    pub fn predict(&self, gpu: &Gpu, x: &[f32]) -> Result<Vec<f32>, EngineError> {
        let (f, c) = (self.inputs(), self.classes());
        if !x.len().is_multiple_of(f) {
            return Err(EngineError::Shape {
                kernel: "mlp",
                message: format!("{} feature values are not rows of {f}", x.len()),
            });
        }
        let mut out = Vec::with_capacity(x.len() / f * c);
        for chunk in x.chunks(1024 * f) {
            let rows = chunk.len() / f;
            let mut rec = gpu.recorder()?;
            let pre = self.forward(gpu, &mut rec, gpu.upload(chunk)?, rows)?.pre;
            let probs = gpu.output::<f32>((rows * c) as u64)?;
            self.softmax.record(
                gpu,
                &mut rec,
                pre.last().expect("one layer at least"),
                &probs,
                RowsShape { rows, n: c },
            )?;
            gpu.submit("mlp forward", rec)?;
            out.extend(gpu.download(&probs)?);
        }
        Ok(out)
    }

    /// The current weights, read back.
    pub fn params(&self, gpu: &Gpu) -> Result<MlpParams, EngineError> {
        let layers = self
            .weights
            .iter()
            .map(|(w, b)| Ok((gpu.download(w)?, gpu.download(b)?)))
            .collect::<Result<_, EngineError>>()?;
        Ok(MlpParams { sizes: self.sizes.clone(), layers })
    }
}
