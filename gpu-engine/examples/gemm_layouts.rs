//! GFLOP/s of GEMM layouts on the device, interleaved so that a busy machine slows them alike, in
//! every reproducibility class the device has:
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
        Some(names) => names
            .split(',')
            .map(|x| GemmVariant::from_name(x).ok_or_else(|| format!("no GEMM layout is named {x:?}")))
            .collect::<Result<_, _>>()?,
        None => GemmVariant::ALL.to_vec(),
    };
    let default = |class| GemmVariant::for_device(&gpu, class).name();
    println!(
        "{} n={n} (the device's layouts: {} unfused, {} fused)",
        gpu.info().name,
        default(ReproClass::Unfused),
        default(ReproClass::Fused)
    );
    let classes = gpu.classes();
    for &v in &layouts {
        for &class in &classes {
            let start = std::time::Instant::now();
            Gemm::with_variant(&gpu, class, v)?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            println!("{:<14} {:<8} pipelines built in {ms:.0} ms", v.name(), class.as_str());
        }
    }
    // Clocks up first: the first GEMM timed on an idle H100 read 4.6 TFLOP/s.
    bench::warm_up(&gpu, 1.0)?;
    for round in 1..=rounds {
        for &v in &layouts {
            for &class in &classes {
                let r = bench::gemm_rate_in(&gpu, n, class, v, 3)?;
                println!("round {round} {:<14} {:<8} {:>9.1} GFLOP/s", v.name(), class.as_str(), r.gflops);
            }
        }
    }
    Ok(())
}
