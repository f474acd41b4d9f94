//! How much memory loading Vulkan costs a process, and how much stays after every engine object
//! is dropped: `cargo run --release -p gpu-engine --example vulkan_residency`. (With Mesa's
//! lavapipe the driver is marked NODELETE, so what it touched stays mapped: the reason the desktop
//! agent keeps device work out of its own process.)

use gpu_engine::{DeviceChoice, Gpu, GpuOptions, ReproClass, Vulkan, kernels::gemm::Gemm};

/// (resident KiB, of which in the named driver library) of this process.
fn resident(library: &str) -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    let (mut in_library, mut mapping) = (0, String::new());
    for line in std::fs::read_to_string("/proc/self/smaps").unwrap_or_default().lines() {
        if let Some(kib) = line.strip_prefix("Rss:") {
            if mapping.contains(library) {
                in_library += kib.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap_or(0);
            }
        } else if line.split_whitespace().next().is_some_and(|range| range.contains('-')) {
            mapping = line.to_owned();
        }
    }
    (rss, in_library)
}

fn report(stage: &str) {
    let (rss, llvm) = resident("libLLVM");
    println!(
        "{stage:<28} {:>7.1} MiB resident, {:>6.1} MiB of it in libLLVM",
        rss as f64 / 1024.0,
        llvm as f64 / 1024.0
    );
}

fn main() -> Result<(), gpu_engine::EngineError> {
    report("start");
    {
        let vulkan = Vulkan::load()?;
        report("Vulkan loaded");
        let gpu = Gpu::open(&vulkan, DeviceChoice::Best, GpuOptions::default())?;
        report("device opened");
        let _gemm = Gemm::new(&gpu, ReproClass::Unfused)?;
        report("a GEMM pipeline built");
    }
    report("everything dropped");
    Ok(())
}
