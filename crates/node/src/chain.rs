//! A long fine-tuning job as a chain of market jobs (issue #25 point 2). Each link runs
//! `segments_per_job` segments from where the link before stopped: its package is the buyer's,
//! with `[finetune] segments` set and, after the first, `[finetune] resume` naming a folder that
//! holds the weights and optimizer state of the link before's verified result. Each link is
//! posted, verified and paid on its own; a link the market refunded without a result (its
//! providers dropped out, or nobody took it) is posted again from the same agreed state
//! ([`crate::buyer::run_shards`]), so another provider goes on where the chain stopped. No window
//! caps the whole job, only each link; and since a segment's bits do not depend on where the run
//! started, the chain's last weights are the uninterrupted run's, bit for bit.

use std::path::{Path, PathBuf};

use alloy::primitives::U256;
use gridmint_home::Paths;
use gridmint_peer::exchange;
use gridmint_protocol::job::MANIFEST_FILE;
use gridmint_runner as runner;

use crate::{
    NodeError,
    buyer::{self, Outcome, ShardEvent, SubmitOptions},
    net::Network,
};

/// The folder a link's package holds the state it resumes from in.
pub const RESUME_FOLDER: &str = "gridmint-resume";
/// The files of the state a link resumes from.
pub const STATE_FILES: [&str; 2] = ["model.safetensors", "optimizer.safetensors"];

fn bad(message: String) -> NodeError {
    NodeError::Exchange { message: format!("a chained job: {message}") }
}

/// How many links a chain of `package` (a finetune package folder) needs at `segments_per_job`.
pub fn links(package: &Path, segments_per_job: u32) -> Result<u32, NodeError> {
    if segments_per_job == 0 {
        return Err(bad("segments per job must be at least 1".to_owned()));
    }
    let opened = runner::Package::open(package)?;
    if opened.manifest.kind != gridmint_protocol::JobKind::Finetune {
        return Err(bad(format!("only a finetune job runs as a chain, not a {} job", opened.manifest.kind.as_str())));
    }
    let segments = runner::finetune::trace_steps(&opened)?.saturating_sub(1);
    Ok(segments.div_ceil(segments_per_job))
}

/// Writes link `link`'s package into `dir`: `package`'s files (a folder), its manifest with
/// `segments = segments_per_job` and, when `previous` (the link before's verified result) is
/// given, `resume` naming its state, copied into [`RESUME_FOLDER`].
pub fn link_package(
    package: &Path,
    dir: &Path,
    segments_per_job: u32,
    previous: Option<&Path>,
) -> Result<PathBuf, NodeError> {
    if !package.is_dir() {
        return Err(bad(format!("{} must be a folder (unpack a .zip first)", package.display())));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, path) in exchange::files(package)? {
        if name == RESUME_FOLDER || name.starts_with(&format!("{RESUME_FOLDER}/")) {
            return Err(bad(format!("the package holds {name}; {RESUME_FOLDER}/ is the chain's")));
        }
        let bytes = std::fs::read(&path).map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
        files.push((name, bytes));
    }
    let manifest = files
        .iter_mut()
        .find(|(name, _)| name == MANIFEST_FILE)
        .ok_or_else(|| bad(format!("{} has no {MANIFEST_FILE}", package.display())))?;
    let text = std::str::from_utf8(&manifest.1).map_err(|_| bad("job.toml is not UTF-8".to_owned()))?;
    let mut doc: toml::Table = text.parse().map_err(|e| bad(format!("job.toml: {e}")))?;
    let settings = doc
        .get_mut("finetune")
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| bad("job.toml has no [finetune] table".to_owned()))?;
    settings.insert("segments".into(), toml::Value::Integer(i64::from(segments_per_job)));
    if previous.is_some() {
        settings.insert("resume".into(), toml::Value::String(RESUME_FOLDER.to_owned()));
    }
    manifest.1 = toml::to_string(&doc).map_err(|e| bad(format!("job.toml: {e}")))?.into_bytes();
    if let Some(previous) = previous {
        for file in STATE_FILES {
            let path = previous.join(file);
            let bytes = std::fs::read(&path).map_err(|e| bad(format!("the link before's {}: {e}", path.display())))?;
            files.push((format!("{RESUME_FOLDER}/{file}"), bytes));
        }
    }
    exchange::write_all(dir, &files)?;
    Ok(dir.to_owned())
}

/// What happens to a chain, as [`run_chain`] goes: a link's market events.
#[derive(Debug, Clone)]
pub struct ChainEvent {
    pub link: usize,
    pub links: usize,
    pub event: ShardEvent,
}

/// How a chain ended: each link's last job's outcome (up to the first that was not verified) and
/// every job posted.
#[derive(Debug, Clone)]
pub struct Chained {
    pub outcomes: Vec<Outcome>,
    pub job_ids: Vec<U256>,
    pub links: usize,
}

impl Chained {
    pub fn verified(&self) -> bool {
        self.outcomes.len() == self.links && self.outcomes.iter().all(|o| o.verified)
    }
}

/// The folder of link `link`'s verified result under a chain's `out`.
pub fn link_dir(out: &Path, link: usize) -> PathBuf {
    out.join("links").join(format!("link-{link:03}"))
}

/// Runs `package` as a chain of market jobs of `segments_per_job` segments each, one after the
/// other, each result in [`link_dir`]; the packages are built in `scratch`. Stops at the first
/// link that ends without a verified result (after its re-posts). When every link is verified,
/// `out` gets the last link's weights, optimizer state, `config.json` and `tokenizer.json`, every
/// link's segments in one `metrics.json`, and `chain.json` (each link's job and agreed root).
#[allow(clippy::too_many_arguments)]
pub async fn run_chain(
    paths: &Paths,
    net: &Network,
    package: &Path,
    scratch: &Path,
    out: &Path,
    segments_per_job: u32,
    options: &SubmitOptions,
    events: &mut dyn FnMut(ChainEvent),
) -> Result<Chained, NodeError> {
    let links = links(package, segments_per_job)? as usize;
    let mut chained = Chained { outcomes: Vec::new(), job_ids: Vec::new(), links };
    for link in 0..links {
        let previous = link.checked_sub(1).map(|l| link_dir(out, l));
        let pkg =
            link_package(package, &scratch.join(format!("link-{link:03}")), segments_per_job, previous.as_deref())?;
        let dir = link_dir(out, link);
        let ran = buyer::run_shards(paths, net, &[pkg], std::slice::from_ref(&dir), options, &mut |event| {
            events(ChainEvent { link, links, event })
        })
        .await?;
        chained.job_ids.extend(ran.job_ids);
        let outcome = ran.outcomes.into_iter().next().expect("one link, one outcome");
        let verified = outcome.verified;
        chained.outcomes.push(outcome);
        if !verified {
            return Ok(chained);
        }
    }
    join(out, &chained)?;
    Ok(chained)
}

/// The chain's result in `out` from its links' (see [`run_chain`]).
fn join(out: &Path, chained: &Chained) -> Result<(), NodeError> {
    let last = link_dir(out, chained.links - 1);
    for file in STATE_FILES.iter().chain(&["config.json", "tokenizer.json"]) {
        std::fs::copy(last.join(file), out.join(file)).map_err(|e| bad(format!("copying {file}: {e}")))?;
    }
    let mut segments = Vec::new();
    let mut last_metrics = serde_json::Value::Null;
    for link in 0..chained.links {
        let path = link_dir(out, link).join("metrics.json");
        let bytes = std::fs::read(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let metrics: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        segments.extend(metrics["segments"].as_array().cloned().unwrap_or_default());
        last_metrics = metrics;
    }
    let metrics = serde_json::json!({
        "segments": segments,
        "classes": last_metrics["classes"],
        "test_accuracy": last_metrics["test_accuracy"],
    });
    let chain: Vec<serde_json::Value> = chained
        .outcomes
        .iter()
        .enumerate()
        .map(|(link, o)| {
            serde_json::json!({ "link": link + 1, "jobId": o.job_id.to_string(), "agreedRoot": o.agreed_root.to_string() })
        })
        .collect();
    let write = |name: &str, value: &serde_json::Value| {
        std::fs::write(out.join(name), serde_json::to_vec_pretty(value).expect("plain JSON"))
            .map_err(|e| bad(format!("writing {name}: {e}")))
    };
    write("metrics.json", &metrics)?;
    write("chain.json", &serde_json::Value::Array(chain))
}
