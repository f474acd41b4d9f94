//! The buyer's spot check: before it lets the replicas' agreement settle a job, the buyer
//! re-executes a random sample of the agreed result on its own device (llvmpipe will do) and
//! compares bits. Embedding rows do not depend on the batch they ran in, so a sample of sentences
//! run alone must give exactly the result's rows for them. A mismatch means the agreeing replicas
//! are wrong together (colluding, or a common bug): the buyer challenges instead of settling and
//! the court decides (bisection to one step, a jury re-runs it). A row is a step's output (the
//! files are bound to the trace), so a row it contradicts is a step the court finds wrong. A
//! generate job's sample is a set of its prompts (a completion does not depend on its batch
//! either). A chained run (a training run's epochs, a fine-tuning run's segments, a kernel job's
//! dispatches) is re-run through a step drawn at random and compared step by step up to it (a
//! result whose trace is not as long as the job's is refused: a run cut short would pass a draw
//! within it): a run right at first and wrong from some step on is caught with the chance of the
//! share of steps it got wrong.

use std::path::PathBuf;

use gridmint_protocol::{JobKind, ReproClass};
use rand::seq::index::sample;

use gridmint_runner as runner;

use gridmint_peer::exchange;

use alloy::primitives::{B256, U256};

use crate::{NodeError, Paths, net::Network};

pub use gridmint_peer::SpotOutcome;

/// The buyer's spot checker: its directories (models, pipeline cache) and how many rows it samples.
#[derive(Debug, Clone)]
pub struct SpotCheck {
    pub paths: Paths,
    /// Rows re-executed per job (all of them when the job has fewer).
    pub rows: usize,
    /// The device to run on (the best one when `None`).
    pub device: Option<u32>,
    /// Run in a device worker process instead of this one.
    pub worker: Option<gridmint_runner::worker::DeviceWorker>,
}

/// The buyer's endpoint runs it on each result it accepts.
impl gridmint_peer::ResultCheck for SpotCheck {
    fn check(&self, package: &[u8], result: &[(String, Vec<u8>)]) -> Result<SpotOutcome, gridmint_peer::CheckFailed> {
        SpotCheck::check(self, package, result).map_err(|e| gridmint_peer::CheckFailed { message: e.to_string() })
    }
}

fn bad(message: String) -> NodeError {
    NodeError::Exchange { message: format!("spot check: {message}") }
}

impl SpotCheck {
    /// Checks `result` (the files of a delivered result) against a local run of a random sample
    /// of the job whose package bundle is `package`.
    pub fn check(&self, package: &[u8], result: &[(String, Vec<u8>)]) -> Result<SpotOutcome, NodeError> {
        self.check_through(package, result, &mut |steps| rand::Rng::gen_range(&mut rand::thread_rng(), 0..steps))
    }

    /// [`SpotCheck::check`] with the step a chained run (a training run's epochs, a fine-tuning
    /// run's segments, a kernel job's dispatches) is checked through chosen by `pick` (given the
    /// run's step count, it answers one below it); an embed or generate job's rows stay random.
    pub fn check_through(
        &self,
        package: &[u8],
        result: &[(String, Vec<u8>)],
        pick: &mut dyn FnMut(u32) -> u32,
    ) -> Result<SpotOutcome, NodeError> {
        let scratch = tempfile::tempdir().map_err(|e| bad(format!("a scratch folder: {e}")))?;
        let dir = scratch.path().join("job");
        let files = exchange::unbundle(package)?;
        exchange::write_all(&dir, &files)?;
        let job = runner::Package::open(&dir)?;
        let class = job.manifest.reproducibility;
        if !self.computes(class)? {
            // Its replicas' agreement and the court decide: a run here would not be the job's.
            return Ok(SpotOutcome::NotSampled { reason: format!("this device does not compute the {class} class") });
        }
        let mut through = |steps: u32| pick(steps.max(1)).min(steps.saturating_sub(1));
        match job.manifest.kind {
            JobKind::Train => {
                let epochs = job.manifest.train.as_ref().map_or(1, |t| t.epochs);
                let at = through(epochs);
                let run = ("train", "epochs", epochs);
                return self.check_through_step(scratch.path(), files, result, class, run, at);
            }
            JobKind::Kernel => {
                let dispatches = job.manifest.kernel.as_ref().and_then(|k| k.dispatches).unwrap_or(1);
                let at = through(dispatches);
                let run = ("kernel", "dispatches", dispatches);
                return self.check_through_step(scratch.path(), files, result, class, run, at);
            }
            JobKind::Finetune => {
                // Its segments and the evaluation; a draw of the last segment re-runs the whole
                // job, so the evaluation is checked too.
                let steps = runner::finetune::trace_steps(&job)?;
                let at = through(steps - 1);
                let run = ("finetune", "segments", steps);
                return self.check_through_step(scratch.path(), files, result, class, run, at);
            }
            _ => {}
        }
        if job.manifest.kind == JobKind::Generate {
            return self.check_generation(scratch.path(), &job, files, result, class);
        }
        if job.manifest.kind != JobKind::Embed {
            return Ok(SpotOutcome::NotSampled { reason: format!("a {} job", job.manifest.kind.as_str()) });
        }
        let input = job.required("input", &job.manifest.input)?.to_owned();
        let text = String::from_utf8(job.read("input", &input, gridmint_runner::embed::MAX_INPUT_BYTES)?)
            .map_err(|_| bad(format!("`{input}` is not UTF-8")))?;
        let lines: Vec<&str> = text.lines().collect();
        let mut rows = sample(&mut rand::thread_rng(), lines.len(), self.rows.min(lines.len())).into_vec();
        rows.sort_unstable();
        let picked: Vec<&str> = rows.iter().map(|&r| lines[r]).collect();
        let sample_dir = scratch.path().join("sample");
        let mut entries: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(name, _)| *name != input).collect();
        entries.push((input, (picked.join("\n") + "\n").into_bytes()));
        exchange::write_all(&sample_dir, &entries)?;
        let out: PathBuf = scratch.path().join("out");
        self.run_here(&sample_dir, &out, class)?;
        let mine = matrix(&std::fs::read(out.join("embeddings.npy")).map_err(|e| bad(format!("own run: {e}")))?)?;
        let Some(theirs) = result.iter().find(|(name, _)| name == "embeddings.npy") else {
            return Ok(SpotOutcome::Unreadable { reason: "the result has no embeddings.npy".into() });
        };
        let theirs = match matrix(&theirs.1) {
            Ok(m) => m,
            Err(e) => return Ok(SpotOutcome::Unreadable { reason: format!("embeddings.npy: {e}") }),
        };
        if theirs.1 != lines.len() || theirs.2 != mine.2 {
            // The wrong shape is wrong in every row; name the first.
            return Ok(SpotOutcome::Differs { row: 0 });
        }
        for (i, &row) in rows.iter().enumerate() {
            let (a, b) = (&mine.0[i * mine.2..(i + 1) * mine.2], &theirs.0[row * theirs.2..(row + 1) * theirs.2]);
            if a.iter().zip(b).any(|(x, y)| x.to_bits() != y.to_bits()) {
                return Ok(SpotOutcome::Differs { row });
            }
        }
        Ok(SpotOutcome::Agrees { rows })
    }
}

impl SpotCheck {
    /// Whether this machine's device computes `class` (every device computes unfused; fused is
    /// measured, in the worker when there is one).
    fn computes(&self, class: ReproClass) -> Result<bool, NodeError> {
        if class == ReproClass::Unfused {
            return Ok(true);
        }
        Ok(match &self.worker {
            Some(worker) => worker.facts(self.device)?.classes.contains(&class),
            None => runner::device_classes(&gridmint_runner::bench::open(&self.paths, self.device)?).contains(&class),
        })
    }

    /// Runs the sample package in `dir` on this machine's device in `class`, into `out`.
    fn run_here(&self, dir: &std::path::Path, out: &std::path::Path, class: ReproClass) -> Result<(), NodeError> {
        if let Some(worker) = &self.worker {
            let how = runner::SlotRun { class, memory_share_pct: 100, control: None };
            return Ok(worker.run(self.device, dir, out, &how, &mut |_| {}).map(drop)?);
        }
        let gpu = gridmint_runner::bench::open(&self.paths, self.device)?;
        runner::run(&self.paths, &gpu, dir, out, class, &mut |_| {})?;
        let _ = gpu.save_pipeline_cache();
        Ok(())
    }

    /// A chained run (a training run's epochs, a fine-tuning run's segments, a kernel job's
    /// dispatches: each step from the state the one before left) is sampled by its steps through
    /// `at`, drawn at random: no step depends on how many follow, so the job run here with
    /// `at + 1` of them (`count`: the table and key that say how many) must give exactly the
    /// result's steps through `at` (a training epoch's output covers its checkpoint, metrics and
    /// `model.json`, `runner::train::epoch_output`; a dispatch's the state of every buffer; a
    /// delivered result's files are bound to its trace). A run that computed the first steps and
    /// skipped the rest is caught with the chance of the share it skipped (the draw lands at or
    /// after its first wrong step); the check costs the job's work through `at`, half the job's on
    /// average.
    fn check_through_step(
        &self,
        scratch: &std::path::Path,
        mut files: Vec<(String, Vec<u8>)>,
        result: &[(String, Vec<u8>)],
        class: ReproClass,
        (table, key, steps): (&str, &str, u32),
        at: u32,
    ) -> Result<SpotOutcome, NodeError> {
        let outputs = |bytes: &[u8]| -> Option<Vec<[u8; 32]>> {
            Some(runner::trace::Trace::decode(bytes).ok()?.steps.iter().map(|s| s.output).collect())
        };
        let Some(theirs) =
            result.iter().find(|(name, _)| name == runner::trace::TRACE_FILE).and_then(|(_, b)| outputs(b))
        else {
            return Ok(SpotOutcome::Unreadable { reason: "the result has no readable trace".into() });
        };
        // A trace of another length is not this job's (a run cut short would pass a draw before
        // its end).
        if theirs.len() != steps as usize {
            let n = theirs.len();
            return Ok(SpotOutcome::Unreadable { reason: format!("its trace has {n} steps; the job has {steps}") });
        }
        if crate::judge::set_count(&mut files, table, key, i64::from(at) + 1)?.is_none() {
            return Ok(SpotOutcome::NotSampled { reason: format!("no [{table}] table") });
        }
        let sample_dir = scratch.join("sample");
        exchange::write_all(&sample_dir, &files)?;
        let out = scratch.join("out");
        self.run_here(&sample_dir, &out, class)?;
        let trace = std::fs::read(out.join(runner::trace::TRACE_FILE)).map_err(|e| bad(format!("own run: {e}")))?;
        let compared = at as usize + 1;
        let mine = outputs(&trace)
            .filter(|o| o.len() >= compared)
            .ok_or_else(|| bad(format!("own run: fewer than {compared} steps")))?;
        // The steps through `at`; every step when this run was the whole job (as many steps: a
        // fine-tuning run's evaluation too).
        let compared = if theirs.len() == mine.len() { mine.len() } else { compared };
        Ok(match (0..compared).find(|&i| theirs.get(i) != Some(&mine[i])) {
            None => SpotOutcome::Agrees { rows: (0..compared).collect() },
            Some(row) => SpotOutcome::Differs { row },
        })
    }
}

impl SpotCheck {
    /// A generate job's sample is a random set of its prompts, each with its index written in:
    /// run as a package of their own, they must give exactly the result's lines for them (a
    /// completion depends on neither its batch nor the prompts beside it).
    fn check_generation(
        &self,
        scratch: &std::path::Path,
        job: &runner::Package,
        files: Vec<(String, Vec<u8>)>,
        result: &[(String, Vec<u8>)],
        class: ReproClass,
    ) -> Result<SpotOutcome, NodeError> {
        let input = job.required("input", &job.manifest.input)?.to_owned();
        let text = String::from_utf8(job.read("input", &input, runner::prompts::MAX_PROMPTS_BYTES)?)
            .map_err(|_| bad(format!("`{input}` is not UTF-8")))?;
        let lines = runner::prompts::indexed_lines(&input, &text)?;
        let mut rows = sample(&mut rand::thread_rng(), lines.len(), self.rows.min(lines.len())).into_vec();
        rows.sort_unstable();
        let picked: Vec<&str> = rows.iter().map(|&r| lines[r].as_str()).collect();
        let sample_dir = scratch.join("sample");
        let mut entries: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(name, _)| *name != input).collect();
        entries.push((input, (picked.join("\n") + "\n").into_bytes()));
        exchange::write_all(&sample_dir, &entries)?;
        let out: PathBuf = scratch.join("out");
        self.run_here(&sample_dir, &out, class)?;
        let file = runner::generate::COMPLETIONS_FILE;
        let mine = std::fs::read_to_string(out.join(file)).map_err(|e| bad(format!("own run: {e}")))?;
        let Some((_, theirs)) = result.iter().find(|(name, _)| name == file) else {
            return Ok(SpotOutcome::Unreadable { reason: format!("the result has no {file}") });
        };
        // Lines as the binding reads them: every byte but the `\n` that ends each.
        let split = |bytes: &'_ [u8]| -> Option<Vec<Vec<u8>>> {
            Some(bytes.strip_suffix(b"\n")?.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect())
        };
        let Some(theirs) = split(theirs) else {
            return Ok(SpotOutcome::Unreadable { reason: format!("{file} does not end with a line ending") });
        };
        let mine = split(mine.as_bytes()).ok_or_else(|| bad(format!("own run: {file} has no line ending")))?;
        if theirs.len() != lines.len() {
            // A completion too few or too many: which prompt's is wrong is not known; the first.
            return Ok(SpotOutcome::Differs { row: 0 });
        }
        for (mine, &row) in mine.iter().zip(&rows) {
            if *mine != theirs[row] {
                return Ok(SpotOutcome::Differs { row });
            }
        }
        Ok(SpotOutcome::Agrees { rows })
    }
}

fn matrix(bytes: &[u8]) -> Result<(Vec<f32>, usize, usize), NodeError> {
    runner::npy::read_f32_matrix(bytes).map_err(|m| bad(format!("embeddings.npy: {m}")))
}

/// How long one round of the buyer's loop waits for a running spot check.
const SPOT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the buyer's own run says of the result `root` the replicas agree on: `Some(true)`
/// accept, `Some(false)` challenge, `None` not known yet (not delivered, still running, or the
/// check could not run here). Without spot checks every result is accepted.
pub async fn verdict(net: &Network, job_id: U256, root: B256) -> Result<Option<bool>, NodeError> {
    if root == B256::from(exchange::unbound_root()) {
        // Files bound to no trace: no result has this root, and its claim cannot be opened in
        // the court, so a challenge wins.
        tracing::warn!(job = %job_id, %root, "the replicas agree on the root of no result; challenging");
        return Ok(Some(false));
    }
    let peer = net.peer()?;
    if !peer.spot_checks_enabled() {
        return Ok(Some(true));
    }
    Ok(match peer.spot_outcome(job_id, root, SPOT_WAIT).await {
        Some(Ok(gridmint_peer::SpotOutcome::Differs { row })) => {
            tracing::warn!(job = %job_id, %root, row, "the replicas agree on a result this node's own run contradicts");
            Some(false)
        }
        Some(Ok(gridmint_peer::SpotOutcome::Unreadable { reason })) => {
            tracing::warn!(job = %job_id, %root, reason, "the delivered result is not this job's output");
            Some(false)
        }
        Some(Ok(gridmint_peer::SpotOutcome::NotSampled { reason })) => {
            tracing::info!(job = %job_id, %root, reason, "no spot check here: the replicas' agreement decides");
            Some(true)
        }
        Some(Ok(outcome)) => {
            tracing::info!(job = %job_id, %root, ?outcome, "spot check passed");
            Some(true)
        }
        // A check that could not run here proves nothing either way: the result is not accepted
        // (the market settles it after the check window if nobody challenges).
        Some(Err(e)) => {
            tracing::warn!(job = %job_id, error = %e, "spot check failed to run; not accepting the result");
            None
        }
        None => None,
    })
}
