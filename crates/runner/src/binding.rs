//! A result is bound to its trace: every byte of every output file is a step's output, or made
//! from the steps' outputs, so the trace alone is what a replica commits
//! ([`crate::trace::claim_root`]). Two claims that agree on every step agree on every file, and a
//! result whose files are wrong is a result whose steps are wrong: the court finds the step, and a
//! jury re-runs it where it can (an embed job's sentence, a generate job's prompt, a kernel job's
//! dispatches up to the step, a training or fine-tuning run through the epoch or segment, the
//! state before it recomputed). When the claim committed the files
//! apart from the trace, a replica could pair a right trace with wrong files and win every step
//! it was taken to. Files bound to no trace all hash to one root no result has
//! (`gridmint_peer::exchange::unbound_root`): refused at delivery, challenged, never committed.
//!
//! [`check`] is what every receiver runs (the buyer on a delivery, a replica on its own files
//! before it commits, `gridmint_peer::exchange::result_root`):
//! - an embed job: exactly `embeddings.npy` and the trace; the matrix written as the runner
//!   writes it ([`crate::npy::f32_matrix`]), one row per step, row `i`'s BLAKE3 (its floats,
//!   little-endian) step `i`'s output;
//! - a training run: exactly the trace, `model.json`, one checkpoint per epoch,
//!   `model.safetensors` (the last checkpoint's bytes), and `checkpoints.json` and
//!   `metrics.json` as [`crate::train::summary_files`] makes them from the checkpoints, the
//!   epochs' metrics and the first step's input; epoch `e`'s output
//!   [`crate::train::epoch_output`] over its checkpoint, its metrics line and `model.json`;
//! - a finetune job: exactly the trace, `model.safetensors`, `optimizer.safetensors`,
//!   `config.json`, `tokenizer.json`, `metrics.json` and `checkpoints.json`; one step per segment
//!   and a last one; segment `k`'s output [`crate::finetune::segment_output`] over
//!   `checkpoints.json`'s hashes `k` and `metrics.json`'s line `k`, `checkpoints.json` made from
//!   those hashes and the first step's input, `model.safetensors` and `optimizer.safetensors` the
//!   last hashes' bytes, and the last step's output
//!   [`crate::finetune::final_output`] over `config.json`, `tokenizer.json` and the evaluation
//!   `metrics.json` holds, which is written as the runner writes it;
//! - a generate job: exactly `completions.jsonl` and the trace; one line per step, each ended by
//!   `\n`, line `i`'s BLAKE3 (without its `\n`) step `i`'s output;
//! - a kernel job: exactly `buffers.json`, the outputs it names and the trace; `buffers.json` as
//!   the runner writes it, each output the `.npy` of its record's type, shape and BLAKE3, and the
//!   records' state hash ([`crate::kernel::state_hash`]) the last step's output.
//!
//! A job kind to come must say here how its files are made from its steps.

use std::collections::BTreeMap;

use crate::{
    generate::COMPLETIONS_FILE,
    kernel::{BUFFERS_FILE, BufferRecord, state_hash, words_hash},
    npy,
    trace::{self, TRACE_FILE, Trace},
    train,
};

/// Why a result's files are not bound to its trace: the file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct Unbound {
    pub file: String,
    pub message: String,
}

fn unbound(file: &str, message: impl Into<String>) -> Unbound {
    Unbound { file: file.to_owned(), message: message.into() }
}

pub use crate::embed::EMBEDDINGS_FILE;

/// The files (name, bytes) of a result, checked against `trace` (see the module's rules).
pub fn check(files: &[(String, Vec<u8>)], trace: &Trace) -> Result<(), Unbound> {
    let mut by_name: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for (name, bytes) in files {
        if by_name.insert(name.as_str(), bytes.as_slice()).is_some() {
            return Err(unbound(name, "appears twice"));
        }
    }
    if !by_name.contains_key(TRACE_FILE) {
        return Err(unbound(TRACE_FILE, "is missing"));
    }
    if trace.steps.is_empty() {
        return Err(unbound(TRACE_FILE, "has no step"));
    }
    if by_name.contains_key(EMBEDDINGS_FILE) {
        check_embed(&by_name, trace)
    } else if by_name.contains_key("checkpoints.json") && by_name.contains_key("config.json") {
        check_finetune(&by_name, trace)
    } else if by_name.contains_key("checkpoints.json") {
        check_train(&by_name, trace)
    } else if by_name.contains_key(COMPLETIONS_FILE) {
        check_generate(&by_name, trace)
    } else if by_name.contains_key(BUFFERS_FILE) {
        check_kernel(&by_name, trace)
    } else {
        Err(unbound(
            "(the result)",
            format!("holds none of {EMBEDDINGS_FILE}, checkpoints.json, {COMPLETIONS_FILE} and {BUFFERS_FILE}"),
        ))
    }
}

/// Names a file that is not `expected`, then refuses a result of other than `count` files besides
/// the trace: before any file is read, at a cost per file and none per step (a trace of millions
/// of steps costs nothing).
fn exactly(files: &BTreeMap<&str, &[u8]>, count: usize, expected: impl Fn(&str) -> bool) -> Result<(), Unbound> {
    if let Some(name) = files.keys().find(|name| **name != TRACE_FILE && !expected(name)) {
        return Err(unbound(name, "is made by no step of the trace"));
    }
    if files.len() != count + 1 {
        return Err(unbound(
            "(the result)",
            format!("holds {} files besides the trace; its steps make {count}", files.len() - 1),
        ));
    }
    Ok(())
}

/// The most bytes of `model.json` (the layer sizes and the activation).
const MAX_MODEL_JSON: usize = 64 << 10;
/// The most bytes of one epoch's line of `metrics.json` (a pretty-printed record is ~150).
const MAX_METRICS_PER_EPOCH: usize = 512;

fn check_embed(files: &BTreeMap<&str, &[u8]>, trace: &Trace) -> Result<(), Unbound> {
    exactly(files, 1, |name| name == EMBEDDINGS_FILE)?;
    let bytes = files[EMBEDDINGS_FILE];
    let (values, rows, cols) = npy::read_f32_matrix(bytes).map_err(|e| unbound(EMBEDDINGS_FILE, e.to_string()))?;
    if rows != trace.steps.len() {
        return Err(unbound(EMBEDDINGS_FILE, format!("has {rows} rows; the trace has {} steps", trace.steps.len())));
    }
    if npy::f32_matrix(&values, rows, cols) != bytes {
        return Err(unbound(EMBEDDINGS_FILE, "is not written as the runner writes a matrix"));
    }
    if cols == 0 {
        return Err(unbound(EMBEDDINGS_FILE, "has rows of no value"));
    }
    for (i, (row, step)) in values.chunks_exact(cols).zip(&trace.steps).enumerate() {
        if trace::hash_f32s(row) != step.output {
            return Err(unbound(EMBEDDINGS_FILE, format!("row {i} is not step {i}'s output")));
        }
    }
    Ok(())
}

fn check_generate(files: &BTreeMap<&str, &[u8]>, trace: &Trace) -> Result<(), Unbound> {
    exactly(files, 1, |name| name == COMPLETIONS_FILE)?;
    let Some(body) = files[COMPLETIONS_FILE].strip_suffix(b"\n") else {
        return Err(unbound(COMPLETIONS_FILE, "does not end with a line ending"));
    };
    let mut lines = body.split(|b| *b == b'\n');
    for (i, step) in trace.steps.iter().enumerate() {
        match lines.next() {
            Some(line) if *blake3::hash(line).as_bytes() == step.output => {}
            Some(_) => return Err(unbound(COMPLETIONS_FILE, format!("line {} is not step {i}'s output", i + 1))),
            None => {
                return Err(unbound(
                    COMPLETIONS_FILE,
                    format!("has {i} lines; the trace has {} steps", trace.steps.len()),
                ));
            }
        }
    }
    match lines.next() {
        Some(_) => {
            Err(unbound(COMPLETIONS_FILE, format!("has more lines than the trace's {} steps", trace.steps.len())))
        }
        None => Ok(()),
    }
}

/// The most bytes of `buffers.json` (at most 8 buffers of a few hundred bytes each).
const MAX_BUFFERS_JSON: usize = 16 << 10;

/// `buffers.json`'s records, checked as the runner writes them.
fn kernel_records(files: &BTreeMap<&str, &[u8]>) -> Result<Vec<BufferRecord>, Unbound> {
    let bytes = files[BUFFERS_FILE];
    if bytes.len() > MAX_BUFFERS_JSON {
        return Err(unbound(BUFFERS_FILE, format!("is {} bytes; at most {MAX_BUFFERS_JSON}", bytes.len())));
    }
    let records: Vec<BufferRecord> = serde_json::from_slice(bytes).map_err(|e| unbound(BUFFERS_FILE, e.to_string()))?;
    if serde_json::to_vec_pretty(&records).ok().as_deref() != Some(bytes) {
        return Err(unbound(BUFFERS_FILE, "is not written as the runner writes it"));
    }
    if records.is_empty() || records.len() > gpu_engine::external::MAX_BINDINGS {
        return Err(unbound(BUFFERS_FILE, format!("records {} buffers", records.len())));
    }
    if records.windows(2).any(|w| w[0].binding >= w[1].binding) {
        return Err(unbound(BUFFERS_FILE, "its bindings are not in increasing order"));
    }
    Ok(records)
}

fn check_kernel(files: &BTreeMap<&str, &[u8]>, trace: &Trace) -> Result<(), Unbound> {
    let records = kernel_records(files)?;
    let outputs: Vec<&str> = records.iter().filter_map(|r| r.output.as_deref()).collect();
    exactly(files, outputs.len() + 1, |name| name == BUFFERS_FILE || outputs.contains(&name))?;
    for r in &records {
        let hash = blake3::Hash::from_hex(&r.blake3).map_err(|_| unbound(BUFFERS_FILE, "a hash is not hex"))?;
        if hash.to_hex().as_str() != r.blake3 {
            return Err(unbound(BUFFERS_FILE, "a hash is not written in lowercase hex"));
        }
        if let Some(name) = &r.output {
            let bytes = files.get(name.as_str()).copied().ok_or_else(|| unbound(name, "is missing"))?;
            let array = npy::read_array(bytes).map_err(|e| unbound(name, e.to_string()))?;
            if array.dtype != r.dtype || array.shape != r.shape || words_hash(&array.words) != hash {
                return Err(unbound(name, format!("is not the buffer {}'s record", r.binding)));
            }
            if npy::write_array(&array) != bytes {
                return Err(unbound(name, "is not written as the runner writes an array"));
            }
        }
    }
    let last = trace.steps.last().expect("checked: a step");
    if state_hash(&records) != last.output {
        return Err(unbound(BUFFERS_FILE, "the buffers it records are not the last step's output"));
    }
    Ok(())
}

fn check_train(files: &BTreeMap<&str, &[u8]>, trace: &Trace) -> Result<(), Unbound> {
    let epochs = trace.steps.len();
    const SUMMARY: [&str; 4] = ["model.safetensors", "model.json", "checkpoints.json", "metrics.json"];
    // A checkpoint's name for an epoch the trace has (`checkpoint_file` of 1..=epochs).
    let checkpoint = |name: &str| {
        name.strip_prefix("checkpoints/epoch-")
            .and_then(|n| n.strip_suffix(".safetensors"))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|e| (1..=epochs).contains(&e) && train::checkpoint_file(e) == name)
    };
    let file = |name: &str| files.get(name).copied().ok_or_else(|| unbound(name, "is missing"));
    for name in SUMMARY {
        file(name)?;
    }
    exactly(files, epochs + SUMMARY.len(), |name| SUMMARY.contains(&name) || checkpoint(name))?;
    let model = file("model.json")?;
    if model.len() > MAX_MODEL_JSON {
        return Err(unbound(
            "model.json",
            format!("is {} bytes; a model's description is at most {MAX_MODEL_JSON}", model.len()),
        ));
    }
    let metrics_bytes = file("metrics.json")?;
    if metrics_bytes.len() > epochs.saturating_mul(MAX_METRICS_PER_EPOCH).saturating_add(1024) {
        return Err(unbound("metrics.json", format!("is {} bytes for {epochs} epochs", metrics_bytes.len())));
    }
    #[derive(serde::Deserialize)]
    struct Model {
        sizes: Vec<usize>,
    }
    let sizes = serde_json::from_slice::<Model>(model).map_err(|e| unbound("model.json", e.to_string()))?.sizes;
    let metrics: train::Metrics =
        serde_json::from_slice(metrics_bytes).map_err(|e| unbound("metrics.json", e.to_string()))?;
    if metrics.epochs.len() != epochs || sizes.last() != Some(&metrics.classes) {
        return Err(unbound(
            "metrics.json",
            format!(
                "has {} epochs of {} classes; the trace has {epochs} epochs and model.json {:?} classes",
                metrics.epochs.len(),
                metrics.classes,
                sizes.last()
            ),
        ));
    }
    let model_hash = blake3::hash(model);
    let mut hashes = Vec::with_capacity(epochs);
    for (i, (step, line)) in trace.steps.iter().zip(&metrics.epochs).enumerate() {
        let name = train::checkpoint_file(i + 1);
        let hash = blake3::hash(file(&name)?);
        if train::epoch_output(&hash, line, &model_hash) != step.output {
            return Err(unbound(
                &name,
                format!("with epoch {}'s metrics and model.json, is not step {i}'s output", i + 1),
            ));
        }
        hashes.push(hash);
    }
    if file("model.safetensors")? != file(&train::checkpoint_file(epochs))? {
        return Err(unbound("model.safetensors", "is not the last epoch's checkpoint"));
    }
    for (name, bytes) in train::summary_files(trace.steps[0].input, &hashes, &metrics.epochs, metrics.classes) {
        if file(name)? != bytes.as_slice() {
            return Err(unbound(name, "is not made from the epochs' outputs as the runner makes it"));
        }
    }
    Ok(())
}

fn check_finetune(files: &BTreeMap<&str, &[u8]>, trace: &Trace) -> Result<(), Unbound> {
    use crate::finetune::{self, Checkpoint, Metrics, State};
    const FILES: [&str; 6] = [
        "model.safetensors",
        "optimizer.safetensors",
        "config.json",
        "tokenizer.json",
        "metrics.json",
        "checkpoints.json",
    ];
    exactly(files, FILES.len(), |name| FILES.contains(&name))?;
    let segments = trace.steps.len() - 1;
    if segments == 0 {
        return Err(unbound(TRACE_FILE, "has no segment before its last step"));
    }
    // Bounded before they are parsed: a loss per optimizer step (at most a job's steps, ~40 bytes
    // each pretty-printed) and a line per segment; an entry per checkpoint.
    let metrics_bytes = files["metrics.json"];
    let most = 48 * crate::finetune::MAX_STEPS as usize + segments.saturating_mul(MAX_METRICS_PER_EPOCH);
    if metrics_bytes.len() > most {
        return Err(unbound("metrics.json", format!("is {} bytes for {segments} segments", metrics_bytes.len())));
    }
    let list_bytes = files["checkpoints.json"];
    if list_bytes.len() > segments.saturating_mul(MAX_METRICS_PER_EPOCH).saturating_add(1024) {
        return Err(unbound("checkpoints.json", format!("is {} bytes for {segments} segments", list_bytes.len())));
    }
    let metrics: Metrics = serde_json::from_slice(metrics_bytes).map_err(|e| unbound("metrics.json", e.to_string()))?;
    let list: Vec<Checkpoint> =
        serde_json::from_slice(list_bytes).map_err(|e| unbound("checkpoints.json", e.to_string()))?;
    if metrics.segments.len() != segments || list.len() != segments {
        return Err(unbound(
            "metrics.json",
            format!(
                "has {} segments and checkpoints.json {}; the trace has {segments}",
                metrics.segments.len(),
                list.len()
            ),
        ));
    }
    let mut states = Vec::with_capacity(segments);
    for (k, ((step, line), entry)) in trace.steps.iter().zip(&metrics.segments).zip(&list).enumerate() {
        let hash = |hex: &str| {
            blake3::Hash::from_hex(hex).map_err(|e| unbound("checkpoints.json", format!("entry {}: {e}", k + 1)))
        };
        let state = State { model: hash(&entry.model)?, optimizer: hash(&entry.optimizer)? };
        if finetune::segment_output(&state, line) != step.output {
            return Err(unbound(
                "checkpoints.json",
                format!("entry {}'s hashes, with its metrics line, are not step {k}'s output", k + 1),
            ));
        }
        states.push(state);
    }
    let first = metrics.segments[0].segment;
    if finetune::checkpoints_file(trace.steps[0].input, first, &states) != list_bytes {
        return Err(unbound("checkpoints.json", "is not made from the segments' outputs as the runner makes it"));
    }
    if finetune::metrics_file(&metrics) != metrics_bytes {
        return Err(unbound("metrics.json", "is not written as the runner writes it"));
    }
    if blake3::hash(files["model.safetensors"]) != states[segments - 1].model {
        return Err(unbound("model.safetensors", "is not the last segment's weights"));
    }
    if blake3::hash(files["optimizer.safetensors"]) != states[segments - 1].optimizer {
        return Err(unbound("optimizer.safetensors", "is not the last segment's optimizer state"));
    }
    let last = &trace.steps[segments];
    if finetune::final_output(files["config.json"], files["tokenizer.json"], metrics.classes, metrics.test_accuracy)
        != last.output
    {
        return Err(unbound(
            "config.json",
            "with tokenizer.json and the evaluation in metrics.json, is not the last step's output",
        ));
    }
    Ok(())
}

#[doc(hidden)]
/// Test only (the node's `corrupt_results`): a wrong result that is bound to its own trace, as a
/// cheater who knows the rules makes it: every embedding value, the last byte of every
/// checkpoint, every completion line, every kernel output value, or a fine-tuning run's every
/// segment (its final weights' last byte, the others' hashes), changed, and the trace's
/// outputs (and the training chain's inputs) made again from the changed files. `files` must be bound to their trace to begin with.
pub fn consistent_lie(files: &mut [(String, Vec<u8>)]) -> Result<(), Unbound> {
    consistent_lie_from(files, 0)
}

#[doc(hidden)]
/// Test only: [`consistent_lie`] that leaves a training or fine-tuning run right before step
/// `first` (its epochs' checkpoints, its segments' states) and wrong from it on, as a cheater who
/// computes the first steps and skips the rest delivers it. Other kinds lie as
/// [`consistent_lie`] does.
pub fn consistent_lie_from(files: &mut [(String, Vec<u8>)], first: usize) -> Result<(), Unbound> {
    let trace_at = files.iter().position(|(n, _)| n == TRACE_FILE).ok_or_else(|| unbound(TRACE_FILE, "is missing"))?;
    let mut trace = Trace::decode(&files[trace_at].1).map_err(|e| unbound(TRACE_FILE, e.to_string()))?;
    check(files, &trace)?;
    if let Some(at) = files.iter().position(|(n, _)| n == EMBEDDINGS_FILE) {
        let (mut values, rows, cols) =
            npy::read_f32_matrix(&files[at].1).map_err(|e| unbound(EMBEDDINGS_FILE, e.to_string()))?;
        for v in &mut values {
            *v = f32::from_bits(v.to_bits() ^ 1);
        }
        for (row, step) in values.chunks_exact(cols).zip(&mut trace.steps) {
            step.output = trace::hash_f32s(row);
        }
        files[at].1 = npy::f32_matrix(&values, rows, cols);
    } else if let Some(at) = files.iter().position(|(n, _)| n == BUFFERS_FILE) {
        // Every output value's last bit flipped; the records and the last step made again.
        let mut records: Vec<BufferRecord> =
            serde_json::from_slice(&files[at].1).map_err(|e| unbound(BUFFERS_FILE, e.to_string()))?;
        for r in &mut records {
            if let Some(name) = r.output.clone() {
                let file = files.iter_mut().find(|(n, _)| *n == name).ok_or_else(|| unbound(&name, "is missing"))?;
                let mut array = npy::read_array(&file.1).map_err(|e| unbound(&name, e.to_string()))?;
                for w in &mut array.words {
                    *w ^= 1;
                }
                file.1 = npy::write_array(&array);
                r.blake3 = words_hash(&array.words).to_hex().to_string();
            }
        }
        files[at].1 = serde_json::to_vec_pretty(&records).map_err(|e| unbound(BUFFERS_FILE, e.to_string()))?;
        if let Some(last) = trace.steps.last_mut() {
            last.output = state_hash(&records);
        }
    } else if let Some(at) = files.iter().position(|(n, _)| n == COMPLETIONS_FILE) {
        // Every completion with a space more before its line ending (still a JSON object).
        let mut lied = Vec::new();
        for (line, step) in files[at].1.split(|b| *b == b'\n').zip(&mut trace.steps) {
            let line = [line, b" "].concat();
            step.output = *blake3::hash(&line).as_bytes();
            lied.extend_from_slice(&line);
            lied.push(b'\n');
        }
        files[at].1 = lied;
    } else if files.iter().any(|(n, _)| n == "config.json") {
        // A fine-tuning run: the final weights' last byte changed, the weights' hash of every
        // earlier segment from `first` on replaced, the segments' outputs, the chain and the last step's input made again.
        use crate::finetune::{self, Checkpoint, State};
        let file =
            |files: &[(String, Vec<u8>)], name: &str| files.iter().position(|(n, _)| n == name).expect("checked");
        let metrics: finetune::Metrics = serde_json::from_slice(&files[file(files, "metrics.json")].1)
            .map_err(|e| unbound("metrics.json", e.to_string()))?;
        let list = file(files, "checkpoints.json");
        let entries: Vec<Checkpoint> =
            serde_json::from_slice(&files[list].1).map_err(|e| unbound("checkpoints.json", e.to_string()))?;
        let model = file(files, "model.safetensors");
        *files[model].1.last_mut().expect("not empty") ^= 1;
        let last = blake3::hash(&files[model].1);
        let segments = trace.steps.len() - 1;
        let first = first.min(segments - 1);
        let mut states = Vec::with_capacity(segments);
        for (k, entry) in entries.iter().enumerate() {
            let hash = |hex: &str| blake3::Hash::from_hex(hex).map_err(|e| unbound("checkpoints.json", e.to_string()));
            let optimizer = hash(&entry.optimizer)?;
            let model = match k {
                k if k + 1 == segments => last,
                k if k >= first => blake3::hash(format!("a lie {k}").as_bytes()),
                _ => hash(&entry.model)?,
            };
            states.push(State { model, optimizer });
        }
        let mut input = trace.steps[0].input;
        for (step, (state, line)) in trace.steps.iter_mut().zip(states.iter().zip(&metrics.segments)) {
            step.input = input;
            step.output = finetune::segment_output(state, line);
            input = step.output;
        }
        trace.steps[segments].input = input;
        files[list].1 = finetune::checkpoints_file(trace.steps[0].input, metrics.segments[0].segment, &states);
    } else {
        let metrics: train::Metrics =
            serde_json::from_slice(&files.iter().find(|(n, _)| n == "metrics.json").expect("checked").1)
                .map_err(|e| unbound("metrics.json", e.to_string()))?;
        let model_hash = blake3::hash(&files.iter().find(|(n, _)| n == "model.json").expect("checked").1);
        let epochs = trace.steps.len();
        let first = first.min(epochs - 1);
        let lied: Vec<String> = (first..epochs).map(|e| train::checkpoint_file(e + 1)).collect();
        let mut hashes = Vec::new();
        for (name, bytes) in files.iter_mut() {
            if let Some(last) = bytes.last_mut().filter(|_| lied.contains(name) || name == "model.safetensors") {
                *last ^= 1;
            }
        }
        let mut input = trace.steps[0].input;
        for (e, (step, line)) in trace.steps.iter_mut().zip(&metrics.epochs).enumerate() {
            let name = train::checkpoint_file(e + 1);
            let hash = blake3::hash(&files.iter().find(|(n, _)| *n == name).expect("checked").1);
            step.input = input;
            step.output = train::epoch_output(&hash, line, &model_hash);
            input = step.output;
            hashes.push(hash);
        }
        debug_assert_eq!(hashes.len(), epochs);
        for (name, bytes) in train::summary_files(trace.steps[0].input, &hashes, &metrics.epochs, metrics.classes) {
            files.iter_mut().find(|(n, _)| n == name).expect("checked").1 = bytes;
        }
    }
    files[trace_at].1 = trace.encode();
    check(files, &trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Step, claim_root};

    /// An embed result of `rows` rows as the runner writes it, and its trace.
    fn embed_result(rows: usize) -> (Vec<(String, Vec<u8>)>, Trace) {
        let cols = 4;
        let values: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.25 - 1.0).collect();
        let steps = values
            .chunks_exact(cols)
            .enumerate()
            .map(|(i, row)| Step { flops: 10, prev: 0, input: [i as u8; 32], output: trace::hash_f32s(row) })
            .collect();
        let trace = Trace { steps };
        let files = vec![
            (EMBEDDINGS_FILE.to_owned(), npy::f32_matrix(&values, rows, cols)),
            (TRACE_FILE.to_owned(), trace.encode()),
        ];
        (files, trace)
    }

    /// A training result of `epochs` epochs as the runner writes it (checkpoints of made-up
    /// bytes), and its trace.
    fn train_result(epochs: usize) -> (Vec<(String, Vec<u8>)>, Trace) {
        let model = br#"{"sizes":[3,4,2],"activation":"relu"}"#.to_vec();
        let model_hash = blake3::hash(&model);
        let start = *blake3::hash(b"job.toml").as_bytes();
        let (mut files, mut steps, mut hashes, mut lines) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut input = start;
        for e in 1..=epochs {
            let bytes = format!("checkpoint {e}: tensors").into_bytes();
            let line = train::EpochMetrics {
                epoch: e as u32,
                loss: 1.0 / e as f64 + 0.1,
                train_accuracy: 0.3 + e as f64 / 7.0,
                test_accuracy: (e % 2 == 0).then_some(0.1 * e as f64),
            };
            let hash = blake3::hash(&bytes);
            let output = train::epoch_output(&hash, &line, &model_hash);
            steps.push(Step { flops: 100, prev: e as u32 - 1, input, output });
            input = output;
            if e == epochs {
                files.push(("model.safetensors".to_owned(), bytes.clone()));
            }
            files.push((train::checkpoint_file(e), bytes));
            hashes.push(hash);
            lines.push(line);
        }
        for (name, bytes) in train::summary_files(start, &hashes, &lines, 2) {
            files.push((name.to_owned(), bytes));
        }
        files.push(("model.json".to_owned(), model));
        let trace = Trace { steps };
        files.push((TRACE_FILE.to_owned(), trace.encode()));
        (files, trace)
    }

    /// A generate result of `prompts` completions as the runner writes them, and its trace.
    fn generate_result(prompts: usize) -> (Vec<(String, Vec<u8>)>, Trace) {
        let mut file = Vec::new();
        let mut steps = Vec::new();
        for i in 0..prompts {
            let line = format!("{{\"index\":{i},\"token_ids\":[{i},7],\"text\":\"a b\",\"finish_reason\":\"length\"}}");
            steps.push(Step {
                flops: 40,
                prev: 0,
                input: [i as u8; 32],
                output: *blake3::hash(line.as_bytes()).as_bytes(),
            });
            file.extend_from_slice(line.as_bytes());
            file.push(b'\n');
        }
        let trace = Trace { steps };
        (vec![(COMPLETIONS_FILE.to_owned(), file), (TRACE_FILE.to_owned(), trace.encode())], trace)
    }

    /// A kernel result of two dispatches as the runner writes it: one output, one buffer not.
    fn kernel_result() -> (Vec<(String, Vec<u8>)>, Trace) {
        let y = npy::Array { dtype: npy::Dtype::F32, shape: vec![2, 2], words: vec![1, 2, 3, 0x7f80_0001] };
        let x_words = vec![9u32; 3];
        let records = vec![
            BufferRecord {
                binding: 0,
                dtype: npy::Dtype::U32,
                shape: vec![3],
                blake3: words_hash(&x_words).to_hex().to_string(),
                output: None,
            },
            BufferRecord {
                binding: 1,
                dtype: npy::Dtype::F32,
                shape: vec![2, 2],
                blake3: words_hash(&y.words).to_hex().to_string(),
                output: Some("y.npy".into()),
            },
        ];
        let last = state_hash(&records);
        let steps = vec![
            Step { flops: 50, prev: 0, input: [1; 32], output: [2; 32] },
            Step { flops: 50, prev: 1, input: [2; 32], output: last },
        ];
        let trace = Trace { steps };
        let files = vec![
            (BUFFERS_FILE.to_owned(), serde_json::to_vec_pretty(&records).expect("json")),
            ("y.npy".to_owned(), npy::write_array(&y)),
            (TRACE_FILE.to_owned(), trace.encode()),
        ];
        (files, trace)
    }

    fn with(files: &[(String, Vec<u8>)], name: &str, change: impl FnOnce(&mut Vec<u8>)) -> Vec<(String, Vec<u8>)> {
        let mut files = files.to_vec();
        change(&mut files.iter_mut().find(|(n, _)| n == name).expect("the file").1);
        files
    }

    #[test]
    fn results_as_the_runner_writes_them_are_bound() {
        for (files, trace) in
            [embed_result(3), train_result(1), train_result(3), generate_result(1), generate_result(3)]
        {
            check(&files, &trace).expect("bound");
        }
    }

    /// The attack the binding closes: replicas agree on the right steps and deliver wrong files.
    /// When the claim committed the files apart from the trace, every step the court could take
    /// them to was right, and they won. Now a file that is not made from the trace's steps leaves
    /// the result without a claim: every byte of every file is refused once changed.
    #[test]
    fn attack_right_steps_with_wrong_files_are_refused_byte_by_byte() {
        for (files, trace) in [embed_result(3), train_result(2), generate_result(3), kernel_result()] {
            for (name, bytes) in &files {
                if name == TRACE_FILE {
                    continue;
                }
                for at in 0..bytes.len() {
                    let forged = with(&files, name, |b| b[at] ^= 0x20);
                    assert!(check(&forged, &trace).is_err(), "{name}: byte {at} changed, still bound");
                }
            }
        }
    }

    #[test]
    fn attack_files_added_missing_or_twice_are_refused() {
        let (files, trace) = embed_result(2);
        let mut extra = files.clone();
        extra.push(("notes.txt".to_owned(), b"not made by any step".to_vec()));
        let e = check(&extra, &trace).expect_err("an extra file");
        assert_eq!(e.file, "notes.txt", "{e}");
        let mut twice = files.clone();
        twice.push(files[0].clone());
        assert!(check(&twice, &trace).is_err(), "a file twice");
        assert!(check(&files[1..], &trace).is_err(), "the embeddings missing");
        assert!(check(&files[..1], &trace).is_err(), "the trace missing");
        // A completion short, one more, or the last line ending missing.
        let (completions, trace3) = generate_result(3);
        let (two, _) = generate_result(2);
        assert!(
            check(&[two[0].clone(), completions[1].clone()], &trace3).expect_err("short").message.contains("2 lines")
        );
        let (four, _) = generate_result(4);
        assert!(
            check(&[four[0].clone(), completions[1].clone()], &trace3)
                .expect_err("long")
                .message
                .contains("more lines")
        );
        let open = with(&completions, COMPLETIONS_FILE, |b| {
            b.pop();
        });
        assert!(check(&open, &trace3).is_err(), "no final line ending");
        let (mut train, trace) = train_result(2);
        train.retain(|(n, _)| n != "metrics.json");
        assert_eq!(check(&train, &trace).expect_err("metrics missing").file, "metrics.json");
        // One row short, one epoch short: the trace has more steps than the files have outputs.
        let (rows, short) = embed_result(3);
        let (fewer, _) = embed_result(2);
        let mut fewer = fewer;
        fewer[1].1 = short.encode();
        assert!(check(&fewer, &short).is_err());
        assert!(check(&rows, &Trace { steps: short.steps[..2].to_vec() }).is_err());
    }

    /// A peer's result is checked for its file count before any file is read or any name made
    /// (a trace of millions of steps, or thousands of checkpoint names, costs nothing), and the
    /// small files are bounded before they are parsed.
    #[test]
    fn attack_hostile_sizes_are_refused_before_they_cost() {
        let (files, _) = train_result(2);
        let long = Trace { steps: vec![Step { flops: 1, prev: 0, input: [0; 32], output: [0; 32] }; 1 << 20] };
        let e = check(&files, &long).expect_err("a million epochs, seven files");
        assert!(e.message.contains("steps make"), "{e}");
        let renamed = {
            let mut f = files.clone();
            f.iter_mut().find(|(n, _)| n == "checkpoints/epoch-002.safetensors").expect("epoch 2").0 =
                "checkpoints/epoch-2.safetensors".to_owned();
            f
        };
        let (_, trace) = train_result(2);
        assert_eq!(
            check(&renamed, &trace).expect_err("a name not the runner's").file,
            "checkpoints/epoch-2.safetensors"
        );
        let huge = with(&files, "model.json", |b| b.resize(MAX_MODEL_JSON + 1, b' '));
        assert!(check(&huge, &trace).expect_err("a huge model.json").message.contains("at most"));
        let metrics = with(&files, "metrics.json", |b| b.resize(2 * MAX_METRICS_PER_EPOCH + 1025, b' '));
        assert!(check(&metrics, &trace).expect_err("a huge metrics.json").message.contains("bytes for 2 epochs"));
    }

    /// A provider that withholds a kernel job's output (its record says none) or writes it as
    /// another type or shape delivers a result that is not the honest claim: the records' every
    /// field is in the last step's output.
    #[test]
    fn attack_a_kernel_result_that_withholds_or_retypes_an_output_is_refused() {
        let (files, trace) = kernel_result();
        let records: Vec<BufferRecord> = serde_json::from_slice(&files[0].1).expect("records");
        let trace_file = (TRACE_FILE.to_owned(), trace.encode());
        let mut withheld = records.clone();
        withheld[1].output = None;
        let delivered =
            vec![(BUFFERS_FILE.to_owned(), serde_json::to_vec_pretty(&withheld).expect("json")), trace_file.clone()];
        assert!(check(&delivered, &trace).is_err(), "an output withheld");
        let mut retyped = records.clone();
        retyped[1].dtype = npy::Dtype::I32;
        retyped[1].shape = vec![4];
        let y = npy::read_array(&files[1].1).expect("y");
        let as_ints = npy::Array { dtype: npy::Dtype::I32, shape: vec![4], words: y.words };
        let delivered = vec![
            (BUFFERS_FILE.to_owned(), serde_json::to_vec_pretty(&retyped).expect("json")),
            ("y.npy".to_owned(), npy::write_array(&as_ints)),
            trace_file,
        ];
        assert!(check(&delivered, &trace).is_err(), "an output retyped");
    }

    /// A wrong result made to bind to its own wrong trace (what a cheater who knows the rules
    /// delivers) is bound, with another claim: the court then finds a wrong step.
    #[test]
    fn a_consistent_lie_binds_to_another_trace() {
        for (files, trace) in [embed_result(3), train_result(3), generate_result(2), kernel_result()] {
            let mut lie = files.clone();
            consistent_lie(&mut lie).expect("a lie");
            let lied = Trace::decode(&lie.iter().find(|(n, _)| n == TRACE_FILE).expect("trace").1).expect("decodes");
            check(&lie, &lied).expect("bound to its own trace");
            assert!(check(&lie, &trace).is_err(), "not to the honest one");
            assert_ne!(claim_root(&lied), claim_root(&trace));
            // A kernel's lie is in its last state (the dispatches before it are not in the files).
            let kernel = files.iter().any(|(n, _)| n == BUFFERS_FILE);
            let wrong = lied.steps.iter().zip(&trace.steps).filter(|(a, b)| a.output != b.output).count();
            assert_eq!(wrong, if kernel { 1 } else { trace.steps.len() }, "the steps a lie makes wrong");
        }
    }

    /// A training run right in its first epochs and wrong after them (a cheater that skipped the
    /// rest) binds to its own trace, whose first steps are the honest ones.
    #[test]
    fn a_lie_from_a_later_epoch_keeps_the_epochs_before_it() {
        let (files, trace) = train_result(3);
        for first in 0..3 {
            let mut lie = files.clone();
            consistent_lie_from(&mut lie, first).expect("a lie");
            let lied = Trace::decode(&lie.iter().find(|(n, _)| n == TRACE_FILE).expect("trace").1).expect("decodes");
            check(&lie, &lied).expect("bound to its own trace");
            for (i, (a, b)) in lied.steps.iter().zip(&trace.steps).enumerate() {
                assert_eq!(a.output == b.output, i < first, "step {i} of a lie from {first}");
            }
        }
    }
}
