//! GFLOP/s of GEMM layouts on the device, interleaved so that a busy machine slows them alike:
//! `cargo run --release -p gpu-engine --example gemm_layouts [n] [rounds] [layout,...]`.

use gpu_engine::{
    DeviceChoice, Gpu, GpuOptions, ReproClass, Vulkan, bench,
    kernels::{Gemm, gemm::GemmVariant},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = args.first().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let rounds = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let gpu = Gpu::open(&Vulkan::load()?, DeviceChoice::Best, GpuOptions::default())?;
    let layouts: Vec<GemmVariant> = match args.get(2) {
        Some(names) => GemmVariant::ALL.into_iter().filter(|v| names.split(',').any(|x| x == v.name())).collect(),
        None => GemmVariant::ALL.to_vec(),
    };
    println!("{} n={n} (the device's layout: {})", gpu.info().name, GemmVariant::for_device(&gpu).name());
    for &v in &layouts {
        let start = std::time::Instant::now();
        Gemm::with_variant(&gpu, ReproClass::Unfused, v)?;
        println!("{:<12} pipelines built in {:.0} ms", v.name(), start.elapsed().as_secs_f64() * 1e3);
    }
    for round in 1..=rounds {
        for &v in &layouts {
            let r = bench::gemm_rate_in(&gpu, n, ReproClass::Unfused, v, 3)?;
            println!("round {round} {:<12} {:>9.1} GFLOP/s", v.name(), r.gflops);
        }
    }
    Ok(())
}
