//! Times one fine-tuning step of a MiniLM-shaped encoder (seeded weights) at `batch` sequences
//! of `seq` tokens, and the backward pass's kernels alone at that shape:
//! `cargo run --release -p gpu-engine --example finetune_profile [batch] [seq]`.

use std::time::Instant;

use gpu_engine::{
    DeviceChoice, EngineError, Gpu, GpuOptions, ReproClass, Vulkan,
    attention::{AttentionShape, backward::AttentionBackward},
    kernels::{
        Gemm,
        backward::LayerNormBackward,
        elementwise::Transpose,
        gemm::GemmShape,
        rows::{RowsShape, SumRows},
    },
    workloads::{
        encoder::{EncoderConfig, EncoderWeights},
        finetune::{ClassifierHead, FinetuneOptions, Finetuner},
    },
};

fn time(name: &str, mut f: impl FnMut() -> Result<(), EngineError>) -> Result<f64, EngineError> {
    f()?;
    let start = Instant::now();
    f()?;
    let s = start.elapsed().as_secs_f64();
    println!("{name:<36} {:>9.1} ms", s * 1e3);
    Ok(s)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (batch, seq) = (args.first().copied().unwrap_or(32), args.get(1).copied().unwrap_or(128));
    let gpu = Gpu::open(&Vulkan::load()?, DeviceChoice::Best, GpuOptions::default())?;
    let rows = batch * seq;
    println!("{} batch={batch} seq={seq} ({rows} rows)", gpu.info().name);
    let (h, i) = (384, 1536);
    let config = EncoderConfig {
        vocab_size: 30_522,
        hidden: h,
        layers: 6,
        heads: 12,
        intermediate: i,
        max_positions: 512,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
    };
    let weights = EncoderWeights::seeded(config, 1)?;
    let head = ClassifierHead::drawn(h, 2, 1)?;
    for trained_layers in [1, 6] {
        let options = FinetuneOptions {
            labels: 2,
            learning_rate: 1e-5,
            weight_decay: 0.01,
            warmup_steps: 0,
            total_steps: 100,
            trained_layers,
            betas: FinetuneOptions::BETAS,
            eps: FinetuneOptions::EPS,
            pad_id: 0,
        };
        let mut tuner = Finetuner::new(&gpu, weights.clone(), head.clone(), options, ReproClass::Unfused)?;
        let seqs: Vec<Vec<u32>> =
            (0..batch).map(|b| (0..seq).map(|t| ((b * 31 + t * 7) % 30_000 + 1) as u32).collect()).collect();
        let labels: Vec<u32> = (0..batch).map(|b| (b % 2) as u32).collect();
        time(&format!("step, top {trained_layers} layer(s) trained"), || tuner.step(&gpu, &seqs, &labels).map(|_| ()))?;
        time("  forward alone (class scores)", || tuner.logits(&gpu, &seqs, batch).map(|_| ()))?;
    }
    let buf = |n: usize| gpu.upload(&vec![0.01f32; n]);
    let s = AttentionShape { batch, seq, heads: 12, head_dim: 32 };
    let kernel = AttentionBackward::new(&gpu, 32)?;
    let (qkv, dctx, dqkv) = (buf(rows * 3 * h)?, buf(rows * h)?, gpu.output::<f32>((rows * 3 * h) as u64)?);
    let scratch = AttentionBackward::scratch_len(s);
    let (p, ds) = (gpu.output::<f32>(scratch)?, gpu.output::<f32>(scratch)?);
    let lens = vec![seq as u32; batch];
    time("attention backward (a layer)", || {
        let mut rec = gpu.recorder()?;
        kernel.record(&gpu, &mut rec, &qkv, &lens, &dctx, (&p, &ds), &dqkv, s, 0.17)?;
        gpu.submit("profile", rec)
    })?;
    let norm = LayerNormBackward::new(&gpu)?;
    let (x, g, dy, dx, xdy) = (
        buf(rows * h)?,
        buf(h)?,
        buf(rows * h)?,
        gpu.output::<f32>((rows * h) as u64)?,
        gpu.output::<f32>((rows * h) as u64)?,
    );
    time("layer norm backward (one)", || {
        let mut rec = gpu.recorder()?;
        norm.record(&gpu, &mut rec, &x, &g, &dy, &dx, &xdy, RowsShape { rows, n: h }, 1e-12)?;
        gpu.submit("profile", rec)
    })?;
    let (transpose, sums) = (Transpose::new(&gpu)?, SumRows::new(&gpu)?);
    let (a, at, col) = (buf(rows * i)?, gpu.output::<f32>((rows * i) as u64)?, gpu.output::<f32>(i as u64)?);
    time("transpose rows x 1536", || transpose.run(&gpu, &a, &at, rows, i))?;
    time("column sums of rows x 1536", || {
        let mut rec = gpu.recorder()?;
        transpose.record(&gpu, &mut rec, &a, &at, rows, i)?;
        sums.record(&gpu, &mut rec, &at, &col, RowsShape { rows: i, n: rows })?;
        gpu.submit("profile", rec)
    })?;
    let gemm = Gemm::new(&gpu, ReproClass::Unfused)?;
    let (xt, dyb, dw) = (buf(i * rows)?, buf(rows * h)?, gpu.output::<f32>((i * h) as u64)?);
    time("weight gradient 1536 x 384, K = rows", || gemm.run(&gpu, &xt, &dyb, &dw, GemmShape { m: i, n: h, k: rows }))?;
    Ok(())
}
