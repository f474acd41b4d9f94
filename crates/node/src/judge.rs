//! What a juror computes for the one step a court game comes down to (`contracts/src/court`):
//! that step alone, re-run from the job's package, answered as the court compares it,
//! `keccak256(abi.encode(outHash, flops, steps))` (the defender opened the same at the leaf).
//!
//! - An embed job's step is one sentence through the encoder (rows do not depend on their
//!   batch): the package with that sentence alone, whose one-step trace gives the answer. Its
//!   input must be the package's (the sentence's tokens, from no earlier step).
//! - A generate job's step is one prompt's completion (it depends on neither its batch nor the
//!   prompts beside it): the package with that prompt alone, its index written in, so that its
//!   draws are the ones it had in the job.
//! - A training run's step is one epoch, from the parameters and optimizer state the epoch
//!   before left; a fine-tuning run's, one segment. Neither state is on a leaf (an epoch's output
//!   covers its checkpoint, not the momentum), so the juror recomputes it: the job re-run through
//!   the disputed step (its epochs or segments cut there; a step's output does not depend on how
//!   many follow), answered from that step, its input the step before's as this run made it.
//!   The juror's work is the job's through the step, at most the whole job's; a juror whose pace
//!   says the re-run cannot end before the vote's deadline does not start it (it takes no seat,
//!   and is not slashed), so a game nobody can judge in time leaves the defender standing.
//!   A fine-tuning run's last step (the evaluation) is the whole job re-run.
//! - A kernel job's step is one dispatch: the job re-run with the dispatches up to it (its input,
//!   the state the dispatch before left, is recomputed from the package, not taken from the
//!   defender), answered from that dispatch's step.
//! - A job kind to come must say here how one of its steps is re-run (the match is exhaustive).
//!
//! A step whose input the defender committed wrongly is answered with a hash that is no one's.

use std::path::Path;

use alloy::{
    primitives::{B256, keccak256},
    sol_types::SolValue,
};
use gridmint_protocol::JobKind;
use gridmint_runner as runner;

use crate::NodeError;

/// What a juror does for a step.
#[derive(Debug)]
pub enum Judged {
    /// Run this package (its files, by name) on the device and answer from its trace.
    Run(StepRun),
    /// The answer, with nothing to run (a step past the job's last: no output, no flops).
    Answer(B256),
}

/// The package that re-runs one step, and what its trace is checked against.
#[derive(Debug)]
pub struct StepRun {
    pub files: Vec<(String, Vec<u8>)>,
    /// The job's step count (part of the answer).
    steps: u32,
    /// The step of this package's trace that is the disputed one (the last step of a chained
    /// run's re-run; 0 for an embed or generate step), and the `prev` its leaf must name.
    at: usize,
    expected_prev: u32,
    /// The input the defender's leaf must name: `None` when it is the re-run's own input at
    /// `at` (an embed step's tokens, the recomputed state before a later step), else this hash
    /// (a chained run's first step: the manifest as posted, the re-run's differs in its count).
    input: Option<B256>,
    prev: u32,
    in_hash: B256,
}

/// The answer of a juror that found the defender's step wrong before its output (its input).
pub fn unchecked() -> B256 {
    keccak256(b"gridmint: this juror could not check the step")
}

impl StepRun {
    /// The share of the job's steps this re-run computes, as (steps run, the job's steps): the
    /// steps through the disputed one of a chained run, one of an embed or generate job's.
    pub fn share(&self) -> (u64, u64) {
        (self.at as u64 + 1, u64::from(self.steps.max(1)))
    }

    /// The answer, from the trace of this package's run.
    pub fn answer(&self, trace: &runner::trace::Trace) -> B256 {
        let Some(mine) = trace.steps.get(self.at) else { return unchecked() };
        let input = self.input.unwrap_or(B256::from(mine.input));
        if self.prev != self.expected_prev || self.in_hash != input {
            tracing::warn!(prev = self.prev, "jury duty: the defender's step does not start from the package's input");
            return unchecked();
        }
        keccak256((B256::from(mine.output), mine.flops, self.steps).abi_encode())
    }
}

fn bad(message: String) -> NodeError {
    NodeError::Exchange { message: format!("jury duty: {message}") }
}

/// What re-runs step `step` of the job whose package (as posted, its files by name) is
/// `files`, unbundled at `dir`; `prev` and `in_hash` are what the defender opened at the leaf.
pub fn step_run(
    dir: &Path,
    files: Vec<(String, Vec<u8>)>,
    step: u32,
    prev: u32,
    in_hash: B256,
) -> Result<Judged, NodeError> {
    let package = runner::Package::open(dir)?;
    let past_the_end = |steps: u32| Ok(Judged::Answer(keccak256((B256::ZERO, 0u64, steps).abi_encode())));
    match package.manifest.kind {
        JobKind::Embed | JobKind::Generate => {
            let input = package.required("input", &package.manifest.input)?.to_owned();
            let text = package.read(
                "input",
                &input,
                runner::prompts::MAX_PROMPTS_BYTES.max(runner::embed::MAX_INPUT_BYTES),
            )?;
            let text = String::from_utf8(text).map_err(|_| bad(format!("{input} is not UTF-8")))?;
            // A generate job's prompt carries its index, so that its draws are the job's.
            let lines: Vec<String> = if package.manifest.kind == JobKind::Generate {
                runner::prompts::indexed_lines(&input, &text)?
            } else {
                text.lines().map(str::to_owned).collect()
            };
            let steps = lines.len() as u32;
            let Some(line) = lines.get(step as usize) else { return past_the_end(steps) };
            let mut one: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(name, _)| *name != input).collect();
            one.push((input, format!("{line}\n").into_bytes()));
            Ok(Judged::Run(StepRun { files: one, steps, at: 0, expected_prev: 0, input: None, prev, in_hash }))
        }
        JobKind::Kernel => {
            let mut files = files;
            let dispatches = package.manifest.kernel.as_ref().and_then(|k| k.dispatches).unwrap_or(1);
            if step >= dispatches {
                return past_the_end(dispatches);
            }
            // The dispatches up to the disputed one, from the package: the step's input is the
            // state the one before left, recomputed here, not taken from the defender.
            set_count(&mut files, "kernel", "dispatches", i64::from(step) + 1)?
                .ok_or_else(|| bad("job.toml: no [kernel] table".into()))?;
            let (at, expected_prev) = (step as usize, step);
            Ok(Judged::Run(StepRun { files, steps: dispatches, at, expected_prev, input: None, prev, in_hash }))
        }
        JobKind::Finetune => {
            let steps = runner::finetune::trace_steps(&package)?;
            if step >= steps {
                return past_the_end(steps);
            }
            if step + 1 == steps {
                // The last step (the evaluation) by running the whole job; its input is the last
                // segment's output as this run makes it.
                return Ok(Judged::Run(StepRun {
                    files,
                    steps,
                    at: step as usize,
                    expected_prev: step,
                    input: None,
                    prev,
                    in_hash,
                }));
            }
            prefix(files, ("finetune", "segments"), step, steps, prev, in_hash)
        }
        JobKind::Train => {
            let epochs = package.manifest.train.as_ref().map_or(0, |t| t.epochs);
            if step >= epochs {
                return past_the_end(epochs);
            }
            prefix(files, ("train", "epochs"), step, epochs, prev, in_hash)
        }
    }
}

/// Step `step` of a run that is a chain of steps, each from the state the one before left (a
/// training run's epochs, a fine-tuning run's segments): the job re-run through that step
/// (`[table] key = step + 1`; a step's output depends on none that follow), so its input is
/// recomputed from the package, not taken from the defender. The first step's input is the
/// manifest as posted (the re-run's differs in its count); a later one's, the step before's
/// output as this run makes it. The juror's work is the job's through that step.
fn prefix(
    mut files: Vec<(String, Vec<u8>)>,
    (table, key): (&str, &str),
    step: u32,
    steps: u32,
    prev: u32,
    in_hash: B256,
) -> Result<Judged, NodeError> {
    let posted = set_count(&mut files, table, key, i64::from(step) + 1)?
        .ok_or_else(|| bad(format!("job.toml: no [{table}] table")))?;
    let input = (step == 0).then(|| B256::from(*blake3::hash(&posted).as_bytes()));
    Ok(Judged::Run(StepRun { files, steps, at: step as usize, expected_prev: step, input, prev, in_hash }))
}

/// Sets `[table] key = count` in the manifest among a package's `files` (re-written as TOML), as
/// a re-run of part of a job needs (a chained run's steps through the disputed or drawn one).
/// Returns the manifest's bytes as they were, or `None` when it has no such table.
pub(crate) fn set_count(
    files: &mut [(String, Vec<u8>)],
    table: &str,
    key: &str,
    count: i64,
) -> Result<Option<Vec<u8>>, NodeError> {
    let bad = |message: String| NodeError::Exchange { message: format!("the package's manifest: {message}") };
    let manifest = files
        .iter_mut()
        .find(|(name, _)| name == gridmint_protocol::job::MANIFEST_FILE)
        .ok_or_else(|| bad("missing".into()))?;
    let text = std::str::from_utf8(&manifest.1).map_err(|_| bad("job.toml is not UTF-8".into()))?;
    let mut doc: toml::Table = text.parse().map_err(|e| bad(format!("job.toml: {e}")))?;
    let Some(settings) = doc.get_mut(table).and_then(toml::Value::as_table_mut) else { return Ok(None) };
    settings.insert(key.into(), toml::Value::Integer(count));
    let rewritten = toml::to_string(&doc).map_err(|e| bad(format!("job.toml: {e}")))?.into_bytes();
    Ok(Some(std::mem::replace(&mut manifest.1, rewritten)))
}
