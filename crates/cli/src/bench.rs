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
    /// Device index (see `gridmint gpus`); the best device by default.
    #[arg(long)]
    gpu: Option<u32>,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Skip the numpy reference.
    #[arg(long)]
    no_reference: bool,
}

#[derive(Debug, Serialize)]
struct Output {
    #[serde(flatten)]
    report: BenchmarkReport,
    reference: Option<String>,
    reference_gflops_1024: Option<f64>,
    ratio_vs_reference: Option<f64>,
}

pub fn run(node: &Node, args: BenchArgs, json: bool) -> anyhow::Result<()> {
    if args.determinism {
        for case in node.determinism_suite(args.gpu)? {
            println!("{} {}", case.name, case.hash.as_deref().unwrap_or("unsupported"));
        }
        return Ok(());
    }
    let report = node.benchmark(args.gpu, args.reps)?;
    let reference = if args.no_reference { None } else { Some(numpy_reference(args.reps)?) };
    let out = Output {
        reference_gflops_1024: reference.as_ref().map(|r| r.1),
        ratio_vs_reference: reference.as_ref().map(|r| report.gemm_gflops_1024 / r.1),
        reference: reference.map(|r| r.0),
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

/// numpy fp32 matmul at 1024³ in a subprocess, with the OpenBLAS overrides of this machine unset
/// so that it runs its best kernel (shared/notes: they slow a current numpy).
fn numpy_reference(reps: usize) -> anyhow::Result<(String, f64)> {
    let out = Command::new("python3")
        .args(["-c", &NUMPY.replace("REPS", &reps.max(1).to_string())])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output()
        .context("running python3 for the numpy reference (install it, or pass --no-reference)")?;
    anyhow::ensure!(
        out.status.success(),
        "the numpy reference failed (`python3 -m pip install numpy threadpoolctl`, or pass --no-reference): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading the numpy reference's output")?;
    let gflops = v["gflops"].as_f64().context("the numpy reference printed no gflops")?;
    Ok((v["name"].as_str().unwrap_or("numpy").to_owned(), gflops))
}
