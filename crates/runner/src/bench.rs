//! Benchmarking the machine's devices.

use gpu_engine::{
    DeviceChoice, DeviceType, GemmLayoutChoice, Gpu, GpuOptions, ReproClass, Vulkan, bench, kernels::gemm::GemmVariant,
};
use gridmint_protocol::{BenchmarkProgress, BenchmarkReport, DeterminismCase, GemmLayoutRate};
use serde::{Deserialize, Serialize};

use crate::{Paths, RunnerError};

/// The device to open (the best unless `device` names one), with this node's pipeline cache and
/// the GEMM layouts its benchmarks measured fastest.
fn choice_and_options(paths: &Paths, device: Option<u32>) -> (DeviceChoice, GpuOptions) {
    let choice = device.map_or(DeviceChoice::Best, DeviceChoice::Index);
    let options = GpuOptions {
        pipeline_cache_dir: Some(paths.pipeline_cache()),
        gemm_layouts: load_layouts(paths),
        ..GpuOptions::default()
    };
    (choice, options)
}

/// One line of `gemm-layouts.json`: the layout `gridmint bench` measured fastest for a class on a
/// device and driver, and its rate at 4096³.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredLayout {
    device: String,
    driver: String,
    class: String,
    layout: String,
    gflops: f64,
}

fn read_layouts(paths: &Paths) -> Vec<StoredLayout> {
    let path = paths.gemm_layouts();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            // A cache: an unreadable one means default layouts until the next benchmark.
            tracing::warn!("ignoring {}: {e}", path.display());
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

/// The stored choices this engine understands (a layout renamed or dropped since is skipped).
fn load_layouts(paths: &Paths) -> Vec<GemmLayoutChoice> {
    read_layouts(paths)
        .into_iter()
        .filter_map(|s| {
            let class = s.class.parse::<ReproClass>().ok()?;
            let layout = GemmVariant::from_name(&s.layout)?;
            Some(GemmLayoutChoice { device: s.device, driver: s.driver, class, layout })
        })
        .collect()
}

/// One GEMM layout's rate at 4096³ in one class.
type Measured = (ReproClass, GemmVariant, f64);

/// Replaces what is stored for this device and driver with `fastest`, keeping other devices'.
fn save_layouts(paths: &Paths, device: &str, driver: &str, fastest: &[Measured]) -> Result<(), RunnerError> {
    let mut stored: Vec<StoredLayout> =
        read_layouts(paths).into_iter().filter(|s| s.device != device || s.driver != driver).collect();
    stored.extend(fastest.iter().map(|&(class, layout, gflops)| StoredLayout {
        device: device.to_owned(),
        driver: driver.to_owned(),
        class: class.as_str().to_owned(),
        layout: layout.name(),
        gflops,
    }));
    gridmint_home::paths::write_json(&paths.gemm_layouts(), &stored).map_err(RunnerError::from)
}

/// The fastest of `rates` in each class, in the order the classes first appear.
fn fastest_per_class(rates: &[Measured]) -> Vec<Measured> {
    let mut best: Vec<Measured> = Vec::new();
    for &r in rates {
        match best.iter_mut().find(|b| b.0 == r.0) {
            Some(b) if r.2 > b.2 => *b = r,
            Some(_) => {}
            None => best.push(r),
        }
    }
    best
}

/// Decoder throughput on one device and class (issue #24's measure): a GPT-2-small-shaped model
/// (124M parameters) with seeded weights; prompts of [`GENERATE_PROMPT`] tokens, `batch` of them
/// in one prefill, then [`GENERATE_DECODE_STEPS`] decode steps of one token each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRate {
    pub batch: usize,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

/// What [`generate_speed`] measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateReport {
    pub device: String,
    pub model: String,
    pub class: String,
    pub prompt_tokens: usize,
    pub decode_steps: usize,
    pub rates: Vec<GenerateRate>,
}

/// Tokens of each prompt in the generation benchmark.
pub const GENERATE_PROMPT: usize = 32;
/// Decode steps timed per batch size.
pub const GENERATE_DECODE_STEPS: usize = 16;

/// GPT-2 small's shapes (the Hugging Face `gpt2` checkpoint's config).
pub fn gpt2_small() -> gpu_engine::workloads::decoder::DecoderConfig {
    gpu_engine::workloads::decoder::DecoderConfig {
        vocab_size: 50_257,
        hidden: 768,
        layers: 12,
        heads: 12,
        intermediate: 3072,
        max_positions: 1024,
        layer_norm_eps: 1e-5,
    }
}

/// Measures prefill and decode tokens per second of a GPT-2-small-shaped decoder (seeded
/// weights) at each of `batches`, in the unfused class, on a device (the best by default).
pub fn generate_speed(paths: &Paths, device: Option<u32>, batches: &[usize]) -> Result<GenerateReport, RunnerError> {
    use gpu_engine::workloads::decoder::{Decoder, DecoderWeights};
    let gpu = open(paths, device)?;
    let config = gpt2_small();
    let class = gpu_engine::ReproClass::Unfused;
    let decoder = Decoder::new(&gpu, DecoderWeights::seeded(config, 2026)?, class)?;
    let mut rates = Vec::with_capacity(batches.len());
    for &batch in batches {
        let prompts: Vec<Vec<u32>> = (0..batch)
            .map(|b| (0..GENERATE_PROMPT).map(|t| ((b * 7919 + t * 104_729) % config.vocab_size) as u32).collect())
            .collect();
        let mut cache = decoder.cache(&gpu, batch, GENERATE_PROMPT + GENERATE_DECODE_STEPS + 1)?;
        let work: Vec<(usize, &[u32])> = prompts.iter().enumerate().map(|(s, p)| (s, p.as_slice())).collect();
        let started = std::time::Instant::now();
        let mut logits = decoder.step(&gpu, &mut cache, &work)?;
        let prefill = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        for _ in 0..GENERATE_DECODE_STEPS {
            let next: Vec<[u32; 1]> = logits.iter().map(|l| [gpu_engine::workloads::decoder::argmax(l)]).collect();
            let work: Vec<(usize, &[u32])> = next.iter().enumerate().map(|(s, t)| (s, &t[..])).collect();
            logits = decoder.step(&gpu, &mut cache, &work)?;
        }
        let decode = started.elapsed().as_secs_f64();
        rates.push(GenerateRate {
            batch,
            prefill_tokens_per_s: (batch * GENERATE_PROMPT) as f64 / prefill,
            decode_tokens_per_s: (batch * GENERATE_DECODE_STEPS) as f64 / decode,
        });
    }
    Ok(GenerateReport {
        device: gpu.info().name.clone(),
        model: "GPT-2 small shapes (124M parameters), seeded weights".into(),
        class: class.as_str().to_owned(),
        prompt_tokens: GENERATE_PROMPT,
        decode_steps: GENERATE_DECODE_STEPS,
        rates,
    })
}

/// Opens a device (the best unless `device` names one) with this machine's pipeline cache and
/// GEMM layouts.
pub fn open(paths: &Paths, device: Option<u32>) -> Result<Gpu, RunnerError> {
    let (choice, options) = choice_and_options(paths, device);
    Ok(Gpu::open(&Vulkan::load()?, choice, options)?)
}

/// Opens a device that is reopened after a loss (what long-running agents hold).
pub fn open_slot(paths: &Paths, device: Option<u32>) -> Result<gpu_engine::DeviceSlot, RunnerError> {
    let (choice, options) = choice_and_options(paths, device);
    Ok(gpu_engine::DeviceSlot::open(&Vulkan::load()?, choice, options)?)
}

/// Measures the deterministic GEMM and the bandwidth of a device (the best one by default).
pub fn run(paths: &Paths, device: Option<u32>, reps: usize) -> Result<BenchmarkReport, RunnerError> {
    run_with_progress(paths, device, reps, &mut |_| {})
}

/// [`run`], telling `progress` before each step (and once more when done) how many of how many
/// steps are finished and what runs now.
pub fn run_with_progress(
    paths: &Paths,
    device: Option<u32>,
    reps: usize,
    progress: &mut dyn FnMut(BenchmarkProgress),
) -> Result<BenchmarkReport, RunnerError> {
    progress(BenchmarkProgress { done: 0, total: 1, stage: "opening the device".into() });
    let gpu = open(paths, device)?;
    let fused = gpu.supports(ReproClass::Fused);
    let is_gpu = gpu.info().device_type != DeviceType::Cpu;
    let layouts: Vec<(ReproClass, GemmVariant)> = if is_gpu {
        gpu.classes()
            .into_iter()
            .flat_map(|c| {
                GemmVariant::ALL
                    .into_iter()
                    .filter(|v| !matches!(v, GemmVariant::Streaming | GemmVariant::Texel))
                    .map(move |v| (c, v))
            })
            .collect()
    } else {
        Vec::new()
    };
    // Opened; warm-up; the layouts; GEMM 1024³ (and fused); bandwidth.
    let total = 1 + u32::from(is_gpu) + layouts.len() as u32 + 1 + u32::from(fused) + 1;
    let mut done = 1;
    let mut step = |stage: String| {
        progress(BenchmarkProgress { done, total, stage });
        done += 1;
    };
    if is_gpu {
        step("warming the GPU up".into());
        // The first GEMM timed on the H200 read low once (bench/RESULTS.md): clocks first.
        bench::warm_up(&gpu, 1.0)?;
    }
    let mut measured: Vec<Measured> = Vec::new();
    for (class, variant) in layouts {
        step(format!("matrix multiply 4096³, {} {}", variant.name(), class.as_str()));
        measured.push((class, variant, bench::gemm_rate_in(&gpu, 4096, class, variant, reps)?.gflops));
    }
    // On a GPU the fastest layout of each class becomes the device's (every layout gives the same
    // bits): stored for this device and driver, it is what jobs run from now on, and the 4096³
    // headline is its rate, read from the list (not measured again).
    let fastest = fastest_per_class(&measured);
    if !fastest.is_empty() {
        save_layouts(paths, &gpu.info().name, &gpu.info().driver_version, &fastest)?;
    }
    let chosen = |class: ReproClass| fastest.iter().find(|r| r.0 == class);
    let layout_for = |class: ReproClass| chosen(class).map_or_else(|| gpu.gemm_layout(class), |r| r.1);
    let (gemm_gflops_4096, gemm_gflops_4096_fused) =
        (chosen(ReproClass::Unfused).map(|r| r.2), chosen(ReproClass::Fused).map(|r| r.2));
    let rate = |n, class| bench::gemm_rate_in(&gpu, n, class, layout_for(class), reps).map(|r| r.gflops);
    step("matrix multiply 1024³".into());
    let gemm_gflops_1024 = rate(1024, ReproClass::Unfused)?;
    let gemm_gflops_1024_fused = if fused {
        step("matrix multiply 1024³, fused".into());
        Some(rate(1024, ReproClass::Fused)?)
    } else {
        None
    };
    let floats = if is_gpu { 64 << 20 } else { 16 << 20 };
    step("memory bandwidth".into());
    let bandwidth_gbs = bench::bandwidth_gbs(&gpu, floats, reps)?;
    step("done".into());
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
        gemm_layout: layout_for(ReproClass::Unfused).name(),
        gemm_layout_fused: fused.then(|| layout_for(ReproClass::Fused).name()),
        gemm_layouts: measured
            .iter()
            .map(|&(class, layout, gflops)| GemmLayoutRate {
                layout: layout.name(),
                class: class.as_str().to_owned(),
                n: 4096,
                gflops,
            })
            .collect(),
    })
}

/// The determinism suite on a device.
pub fn determinism(paths: &Paths, device: Option<u32>) -> Result<Vec<DeterminismCase>, RunnerError> {
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

/// What `gridmint bench --yield` measured: the time from a user-input event to the GPU being
/// handed back, while a long job of short dispatches runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct YieldReport {
    pub device: String,
    /// `x11-xtest`: a real input event through the X server (XTEST), seen by the X11 idle
    /// detector; `in-process`: no X server, the detector's clock is reset directly.
    pub input_source: &'static str,
    pub trials: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The long job: a job package run again and again, or GEMM dispatches (2·n³ each, n chosen
    /// for ≈ `target_dispatch_ms`).
    pub job: Option<String>,
    pub gemm_n: Option<usize>,
    /// How long each of the job's submissions held the device.
    pub dispatch_ms_p50: f64,
    pub dispatch_ms_max: f64,
    /// How often the idle detector reads the idle time.
    pub poll_ms: f64,
    pub latencies_ms: Vec<f64>,
}

/// The nearest-rank percentile of sorted `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// An idle clock the bench resets itself (no X server).
struct ManualIdle(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl crate::idle::InputIdle for ManualIdle {
    fn idle_for(&mut self) -> Result<std::time::Duration, RunnerError> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).elapsed())
    }
}

/// Moves the owner's mouse: the `i`th input of a yield benchmark.
type SimulateInput = Box<dyn Fn(u32) -> Result<(), RunnerError>>;

/// The X server's idle time, and XTEST input through it as the owner's mouse.
#[cfg(target_os = "linux")]
fn x11_input(display: &str) -> Result<(Box<dyn crate::idle::InputIdle>, SimulateInput), RunnerError> {
    let detector = crate::idle::X11Idle::connect(Some(display))?;
    let user = crate::idle::X11Idle::connect(Some(display))?;
    Ok((Box::new(detector), Box::new(move |i| user.simulate_input((100 + (i % 200)) as i16, (100 + (i % 150)) as i16))))
}

#[cfg(not(target_os = "linux"))]
fn x11_input(display: &str) -> Result<(Box<dyn crate::idle::InputIdle>, SimulateInput), RunnerError> {
    Err(RunnerError::IdleDetection {
        message: format!("no X display {display} here: the X11 yield benchmark is Linux's"),
    })
}

/// Runs a long job under a [`crate::idle::Yielder`] (the job package `job` again and again,
/// through the runner as a provider runs it, or GEMM dispatches of about `target_dispatch_ms`
/// each), and `trials` times: waits for the job to be working, simulates the owner's input at a
/// random moment, and measures until the GPU is idle (the dispatch in flight ended and no other
/// started).
pub fn yield_latency(
    paths: &Paths,
    device: Option<u32>,
    trials: usize,
    target_dispatch_ms: f64,
    display: Option<&str>,
    job: Option<&std::path::Path>,
) -> Result<YieldReport, RunnerError> {
    use std::{
        sync::{Arc, Mutex, mpsc},
        time::{Duration, Instant},
    };

    use gpu_engine::{
        control::{Control, run_steps},
        kernels::{Gemm, gemm::GemmShape},
        seeded,
    };
    use rand::Rng;

    use crate::idle::{IdlePolicy, InputIdle, YieldEvent, Yielder};

    let gpu = open(paths, device)?;
    let kernel = Gemm::new(&gpu, ReproClass::Unfused)?;
    // Calibrate: the largest n (a multiple of 64) whose dispatch stays near the target.
    let time_one = |n: usize| -> Result<f64, RunnerError> {
        let a = gpu.upload(&seeded::uniform(1, n * n))?;
        let c = gpu.output::<f32>((n * n) as u64)?;
        let shape = GemmShape { m: n, n, k: n };
        kernel.run(&gpu, &a, &a, &c, shape)?;
        let started = Instant::now();
        kernel.run(&gpu, &a, &a, &c, shape)?;
        Ok(started.elapsed().as_secs_f64() * 1e3)
    };
    let mut n = 64;
    while job.is_none() && n < 4096 {
        let ms = time_one(n + 64)?;
        if ms > target_dispatch_ms {
            break;
        }
        n += 64;
    }
    let a = gpu.upload(&seeded::uniform(1, n * n))?;
    let b = gpu.upload(&seeded::uniform(2, n * n))?;
    let c = gpu.output::<f32>((n * n) as u64)?;
    let shape = GemmShape { m: n, n, k: n };

    let policy =
        IdlePolicy { start_after: Duration::from_millis(400), notice: Duration::ZERO, poll: Duration::from_millis(10) };
    let manual = Arc::new(Mutex::new(Instant::now()));
    let (source, input, input_source): (Box<dyn InputIdle>, SimulateInput, _) = match display.map(x11_input) {
        Some(Ok((detector, input))) => (detector, input, "x11-xtest"),
        Some(Err(e)) => return Err(e),
        None => {
            let clock = manual.clone();
            (
                Box::new(ManualIdle(manual.clone())),
                Box::new(move |_| {
                    *clock.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                    Ok(())
                }),
                "in-process",
            )
        }
    };
    let control = Control::new();
    let (events_tx, events) = mpsc::channel();
    let yielder = Yielder::spawn(source, control.clone(), policy, move |e| {
        let _ = events_tx.send(e);
    });
    let scratch =
        tempfile::tempdir().map_err(|e| RunnerError::Io { what: "creating", path: std::env::temp_dir(), source: e })?;
    let outcome = std::thread::scope(|scope| -> Result<Vec<f64>, RunnerError> {
        let job = scope.spawn(|| -> Result<(), RunnerError> {
            match job {
                Some(package) => {
                    gpu.set_control(Some(control.clone()));
                    for run in 0.. {
                        let out = scratch.path().join(format!("run-{run}"));
                        match crate::run(
                            paths,
                            &gpu,
                            package,
                            &out,
                            gridmint_protocol::ReproClass::Unfused,
                            &mut |_| {},
                        ) {
                            Ok(_) => {
                                let _ = std::fs::remove_dir_all(&out);
                            }
                            Err(crate::JobError::Engine(gpu_engine::EngineError::Cancelled { .. })) => break,
                            Err(e) => {
                                return Err(RunnerError::IdleDetection {
                                    message: format!("the bench's job failed: {e}"),
                                });
                            }
                        }
                    }
                    gpu.set_control(None);
                    Ok(())
                }
                None => {
                    let _ = run_steps(
                        usize::MAX,
                        &control,
                        |_| {},
                        |_| {
                            kernel.run(&gpu, &a, &b, &c, shape)?;
                            Ok([0; 32])
                        },
                    );
                    Ok(())
                }
            }
        });
        let wait = Duration::from_secs(30);
        let mut latencies = Vec::with_capacity(trials);
        let mut rng = rand::thread_rng();
        let measured = (|| -> Result<(), RunnerError> {
            for trial in 0..trials {
                // The job works again once the owner has been away for `start_after`.
                loop {
                    match events.recv_timeout(wait) {
                        Ok(YieldEvent::Started) => break,
                        Ok(YieldEvent::SourceFailed) | Err(_) => {
                            return Err(RunnerError::IdleDetection {
                                message: format!("trial {trial}: the job never started"),
                            });
                        }
                        Ok(_) => {}
                    }
                }
                std::thread::sleep(Duration::from_millis(rng.gen_range(30..250)));
                let touched = Instant::now();
                input(trial as u32)?;
                loop {
                    match events.recv_timeout(wait) {
                        Ok(YieldEvent::Yielded { .. }) => break,
                        Ok(YieldEvent::SourceFailed) | Err(_) => {
                            return Err(RunnerError::IdleDetection {
                                message: format!("trial {trial}: the input was not seen"),
                            });
                        }
                        Ok(_) => {}
                    }
                }
                let idle = control.wait_idle(wait).ok_or_else(|| RunnerError::IdleDetection {
                    message: format!("trial {trial}: the GPU was not handed back within {wait:?}"),
                })?;
                latencies.push(idle.saturating_duration_since(touched).as_secs_f64() * 1e3);
            }
            Ok(())
        })();
        drop(yielder);
        control.cancel();
        control.resume();
        let ran = job.join().unwrap_or_else(|_| Err(RunnerError::IdleDetection { message: "the job panicked".into() }));
        measured.and(ran).map(|()| latencies)
    })?;
    let mut sorted = outcome.clone();
    sorted.sort_by(f64::total_cmp);
    let mut dispatches: Vec<f64> = control.dispatch_times().iter().map(|d| d.as_secs_f64() * 1e3).collect();
    dispatches.sort_by(f64::total_cmp);
    if sorted.is_empty() || dispatches.is_empty() {
        return Err(RunnerError::IdleDetection { message: "no trial ran".into() });
    }
    Ok(YieldReport {
        device: gpu.info().name.clone(),
        input_source,
        trials: sorted.len(),
        p50_ms: percentile(&sorted, 50.0),
        p99_ms: percentile(&sorted, 99.0),
        max_ms: *sorted.last().unwrap_or(&0.0),
        job: job.map(|p| p.display().to_string()),
        gemm_n: job.is_none().then_some(n),
        dispatch_ms_p50: percentile(&dispatches, 50.0),
        dispatch_ms_max: *dispatches.last().unwrap_or(&0.0),
        poll_ms: policy.poll.as_secs_f64() * 1e3,
        latencies_ms: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(layout: &str, class: &str, gflops: f64) -> Measured {
        let layout = GemmVariant::from_name(layout).expect("a layout name");
        (class.parse().expect("a class name"), layout, gflops)
    }

    #[test]
    fn the_fastest_layout_of_each_class_is_chosen() {
        let rates = [
            rate("wide128x8", "unfused", 22_347.0),
            rate("wide128x8s2", "unfused", 23_216.0),
            rate("tiled64", "fused", 24_400.0),
            rate("wide128x8v", "fused", 6_687.0),
        ];
        let best: Vec<_> = fastest_per_class(&rates).into_iter().map(|(c, l, _)| (c.as_str(), l.name())).collect();
        assert_eq!(best, [("unfused", "wide128x8s2".to_owned()), ("fused", "tiled64".to_owned())]);
        assert!(fastest_per_class(&[]).is_empty());
    }

    /// What a benchmark stores is what the next device opening reads: per device and driver,
    /// replaced by the next benchmark of the same pair, beside other pairs; names this engine does
    /// not know and a damaged file leave the defaults.
    #[test]
    fn measured_layouts_are_kept_per_device_and_driver() {
        let root = tempfile::tempdir().expect("tempdir");
        let paths = Paths::under(root.path());
        assert!(load_layouts(&paths).is_empty(), "nothing measured yet");

        let (h100, old, new) = ("NVIDIA H100 80GB HBM3", "580.159.4.0", "590.1.0.0");
        let first = [rate("wide128x8s2", "unfused", 23_216.0), rate("tiled64", "fused", 24_400.0)];
        save_layouts(&paths, h100, old, &first).expect("save");
        save_layouts(&paths, "llvmpipe", "0.0.1", &[rate("texel", "unfused", 60.0)]).expect("save");
        save_layouts(&paths, h100, old, &[rate("wide128x8v", "unfused", 23_119.0)]).expect("save");
        save_layouts(&paths, h100, new, &[rate("wide128x8", "fused", 32_011.0)]).expect("save");

        let mut got: Vec<_> =
            load_layouts(&paths).into_iter().map(|c| (c.device, c.driver, c.class, c.layout.name())).collect();
        got.sort();
        let want = |d: &str, v: &str, c, l: &str| (d.to_owned(), v.to_owned(), c, l.to_owned());
        assert_eq!(
            got,
            [
                want(h100, old, ReproClass::Unfused, "wide128x8v"),
                want(h100, new, ReproClass::Fused, "wide128x8"),
                want("llvmpipe", "0.0.1", ReproClass::Unfused, "texel"),
            ]
        );

        let mut stored = read_layouts(&paths);
        for (layout, class) in [("wide128x99", "unfused"), ("tiled64", "warped")] {
            let (device, driver) = ("gpu".to_owned(), "1".to_owned());
            stored.push(StoredLayout { device, driver, class: class.into(), layout: layout.into(), gflops: 1.0 });
        }
        std::fs::write(paths.gemm_layouts(), serde_json::to_vec(&stored).expect("json")).expect("write");
        assert_eq!(load_layouts(&paths).len(), 3, "unknown layout and class names are skipped");
        std::fs::write(paths.gemm_layouts(), b"{ not json").expect("damage it");
        assert!(load_layouts(&paths).is_empty(), "a damaged file means the defaults");
    }
}
