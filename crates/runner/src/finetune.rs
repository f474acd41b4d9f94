//! `kind = "finetune"`: fine-tuning a BERT-family encoder for sequence classification
//! (`gpu_engine::workloads::finetune`), on `{"text": ..., "label": ...}` lines. The training and
//! test files are read through [`crate::dataset`]: indexed in one pass, then a window of chunks at
//! a time, so a file larger than memory trains as a small one does.
//!
//! Outputs: `model.safetensors` in transformers' `BertForSequenceClassification` names, with the
//! model's `config.json` (its architecture and labels set) and `tokenizer.json` beside it, so the
//! folder loads with `AutoModelForSequenceClassification`; `optimizer.safetensors` (AdamW's steps
//! and moments); `metrics.json` (every step's loss and, with a test file, the test accuracy after
//! the last step); `checkpoints.json` (each segment's weights' and optimizer's BLAKE3 and a hash
//! chain over them from the BLAKE3 of `job.toml`). `[finetune] resume` names a folder of the
//! package with an earlier run's `model.safetensors` and `optimizer.safetensors`, stopped at the
//! end of a segment: the run goes on from there to the bits the uninterrupted run has.
//!
//! A segment (`segment_steps` optimizer steps) is a step of the trace: its input the segment
//! before's output (the BLAKE3 of `job.toml` for the run's first, a resumed run's too), its output [`segment_output`] over
//! the weights' and the optimizer's BLAKE3 and the segment's losses; a segment's output does not depend on whether
//! segments follow it (a re-run of the first alone gives its bits). One last step, from the last
//! segment's output, covers what is made after the training: [`final_output`] over `config.json`,
//! `tokenizer.json` and the test accuracy. `checkpoints.json`, `model.safetensors` and `optimizer.safetensors` are made
//! from the segments' outputs, so the trace binds every byte of the result ([`crate::binding`]).

use std::path::Path;

use gpu_engine::{
    Gpu, ReproClass,
    workloads::{
        encoder::{EncoderConfig, EncoderWeights},
        finetune::{self, ClassifierHead, FinetuneOptions, Finetuner, Moments},
    },
};
use gridmint_protocol::job::{FinetuneSettings, TrainedLayers};
use serde::{Deserialize, Serialize};

use super::{
    JobError, Package, Progress, ProgressFn,
    dataset::{Batches, Dataset, Order, Tokenize},
    embed::{self, Model},
    output::{Staging, Traced},
    trace,
};
use crate::Paths;

/// The most a data file may hold: it is read a chunk at a time ([`crate::dataset`]), and what a
/// run keeps of it is two bytes a sample.
pub const MAX_DATA_BYTES: u64 = 64 << 30;
/// The most epochs, samples a batch, and optimizer steps a job may have.
pub const MAX_EPOCHS: u32 = 10_000;
pub const MAX_BATCH: usize = 4096;
pub const MAX_STEPS: u64 = 1 << 24;
/// The most classes a classifier may have (its head runs on the host).
pub const MAX_CLASSES: usize = 1024;
/// The most samples a job visits (epochs times samples).
pub const MAX_SAMPLE_VISITS: u64 = 1 << 24;
/// The most bytes of a result (the weights and the optimizer's state; a result a buyer takes is at
/// most 1 GiB, the peer layer's bundle limit), with room for the rest of its files.
pub const MAX_RESULT_BYTES: u64 = (1 << 30) - (64 << 20);
/// The most work units a job may count (the trace's total must fit 64 bits with room).
pub const MAX_WORK_UNITS: u64 = 1 << 62;
/// The most samples a run holds at once.
const WINDOW: usize = crate::dataset::WINDOW_CHUNKS * crate::dataset::CHUNK_LINES;
/// Tokens per text after truncation unless `max_seq_length` says otherwise.
pub const DEFAULT_MAX_SEQ_LENGTH: usize = 128;

/// A checked finetune job, its data indexed (read a window at a time when it runs).
struct Prepared<'a> {
    settings: &'a FinetuneSettings,
    model: Model,
    model_dir: std::path::PathBuf,
    max_len: usize,
    train: Dataset,
    test: Option<Dataset>,
    options: FinetuneOptions,
    /// The job's optimizer steps, and the steps of an epoch.
    steps: u64,
    per_epoch: u64,
    /// The segment the run starts at (0, or where the state it resumes from stopped), and the
    /// segments it runs (those left, or `segments`).
    start_segment: usize,
    segments: usize,
    /// The state it resumes from (read from the package's `resume` folder, checked).
    resume: Option<(EncoderWeights, ClassifierHead, Moments)>,
}

fn prepare<'a>(paths: &Paths, package: &'a Package) -> Result<Prepared<'a>, JobError> {
    let m = &package.manifest;
    let settings = m.finetune.as_ref().ok_or_else(|| JobError::Package {
        path: package.source.clone(),
        message: "job.toml: a [finetune] table is required for kind = \"finetune\"".to_owned(),
    })?;
    let bad = |message: String| JobError::Package {
        path: package.source.clone(),
        message: format!("job.toml: [finetune] {message}"),
    };
    if settings.epochs == 0 || settings.epochs > MAX_EPOCHS {
        return Err(bad(format!("epochs {} must be from 1 to {MAX_EPOCHS}", settings.epochs)));
    }
    if settings.batch_size == 0 || settings.batch_size > MAX_BATCH {
        return Err(bad(format!("batch_size {} must be from 1 to {MAX_BATCH}", settings.batch_size)));
    }
    if !(settings.learning_rate.is_finite() && settings.learning_rate > 0.0 && settings.learning_rate < 1.0) {
        return Err(bad(format!("learning_rate {} must be a number above 0 and below 1", settings.learning_rate)));
    }
    if !(settings.weight_decay.is_finite() && (0.0..1.0).contains(&settings.weight_decay)) {
        return Err(bad(format!("weight_decay {} must be from 0 to below 1", settings.weight_decay)));
    }
    if settings.segment_steps == 0 || u64::from(settings.segment_steps) > MAX_STEPS {
        return Err(bad(format!("segment_steps {} must be from 1 to {MAX_STEPS}", settings.segment_steps)));
    }
    if let Some(classes) = settings.classes
        && !(2..=MAX_CLASSES).contains(&classes)
    {
        return Err(bad(format!("classes {classes} must be from 2 to {MAX_CLASSES}")));
    }
    if settings.segments == Some(0) {
        return Err(bad("segments, when given, must be at least 1".to_owned()));
    }
    let model_name = package.required("model", &m.model)?;
    let data = package.required("data", &m.data)?;
    let model_dir = embed::resolve_model(paths, package, model_name)?;
    let mut model = Model::load(model_name, &model_dir)?;
    let max_len = settings.max_seq_length.unwrap_or(DEFAULT_MAX_SEQ_LENGTH);
    if max_len < 2 || max_len > model.config.max_positions.min(usize::from(u16::MAX)) {
        return Err(bad(format!(
            "max_seq_length {max_len} must be from 2 to the model's {} positions (at most {})",
            model.config.max_positions,
            u16::MAX
        )));
    }
    let trained_layers = match &settings.layers {
        TrainedLayers::Top(n) if (1..=model.config.layers).contains(n) => *n,
        TrainedLayers::Named(all) if all == "all" => model.config.layers,
        other => {
            let given = match other {
                TrainedLayers::Top(n) => n.to_string(),
                TrainedLayers::Named(word) => format!("\"{word}\""),
            };
            return Err(bad(format!(
                "layers = {given} must be \"all\" or a number of top layers from 1 to the model's {}",
                model.config.layers
            )));
        }
    };
    // One pass over each file: every line checked and tokenized, only the index kept; a file
    // longer than the job may visit stops the pass there.
    let most = usize::try_from(MAX_SAMPLE_VISITS / u64::from(settings.epochs)).unwrap_or(usize::MAX);
    let why =
        format!("with {} epochs, more would pass the {MAX_SAMPLE_VISITS} sample visits a job makes", settings.epochs);
    let train = Dataset::index(
        data,
        &package.file("data", data)?,
        MAX_DATA_BYTES,
        (most, &why),
        settings.classes,
        &mut tokenizer(&mut model, max_len),
    )?;
    let classes = settings.classes.unwrap_or(1 + train.max_label() as usize);
    if !(2..=MAX_CLASSES).contains(&classes) {
        return Err(bad(format!("{classes} classes (from `classes` or the largest label): 2 to {MAX_CLASSES}")));
    }
    let test = match &m.test {
        Some(file) => Some(Dataset::index(
            file,
            &package.file("test", file)?,
            MAX_DATA_BYTES,
            (usize::MAX, ""),
            Some(classes),
            &mut tokenizer(&mut model, max_len),
        )?),
        None => None,
    };
    let pad_id = pad_token_id(&model_dir, &model.config)?;
    let samples = train.samples();
    let per_epoch = samples.div_ceil(settings.batch_size) as u64;
    let total = per_epoch * u64::from(settings.epochs);
    if total > MAX_STEPS {
        return Err(bad(format!("{total} optimizer steps; a job holds at most {MAX_STEPS}")));
    }
    if settings.warmup_steps as u64 > total {
        return Err(bad(format!("warmup_steps {} is more than the job's {total} steps", settings.warmup_steps)));
    }
    let all_segments = total.div_ceil(u64::from(settings.segment_steps)) as usize;
    if all_segments > trace::MAX_STEPS {
        return Err(bad(format!("{all_segments} segments; a trace holds at most {}", trace::MAX_STEPS)));
    }
    let segment_steps = settings.segment_steps as usize;
    let (start_segment, resume) = match &settings.resume {
        None => (0, None),
        Some(folder) => {
            let folder = folder.trim_end_matches('/');
            let read = |file: &str, max: u64| -> Result<(String, Vec<u8>), JobError> {
                let name = format!("{folder}/{file}");
                let bytes = package.read("resume", &name, max)?;
                Ok((name, bytes))
            };
            let model = read("model.safetensors", embed::MAX_WEIGHTS_BYTES)?;
            let optimizer = read("optimizer.safetensors", 3 * embed::MAX_WEIGHTS_BYTES)?;
            let steps =
                Moments::steps_in(&optimizer.1).map_err(|e| JobError::input(&optimizer.0, e.to_string()))? as usize;
            if !steps.is_multiple_of(segment_steps) || steps as u64 >= total {
                return Err(JobError::input(
                    &optimizer.0,
                    format!(
                        "stopped after step {steps}: a run resumes at the end of a segment ({segment_steps} steps each) before the job's last step ({})",
                        total
                    ),
                ));
            }
            (steps / segment_steps, Some((model, optimizer)))
        }
    };
    let left = all_segments - start_segment;
    let segments = settings.segments.map_or(left, |s| (s as usize).min(left));
    let options = FinetuneOptions {
        labels: classes,
        learning_rate: settings.learning_rate,
        weight_decay: settings.weight_decay,
        warmup_steps: settings.warmup_steps,
        total_steps: total as u32,
        trained_layers,
        betas: FinetuneOptions::BETAS,
        eps: FinetuneOptions::EPS,
        pad_id,
    };
    // The state resumed from, read whole and checked here: a bad one is refused before anything
    // runs, naming its file (every value finite, v never negative, every tensor of this run).
    let resume = match resume {
        Some(((model_name, model_bytes), (optimizer_name, optimizer_bytes))) => {
            let (weights, head) = finetune::from_safetensors(&model_bytes, model.config, classes)
                .map_err(|e| JobError::input(&model_name, e.to_string()))?;
            let moments = Moments::from_safetensors(&optimizer_bytes, &weights, &head, &options)
                .map_err(|e| JobError::input(&optimizer_name, e.to_string()))?;
            Some((weights, head, moments))
        }
        None => None,
    };
    // A result a buyer can take: the weights and the optimizer's state are in it.
    let result_bytes = 4 * all_params(&model.config, &options) + 8 * trained_params(&model.config, &options);
    if result_bytes > MAX_RESULT_BYTES {
        return Err(bad(format!(
            "layers: the weights and the optimizer's state would be {result_bytes} bytes; a result holds at most {MAX_RESULT_BYTES} (train fewer layers)"
        )));
    }
    Ok(Prepared {
        settings,
        model,
        model_dir,
        max_len,
        train,
        test,
        options,
        steps: total,
        per_epoch,
        start_segment,
        segments,
        resume,
    })
}

/// The steps of a finetune job's whole trace (its segments and the last step), from its manifest
/// and the number of its data lines alone: what a juror needs before it re-runs a segment.
pub fn trace_steps(package: &Package) -> Result<u32, JobError> {
    let m = &package.manifest;
    let settings = m.finetune.as_ref().ok_or_else(|| JobError::Package {
        path: package.source.clone(),
        message: "job.toml: a [finetune] table is required for kind = \"finetune\"".to_owned(),
    })?;
    let data = package.required("data", &m.data)?;
    let lines = Dataset::count_lines(data, &package.file("data", data)?, MAX_DATA_BYTES)?;
    let per_epoch = lines.div_ceil(settings.batch_size.max(1)) as u64;
    let segment_steps = u64::from(settings.segment_steps.max(1));
    let all = per_epoch.saturating_mul(u64::from(settings.epochs)).div_ceil(segment_steps);
    let start = match &settings.resume {
        Some(folder) => {
            let name = format!("{}/optimizer.safetensors", folder.trim_end_matches('/'));
            let bytes = package.read("resume", &name, 3 * embed::MAX_WEIGHTS_BYTES)?;
            u64::from(Moments::steps_in(&bytes).map_err(|e| JobError::input(&name, e.to_string()))?) / segment_steps
        }
        None => 0,
    };
    let left = all.saturating_sub(start);
    let segments = settings.segments.map_or(left, |s| left.min(u64::from(s)));
    Ok(u32::try_from(segments.saturating_add(1)).unwrap_or(u32::MAX))
}

/// Tokenizes texts cut to `max_len` tokens, checked ([`check_tokens`]): how a run reads its data.
fn tokenizer(
    model: &mut Model,
    max_len: usize,
) -> impl FnMut(&str, usize, &[&str]) -> Result<Vec<Vec<u32>>, JobError> + '_ {
    move |file, first, texts| {
        let ids = model.tokenize(texts, max_len)?;
        check_tokens(file, first, &ids, &model.config)?;
        Ok(ids)
    }
}

/// Every text's tokens (the first of them line `first`): at least one, each in the vocabulary (a
/// package's tokenizer may not agree with its model); errors name the file's line.
fn check_tokens(file: &str, first: usize, ids: &[Vec<u32>], config: &EncoderConfig) -> Result<(), JobError> {
    for (n, seq) in ids.iter().enumerate() {
        if seq.is_empty() {
            return Err(JobError::input(file, format!("line {}: the text has no tokens", first + n)));
        }
        if let Some(id) = seq.iter().find(|&&id| id as usize >= config.vocab_size) {
            return Err(JobError::input(
                file,
                format!("line {}: token id {id} is outside the model's {} tokens", first + n, config.vocab_size),
            ));
        }
    }
    Ok(())
}

/// The model's `pad_token_id` (BERT's 0 when its config.json names none).
fn pad_token_id(dir: &Path, config: &EncoderConfig) -> Result<u32, JobError> {
    let bytes = read_model_file(dir, "config.json", embed::MAX_CONFIG_BYTES)?;
    let bad = |message: String| JobError::Model {
        model: dir.display().to_string(),
        message: format!("config.json: {message}"),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    match value.get("pad_token_id") {
        None | Some(serde_json::Value::Null) => Ok(0),
        Some(v) => match v.as_u64() {
            Some(id) if (id as usize) < config.vocab_size => Ok(id as u32),
            _ => Err(bad(format!("pad_token_id {v} is not a token of the model's {}", config.vocab_size))),
        },
    }
}

/// The work of one optimizer step on `batch` (sequence lengths): the forward pass's from the
/// shapes, three times over for the backward pass, and AdamW's ten operations per trained weight.
fn step_units(config: &EncoderConfig, lens: &[usize], trained_params: u64) -> u64 {
    let seq = lens.iter().copied().max().unwrap_or(1);
    3 * lens.len() as u64 * config.work_units(seq) + 10 * trained_params
}

/// The weights a run with `options` trains.
fn trained_params(config: &EncoderConfig, options: &FinetuneOptions) -> u64 {
    let (h, i) = (config.hidden as u64, config.intermediate as u64);
    let layer = 4 * h * h + 2 * h * i + 9 * h + i;
    let embeddings = if options.trained_layers == config.layers {
        (config.vocab_size + config.max_positions + config.type_vocab_size) as u64 * h + 2 * h
    } else {
        0
    };
    options.trained_layers as u64 * layer + embeddings + h * h + h + (h + 1) * options.labels as u64
}

/// Each segment's work: its steps' and the hashing of the state after it (the weights' file and
/// the optimizer's, about their bytes). An error past [`MAX_WORK_UNITS`]. Reads only the index.
fn segment_units(p: &Prepared<'_>) -> Result<Vec<u64>, JobError> {
    let params = trained_params(&p.model.config, &p.options);
    let all = all_params(&p.model.config, &p.options);
    let state = 4 * all + 8 * params;
    let segment_steps = u64::from(p.settings.segment_steps);
    let first = p.start_segment as u64 * segment_steps;
    let end = (first + p.segments as u64 * segment_steps).min(p.steps);
    let mut units = vec![u128::from(state); p.segments];
    let order = Order::new(&p.train, p.settings.seed);
    let (mut step, mut lens) = (0u64, Vec::with_capacity(p.settings.batch_size));
    let mut add = |step: u64, lens: &[usize]| {
        if (first..end).contains(&step) {
            units[((step - first) / segment_steps) as usize] += u128::from(step_units(&p.model.config, lens, params));
        }
    };
    for epoch in 0..p.settings.epochs {
        if step + p.per_epoch <= first || step >= end {
            step += p.per_epoch;
            continue;
        }
        order.for_each(epoch, |s| {
            lens.push(p.train.tokens(s));
            if lens.len() == p.settings.batch_size {
                add(step, &lens);
                step += 1;
                lens.clear();
            }
        });
        if !lens.is_empty() {
            add(step, &lens);
            step += 1;
            lens.clear();
        }
    }
    if units.iter().sum::<u128>() + u128::from(test_units(p)) > u128::from(MAX_WORK_UNITS) {
        return Err(JobError::Package {
            path: "job.toml".into(),
            message: format!(
                "[finetune] the job is more than {MAX_WORK_UNITS} work units; split it (fewer epochs or samples)"
            ),
        });
    }
    Ok(units.into_iter().map(|u| u as u64).collect())
}

/// The work of the test set's pass.
fn test_units(p: &Prepared<'_>) -> u64 {
    p.test.as_ref().map_or(0, |set| (0..set.samples()).map(|s| p.model.config.work_units(set.tokens(s))).sum())
}

/// Every weight of the model and its head.
fn all_params(config: &EncoderConfig, options: &FinetuneOptions) -> u64 {
    let full = FinetuneOptions { trained_layers: config.layers, ..*options };
    trained_params(config, &full)
}

/// What a finetune job is: its work units and what a buyer reads of it.
pub fn describe(paths: &Paths, package: &Package) -> Result<crate::Description, JobError> {
    let p = prepare(paths, package)?;
    let work_units = segment_units(&p)?.iter().sum::<u64>() + test_units(&p) + 1;
    let layers = if p.options.trained_layers == p.model.config.layers {
        "all, and the embeddings".to_owned()
    } else {
        format!("the top {} of {}", p.options.trained_layers, p.model.config.layers)
    };
    let facts = vec![
        ("Model".to_owned(), format!("{} for {} classes", p.model.name, p.options.labels)),
        ("Layers trained".to_owned(), layers),
        (
            "Samples".to_owned(),
            format!("{} in {}, read a window of at most {} at a time", p.train.samples(), p.train.name(), WINDOW),
        ),
        (
            "Optimizer steps".to_owned(),
            format!("{} ({} epochs of batch {})", p.steps, p.settings.epochs, p.settings.batch_size),
        ),
        ("Segments".to_owned(), format!("{} of {} steps", p.segments, p.settings.segment_steps)),
    ];
    Ok(crate::Description { work_units, facts })
}

/// A segment's line of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentMetrics {
    pub segment: u32,
    /// The loss of each of its steps, before the step's update.
    pub losses: Vec<f64>,
}

/// `metrics.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub segments: Vec<SegmentMetrics>,
    pub classes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

/// The output of a segment's step: BLAKE3 over a domain tag, the BLAKE3 of the weights after it
/// (model.safetensors's bytes), of the optimizer's state after it (optimizer.safetensors's) and
/// of its metrics line (compact JSON).
pub fn segment_output(state: &State, metrics: &SegmentMetrics) -> [u8; 32] {
    let line = serde_json::to_vec(metrics).expect("plain data always serializes");
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"gridmint.segment.v2");
    hasher.update(state.model.as_bytes()).update(state.optimizer.as_bytes()).update(blake3::hash(&line).as_bytes());
    *hasher.finalize().as_bytes()
}

/// A segment's end state: the BLAKE3 of its weights' and its optimizer's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub model: blake3::Hash,
    pub optimizer: blake3::Hash,
}

/// What `metrics.json` says after the training (the last step's part of it).
#[derive(Debug, Serialize)]
struct Evaluation {
    classes: usize,
    test_accuracy: Option<f64>,
}

/// The output of the last step: BLAKE3 over a domain tag, the BLAKE3 of `config.json`, of
/// `tokenizer.json` and of the evaluation (the classes and the test accuracy, compact JSON).
pub fn final_output(config: &[u8], tokenizer: &[u8], classes: usize, test_accuracy: Option<f64>) -> [u8; 32] {
    let line = serde_json::to_vec(&Evaluation { classes, test_accuracy }).expect("plain data always serializes");
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"gridmint.finetune.final.v1");
    for part in [config, tokenizer, &line] {
        hasher.update(blake3::hash(part).as_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// One entry of `checkpoints.json`: a segment (counted in the whole job, from 1), the BLAKE3 of
/// its weights' and optimizer's files, and the chain.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub segment: u32,
    pub model: String,
    pub optimizer: String,
    pub chain: String,
}

/// `checkpoints.json` from the segments' states (the first of them segment `first`) and the
/// first step's input (the BLAKE3 of `job.toml`): each entry's chain is BLAKE3(the chain
/// before, its weights' hash, its optimizer's).
pub fn checkpoints_file(start: [u8; 32], first: u32, states: &[State]) -> Vec<u8> {
    let mut chain = blake3::Hash::from_bytes(start);
    let list: Vec<Checkpoint> = states
        .iter()
        .enumerate()
        .map(|(k, state)| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(chain.as_bytes()).update(state.model.as_bytes()).update(state.optimizer.as_bytes());
            chain = hasher.finalize();
            Checkpoint {
                segment: first + k as u32,
                model: state.model.to_hex().to_string(),
                optimizer: state.optimizer.to_hex().to_string(),
                chain: chain.to_hex().to_string(),
            }
        })
        .collect();
    serde_json::to_vec_pretty(&list).expect("plain data always serializes")
}

/// `metrics.json` as the runner writes it.
pub fn metrics_file(metrics: &Metrics) -> Vec<u8> {
    serde_json::to_vec_pretty(metrics).expect("plain data always serializes")
}

/// Runs a finetune job: returns (training samples, the trace).
pub fn run(
    paths: &Paths,
    gpu: &Gpu,
    class: ReproClass,
    package: &Package,
    staging: &mut Staging,
    progress: ProgressFn,
) -> Result<(u64, Traced), JobError> {
    let mut p = prepare(paths, package)?;
    let c = p.model.config;
    let mut tuner = match &p.resume {
        None => {
            let head = match p.model.pooler.clone() {
                Some((w, b)) => ClassifierHead::new(w, b, p.options.labels, p.settings.seed)?,
                None => ClassifierHead::drawn(c.hidden, p.options.labels, p.settings.seed)?,
            };
            Finetuner::new(gpu, p.model.weights.clone(), head, p.options, class)?
        }
        Some((weights, head, moments)) => {
            Finetuner::resume(gpu, weights.clone(), head.clone(), p.options, class, moments.clone())?
        }
    };
    // The largest batch is checked against the device's memory before the first step: a job
    // that cannot fit fails here, not after hours of training.
    tuner.check_batch_memory(gpu, p.settings.batch_size.min(p.train.samples()), p.train.longest())?;
    if let Some(set) = &p.test {
        tuner.check_batch_memory(gpu, p.settings.batch_size.min(set.samples()), set.longest())?;
    }
    let start = *blake3::hash(&package.manifest_bytes).as_bytes();
    let units = segment_units(&p)?;
    let (mut traced, mut input) = (Traced::default(), start);
    let (mut segments, mut states, mut last) = (Vec::new(), Vec::new(), (Vec::new(), Vec::new()));
    let segment_steps = u64::from(p.settings.segment_steps);
    let first_step = p.start_segment as u64 * segment_steps;
    let end_step = (first_step + p.segments as u64 * segment_steps).min(p.steps);
    let steps = end_step - first_step;
    let test_work = test_units(&p) + 1;
    let mut read = tokenizer(&mut p.model, p.max_len);
    let read: &mut Tokenize<'_> = &mut read;
    let mut batches = Batches::at(Order::new(&p.train, p.settings.seed), p.settings.batch_size, first_step, read)?;
    let mut done = 0u64;
    for (n, &flops) in units.iter().enumerate() {
        let k = p.start_segment + n;
        let segment_end = (first_step + (n as u64 + 1) * segment_steps).min(end_step);
        let mut losses = Vec::with_capacity((segment_end - first_step - done) as usize);
        while first_step + done < segment_end {
            let (seqs, labels) = batches.next_batch(read)?;
            losses.push(tuner.step(gpu, &seqs, &labels)?);
            done += 1;
            progress(&Progress {
                stage: format!("segment {}/{}", k + 1, p.start_segment + p.segments),
                done,
                total: steps,
            });
        }
        let (weights, head) = tuner.weights(gpu)?;
        let model = finetune::to_safetensors(&weights, &head)?;
        let optimizer = tuner.moments(gpu)?.to_safetensors()?;
        let state = State { model: blake3::hash(&model), optimizer: blake3::hash(&optimizer) };
        let line = SegmentMetrics { segment: k as u32 + 1, losses };
        let output = segment_output(&state, &line);
        traced.trace.steps.push(trace::Step { flops, prev: n as u32, input, output });
        input = output;
        states.push(state);
        segments.push(line);
        last = (model, optimizer);
    }
    drop(batches);
    progress(&Progress { stage: "test accuracy".to_owned(), done, total: steps });
    let test_accuracy = match &p.test {
        Some(set) => {
            let mut right = 0usize;
            set.in_order(p.settings.batch_size, read, |batch| {
                let (ids, labels): (Vec<Vec<u32>>, Vec<u32>) = batch.into_iter().unzip();
                let logits = tuner.logits(gpu, &ids, p.settings.batch_size)?;
                right += logits.iter().zip(&labels).filter(|(l, y)| argmax(l) == **y as usize).count();
                Ok(())
            })?;
            Some((right as f64 / set.samples() as f64 * 1e6).round() / 1e6)
        }
        None => None,
    };
    let config = classifier_config(&p.model_dir, p.options.labels)?;
    let tokenizer = read_model_file(&p.model_dir, "tokenizer.json", embed::MAX_TOKENIZER_BYTES)?;
    let output = final_output(&config, &tokenizer, p.options.labels, test_accuracy);
    traced.trace.steps.push(trace::Step { flops: test_work, prev: p.segments as u32, input, output });
    staging.write("model.safetensors", &last.0)?;
    staging.write("optimizer.safetensors", &last.1)?;
    staging.write("config.json", &config)?;
    staging.write("tokenizer.json", &tokenizer)?;
    staging.write("metrics.json", &metrics_file(&Metrics { segments, classes: p.options.labels, test_accuracy }))?;
    staging.write("checkpoints.json", &checkpoints_file(start, p.start_segment as u32 + 1, &states))?;
    Ok((p.train.samples() as u64, traced))
}

/// The index of the largest score (the first of equals).
fn argmax(scores: &[f32]) -> usize {
    (0..scores.len()).fold(0, |best, c| if scores[c] > scores[best] { c } else { best })
}

fn read_model_file(dir: &Path, file: &str, max: u64) -> Result<Vec<u8>, JobError> {
    crate::package::read_within(&dir.join(file), max)
        .map_err(|e| JobError::Model { model: dir.display().to_string(), message: format!("{file}: {e}") })
}

/// The model's `config.json` for the fine-tuned classifier: its architecture
/// `BertForSequenceClassification` and `labels` classes (`id2label` and `label2id`).
fn classifier_config(dir: &Path, labels: usize) -> Result<Vec<u8>, JobError> {
    let bytes = read_model_file(dir, "config.json", embed::MAX_CONFIG_BYTES)?;
    let mut config: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| JobError::Model { model: dir.display().to_string(), message: format!("config.json: {e}") })?;
    let Some(object) = config.as_object_mut() else {
        return Err(JobError::Model {
            model: dir.display().to_string(),
            message: "config.json is not an object".to_owned(),
        });
    };
    object.insert("architectures".into(), serde_json::json!(["BertForSequenceClassification"]));
    let names: serde_json::Map<String, serde_json::Value> =
        (0..labels).map(|l| (l.to_string(), serde_json::Value::String(format!("LABEL_{l}")))).collect();
    let ids: serde_json::Map<String, serde_json::Value> =
        (0..labels).map(|l| (format!("LABEL_{l}"), serde_json::json!(l))).collect();
    object.insert("id2label".into(), serde_json::Value::Object(names));
    object.insert("label2id".into(), serde_json::Value::Object(ids));
    Ok(serde_json::to_vec_pretty(&config).expect("a parsed value serializes"))
}
