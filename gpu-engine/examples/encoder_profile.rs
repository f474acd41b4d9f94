//! Times each kernel of one MiniLM encoder layer at a batch of `rows` tokens:
//! `cargo run --release -p gpu-engine --example encoder_profile [rows] [seq]`.

use std::time::Instant;

use gpu_engine::{
    DeviceChoice, EngineError, Gpu, GpuOptions, ReproClass, Vulkan,
    attention::{Attention, AttentionShape},
    kernels::{
        Gemm,
        elementwise::{Binary, BinaryOp},
        gemm::GemmShape,
        rows::{LayerNormRows, RowsShape, Unary},
    },
    reference::UnaryOp,
};

fn time(name: &str, flops: f64, mut f: impl FnMut() -> Result<(), EngineError>) -> Result<(), EngineError> {
    f()?;
    let start = Instant::now();
    let reps = 3;
    for _ in 0..reps {
        f()?;
    }
    let s = start.elapsed().as_secs_f64() / reps as f64;
    println!("{name:<28} {:>8.2} ms  {:>7.2} GFLOP/s", s * 1e3, flops / s / 1e9);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = args.first().copied().unwrap_or(4096);
    let seq = args.get(1).copied().unwrap_or(16);
    let gpu = Gpu::open(&Vulkan::load()?, DeviceChoice::Best, GpuOptions::default())?;
    println!("{} rows={rows} seq={seq}", gpu.info().name);
    let (h, i) = (384, 1536);
    let buf = |n: usize| gpu.upload(&vec![0.01f32; n]);
    let gemm = Gemm::new(&gpu, ReproClass::Unfused)?;
    for (n, k, label) in [(3 * h, h, "gemm qkv"), (h, h, "gemm out"), (i, h, "gemm ffn in"), (h, i, "gemm ffn out")] {
        let (a, b, c) = (buf(rows * k)?, buf(k * n)?, gpu.output::<f32>((rows * n) as u64)?);
        time(label, 2.0 * (rows * n * k) as f64, || gemm.run(&gpu, &a, &b, &c, GemmShape { m: rows, n, k }))?;
    }
    let att = Attention::new(&gpu, ReproClass::Unfused, 32)?;
    let s = AttentionShape { batch: rows / seq, seq, heads: 12, head_dim: 32 };
    let (qkv, out) = (buf(rows * 3 * h)?, gpu.output::<f32>((rows * h) as u64)?);
    let lens = vec![seq as u32; rows / seq];
    let flops = (s.batch * 12 * seq * seq * 32 * 6) as f64;
    time("attention", flops, || att.run(&gpu, &qkv, &lens, &out, s, 0.17))?;

    let norm = LayerNormRows::new(&gpu)?;
    let (x, g, b, y) = (buf(rows * h)?, buf(h)?, buf(h)?, gpu.output::<f32>((rows * h) as u64)?);
    time("layernorm", (rows * h * 8) as f64, || norm.run(&gpu, &x, &g, &b, &y, RowsShape { rows, n: h }, 1e-12))?;
    let gelu = Unary::new(&gpu, UnaryOp::Gelu)?;
    let (f, f2) = (buf(rows * i)?, gpu.output::<f32>((rows * i) as u64)?);
    time("gelu", (rows * i * 40) as f64, || gelu.run(&gpu, &f, &f2))?;

    let add = Binary::new(&gpu, BinaryOp::Add, true)?;
    let bias = buf(i)?;
    time("bias add (ffn)", (rows * i) as f64, || add.run(&gpu, &f, &bias, &f2, i))?;

    Ok(())
}
