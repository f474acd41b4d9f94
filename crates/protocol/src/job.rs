//! Job packages: the `job.toml` manifest a buyer writes, and the report of a finished run.
//!
//! A package is a folder (or a .zip of one) holding `job.toml` and the files it names. Paths in
//! the manifest are relative to the package and may not leave it.
//!
//! ```toml
//! kind = "embed"                 # sentence embeddings
//! model = "all-MiniLM-L6-v2"     # a model-cache name, or a folder inside the package
//! input = "sentences.txt"        # UTF-8, one sentence per line
//! reproducibility = "fused"      # optional, any kind: "unfused" (default) or "fused"
//!
//! [embed]                        # optional
//! max_seq_length = 256           # tokens per sentence after truncation (default: the model's)
//! batch_tokens = 8192            # padded tokens per device batch (speed only, never the bits)
//! ```
//!
//! ```toml
//! kind = "train"                 # an MLP classifier
//! data = "train.csv"             # features..., label (an integer from 0); optional header row
//! test = "test.csv"              # optional: held-out samples for the test accuracy
//!
//! [train]
//! hidden = [64]                  # hidden layer sizes
//! activation = "relu"            # or "tanh"
//! optimizer = "sgd"              # SGD with momentum
//! learning_rate = 0.05
//! momentum = 0.9
//! epochs = 20
//! batch_size = 32
//! seed = 7
//! classes = 10                   # optional: default 1 + the largest label in `data`
//! ```

use serde::{Deserialize, Serialize};

/// The name of the manifest inside a package.
pub const MANIFEST_FILE: &str = "job.toml";

/// What a job computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Sentence embeddings with a BERT-family encoder.
    Embed,
    /// Training an MLP classifier on a CSV data set.
    Train,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Embed => "embed",
            JobKind::Train => "train",
        }
    }
}

/// `job.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobManifest {
    pub kind: JobKind,
    /// The reproducibility class the job is computed in: "unfused" (the default: every
    /// conformant device) or "fused" (devices whose `fma` is fused: faster where it is). The
    /// buyer's client posts it as the job's `workloadClass`; only providers registered in it claim.
    #[serde(default, skip_serializing_if = "is_unfused")]
    pub reproducibility: crate::ReproClass,
    /// `embed`: the model, by model-cache name or package folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `embed`: the sentences file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// `train`: the training CSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `train`: the held-out CSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed: Option<EmbedSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainSettings>,
}

fn is_unfused(class: &crate::ReproClass) -> bool {
    *class == crate::ReproClass::Unfused
}

/// `[embed]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_tokens: Option<usize>,
}

/// The hidden layers' activation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationName {
    #[default]
    Relu,
    Tanh,
}

/// The optimizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// SGD with (heavy-ball) momentum, as `torch.optim.SGD(momentum=...)`.
    #[default]
    Sgd,
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub activation: ActivationName,
    #[serde(default)]
    pub optimizer: OptimizerName,
    pub learning_rate: f32,
    #[serde(default)]
    pub momentum: f32,
    pub epochs: u32,
    pub batch_size: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
}

/// One output file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFile {
    /// Relative to the output folder, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// BLAKE3 of the contents, hex.
    pub blake3: String,
}

/// What a run produced: written as `result.json` beside the outputs and returned to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub kind: JobKind,
    /// Sentences embedded, or training samples per epoch.
    pub items: u64,
    /// Work units from the job's shapes alone: the same on every device.
    pub work_units: u64,
    /// What a provider commits to, and what redundant providers must agree on (hex): the claim
    /// root `keccak256(abi.encode(traceRoot, flops, steps))`: the trace binds every output file
    /// (see the runner's `trace` and `binding`).
    pub result_root: String,
    /// The Merkle root (hex) over the outputs' BLAKE3 hashes in path order (the trace file among
    /// them): the files' content address, not part of the claim.
    pub outputs_root: String,
    /// The root (hex) of the execution trace's tree: the steps, each with its flops and the
    /// hashes of its input and output.
    pub trace_root: String,
    pub trace_steps: u64,
    /// Seconds spent hashing the steps and building the trace's tree (its cost within `seconds`).
    pub trace_seconds: f64,
    pub outputs: Vec<OutputFile>,
    pub device: String,
    /// The reproducibility class the kernels ran in.
    pub class: String,
    pub seconds: f64,
}
