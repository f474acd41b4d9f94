//! Benchmarking the machine's devices.

use gpu_engine::{DeviceChoice, DeviceType, Gpu, GpuOptions, ReproClass, Vulkan, bench, kernels::gemm::GemmVariant};
use gridmint_protocol::{BenchmarkReport, DeterminismCase, GemmLayoutRate};

use crate::{NodeError, Paths};

/// The device to open (the best unless `device` names one), with this node's pipeline cache.
fn choice_and_options(paths: &Paths, device: Option<u32>) -> (DeviceChoice, GpuOptions) {
    let choice = device.map_or(DeviceChoice::Best, DeviceChoice::Index);
    (choice, GpuOptions { pipeline_cache_dir: Some(paths.pipeline_cache()), ..GpuOptions::default() })
}

pub(crate) fn open(paths: &Paths, device: Option<u32>) -> Result<Gpu, NodeError> {
    let (choice, options) = choice_and_options(paths, device);
    Ok(Gpu::open(&Vulkan::load()?, choice, options)?)
}

/// Opens a device that is reopened after a loss (what long-running agents hold).
pub(crate) fn open_slot(paths: &Paths, device: Option<u32>) -> Result<gpu_engine::DeviceSlot, NodeError> {
    let (choice, options) = choice_and_options(paths, device);
    Ok(gpu_engine::DeviceSlot::open(&Vulkan::load()?, choice, options)?)
}

/// Measures the deterministic GEMM and the bandwidth of a device (the best one by default).
pub fn run(paths: &Paths, device: Option<u32>, reps: usize) -> Result<BenchmarkReport, NodeError> {
    let gpu = open(paths, device)?;
    let fused = gpu.supports(ReproClass::Fused);
    let is_gpu = gpu.info().device_type != DeviceType::Cpu;
    if is_gpu {
        // The first GEMM timed on the H200 read low once (bench/RESULTS.md): clocks first.
        bench::warm_up(&gpu, 1.0)?;
    }
    let rate = |n, class| bench::gemm_rate(&gpu, n, class, reps).map(|r| r.gflops);
    let gemm_gflops_1024 = rate(1024, ReproClass::Unfused)?;
    let gemm_gflops_1024_fused = fused.then(|| rate(1024, ReproClass::Fused)).transpose()?;
    let mut gemm_layouts = Vec::new();
    if is_gpu {
        for class in gpu.classes() {
            for variant in GemmVariant::ALL.into_iter().filter(|v| *v != GemmVariant::Streaming) {
                let r = bench::gemm_rate_in(&gpu, 4096, class, variant, reps)?;
                gemm_layouts.push(GemmLayoutRate {
                    layout: variant.name(),
                    class: class.as_str().to_owned(),
                    n: 4096,
                    gflops: r.gflops,
                });
            }
        }
    }
    // The 4096³ headline is the device's own layout, read from the list (not measured again).
    let default_layout = GemmVariant::for_device(&gpu).name();
    let at_4096 = |class: ReproClass| {
        gemm_layouts.iter().find(|l| l.layout == default_layout && l.class == class.as_str()).map(|l| l.gflops)
    };
    let (gemm_gflops_4096, gemm_gflops_4096_fused) = (at_4096(ReproClass::Unfused), at_4096(ReproClass::Fused));
    let floats = if is_gpu { 64 << 20 } else { 16 << 20 };
    let bandwidth_gbs = bench::bandwidth_gbs(&gpu, floats, reps)?;
    let _ = gpu.save_pipeline_cache();
    let best = gemm_gflops_4096.unwrap_or(gemm_gflops_1024);
    Ok(BenchmarkReport {
        device: gpu.info().name.clone(),
        driver: gpu.info().driver_version.clone(),
        classes: gpu.classes().iter().map(|c| c.as_str().to_owned()).collect(),
        gemm_gflops_1024,
        gemm_gflops_1024_fused,
        gemm_gflops_4096,
        gemm_gflops_4096_fused,
        bandwidth_gbs,
        score: best.floor() as u32,
        gemm_layout: default_layout,
        gemm_layouts,
    })
}

/// The determinism suite on a device.
pub fn determinism(paths: &Paths, device: Option<u32>) -> Result<Vec<DeterminismCase>, NodeError> {
    let gpu = open(paths, device)?;
    let mut cases = bench::determinism_suite(&gpu)?;
    cases.extend(bench::workload_suite(&gpu)?);
    Ok(cases.into_iter().map(|c| DeterminismCase { name: c.name, hash: c.hash }).collect())
}

/// The GEMM cases of the determinism suite as the CPU reference computes them, in both classes:
/// what a device that reproduces a class must print. Opens no device.
pub fn determinism_reference() -> Vec<DeterminismCase> {
    bench::determinism_reference().into_iter().map(|c| DeterminismCase { name: c.name, hash: c.hash }).collect()
}
