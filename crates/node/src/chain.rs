//! A long fine-tuning job as a chain of market jobs, one segment each (issue #25 point 2). Link
//! `k` is the buyer's package with `[finetune] segments = 1` and, after the first, `[finetune]
//! resume` naming a folder that holds the weights and optimizer state of link `k - 1`'s verified
//! result. Each link is posted, verified and paid on its own; a link the market refunded without a
//! result (its providers dropped out, or nobody took it) is posted again from the same agreed state
//! ([`crate::buyer::run_shards`], up to [`crate::buyer::SHARD_ATTEMPTS`] times), so another
//! provider goes on where the chain stopped. No window caps the whole job, only each link; and
//! since a segment's bits do not depend on where the run started, the chain's last weights are the
//! uninterrupted run's, bit for bit.
//!
//! One segment a link because a juror re-runs a job through the disputed segment and the buyer's
//! spot check through a drawn one: a link of one segment is checked whole by every spot check
//! (its segment, and its last step, which a run of the one segment makes again) and a juror's
//! re-run is one segment's work, where a link of several is checked whole only by a draw of its
//! last segment, passes an unchecked state on to the next link otherwise, and costs a juror up
//! to the whole link.
//!
//! A chain stopped (the buyer's process killed, or a link that ran out of attempts) goes on when
//! it is run again into the same folder: a link whose verified result is there is not posted again,
//! and a link whose job was posted (noted before the wait) is followed to its result first.

use std::path::{Path, PathBuf};

use alloy::primitives::U256;
use gridmint_home::Paths;
use gridmint_peer::exchange;
use gridmint_protocol::job::MANIFEST_FILE;
use gridmint_runner as runner;

use gridmint_chain::JobState;

use crate::{
    NodeError,
    buyer::{self, Outcome, ShardEvent, SubmitOptions},
    net::Network,
};

/// The folder a link's package holds the state it resumes from in.
pub const RESUME_FOLDER: &str = "gridmint-resume";
/// The files of the state a link resumes from.
pub const STATE_FILES: [&str; 2] = ["model.safetensors", "optimizer.safetensors"];
/// The file a link's folder gets once its result is verified (the job and its agreed root).
pub const LINK_FILE: &str = "link.json";

fn bad(message: String) -> NodeError {
    NodeError::Exchange { message: format!("a chained job: {message}") }
}

/// How many links (segments) a chain of `package`, a finetune package folder, has.
pub fn links(package: &Path) -> Result<u32, NodeError> {
    if !package.is_dir() {
        return Err(bad(format!("{} must be a folder (unpack a .zip first)", package.display())));
    }
    let opened = runner::Package::open(package)?;
    let settings = match (&opened.manifest.kind, &opened.manifest.finetune) {
        (gridmint_protocol::JobKind::Finetune, Some(settings)) => settings,
        (kind, _) => return Err(bad(format!("only a finetune job runs as a chain, not a {} job", kind.as_str()))),
    };
    if settings.segments.is_some() {
        return Err(bad("its [finetune] segments is the chain's to set (one a link): remove it".to_owned()));
    }
    let links = runner::finetune::trace_steps(&opened)?.saturating_sub(1);
    if links == 0 {
        return Err(bad("it has no segment left to run".to_owned()));
    }
    Ok(links)
}

/// Writes link `link`'s package into `dir`: `package`'s files (a folder), its manifest with
/// `segments = 1` and, when `previous` (the link before's verified result) is given, `resume`
/// naming its state, copied into [`RESUME_FOLDER`].
pub fn link_package(package: &Path, dir: &Path, previous: Option<&Path>) -> Result<PathBuf, NodeError> {
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
    settings.insert("segments".into(), toml::Value::Integer(1));
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
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| bad(format!("clearing {}: {e}", dir.display())))?;
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

/// How a chain ended: each link's job and agreed root (up to the first that was not verified;
/// links verified by an earlier run of the chain included) and every job this run posted.
#[derive(Debug, Clone)]
pub struct Chained {
    pub links: Vec<Link>,
    pub job_ids: Vec<U256>,
    pub total: usize,
}

/// A verified link, as [`LINK_FILE`] records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub link: usize,
    pub job_id: String,
    pub agreed_root: String,
    pub verified: bool,
    /// Who trained it: the providers whose revealed result is the agreed one (from the job's
    /// trail on chain; empty when it could not be read, or in a record written before this was).
    #[serde(default)]
    pub trained_by: Vec<String>,
}

/// The providers whose revealed result for `job_id` is `agreed`, as the market's trail has them:
/// the root and the work units most of its reveals of that root give (the pair the market paid).
async fn trained_by(net: &Network, job_id: U256, agreed: alloy::primitives::B256) -> Vec<String> {
    match net.market.job(job_id).await {
        Ok(view) => {
            let reveals: Vec<_> = view.trail.reveals.iter().filter(|r| r.resultRoot == agreed).collect();
            let count = |units: u64| reveals.iter().filter(|r| r.workUnits == units).count();
            let Some(units) = reveals.iter().map(|r| r.workUnits).max_by_key(|u| count(*u)) else { return Vec::new() };
            reveals
                .iter()
                .filter(|r| r.workUnits == units)
                .filter_map(|r| usize::try_from(r.index).ok().and_then(|i| view.trail.claimants.get(i)))
                .map(ToString::to_string)
                .collect()
        }
        Err(e) => {
            tracing::warn!(job = %job_id, error = %e, "cannot read who trained a link");
            Vec::new()
        }
    }
}

impl Chained {
    pub fn verified(&self) -> bool {
        self.links.len() == self.total && self.links.iter().all(|l| l.verified)
    }
}

/// The folder of link `link`'s verified result under a chain's `out`.
pub fn link_dir(out: &Path, link: usize) -> PathBuf {
    out.join("links").join(format!("link-{link:03}"))
}

/// A link an earlier run of the chain verified into `dir`, if any.
fn verified_before(dir: &Path) -> Option<Link> {
    let link: Link = serde_json::from_slice(&std::fs::read(dir.join(LINK_FILE)).ok()?).ok()?;
    (link.verified && STATE_FILES.iter().all(|f| dir.join(f).is_file())).then_some(link)
}

/// Runs `package` as a chain of market jobs of one segment each, one after the other, each
/// result in [`link_dir`]; the link packages are built in `scratch`. A link verified by an
/// earlier run into the same `out` is taken as it is. Stops at the first link that ends without a
/// verified result (after its re-posts). When every link is verified, `out` gets the last link's
/// weights, optimizer state, `config.json` and `tokenizer.json`, every link's segment in one
/// `metrics.json`, and `chain.json` (each link's job and agreed root).
pub async fn run_chain(
    paths: &Paths,
    net: &Network,
    package: &Path,
    scratch: &Path,
    out: &Path,
    options: &SubmitOptions,
    events: &mut dyn FnMut(ChainEvent),
) -> Result<Chained, NodeError> {
    let total = links(package)? as usize;
    let mut chained = Chained { links: Vec::new(), job_ids: Vec::new(), total };
    for link in 0..total {
        let dir = link_dir(out, link);
        if let Some(done) = verified_before(&dir) {
            chained.links.push(done);
            continue;
        }
        // A link posted by a run that stopped before its result: its job is followed, not posted again.
        if let Some(job_id) = posted_before(out, link) {
            // Serving its data (to a provider that claimed it while this node was down) and checking its result.
            buyer::start_buyer_peer(paths, net, options.spot_check_rows, options.spot_check_worker.clone()).await?;
            let outcome = buyer::wait_and_fetch(net, job_id, Some(&dir), options.poll).await?;
            events(ChainEvent { link, links: total, event: ShardEvent::Ended { shard: 0, outcome: outcome.clone() } });
            let mut record = Link {
                link: link + 1,
                job_id: job_id.to_string(),
                agreed_root: outcome.agreed_root.to_string(),
                verified: outcome.verified,
                trained_by: Vec::new(),
            };
            if outcome.verified {
                record.trained_by = trained_by(net, job_id, outcome.agreed_root).await;
                write_link(&dir, &record)?;
                chained.links.push(record);
                continue;
            }
            // Posted again only when the market refunded it without a result, as run_shards does;
            // a job that ended otherwise (settled unverified, disputed) stops the chain here.
            let refunded = outcome.state == JobState::Refunded && outcome.agreed_root == alloy::primitives::B256::ZERO;
            if !refunded {
                chained.links.push(record);
                return Ok(chained);
            }
        }
        let previous = link.checked_sub(1).map(|l| link_dir(out, l));
        let pkg = link_package(package, &scratch.join(format!("link-{link:03}")), previous.as_deref())?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| bad(format!("clearing {}: {e}", dir.display())))?;
        }
        let ran = buyer::run_shards(
            paths,
            net,
            std::slice::from_ref(&pkg),
            std::slice::from_ref(&dir),
            options,
            &mut |event| {
                if let ShardEvent::Posted { posted, .. } = &event {
                    // Written before the wait: a chain stopped now follows this job when run again.
                    let _ = std::fs::create_dir_all(out.join("links"));
                    let _ = std::fs::write(pending_file(out, link), posted.job_id.to_string());
                }
                events(ChainEvent { link, links: total, event })
            },
        )
        .await;
        let _ = std::fs::remove_dir_all(&pkg);
        let ran = ran?;
        chained.job_ids.extend(ran.job_ids);
        let outcome: Outcome = ran.outcomes.into_iter().next().expect("one link, one outcome");
        let trainers =
            if outcome.verified { trained_by(net, outcome.job_id, outcome.agreed_root).await } else { Vec::new() };
        let record = Link {
            link: link + 1,
            job_id: outcome.job_id.to_string(),
            agreed_root: outcome.agreed_root.to_string(),
            verified: outcome.verified,
            trained_by: trainers,
        };
        chained.links.push(record.clone());
        if !outcome.verified {
            return Ok(chained);
        }
        write_link(&dir, &record)?;
    }
    join(out, &chained)?;
    Ok(chained)
}

/// Where the job last posted for link `link` is noted until its result is verified.
fn pending_file(out: &Path, link: usize) -> PathBuf {
    out.join("links").join(format!("link-{link:03}.posted"))
}

/// The job an earlier run of the chain posted for link `link`, if it noted one.
fn posted_before(out: &Path, link: usize) -> Option<U256> {
    std::fs::read_to_string(pending_file(out, link)).ok()?.trim().parse().ok()
}

/// Records a verified link in its folder, and forgets its pending job.
fn write_link(dir: &Path, record: &Link) -> Result<(), NodeError> {
    std::fs::write(dir.join(LINK_FILE), serde_json::to_vec_pretty(record).expect("plain JSON"))
        .map_err(|e| bad(format!("writing {}: {e}", dir.join(LINK_FILE).display())))?;
    if let Some(out) = dir.parent().and_then(Path::parent) {
        let _ = std::fs::remove_file(pending_file(out, record.link - 1));
    }
    Ok(())
}

/// The chain's result in `out` from its links' (see [`run_chain`]).
fn join(out: &Path, chained: &Chained) -> Result<(), NodeError> {
    let last = link_dir(out, chained.total - 1);
    for file in STATE_FILES.iter().chain(&["config.json", "tokenizer.json"]) {
        std::fs::copy(last.join(file), out.join(file)).map_err(|e| bad(format!("copying {file}: {e}")))?;
    }
    let mut segments = Vec::new();
    let mut last_metrics = serde_json::Value::Null;
    for link in 0..chained.total {
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
    let write = |name: &str, value: &serde_json::Value| {
        std::fs::write(out.join(name), serde_json::to_vec_pretty(value).expect("plain JSON"))
            .map_err(|e| bad(format!("writing {name}: {e}")))
    };
    write("metrics.json", &metrics)?;
    write("chain.json", &serde_json::to_value(&chained.links).expect("plain data"))
}
