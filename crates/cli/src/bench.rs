//! `gridmint bench`: the device's deterministic throughput beside a reference in the same run.

use std::process::Command;

use anyhow::Context;
use gridmint_node::Node;
use gridmint_protocol::BenchmarkReport;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Print the determinism suite (`<case> <blake3>`) instead of timings.
    #[arg(long)]
    determinism: bool,
    /// With --determinism: print the GEMM cases as the CPU reference computes them (both
    /// classes; what every device that reproduces a class must print), opening no device.
    #[arg(long, requires = "determinism")]
    cpu_reference: bool,
    /// Device index (see `gridmint gpus`); the best device by default.
    #[arg(long)]
    gpu: Option<u32>,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Skip the reference.
    #[arg(long)]
    no_reference: bool,
    /// The reference to compare with: numpy fp32 matmul on the CPU (OpenBLAS), or PyTorch fp32
    /// matmul on CUDA with TF32 off. `auto`: PyTorch when the device is a GPU and CUDA answers,
    /// else numpy.
    #[arg(long, value_enum, default_value_t = ReferenceKind::Auto)]
    reference: ReferenceKind,
    /// Measure the GPU yield instead: this many simulated user-input events while a long job
    /// runs, each timed until the GPU is handed back. Input goes through the X server named by
    /// DISPLAY (XTEST, seen by the X11 idle detector); without DISPLAY it is simulated in-process.
    #[arg(long, value_name = "TRIALS")]
    r#yield: Option<usize>,
    /// With --yield: the job's dispatch length to aim for, in milliseconds.
    #[arg(long, default_value_t = 80.0, requires = "yield")]
    dispatch_ms: f64,
    /// With --yield: run this job package (again and again, as a provider runs it) instead of
    /// GEMM dispatches.
    #[arg(long, requires = "yield")]
    job: Option<std::path::PathBuf>,
    /// Measure text generation instead: prefill and decode tokens per second of a
    /// GPT-2-small-shaped decoder at batch 1 and 32, beside transformers on the CPU.
    #[arg(long)]
    generate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReferenceKind {
    Auto,
    Numpy,
    Torch,
}

#[derive(Debug, Serialize)]
struct Output {
    #[serde(flatten)]
    report: BenchmarkReport,
    reference: Option<String>,
    reference_gflops_1024: Option<f64>,
    ratio_vs_reference: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_gflops_4096: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_vs_reference_4096: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_vs_reference_4096_fused: Option<f64>,
}

/// A reference run: its name and fp32 GFLOP/s at 1024³ (and 4096³ for PyTorch on a GPU).
struct Reference {
    name: String,
    gflops_1024: f64,
    gflops_4096: Option<f64>,
}

pub fn run(node: &Node, args: BenchArgs, json: bool) -> anyhow::Result<()> {
    if args.cpu_reference {
        for case in gridmint_runner::bench::determinism_reference() {
            println!("{} {}", case.name, case.hash.as_deref().unwrap_or("unsupported"));
        }
        return Ok(());
    }
    if args.determinism {
        for case in node.determinism_suite(args.gpu)? {
            println!("{} {}", case.name, case.hash.as_deref().unwrap_or("unsupported"));
        }
        return Ok(());
    }
    if let Some(trials) = args.r#yield {
        anyhow::ensure!(trials > 0, "--yield needs at least one trial");
        let display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
        let report = gridmint_runner::bench::yield_latency(
            node.paths(),
            args.gpu,
            trials,
            args.dispatch_ms,
            display.as_deref(),
            args.job.as_deref(),
        )
        .map_err(gridmint_node::NodeError::from)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "yield on {} ({}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} trials; dispatches {:.1} ms (max {:.1})",
                report.device,
                report.input_source,
                report.p50_ms,
                report.p99_ms,
                report.max_ms,
                report.trials,
                report.dispatch_ms_p50,
                report.dispatch_ms_max
            );
        }
        return Ok(());
    }
    if args.generate {
        return generate(node, &args, json);
    }
    let report = node.benchmark(args.gpu, args.reps)?;
    let on_gpu = !report.gemm_layouts.is_empty();
    let reference = match (args.no_reference, args.reference) {
        (true, _) => None,
        (false, ReferenceKind::Numpy) => Some(numpy_reference(args.reps)?),
        (false, ReferenceKind::Torch) => Some(torch_reference(args.reps)?),
        (false, ReferenceKind::Auto) if on_gpu => match torch_reference(args.reps) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("PyTorch CUDA reference unavailable ({e:#}); comparing with numpy");
                Some(numpy_reference(args.reps)?)
            }
        },
        (false, ReferenceKind::Auto) => Some(numpy_reference(args.reps)?),
    };
    let ref_4096 = reference.as_ref().and_then(|r| r.gflops_4096);
    let out = Output {
        reference_gflops_1024: reference.as_ref().map(|r| r.gflops_1024),
        ratio_vs_reference: reference.as_ref().map(|r| report.gemm_gflops_1024 / r.gflops_1024),
        reference_gflops_4096: ref_4096,
        ratio_vs_reference_4096: report.gemm_gflops_4096.zip(ref_4096).map(|(g, r)| g / r),
        ratio_vs_reference_4096_fused: report.gemm_gflops_4096_fused.zip(ref_4096).map(|(g, r)| g / r),
        reference: reference.map(|r| r.name),
        report,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let r = &out.report;
        println!("device      {} ({})", r.device, r.driver);
        println!("classes     {}", r.classes.join(", "));
        println!(
            "GEMM 1024³  {:.1} GFLOP/s (unfused){}",
            r.gemm_gflops_1024,
            fmt_opt(" · fused ", r.gemm_gflops_1024_fused)
        );
        if let Some(g) = r.gemm_gflops_4096 {
            println!("GEMM 4096³  {g:.1} GFLOP/s (unfused){}", fmt_opt(" · fused ", r.gemm_gflops_4096_fused));
        }
        let fused_layout = r.gemm_layout_fused.as_deref().map(|l| format!(", {l} (fused)")).unwrap_or_default();
        println!("layout      {} (unfused){fused_layout}", r.gemm_layout);
        for l in &r.gemm_layouts {
            println!("  layout {:<11} {:<7} {}³  {:.1} GFLOP/s", l.layout, l.class, l.n, l.gflops);
        }
        println!("bandwidth   {:.1} GB/s", r.bandwidth_gbs);
        println!("score       {} compute units", r.score);
        if let (Some(name), Some(g), Some(ratio)) = (&out.reference, out.reference_gflops_1024, out.ratio_vs_reference)
        {
            println!("reference   {name}: {g:.1} GFLOP/s at 1024³ → ratio {ratio:.3}");
        }
    }
    Ok(())
}

fn fmt_opt(label: &str, v: Option<f64>) -> String {
    v.map(|g| format!("{label}{g:.1} GFLOP/s")).unwrap_or_default()
}

const NUMPY: &str = r#"
import json, time
import numpy as np
n = 1024
rng = np.random.default_rng(0)
a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
a @ b
ts = []
for _ in range(REPS):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
ts.sort()
info = ""
try:
    from threadpoolctl import threadpool_info
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if blas: info = f" ({blas[0].get('internal_api')} {blas[0].get('version')}, {blas[0].get('architecture')}, {blas[0].get('num_threads')} threads)"
except Exception:
    pass
print(json.dumps({"gflops": 2 * n**3 / ts[len(ts) // 2] / 1e9, "name": f"numpy {np.__version__} fp32 matmul" + info}))
"#;

const TORCH: &str = r#"
import json, torch
assert torch.cuda.is_available(), "CUDA is not available to PyTorch"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
out = {"name": f"PyTorch {torch.__version__} fp32 matmul, TF32 off, on {torch.cuda.get_device_name()}"}
for n in (1024, 4096):
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.rand(n, n, device="cuda", generator=g) * 2 - 1
    b = torch.rand(n, n, device="cuda", generator=g) * 2 - 1
    c = torch.empty(n, n, device="cuda")
    for _ in range(3): torch.mm(a, b, out=c)
    torch.cuda.synchronize()
    inner = 50 if n == 1024 else 10
    ts = []
    for _ in range(REPS):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(inner): torch.mm(a, b, out=c)
        e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) / 1000 / inner)
    ts.sort()
    out[f"gflops_{n}"] = 2 * n**3 / ts[len(ts) // 2] / 1e9
print(json.dumps(out))
"#;

/// `gridmint bench --generate`: the decoder's tokens per second and transformers' in the same run.
fn generate(node: &Node, args: &BenchArgs, json: bool) -> anyhow::Result<()> {
    use gridmint_runner::bench::{GENERATE_DECODE_STEPS, GENERATE_PROMPT};
    let batches = [1usize, 32];
    let report = gridmint_runner::bench::generate_speed(node.paths(), args.gpu, &batches)
        .map_err(gridmint_node::NodeError::from)?;
    let reference = if args.no_reference {
        None
    } else {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/generate_reference.py");
        let mut command = Command::new("python3");
        command.arg(&script).args([GENERATE_PROMPT, GENERATE_DECODE_STEPS].map(|n| n.to_string()));
        command.args(batches.map(|b| b.to_string()));
        let out =
            command.output().context("running python3 for the transformers reference (or pass --no-reference)")?;
        anyhow::ensure!(
            out.status.success(),
            "the transformers reference failed (pip install torch transformers, or pass --no-reference): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Some(serde_json::from_slice::<serde_json::Value>(&out.stdout).context("reading the transformers reference")?)
    };
    let mut out = serde_json::to_value(&report)?;
    if let Some(reference) = &reference {
        out["reference"] = reference.clone();
        for (rate, theirs) in report.rates.iter().zip(reference["rates"].as_array().into_iter().flatten()) {
            let b = rate.batch;
            let ratio = |ours: f64, key: &str| theirs[key].as_f64().map(|t| ours / t);
            out[format!("ratio_prefill_batch{b}")] = ratio(rate.prefill_tokens_per_s, "prefillTokensPerS").into();
            out[format!("ratio_decode_batch{b}")] = ratio(rate.decode_tokens_per_s, "decodeTokensPerS").into();
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("device      {} ({}, {} class)", report.device, report.model, report.class);
    for r in &report.rates {
        println!(
            "batch {:>3}   prefill {:>8.1} tokens/s   decode {:>8.1} tokens/s",
            r.batch, r.prefill_tokens_per_s, r.decode_tokens_per_s
        );
    }
    if let Some(reference) = reference {
        println!("reference   {}", reference["name"].as_str().unwrap_or("transformers"));
        for r in reference["rates"].as_array().into_iter().flatten() {
            println!(
                "batch {:>3}   prefill {:>8.1} tokens/s   decode {:>8.1} tokens/s",
                r["batch"],
                r["prefillTokensPerS"].as_f64().unwrap_or(f64::NAN),
                r["decodeTokensPerS"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}

fn python_json(script: &str, what: &str) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("python3")
        .args(["-c", script])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output()
        .with_context(|| format!("running python3 for the {what} reference (install it, or pass --no-reference)"))?;
    anyhow::ensure!(
        out.status.success(),
        "the {what} reference failed (pass --no-reference to skip it): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    serde_json::from_slice(&out.stdout).with_context(|| format!("reading the {what} reference's output"))
}

/// PyTorch fp32 matmul on CUDA, TF32 off, at 1024³ and 4096³, timed with CUDA events.
fn torch_reference(reps: usize) -> anyhow::Result<Reference> {
    let v = python_json(&TORCH.replace("REPS", &reps.max(1).to_string()), "PyTorch")?;
    Ok(Reference {
        name: v["name"].as_str().unwrap_or("PyTorch").to_owned(),
        gflops_1024: v["gflops_1024"].as_f64().context("the PyTorch reference printed no gflops_1024")?,
        gflops_4096: v["gflops_4096"].as_f64(),
    })
}

/// numpy fp32 matmul at 1024³ in a subprocess, with the OpenBLAS overrides of this machine unset
/// so that it runs its best kernel (they are set for old OpenBLAS builds and slow a current numpy).
fn numpy_reference(reps: usize) -> anyhow::Result<Reference> {
    let v = python_json(&NUMPY.replace("REPS", &reps.max(1).to_string()), "numpy")
        .context("`python3 -m pip install numpy threadpoolctl` installs what it needs")?;
    Ok(Reference {
        name: v["name"].as_str().unwrap_or("numpy").to_owned(),
        gflops_1024: v["gflops"].as_f64().context("the numpy reference printed no gflops")?,
        gflops_4096: None,
    })
}
