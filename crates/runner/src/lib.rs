//! Running work on this machine's devices: the code path `gridmint run`, the provider agent and
//! the buyer's spot check share. Knows job packages and devices; nothing of chains, prices, peers
//! or wallets.
//!
//! Module map:
//! - the crate root: [`run`] a package on a device (or a [`run_in_slot`] that survives a lost
//!   device) and [`estimate`] its work units;
//! - [`package`]: a job package (a folder or a .zip with `job.toml`), read with limits;
//! - [`embed`], [`train`], [`finetune`], [`generate`], [`kernel`]: the runner of each job kind, with
//!   [`npy`], `textfile`, [`prompts`] and [`dataset`] (a fine-tuning file read in chunks) for their
//!   files and [`lm`] for a generate job's language model;
//! - [`output`]: outputs staged and committed all at once, and the one result root;
//! - [`readback`]: a result folder read back for people (the app's result view; a fine-tuning
//!   result's segments and loss curve);
//! - [`bench`]: opening a device with this machine's pipeline cache and layouts, benchmarks, the
//!   determinism suite and the yield benchmark;
//! - [`hardware`]: the devices and host this machine reports;
//! - [`challenge`]: device checks: a challenge answered and opened on the device, a juror's check;
//! - [`worker`]: device work in a child process (the protocol on its stdin and stdout);
//! - [`idle`]: the owner's input and the GPU yield that follows it;
//! - [`error`]: the errors, [`JobError`] (the package's fault or the machine's) and [`RunnerError`].

pub mod bench;
pub mod binding;
pub mod challenge;
pub mod dataset;
pub mod embed;
pub mod error;
pub mod finetune;
pub mod generate;
pub mod hardware;
pub mod idle;
pub mod kernel;
pub mod lm;
pub mod npy;
pub mod output;
pub mod package;
pub mod prompts;
pub mod readback;
mod textfile;
pub mod trace;
pub mod train;
pub mod worker;

use std::{path::Path, time::Instant};

use gpu_engine::Gpu;
use gridmint_protocol::{JobKind, JobManifest, ReproClass, RunReport};

pub use error::{JobError, RunnerError};
pub use package::Package;

pub use gridmint_home::Paths;

/// Where a run is: `done` of `total` in the current `stage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub stage: String,
    pub done: u64,
    pub total: u64,
}

/// Reports progress; `&mut |_| {}` ignores it.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&Progress);

/// What a package will cost, from its shapes alone (no device): the figure the run reports (for
/// a generate job, its most: every prompt generating its `max_new_tokens`).
pub fn estimate(paths: &Paths, package: &Package) -> Result<u64, JobError> {
    Ok(describe(paths, package)?.work_units)
}

/// What a job is, before it runs: its work units ([`estimate`]) and facts a buyer reads (label,
/// value), as its kind describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub work_units: u64,
    pub facts: Vec<(String, String)>,
}

/// Reads the package as a run would (model, inputs, tokenizer; no device) and describes it.
pub fn describe(paths: &Paths, package: &Package) -> Result<Description, JobError> {
    match package.manifest.kind {
        JobKind::Embed => embed::describe(paths, package),
        JobKind::Train => train::describe(package),
        JobKind::Generate => generate::describe(paths, package),
        JobKind::Kernel => kernel::describe(package),
        JobKind::Finetune => finetune::describe(paths, package),
    }
}

/// Whether this node can take the job `card` describes, before it has the job's data: its
/// manifest reads (this version of the runner knows its kind and every key), names what its kind
/// requires, and what the job needs on this node is here (an embed or generate job's model: a
/// folder of the package, or in this node's model cache). Returns the manifest. `job` names the job in messages.
pub fn check_card(paths: &Paths, job: &str, card: &gridmint_protocol::JobCard) -> Result<JobManifest, JobError> {
    let source = Path::new(job);
    let manifest = package::parse_manifest(source, card.manifest.as_bytes())?;
    let required = |key: &str, value: &Option<String>| {
        value.is_some().then_some(()).ok_or_else(|| JobError::Package {
            path: source.to_owned(),
            message: format!("job.toml: `{key}` is required for kind = \"{}\"", manifest.kind.as_str()),
        })
    };
    match manifest.kind {
        JobKind::Embed | JobKind::Generate => {
            required("input", &manifest.input)?;
            required("model", &manifest.model)?;
            let model = manifest.model.as_deref().unwrap_or_default();
            if !card.has_folder(model) {
                embed::cached_model(paths, model)?;
            }
        }
        JobKind::Train => {
            required("data", &manifest.data)?;
            if manifest.train.is_none() {
                return Err(JobError::Package {
                    path: source.to_owned(),
                    message: "job.toml: a [train] section is required for kind = \"train\"".into(),
                });
            }
        }
        JobKind::Finetune => {
            required("data", &manifest.data)?;
            required("model", &manifest.model)?;
            if manifest.finetune.is_none() {
                return Err(JobError::Package {
                    path: source.to_owned(),
                    message: "job.toml: a [finetune] section is required for kind = \"finetune\"".into(),
                });
            }
            let model = manifest.model.as_deref().unwrap_or_default();
            if !card.has_folder(model) {
                embed::cached_model(paths, model)?;
            }
        }
        JobKind::Kernel => {
            if manifest.kernel.is_none() {
                return Err(JobError::Package {
                    path: source.to_owned(),
                    message: "job.toml: a [kernel] section is required for kind = \"kernel\"".into(),
                });
            }
        }
    }
    Ok(manifest)
}

/// Runs the package at `package` (a folder or a .zip) on `gpu` and writes its outputs to `out`,
/// which must not exist or be empty. On error nothing is left in `out`.
/// The engine's class for the market's `class`.
pub fn engine_class(class: ReproClass) -> gpu_engine::ReproClass {
    match class {
        ReproClass::Unfused => gpu_engine::ReproClass::Unfused,
        ReproClass::Fused => gpu_engine::ReproClass::Fused,
    }
}

/// The classes `gpu` reproduces, as the market names them (what a provider registers).
pub fn device_classes(gpu: &Gpu) -> Vec<ReproClass> {
    ReproClass::ALL.into_iter().filter(|c| gpu.supports(engine_class(*c))).collect()
}

/// How a provider runs a job on its device slot ([`run_in_slot`]).
#[derive(Debug, Clone, Default)]
pub struct SlotRun {
    /// The job's reproducibility class.
    pub class: ReproClass,
    /// The share of the device's memory the job may use, 10 to 100 (percent).
    pub memory_share_pct: u8,
    /// Pauses and stops from the owner's input and the job's deadline.
    pub control: Option<gpu_engine::control::Control>,
}

/// [`run`] on a device slot, as providers run their jobs: in `how.class`, under
/// `how.memory_share_pct` of the device's memory (10 to 100) and steered by `how.control`; a lost
/// device is reopened and the job run again from the start (the runner leaves nothing in `out` on
/// failure, and the result's bits do not depend on the run); a hung one (it overran a dispatch)
/// fails the job.
pub fn run_in_slot(
    paths: &Paths,
    slot: &gpu_engine::DeviceSlot,
    package: &Path,
    out: &Path,
    how: &SlotRun,
    progress: ProgressFn,
) -> Result<RunReport, JobError> {
    let share = how.memory_share_pct.clamp(10, 100);
    slot.run_or_reopen(
        |gpu| {
            gpu.set_memory_cap((share < 100).then(|| gpu.info().device_local_memory_bytes / 100 * u64::from(share)));
            gpu.set_control(how.control.clone());
            let report = run(paths, gpu, package, out, how.class, &mut *progress);
            gpu.set_control(None);
            report
        },
        |e| matches!(e, JobError::Engine(err) if gpu_engine::recovery::needs_reopen(err)),
    )
}

pub fn run(
    paths: &Paths,
    gpu: &Gpu,
    package: &Path,
    out: &Path,
    class: ReproClass,
    progress: ProgressFn,
) -> Result<RunReport, JobError> {
    let started = Instant::now();
    if !gpu.supports(engine_class(class)) {
        return Err(JobError::Class { class, device: gpu.info().name.clone() });
    }
    let package = Package::open(package)?;
    let mut staging = output::Staging::create(out)?;
    let class = engine_class(class);
    let (items, trace) = match package.manifest.kind {
        JobKind::Embed => embed::run(paths, gpu, class, &package, &mut staging, progress)?,
        JobKind::Train => train::run(gpu, class, &package, &mut staging, progress)?,
        JobKind::Generate => generate::run(paths, gpu, class, &package, &mut staging, progress)?,
        JobKind::Kernel => kernel::run(gpu, class, &package, &mut staging, progress)?,
        JobKind::Finetune => finetune::run(paths, gpu, class, &package, &mut staging, progress)?,
    };
    let device = gpu.info().name.clone();
    // The work is the trace's: the flops of its steps, from the shapes alone.
    let work_units = trace.flops();
    let steps = trace.steps.len() as u64;
    staging.commit(&trace, |outputs, roots| RunReport {
        kind: package.manifest.kind,
        items,
        work_units,
        result_root: roots.claim,
        outputs_root: roots.outputs,
        trace_root: roots.trace,
        trace_steps: steps,
        trace_seconds: trace.seconds + roots.seconds,
        outputs,
        device,
        class: class.as_str().to_owned(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use gridmint_protocol::JobCard;

    use super::{JobError, Paths, check_card};

    fn card(manifest: &str, files: &[&str]) -> JobCard {
        JobCard::new(manifest.to_owned(), files.iter().map(|f| (*f, 1u64)))
    }

    /// Issue #23 point 2: a provider claims an embed job only with its model at hand: in the
    /// package, or complete in its own model cache. A name that would leave the cache is no model.
    #[test]
    fn a_card_is_runnable_only_with_its_model_in_the_package_or_complete_in_the_cache() {
        let home = tempfile::tempdir().expect("temp");
        let paths = Paths::under(home.path());
        let embed = |model: &str| format!("kind = \"embed\"\nmodel = \"{model}\"\ninput = \"s.txt\"\n");
        let packaged = card(&embed("mine"), &["job.toml", "s.txt", "mine/config.json"]);
        assert_eq!(check_card(&paths, "job 1", &packaged).expect("packaged model").model.as_deref(), Some("mine"));

        let cached = card(&embed("mini"), &["job.toml", "s.txt"]);
        let missing = check_card(&paths, "job 1", &cached).expect_err("no such model here");
        assert!(matches!(&missing, JobError::Model { .. }) && missing.to_string().contains("not in the model cache"));
        let dir = paths.model("mini");
        std::fs::create_dir_all(&dir).expect("dir");
        for file in ["config.json", "model.safetensors"] {
            std::fs::write(dir.join(file), b"{}").expect("write");
        }
        let partial = check_card(&paths, "job 1", &cached).expect_err("an incomplete copy");
        assert!(partial.to_string().contains("has no tokenizer.json"), "{partial}");
        std::fs::write(dir.join("tokenizer.json"), b"{}").expect("write");
        check_card(&paths, "job 1", &cached).expect("a complete copy in the cache");

        // The cache's parent is a folder, but no model's.
        for name in ["..", ".", "", "../models/mini", "a\\b"] {
            let err = check_card(&paths, "job 1", &card(&embed(name), &["job.toml"])).expect_err(name);
            assert!(matches!(err, JobError::Model { .. }), "{name}: {err}");
        }
    }

    /// A manifest this node cannot read (a kind or key of a later version), or one missing what
    /// its kind requires, is named before the claim, with the job.
    #[test]
    fn a_card_this_runner_cannot_read_or_incomplete_is_refused_with_the_reason() {
        let paths = Paths::under(tempfile::tempdir().expect("temp").path());
        let cases = [
            ("kind = \"fold\"\nmodel = \"gpt2\"\n", "unknown variant `fold`"),
            ("kind = \"generate\"\nmodel = \"m\"\ninput = \"p.jsonl\"\n[generate]\ntemp = 1\n", "unknown field `temp`"),
            ("kind = \"train\"\ndata = \"d.csv\"\nsteps = 3\n", "unknown field `steps`"),
            ("kind = \"train\"\ndata = \"d.csv\"\n", "a [train] section is required"),
            ("kind = \"embed\"\nmodel = \"m\"\n", "`input` is required"),
            ("kind = \"kernel\"\n", "a [kernel] section is required"),
            (
                "kind = \"kernel\"\n[kernel]\nshader = \"k.wgsl\"\nworkgroups = [1, 1, 1]\nbuffers = []\nfast = true\n",
                "unknown field `fast`",
            ),
            ("kind = ", "job.toml"),
        ];
        for (manifest, expected) in cases {
            let err = check_card(&paths, "job 9", &card(manifest, &["job.toml", "m/config.json"])).expect_err(manifest);
            let text = err.to_string();
            assert!(text.contains(expected) && text.contains("job 9"), "{manifest:?}: {text}");
        }
        let big = format!("kind = \"train\"\n#{}\n", "x".repeat(70_000));
        assert!(check_card(&paths, "job 9", &card(&big, &[])).expect_err("too big").to_string().contains("over"));
    }
}
