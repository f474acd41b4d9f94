//! `kind = "train"`: an MLP classifier on a CSV data set (features..., label).
//!
//! Outputs: `checkpoints/epoch-NNN.safetensors` after every epoch, `checkpoints.json` with each
//! checkpoint's BLAKE3 and a hash chain over them (starting from the BLAKE3 of `job.toml`),
//! `model.safetensors` (the final weights, `layers.{l}.weight` as `[in, out]`), `model.json`
//! (the layer sizes and activation) and `metrics.json` (loss and accuracies per epoch).
//! Every output is a function of the package alone, so redundant runs agree on every byte.
//!
//! An epoch is a step of the trace: its input the step before's output (the BLAKE3 of `job.toml`
//! for the first), its output [`epoch_output`] over its checkpoint, its metrics and `model.json`.
//! The other files are made from those and the first step's input (`model.safetensors` is the
//! last checkpoint; [`summary_files`] the rest), so the trace binds every byte of the result
//! ([`crate::binding`]).

use gpu_engine::{
    Gpu, ReproClass,
    kernels::train::SgdParams,
    workloads::mlp::{self, Activation, MlpParams, TrainOptions, Trainer},
};
use gridmint_protocol::job::{ActivationName, TrainSettings};
use serde::Serialize;

use super::{
    JobError, Package, Progress, ProgressFn,
    output::{Staging, Traced},
    textfile, trace,
};

/// A parsed CSV data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    /// Row-major `[samples, features]`.
    pub features: Vec<f32>,
    pub labels: Vec<u32>,
    pub columns: usize,
}

impl DataSet {
    pub fn samples(&self) -> usize {
        self.labels.len()
    }

    pub fn feature_count(&self) -> usize {
        self.columns - 1
    }
}

/// Parses `features..., label` rows. A first row with no numeric cell is a header. Errors name the
/// row (the file's line number) and the column (from 1).
pub fn parse_csv(file: &str, text: &str) -> Result<DataSet, JobError> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut columns = 0;
    for (row, line) in textfile::lines(text) {
        if line.trim().is_empty() {
            return Err(JobError::input(file, format!("row {row} is empty")));
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if row == 1 && cells.iter().all(|c| c.parse::<f32>().is_err()) {
            continue; // a header
        }
        if columns == 0 {
            if cells.len() < 2 {
                return Err(JobError::input(file, format!("row {row} has 1 column; need features and a label")));
            }
            columns = cells.len();
        } else if cells.len() != columns {
            return Err(JobError::input(
                file,
                format!("row {row} has {} columns, expected {columns} like the rows before it", cells.len()),
            ));
        }
        for (col, cell) in cells[..columns - 1].iter().enumerate() {
            match cell.parse::<f32>() {
                Ok(v) if v.is_finite() => features.push(gpu_engine::numeric::canonicalize(v)),
                _ => {
                    return Err(JobError::input(
                        file,
                        format!("row {row}, column {}: `{cell}` is not a finite number", col + 1),
                    ));
                }
            }
        }
        let label = cells[columns - 1];
        let value = label.parse::<u32>().map_err(|_| {
            JobError::input(
                file,
                format!("row {row}, column {columns} (the label): `{label}` is not a class index (an integer from 0)"),
            )
        })?;
        labels.push(value);
    }
    if labels.is_empty() {
        return Err(JobError::input(file, "has no data rows"));
    }
    Ok(DataSet { features, labels, columns })
}

fn check_labels(file: &str, data: &DataSet, classes: usize) -> Result<(), JobError> {
    match data.labels.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
        Some((i, l)) => Err(JobError::input(
            file,
            format!("data row {} has label {l}, out of range for {classes} classes (0..={})", i + 1, classes - 1),
        )),
        None => Ok(()),
    }
}

/// `ln(x)` for finite `x > 0` from IEEE `+ - * /` only, so every machine computes the same bits
/// (platform `ln` may differ in the last place): `x = m 2^e`, `ln m = 2 atanh((m-1)/(m+1))`.
pub fn det_ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    for k in 0..30 {
        sum += term / f64::from(2 * k + 1);
        term *= s2;
    }
    2.0 * sum + exponent as f64 * std::f64::consts::LN_2
}

/// One epoch's line of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EpochMetrics {
    pub epoch: u32,
    pub loss: f64,
    pub train_accuracy: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

/// `metrics.json`: every epoch's line, and the classes.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub epochs: Vec<EpochMetrics>,
    pub classes: usize,
}

/// The checkpoint file of epoch `epoch` (from 1).
pub fn checkpoint_file(epoch: usize) -> String {
    format!("checkpoints/epoch-{epoch:03}.safetensors")
}

/// The output of epoch `metrics.epoch`'s step: BLAKE3 over a domain tag, the BLAKE3 of its
/// checkpoint, of its metrics line (compact JSON) and of `model.json`. A juror that re-runs the
/// epoch writes the same three.
pub fn epoch_output(checkpoint: &blake3::Hash, metrics: &EpochMetrics, model: &blake3::Hash) -> [u8; 32] {
    let line = serde_json::to_vec(metrics).expect("plain data always serializes");
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"gridmint.epoch.v1");
    hasher.update(checkpoint.as_bytes()).update(blake3::hash(&line).as_bytes()).update(model.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The files made from the epochs' outputs: `checkpoints.json` (each checkpoint's BLAKE3 and the
/// hash chain over them from `start`, the BLAKE3 of `job.toml`) and `metrics.json`.
pub fn summary_files(
    start: [u8; 32],
    checkpoints: &[blake3::Hash],
    metrics: &[EpochMetrics],
    classes: usize,
) -> [(&'static str, Vec<u8>); 2] {
    let mut chain = blake3::Hash::from_bytes(start);
    let list: Vec<Checkpoint> = checkpoints
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(chain.as_bytes()).update(hash.as_bytes());
            chain = hasher.finalize();
            Checkpoint {
                epoch: i as u32 + 1,
                file: checkpoint_file(i + 1),
                blake3: hash.to_hex().to_string(),
                chain: chain.to_hex().to_string(),
            }
        })
        .collect();
    [("checkpoints.json", json(&list)), ("metrics.json", json(&Metrics { epochs: metrics.to_vec(), classes }))]
}

#[derive(Debug, Serialize)]
struct Checkpoint {
    epoch: u32,
    file: String,
    blake3: String,
    chain: String,
}

/// Mean cross-entropy and accuracy of probabilities against labels.
fn score(probs: &[f32], labels: &[u32], classes: usize) -> (f64, f64) {
    let mut loss = 0.0f64;
    let mut correct = 0usize;
    for (s, &label) in labels.iter().enumerate() {
        let row = &probs[s * classes..(s + 1) * classes];
        loss -= det_ln(f64::from(row[label as usize]).max(1e-12));
        let best = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
        correct += usize::from(best == label as usize);
    }
    let n = labels.len() as f64;
    // Six decimals are plenty for a report and keep the JSON short.
    let round = |v: f64| (v * 1e6).round() / 1e6;
    (round(loss / n), round(correct as f64 / n))
}

/// The most a CSV file may hold.
pub const MAX_CSV_BYTES: u64 = 1 << 30;
/// The most hidden layers, and the most units in a layer (features and classes included).
pub const MAX_HIDDEN_LAYERS: usize = 16;
pub const MAX_WIDTH: usize = 65_536;
pub const MAX_EPOCHS: u32 = 100_000;
pub const MAX_BATCH: usize = 1 << 20;
/// The most weights a network may have, and weights × samples in one epoch (so the work of an
/// epoch, about six multiply-adds per weight and sample, fits the market's counts).
pub const MAX_PARAMETERS: u64 = 1 << 28;
pub const MAX_EPOCH_PRODUCT: u64 = 1 << 52;

/// What a train job is: its work units (from the data's shapes) and what a buyer reads of it.
pub fn describe(package: &Package) -> Result<crate::Description, JobError> {
    let job = prepare(package)?;
    let network = job.sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(" → ");
    let facts = vec![
        ("Network".to_owned(), format!("MLP {network} ({:?})", job.settings.activation).to_lowercase()),
        ("Samples per epoch".to_owned(), job.train.samples().to_string()),
        ("Epochs".to_owned(), job.settings.epochs.to_string()),
    ];
    Ok(crate::Description { work_units: work_units(package, &job)?, facts })
}

fn work_units(package: &Package, job: &Prepared) -> Result<u64, JobError> {
    u64::from(job.settings.epochs).checked_mul(mlp::epoch_work_units(&job.sizes, job.train.samples())).ok_or_else(
        || JobError::Package {
            path: package.source.clone(),
            message: format!(
                "job.toml: [train] {} epochs of this network are more work than a job may be",
                job.settings.epochs
            ),
        },
    )
}

/// A checked train job.
struct Prepared<'a> {
    settings: &'a TrainSettings,
    train: DataSet,
    test: Option<(&'a str, DataSet)>,
    classes: usize,
    sizes: Vec<usize>,
}

fn prepare(package: &Package) -> Result<Prepared<'_>, JobError> {
    let m = &package.manifest;
    let data_file = package.required("data", &m.data)?;
    let settings: &TrainSettings = m.train.as_ref().ok_or_else(|| JobError::Package {
        path: package.source.clone(),
        message: "job.toml: a [train] table is required for kind = \"train\"".to_owned(),
    })?;
    let bad_setting = |message: String| JobError::Package {
        path: package.source.clone(),
        message: format!("job.toml: [train] {message}"),
    };
    if settings.epochs == 0 || settings.batch_size == 0 {
        return Err(bad_setting("epochs and batch_size must be at least 1".to_owned()));
    }
    if !(settings.learning_rate.is_finite() && settings.learning_rate > 0.0) {
        return Err(bad_setting(format!("learning_rate {} must be a positive number", settings.learning_rate)));
    }
    if !(0.0..1.0).contains(&settings.momentum) {
        return Err(bad_setting(format!("momentum {} must be in [0, 1)", settings.momentum)));
    }
    if settings.hidden.contains(&0) {
        return Err(bad_setting("hidden layer sizes must be at least 1".to_owned()));
    }
    if settings.hidden.len() > MAX_HIDDEN_LAYERS || settings.hidden.iter().any(|&h| h > MAX_WIDTH) {
        return Err(bad_setting(format!(
            "hidden {:?}: at most {MAX_HIDDEN_LAYERS} layers of at most {MAX_WIDTH} units",
            settings.hidden
        )));
    }
    if settings.epochs > MAX_EPOCHS || settings.batch_size > MAX_BATCH {
        return Err(bad_setting(format!(
            "epochs {} and batch_size {}: at most {MAX_EPOCHS} and {MAX_BATCH}",
            settings.epochs, settings.batch_size
        )));
    }
    let train = parse_csv(data_file, &textfile::utf8(data_file, package.read("data", data_file, MAX_CSV_BYTES)?)?)?;
    let test = match &m.test {
        Some(file) => {
            let set = parse_csv(file, &textfile::utf8(file, package.read("test", file, MAX_CSV_BYTES)?)?)?;
            if set.columns != train.columns {
                return Err(JobError::input(
                    file,
                    format!("has {} columns, but {data_file} has {}", set.columns, train.columns),
                ));
            }
            Some((file.as_str(), set))
        }
        None => None,
    };
    let classes = settings.classes.unwrap_or_else(|| 1 + *train.labels.iter().max().expect("not empty") as usize);
    if classes < 2 {
        return Err(bad_setting(format!("{classes} class: a classifier needs at least 2")));
    }
    if classes > MAX_WIDTH {
        return Err(bad_setting(format!(
            "{classes} classes (from `classes` or the largest label): at most {MAX_WIDTH}"
        )));
    }
    if train.feature_count() > MAX_WIDTH {
        return Err(JobError::input(
            data_file,
            format!("has {} feature columns; at most {MAX_WIDTH}", train.feature_count()),
        ));
    }
    check_labels(data_file, &train, classes)?;
    if let Some((file, set)) = &test {
        check_labels(file, set, classes)?;
    }

    let mut sizes = vec![train.feature_count()];
    sizes.extend(&settings.hidden);
    sizes.push(classes);
    let params: u64 = sizes.windows(2).map(|io| (io[0] as u64 + 1) * io[1] as u64).sum();
    let per_epoch = params.saturating_mul(train.samples() as u64);
    if params > MAX_PARAMETERS || per_epoch > MAX_EPOCH_PRODUCT {
        return Err(bad_setting(format!(
            "a network of {params} parameters over {} samples: at most {MAX_PARAMETERS} parameters and \
             {MAX_EPOCH_PRODUCT} parameter-samples an epoch",
            train.samples()
        )));
    }
    Ok(Prepared { settings, train, test, classes, sizes })
}

/// Runs a train job: returns (training samples, work units).
pub fn run(
    gpu: &Gpu,
    class: ReproClass,
    package: &Package,
    staging: &mut Staging,
    progress: ProgressFn,
) -> Result<(u64, Traced), JobError> {
    let Prepared { settings, train, test, classes, sizes } = prepare(package)?;
    let activation = match settings.activation {
        ActivationName::Relu => Activation::Relu,
        ActivationName::Tanh => Activation::Tanh,
    };
    let options = TrainOptions {
        activation,
        sgd: SgdParams { learning_rate: settings.learning_rate, momentum: settings.momentum },
        batch_size: settings.batch_size,
    };
    let trainer = Trainer::new(gpu, &MlpParams::seeded(&sizes, settings.seed)?, options, class)?;
    let activation_name = match activation {
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
    };
    let model = json(&serde_json::json!({ "sizes": sizes, "activation": activation_name }));
    let model_hash = blake3::hash(&model);
    let start = *blake3::hash(&package.manifest_bytes).as_bytes();
    // One step per epoch: the step before's output in (the manifest's hash for the first), the
    // epoch's checkpoint, metrics and model description out.
    let mut traced = Traced::default();
    let epoch_flops = mlp::epoch_work_units(&sizes, train.samples());
    let mut input = start;
    let mut checkpoints = Vec::new();
    let mut metrics = Vec::new();
    let steps = train.samples().div_ceil(settings.batch_size) as u64;
    for epoch in 0..settings.epochs {
        let stage = format!("epoch {}/{}", epoch + 1, settings.epochs);
        let order = mlp::epoch_order(train.samples(), settings.seed, epoch);
        trainer.epoch(gpu, &train.features, &train.labels, &order, |done| {
            progress(&Progress { stage: stage.clone(), done: done as u64, total: steps });
        })?;
        let (loss, train_accuracy) = score(&trainer.predict(gpu, &train.features)?, &train.labels, classes);
        let test_accuracy = match &test {
            Some((_, set)) => Some(score(&trainer.predict(gpu, &set.features)?, &set.labels, classes).1),
            None => None,
        };
        let line = EpochMetrics { epoch: epoch + 1, loss, train_accuracy, test_accuracy };
        let bytes = trainer.params(gpu)?.to_safetensors()?;
        let hash = blake3::hash(&bytes);
        let output = epoch_output(&hash, &line, &model_hash);
        traced.trace.steps.push(trace::Step { flops: epoch_flops, prev: epoch, input, output });
        input = output;
        staging.write(&checkpoint_file(epoch as usize + 1), &bytes)?;
        checkpoints.push(hash);
        metrics.push(line);
        if epoch + 1 == settings.epochs {
            staging.write("model.safetensors", &bytes)?;
        }
    }
    for (name, bytes) in summary_files(start, &checkpoints, &metrics, classes) {
        staging.write(name, &bytes)?;
    }
    staging.write("model.json", &model)?;
    Ok((train.samples() as u64, traced))
}

/// Pretty JSON bytes of plain data.
fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("plain data always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_ln_matches_ln() {
        for x in [1e-12, 0.001, 0.3, 1.0, 2.0, 7.5, 1e6] {
            assert!((det_ln(x) - f64::ln(x)).abs() < 1e-13 * (1.0 + f64::ln(x).abs()), "{x}");
        }
        assert_eq!(det_ln(1.0), 0.0);
    }

    #[test]
    fn csv_errors_name_row_and_column() {
        let err = |text: &str| parse_csv("d.csv", text).expect_err("bad").to_string();
        assert_eq!(err("1,2,0\n3,4\n"), "d.csv: row 2 has 2 columns, expected 3 like the rows before it");
        assert_eq!(err("a,b,label\n1,x,0\n"), "d.csv: row 2, column 2: `x` is not a finite number");
        assert_eq!(
            err("1,2,0.5\n"),
            "d.csv: row 1, column 3 (the label): `0.5` is not a class index (an integer from 0)"
        );
        assert_eq!(err("1,2,0\n\n1,2,1\n"), "d.csv: row 2 is empty");
        assert_eq!(err("a,b,c\n"), "d.csv: has no data rows");
        assert_eq!(err("1,inf,0\n"), "d.csv: row 1, column 2: `inf` is not a finite number");
        let ok = parse_csv("d.csv", "f1,f2,label\n1,2,0\n3.5,-4,2\n").expect("parses");
        assert_eq!(ok, DataSet { features: vec![1.0, 2.0, 3.5, -4.0], labels: vec![0, 2], columns: 3 });
    }
}
