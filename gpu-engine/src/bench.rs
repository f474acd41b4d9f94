//! Measurements of an opened device: deterministic GEMM throughput, memory bandwidth, and the
//! determinism suite (fixed-seed cases whose output hashes must match on every device).

use std::time::{Duration, Instant};

use crate::{
    EngineError, Gpu, ReproClass,
    commitment::output_hash,
    kernels::{
        Copy, Gemm,
        gemm::{GemmShape, GemmVariant},
    },
    numeric::canonicalize_all,
    seeded, work,
};

/// One GEMM size measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmRate {
    pub n: usize,
    pub class: ReproClass,
    /// Median seconds of one n x n x n GEMM, from dispatch to fence.
    pub seconds: f64,
    pub gflops: f64,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Keeps the device busy with 2048³ GEMMs for about `seconds`, so that a GPU's clocks have
/// ramped up before anything is timed.
pub fn warm_up(gpu: &Gpu, seconds: f64) -> Result<(), EngineError> {
    let n = 2048;
    let kernel = Gemm::new(gpu, ReproClass::Unfused)?;
    let (a, b) = (gpu.upload(&seeded::uniform(1, n * n))?, gpu.upload(&seeded::uniform(2, n * n))?);
    let c = gpu.output::<f32>((n * n) as u64)?;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        kernel.run(gpu, &a, &b, &c, GemmShape { m: n, n, k: n })?;
    }
    Ok(())
}

/// Times `reps` square GEMMs of size n (after one warm-up) in `class`, in the device's layout.
pub fn gemm_rate(gpu: &Gpu, n: usize, class: ReproClass, reps: usize) -> Result<GemmRate, EngineError> {
    gemm_rate_in(gpu, n, class, gpu.gemm_layout(class), reps)
}

/// Like [`gemm_rate`], in a given layout. Each sample is one submission of as many GEMMs as fill
/// about 50 ms (at least one), so that submission overhead does not count against fast devices.
pub fn gemm_rate_in(
    gpu: &Gpu,
    n: usize,
    class: ReproClass,
    variant: GemmVariant,
    reps: usize,
) -> Result<GemmRate, EngineError> {
    let bytes = 3 * (n * n * 4) as u64;
    gpu.check_memory(&format!("a {n}x{n} GEMM benchmark"), bytes)?;
    let kernel = Gemm::with_variant(gpu, class, variant)?;
    let a = gpu.upload(&seeded::uniform(1, n * n))?;
    let b = gpu.upload(&seeded::uniform(2, n * n))?;
    let c = gpu.output::<f32>((n * n) as u64)?;
    let shape = GemmShape { m: n, n, k: n };
    let start = Instant::now();
    kernel.run(gpu, &a, &b, &c, shape)?;
    let once = start.elapsed().as_secs_f64();
    let batch = ((0.05 / once.max(1e-6)).ceil() as usize).clamp(1, 64);
    let mut samples = Vec::with_capacity(reps);
    // The first batch is not timed: the uploads above leave a GPU idle, and an idle GPU lowers its
    // clocks (on the H100 one layout read 3x slow in one round and at full speed in the next).
    for i in 0..=reps.max(1) {
        let mut builder = gpu.recorder()?;
        for _ in 0..batch {
            kernel.record(gpu, &mut builder, &a, &b, &c, shape)?;
        }
        let start = Instant::now();
        gpu.submit("gemm", builder)?;
        if i > 0 {
            samples.push(start.elapsed() / batch as u32);
        }
    }
    let seconds = median(samples).as_secs_f64();
    let flops = work::gemm(n as u64, n as u64, n as u64) as f64;
    Ok(GemmRate { n, class, seconds, gflops: flops / seconds / 1e9 })
}

/// Copy bandwidth in GB/s (bytes read + bytes written per second) over `floats` floats.
pub fn bandwidth_gbs(gpu: &Gpu, floats: usize, reps: usize) -> Result<f64, EngineError> {
    gpu.check_memory("the bandwidth benchmark", 2 * floats as u64 * 4)?;
    let kernel = Copy::new(gpu)?;
    let src = gpu.upload(&vec![1.0f32; floats])?;
    let dst = gpu.output::<f32>(floats as u64)?;
    kernel.run(gpu, &src, &dst)?;
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        kernel.run(gpu, &src, &dst)?;
        samples.push(start.elapsed());
    }
    Ok(2.0 * floats as f64 * 4.0 / median(samples).as_secs_f64() / 1e9)
}

/// The shapes of the determinism suite: tiny, ragged, tile-aligned and skinny.
pub const DETERMINISM_SHAPES: &[(usize, usize, usize)] =
    &[(1, 1, 1), (17, 65, 33), (64, 64, 64), (100, 70, 300), (257, 31, 129), (3, 500, 1000)];

/// One case of the determinism suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeterminismCase {
    pub name: String,
    /// BLAKE3 of the output (hex), or `None` when the device does not reproduce the class.
    pub hash: Option<String>,
}

/// The case's name and its inputs (hostile mixed data, canonicalized), from a fixed seed.
pub fn determinism_inputs(i: usize) -> (String, GemmShape, Vec<f32>, Vec<f32>) {
    let (m, n, k) = DETERMINISM_SHAPES[i];
    let seed = 0x6772_6964 + i as u64;
    let mut a = seeded::mixed(seed, m * k);
    let mut b = seeded::mixed(seed ^ 0xb, k * n);
    canonicalize_all(&mut a);
    canonicalize_all(&mut b);
    (format!("gemm-{m}x{k}x{n}-seed{seed:x}"), GemmShape { m, n, k }, a, b)
}

fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs every case in both classes on `gpu`.
pub fn determinism_suite(gpu: &Gpu) -> Result<Vec<DeterminismCase>, EngineError> {
    let mut cases = Vec::new();
    for class in [ReproClass::Unfused, ReproClass::Fused] {
        let kernel = if gpu.supports(class) { Some(Gemm::new(gpu, class)?) } else { None };
        for i in 0..DETERMINISM_SHAPES.len() {
            let (name, shape, a, b) = determinism_inputs(i);
            let name = format!("{name}-{}", class.as_str());
            let hash = match &kernel {
                None => None,
                Some(kernel) => {
                    let (ba, bb) = (gpu.upload(&a)?, gpu.upload(&b)?);
                    let bc = gpu.output::<f32>((shape.m * shape.n) as u64)?;
                    kernel.run(gpu, &ba, &bb, &bc, shape)?;
                    Some(hex(&output_hash(&gpu.download(&bc)?)))
                }
            };
            cases.push(DeterminismCase { name, hash });
        }
    }
    Ok(cases)
}

/// The same suite computed by the CPU reference: what every device must print.
pub fn determinism_reference() -> Vec<DeterminismCase> {
    let mut cases = Vec::new();
    for class in [ReproClass::Unfused, ReproClass::Fused] {
        for i in 0..DETERMINISM_SHAPES.len() {
            let (name, shape, a, b) = determinism_inputs(i);
            let c = crate::reference::gemm(class, &a, &b, shape.m, shape.n, shape.k);
            cases.push(DeterminismCase {
                name: format!("{name}-{}", class.as_str()),
                hash: Some(hex(&output_hash(&c))),
            });
        }
    }
    cases
}

/// all-MiniLM-L6-v2's shapes.
pub const MINILM_SHAPES: crate::workloads::encoder::EncoderConfig = crate::workloads::encoder::EncoderConfig {
    vocab_size: 30522,
    hidden: 384,
    layers: 6,
    heads: 12,
    intermediate: 1536,
    max_positions: 512,
    type_vocab_size: 2,
    layer_norm_eps: 1e-12,
};

/// The workload cases of the determinism suite, with weights and data made from fixed seeds in
/// the real models' shapes (the real weights need not travel): the MiniLM-shaped encoder on 12
/// sequences of 1 to 256 tokens, and a digits-shaped MLP (64-64-10) trained 3 epochs on 512
/// seeded samples. Each hash is BLAKE3 of the outputs' little-endian bytes.
pub fn workload_suite(gpu: &Gpu) -> Result<Vec<DeterminismCase>, EngineError> {
    use crate::workloads::{encoder, mlp};
    let class = ReproClass::Unfused;
    let seed = 0x6772_6964;
    let weights = encoder::EncoderWeights::seeded(MINILM_SHAPES, seed)?;
    let mut rng = seeded::SplitMix64::new(seed ^ 0xe);
    let sequences: Vec<Vec<u32>> = [1usize, 2, 5, 9, 16, 17, 31, 64, 100, 128, 200, 256]
        .iter()
        .map(|&len| (0..len).map(|_| rng.below(MINILM_SHAPES.vocab_size as u64) as u32).collect())
        .collect();
    let embeddings = encoder::Encoder::new(gpu, weights, class)?.encode(gpu, &sequences, 2048, |_| {})?;
    let embed = output_hash(&embeddings.concat());

    let sizes = [64, 64, 10];
    let samples = 512;
    let features: Vec<f32> = (0..samples * 64).map(|_| rng.unit()).collect();
    let labels: Vec<u32> =
        (0..samples).map(|s| (features[s * 64..(s + 1) * 64].iter().sum::<f32>() as u32) % 10).collect();
    let options = mlp::TrainOptions {
        activation: mlp::Activation::Relu,
        sgd: crate::kernels::train::SgdParams { learning_rate: 0.05, momentum: 0.9 },
        batch_size: 32,
    };
    let trainer = mlp::Trainer::new(gpu, &mlp::MlpParams::seeded(&sizes, seed)?, options, class)?;
    for epoch in 0..3 {
        trainer.epoch(gpu, &features, &labels, &mlp::epoch_order(samples, seed, epoch), |_| {})?;
    }
    let params = trainer.params(gpu)?;
    let flat: Vec<f32> = params.layers.iter().flat_map(|(w, b)| w.iter().chain(b).copied()).collect();
    let train = output_hash(&flat);
    Ok(vec![
        DeterminismCase { name: format!("embed-minilm-shape-12seq-seed{seed:x}-unfused"), hash: Some(hex(&embed)) },
        DeterminismCase { name: format!("train-mlp-64-64-10-3ep-seed{seed:x}-unfused"), hash: Some(hex(&train)) },
    ])
}
