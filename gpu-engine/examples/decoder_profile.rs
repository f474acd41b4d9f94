//! Times each kernel of one GPT-2-small decode step at `rows` sequences (one new token each),
//! then whole steps: `cargo run --release -p gpu-engine --example decoder_profile [rows] [past]`.

use std::time::Instant;

use gpu_engine::{
    DeviceChoice, EngineError, Gpu, GpuOptions, ReproClass, Vulkan,
    kernels::{
        Gemm,
        gemm::GemmShape,
        rows::{LayerNormRows, RowsShape},
    },
    workloads::decoder::{Decoder, DecoderConfig, DecoderWeights},
};

fn time(name: &str, flops: f64, mut f: impl FnMut() -> Result<(), EngineError>) -> Result<f64, EngineError> {
    f()?;
    let start = Instant::now();
    let reps = 3;
    for _ in 0..reps {
        f()?;
    }
    let s = start.elapsed().as_secs_f64() / reps as f64;
    println!("{name:<28} {:>8.2} ms  {:>7.2} GFLOP/s", s * 1e3, flops / s / 1e9);
    Ok(s)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = args.first().copied().unwrap_or(32);
    let past = args.get(1).copied().unwrap_or(32);
    let gpu = Gpu::open(&Vulkan::load()?, DeviceChoice::Best, GpuOptions::default())?;
    println!("{} rows={rows} past={past}", gpu.info().name);
    let (h, i, v) = (768, 3072, 50_257);
    let buf = |n: usize| gpu.upload(&vec![0.01f32; n]);
    let gemm = Gemm::new(&gpu, ReproClass::Unfused)?;
    let mut layer = 0.0;
    for (n, k, label) in [(3 * h, h, "gemm qkv"), (h, h, "gemm proj"), (i, h, "gemm fc"), (h, i, "gemm fc proj")] {
        let (a, b, c) = (buf(rows * k)?, buf(k * n)?, gpu.output::<f32>((rows * n) as u64)?);
        layer += time(label, 2.0 * (rows * n * k) as f64, || gemm.run(&gpu, &a, &b, &c, GemmShape { m: rows, n, k }))?;
    }
    let (a, b, c) = (buf(rows * h)?, buf(h * v)?, gpu.output::<f32>((rows * v) as u64)?);
    time("gemm head, 50,257 columns", 2.0 * (rows * v * h) as f64, || {
        gemm.run(&gpu, &a, &b, &c, GemmShape { m: rows, n: v, k: h })
    })?;
    // As the decoder holds it: its columns padded with zeros to a multiple of 4 (the texel
    // layout's condition).
    let vp = v.next_multiple_of(4);
    let (a, b, c) = (buf(rows * h)?, buf(h * vp)?, gpu.output::<f32>((rows * vp) as u64)?);
    let head = time("gemm head, padded", 2.0 * (rows * v * h) as f64, || {
        gemm.run(&gpu, &a, &b, &c, GemmShape { m: rows, n: vp, k: h })
    })?;
    let norm = LayerNormRows::new(&gpu)?;
    let (x, g, y) = (buf(rows * h)?, buf(h)?, gpu.output::<f32>((rows * h) as u64)?);
    layer += 2.0 * time("layernorm", 0.0, || norm.run(&gpu, &x, &g, &g, &y, RowsShape { rows, n: h }, 1e-5))?;
    println!(
        "GEMMs and norms: {:.1} ms a layer, {:.1} ms for 12 layers and the head",
        layer * 1e3,
        (12.0 * layer + head) * 1e3
    );
    let config = DecoderConfig {
        vocab_size: v,
        hidden: h,
        layers: 12,
        heads: 12,
        intermediate: i,
        max_positions: 1024,
        layer_norm_eps: 1e-5,
    };
    let decoder = Decoder::new(&gpu, DecoderWeights::seeded(config, 1)?, ReproClass::Unfused)?;
    let mut cache = decoder.cache(&gpu, rows, past + 8)?;
    let prompts: Vec<Vec<u32>> =
        (0..rows).map(|r| (0..past).map(|t| ((r * 31 + t * 7) % v) as u32).collect()).collect();
    let work: Vec<(usize, &[u32])> = prompts.iter().enumerate().map(|(s, p)| (s, p.as_slice())).collect();
    decoder.step(&gpu, &mut cache, &work)?;
    let tokens: Vec<[u32; 1]> = (0..rows).map(|r| [r as u32]).collect();
    let step: Vec<(usize, &[u32])> = tokens.iter().enumerate().map(|(s, t)| (s, &t[..])).collect();
    let start = Instant::now();
    for _ in 0..4 {
        decoder.step(&gpu, &mut cache, &step)?;
    }
    let s = start.elapsed().as_secs_f64() / 4.0;
    println!("decode step                  {:>8.2} ms  {:>7.1} tokens/s", s * 1e3, rows as f64 / s);
    Ok(())
}
