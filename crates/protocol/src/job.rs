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
//!
//! ```toml
//! kind = "finetune"              # fine-tune a BERT-family encoder for classification
//! model = "all-MiniLM-L6-v2"     # a model-cache name, or a folder inside the package
//! data = "train.jsonl"           # one {"text": "...", "label": 0} per line
//! test = "test.jsonl"            # optional: held-out lines for the test accuracy
//!
//! [finetune]
//! epochs = 3
//! learning_rate = 5e-5
//! batch_size = 32
//! weight_decay = 0.01            # default 0; never on biases and layer-norm parameters
//! warmup_steps = 10              # linear warm-up from 0, then linear decay to 0 (default 0)
//! seed = 7                       # the sample order and the classifier's first weights
//! layers = "all"                 # or the number of top layers trained (default "all"; every
//!                                # layer, by either, trains the embeddings too)
//! segment_steps = 50             # optimizer steps per segment: a step of the trace each
//! classes = 2                    # optional: default 1 + the largest label in `data`
//! max_seq_length = 128           # tokens per text after truncation (default 128)
//! resume = "from"                # optional: a folder with an earlier run's model.safetensors
//!                                # and optimizer.safetensors, at the end of a segment
//! ```
//!
//! A finetune job trains `BertForSequenceClassification` as transformers computes it without
//! dropout: the `[CLS]` row through the checkpoint's pooler (drawn from the seed if it has none)
//! and a new classifier, mean cross-entropy, AdamW (betas 0.9 and 0.999, eps 1e-8) in fp32. Each
//! epoch visits the samples in an order drawn from the seed, in batches of `batch_size` (the last
//! one smaller). Its outputs are `model.safetensors` (transformers' names: the folder loads with
//! `AutoModelForSequenceClassification`), `config.json` and `tokenizer.json` beside it,
//! `optimizer.safetensors` (AdamW's steps and moments: with the weights, what a run resumes
//! from), `metrics.json` (every step's loss, the test accuracy) and `checkpoints.json` (each
//! segment's weights' and optimizer's BLAKE3 and a hash chain over them from the BLAKE3 of
//! `job.toml`). A segment is a step of the trace; `segments` (optional) stops after that many, as
//! a re-run of part of a job does, and `resume` starts from where an earlier run stopped: a long
//! job runs as a chain of shorter ones, each settled on its own, to the uninterrupted run's bits.
//!
//! ```toml
//! kind = "generate"              # text generation with a decoder language model
//! model = "my-gpt2"              # a Hugging Face folder in the package, or a model-cache name
//! input = "prompts.jsonl"        # one JSON object per line
//!
//! [generate]                     # optional
//! seed = 7                       # the job's sampling seed (default 0)
//! batch = 32                     # sequences on the device at once (speed only, never the bits)
//! ```
//!
//! A generate job's model folder holds `config.json` (`GPT2LMHeadModel`, `LlamaForCausalLM`,
//! `Qwen2ForCausalLM` or `MistralForCausalLM`), `model.safetensors` (or its shards and
//! `model.safetensors.index.json`; F32, F16 or BF16) and `tokenizer.json`, as people download them.
//! A config field that would change the computation and that the runner does not compute (a
//! scaled rotary embedding, a sliding window shorter than the positions, another activation) is
//! refused by name. Each line of the input is
//! an object with `prompt` (text, tokenized as transformers' `tokenizer(prompt)`) or
//! `prompt_ids` (token ids), and optionally `max_new_tokens` (default 64), `temperature` (0, the
//! default, is greedy), `top_k`, `top_p`, `seed` and `stop` (strings that end the completion).
//! `index` is the prompt's place in the job (default: its line's, counted from 0); the buyer's
//! client writes it when it splits a job into shards, so that a prompt's sampled tokens are the
//! same in any shard. A sampled token is drawn from a generator seeded by the job's seed, the
//! prompt's seed and its index: a sampled completion is as reproducible as a greedy one.
//!
//! The output is `completions.jsonl`, a line per prompt in input order:
//! `{"index":0,"token_ids":[...],"text":"...","finish_reason":"length"}`, where `token_ids` are
//! the new tokens only, `text` is their decoding (special tokens skipped) cut before the first
//! stop string, and `finish_reason` is `"stop"` (the model's end-of-sequence token, or a stop
//! string, whose tokens stay in `token_ids`) or `"length"` (`max_new_tokens`). A stop string is
//! looked for after each token in the text of the last (its length + 8) tokens. `temperature` is 0
//! or 0.001 to 100; `top_p` in (0, 1]; a prompt's text at most 16 bytes per model position and
//! 1 MiB; at most 16 stop strings of 1 to 256 bytes.
//!
//! ```toml
//! kind = "kernel"                # the buyer's own compute kernel, in the verifiable tier
//!
//! [kernel]
//! shader = "saxpy.wgsl"          # WGSL, or SPIR-V (a .spv file), in the package
//! entry_point = "main"           # optional (default "main")
//! workgroups = [4, 1, 1]         # the dispatch's workgroup counts
//! loop_budget = 1024             # optional: loop iterations per invocation (default 65536)
//! dispatches = 1                 # optional: the dispatch run again over its own buffers (1 to 1024)
//!
//! [[kernel.buffers]]
//! binding = 0
//! input = "x.npy"                # initial contents: a .npy of float32, uint32 or int32, any shape
//!
//! [[kernel.buffers]]
//! binding = 1
//! input = "y.npy"
//! output = "y.npy"               # written after the last dispatch, as a .npy of the buffer's type
//!
//! [[kernel.buffers]]
//! binding = 2
//! len = 256                      # no input: `len` zeros
//! dtype = "u32"                  # "f32" (the default), "u32" or "i32": the kernel's element type
//! shape = [16, 16]               # optional: an output's shape (default [len])
//! output = "hist.npy"
//! ```
//!
//! A kernel job runs under the engine's rules for buyer kernels (`gpu-engine/src/external.rs`):
//! only storage buffers at the declared bindings, each an array of the buffer's type and no
//! larger than it, bounds-checked access; no built-in transcendental, no float division, no min,
//! max, clamp or sign of floats, no reading a float's bits or converting it to an integer, no
//! atomics, no matrix products, no shift by a runtime amount, no barrier in a loop, `fma` only
//! in the fused class, every loop under its budget. Its work units are the most its dispatches
//! can do: per dispatch, invocations × the entry point's statements and expressions (composites
//! by their scalars) × (loop_budget + 1) if it has loops, plus 4 per byte of state brought back;
//! × (dispatches + 1), the first dispatch running twice (a race's check). The buyer pays for the
//! bound it declares. Input `.npy` files have 1 to 8 dimensions. Float32
//! buffers are brought into the canonical domain (values below 2^-37 to zero, one NaN) before
//! the first dispatch and after each; every float operation's result has its subnormals (and
//! zeros) made +0 on every device (devices differ there, and a kernel can make one from canonical
//! values), a subnormal constant is refused, and a binding holds one variable.
//! A kernel must not race (two invocations writing one element, or one reading what another
//! writes in a dispatch): devices differ there, and the engine cannot see it. A provider runs the
//! first dispatch a second time from the same buffers and leaves the job, unslashed, when the two
//! differ (a race that shows on its device).
//! Its outputs are the declared `.npy` files and `buffers.json` (every buffer's BLAKE3 after the
//! last dispatch). Each dispatch is a step of the trace (the buffers' state in, the state after
//! out), so a juror re-runs the dispatches up to the one in dispute.

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
    /// Text generation with a decoder language model.
    Generate,
    /// The buyer's own compute kernel (WGSL or SPIR-V) over buffers from `.npy` files.
    Kernel,
    /// Fine-tuning a BERT-family encoder for sequence classification.
    Finetune,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Embed => "embed",
            JobKind::Train => "train",
            JobKind::Generate => "generate",
            JobKind::Kernel => "kernel",
            JobKind::Finetune => "finetune",
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
    /// `embed`, `generate`, `finetune`: the model, by model-cache name or package folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `embed`: the sentences file; `generate`: the prompts file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// `train`: the training CSV; `finetune`: the training lines (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `train`, `finetune`: the held-out samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed: Option<EmbedSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<FinetuneSettings>,
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

/// `[generate]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSettings {
    /// The job's sampling seed: with each prompt's `seed` and index, it seeds the prompt's draws.
    #[serde(default)]
    pub seed: u64,
    /// Sequences on the device at once (speed and memory only: a prompt's tokens do not depend
    /// on which others share its batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
}

/// `[kernel]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSettings {
    pub shader: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
    pub workgroups: [u32; 3],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_budget: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatches: Option<u32>,
    pub buffers: Vec<KernelBuffer>,
}

/// One `[[kernel.buffers]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelBuffer {
    pub binding: u32,
    /// A `.npy` in the package: the buffer's initial contents (its type and length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Without `input`: the buffer's length in elements, zeros.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// Without `input`: "f32" (the default), "u32" or "i32". Either way the buffer's type must
    /// be the element type the kernel declares for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// An output's shape (its product the buffer's length; default: the input's, or `[len]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<u64>>,
    /// Where the buffer is written after the last dispatch (a `.npy` name among the outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
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

/// `[finetune]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    pub epochs: u32,
    pub learning_rate: f64,
    pub batch_size: usize,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default)]
    pub warmup_steps: u32,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub layers: TrainedLayers,
    #[serde(default = "FinetuneSettings::default_segment_steps")]
    pub segment_steps: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
    /// Stops after this many segments (a re-run of part of a job): the schedule is still the
    /// whole job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// A folder in the package holding `model.safetensors` and `optimizer.safetensors` from an
    /// earlier run of this job, stopped at the end of a segment: the run resumes from there and
    /// gives the bits the uninterrupted run gives from there on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

impl FinetuneSettings {
    pub const DEFAULT_SEGMENT_STEPS: u32 = 50;

    fn default_segment_steps() -> u32 {
        Self::DEFAULT_SEGMENT_STEPS
    }
}

/// `[finetune] layers`: `"all"` or how many of the top layers are trained; every layer (either
/// way) trains the embeddings too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrainedLayers {
    Top(usize),
    /// Only `"all"` is one; the runner refuses any other word.
    Named(String),
}

impl Default for TrainedLayers {
    fn default() -> Self {
        TrainedLayers::Named("all".to_owned())
    }
}

/// What a provider reads of a posted job before it claims it: the job's manifest, byte for byte
/// (the job's spec hash on chain is its keccak256, so the manifest is the buyer's word on chain),
/// and what of its package the manifest may name (the folders), with the package's size. The
/// folders and the size are the buyer's word alone: a buyer that misstates them gets providers
/// that claim its job and, once they see the package, leave it unslashed; the job is refunded,
/// and each leave counts in its provider's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCard {
    pub manifest: String,
    /// Every folder of the package (relative, `/`-separated), sorted.
    pub folders: Vec<String>,
    /// The package's files, in bytes.
    pub bytes: u64,
}

impl JobCard {
    /// The card of a package with `manifest` and its files (relative `/`-separated names and sizes).
    pub fn new<'a>(manifest: String, files: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let mut folders = std::collections::BTreeSet::new();
        let mut bytes = 0u64;
        for (name, size) in files {
            bytes = bytes.saturating_add(size);
            let mut end = 0;
            while let Some(slash) = name[end..].find('/') {
                end += slash;
                folders.insert(name[..end].to_owned());
                end += 1;
            }
        }
        Self { manifest, folders: folders.into_iter().collect(), bytes }
    }

    /// Whether the package holds the folder `path` (as a manifest names it: empty and `.`
    /// segments aside; a path with `..` or `\\` is no folder of the package).
    pub fn has_folder(&self, path: &str) -> bool {
        if path.contains('\\') {
            return false;
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        if segments.is_empty() || segments.contains(&"..") {
            return false;
        }
        self.folders.binary_search_by(|f| f.as_str().cmp(&segments.join("/"))).is_ok()
    }

    /// What makes a card from a peer unusable: more than `max_folders` folders, folders not
    /// sorted and distinct (the order [`JobCard::new`] gives and [`JobCard::has_folder`] needs),
    /// or more than `max_bytes` of data. `None` when it is usable.
    pub fn flaw(&self, max_folders: usize, max_bytes: u64) -> Option<String> {
        if self.folders.len() > max_folders {
            return Some(format!("{} folders, over the {max_folders} a package may hold", self.folders.len()));
        }
        if self.folders.windows(2).any(|w| w[0] >= w[1]) {
            return Some("its folders are not sorted and distinct".into());
        }
        (self.bytes > max_bytes).then(|| format!("{} bytes of data, over the {max_bytes} a job may hold", self.bytes))
    }
}

/// A result folder read for people ([`crate::commands::ReadResult`]): what its kind's outputs
/// say, and a generate job's completions as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultView {
    /// "embed", "train", "finetune", "generate" or "kernel" (from the files it holds).
    pub kind: String,
    /// The folder's files (relative, `/`-separated) and sizes in bytes.
    pub files: Vec<(String, u64)>,
    /// What the outputs hold (label, value): an array's shape, a training run's last accuracy.
    pub facts: Vec<(String, String)>,
    /// A generate job's first completions, in order.
    pub completions: Vec<CompletionView>,
    /// The completions the result holds (more than shown when it is long).
    pub completions_total: u64,
    /// A fine-tuning result's loss curve: the loss of each optimizer step in order, or of
    /// [`MAX_LOSS_POINTS`] steps evenly spread over them when there are more.
    #[serde(default)]
    pub losses: Vec<f64>,
}

/// The most points of a loss curve a result view carries.
pub const MAX_LOSS_POINTS: usize = 512;

/// One completion as a person reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionView {
    pub index: u64,
    pub text: String,
    pub finish_reason: String,
    /// New tokens.
    pub tokens: u64,
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
    /// Sentences embedded, training samples per epoch, prompts continued or dispatches run.
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

#[cfg(test)]
mod tests {
    use super::JobCard;

    #[test]
    fn a_card_lists_every_folder_of_the_package_and_its_size() {
        let files =
            [("job.toml", 10), ("models/mini/config.json", 5), ("models/mini/model.safetensors", 100), ("a.txt", 1)];
        let card = JobCard::new("kind = \"embed\"\n".into(), files);
        assert_eq!(card.folders, ["models", "models/mini"]);
        assert_eq!(card.bytes, 116);
        assert!(card.has_folder("models/mini") && card.has_folder("./models/mini/") && card.has_folder("models"));
        assert!(!card.has_folder("mini") && !card.has_folder("models/min") && !card.has_folder("a.txt"));
        assert!(card.has_folder("models//mini") && card.has_folder("models/./mini"), "as the package reads paths");
        assert!(!card.has_folder("models/../models/mini") && !card.has_folder("") && !card.has_folder("."));
        assert_eq!(card.flaw(2, 116), None);
        assert!(card.flaw(1, 116).expect("too many").contains("2 folders"));
        assert!(card.flaw(2, 115).expect("too big").contains("116 bytes"));
        let unsorted = JobCard { folders: vec!["b".into(), "a".into()], ..card.clone() };
        assert!(unsorted.flaw(9, 999).expect("unsorted").contains("not sorted"));
        let twice = JobCard { folders: vec!["a".into(), "a".into()], ..card };
        assert!(twice.flaw(9, 999).is_some(), "a folder twice");
    }
}
