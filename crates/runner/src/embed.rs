//! `kind = "embed"`: sentence embeddings with a BERT-family encoder, as sentence-transformers
//! computes them (tokenize with truncation, encoder, mean pooling, L2 normalization).
//! Output: `embeddings.npy`, float32 `[sentences, hidden]`, rows in input order.

use std::{path::Path, path::PathBuf};

use gpu_engine::{
    Gpu, ReproClass,
    workloads::encoder::{DEFAULT_BATCH_TOKENS, Encoder, EncoderConfig, EncoderWeights},
};
use gridmint_protocol::job::EmbedSettings;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use super::{
    JobError, Package, Progress, ProgressFn, npy,
    output::{Staging, Traced},
    textfile, trace,
};
use crate::Paths;

/// The embed job's one output file besides the trace.
pub const EMBEDDINGS_FILE: &str = "embeddings.npy";

/// The files of a model folder.
pub const MODEL_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];
/// The index of a checkpoint in shards (a language model's weights, instead of model.safetensors).
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// A sentence-encoder model folder, loaded.
#[derive(Debug)]
pub struct Model {
    pub name: String,
    pub config: EncoderConfig,
    pub weights: EncoderWeights,
    pub tokenizer: Tokenizer,
    /// Tokens per sentence after truncation, special tokens included.
    pub max_seq_length: usize,
    /// The checkpoint's pooler (`[in, out]` weights, bias), if it has one: what fine-tuning
    /// starts its classification head from.
    pub pooler: Option<(Vec<f32>, Vec<f32>)>,
}

/// The most a sentence file may hold (a few million sentences).
pub const MAX_INPUT_BYTES: u64 = 256 << 20;
/// The most a model's config.json (and sentence_bert_config.json) may hold.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The most a model's tokenizer.json may hold (MiniLM's: 466 KB; large vocabularies: a few MB).
pub const MAX_TOKENIZER_BYTES: u64 = 64 << 20;
/// The most a model's weights may hold (read into memory: an encoder at the config limits).
pub const MAX_WEIGHTS_BYTES: u64 = 4 << 30;
/// The most an embed job's embeddings may hold: what a buyer takes as one result (1 GiB, the
/// peer layer's bundle limit), less room for result.json.
pub const MAX_EMBEDDINGS_BYTES: u64 = (1 << 30) - (1 << 20);
/// The most tokens one batch may hold (`[embed] batch_tokens`).
pub const MAX_BATCH_TOKENS: usize = 1 << 20;

#[derive(Deserialize)]
struct HfConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "bert_eps")]
    layer_norm_eps: f32,
    #[serde(default = "gelu")]
    hidden_act: String,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f32 {
    1e-12
}
fn gelu() -> String {
    "gelu".to_owned()
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

impl Model {
    /// Loads `config.json`, `model.safetensors`, `tokenizer.json` (and `sentence_bert_config.json`
    /// for the truncation length, if present) from `dir`.
    pub fn load(name: &str, dir: &Path) -> Result<Self, JobError> {
        let bad = |message: String| JobError::Model { model: name.to_owned(), message };
        for file in MODEL_FILES {
            if !dir.join(file).is_file() {
                return Err(bad(format!("{} is missing", dir.join(file).display())));
            }
        }
        let read = |file: &str, max: u64| {
            crate::package::read_within(&dir.join(file), max)
                .map_err(|e| bad(format!("{}: {e}", dir.join(file).display())))
        };
        let hf: HfConfig = serde_json::from_slice(&read("config.json", MAX_CONFIG_BYTES)?)
            .map_err(|e| bad(format!("config.json: {e}")))?;
        if hf.hidden_act != "gelu" {
            return Err(bad(format!("config.json: hidden_act `{}` is not supported (only erf `gelu`)", hf.hidden_act)));
        }
        let config = EncoderConfig {
            vocab_size: hf.vocab_size,
            hidden: hf.hidden_size,
            layers: hf.num_hidden_layers,
            heads: hf.num_attention_heads,
            intermediate: hf.intermediate_size,
            max_positions: hf.max_position_embeddings,
            type_vocab_size: hf.type_vocab_size,
            layer_norm_eps: hf.layer_norm_eps,
        };
        // The shapes first: the weights are read only for a config within the limits.
        config.validate().map_err(|e| bad(format!("config.json: {e}")))?;
        let bytes = read("model.safetensors", MAX_WEIGHTS_BYTES)?;
        let weights =
            EncoderWeights::from_safetensors(&bytes, config).map_err(|e| bad(format!("model.safetensors: {e}")))?;
        let pooler = gpu_engine::workloads::finetune::pooler(&bytes, config.hidden)
            .map_err(|e| bad(format!("model.safetensors: {e}")))?;
        let tokenizer = Tokenizer::from_bytes(read("tokenizer.json", MAX_TOKENIZER_BYTES)?)
            .map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        refuse_dropout(&tokenizer).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        let max_seq_length = match crate::package::read_within(&dir.join("sentence_bert_config.json"), MAX_CONFIG_BYTES)
        {
            Ok(bytes) => {
                serde_json::from_slice::<SentenceBertConfig>(&bytes)
                    .map_err(|e| bad(format!("sentence_bert_config.json: {e}")))?
                    .max_seq_length
            }
            Err(_) => config.max_positions,
        };
        Ok(Self { name: name.to_owned(), config, weights, tokenizer, max_seq_length, pooler })
    }

    /// Token ids of each sentence, truncated to `max_len` tokens with [CLS] and [SEP].
    pub fn tokenize(&mut self, sentences: &[&str], max_len: usize) -> Result<Vec<Vec<u32>>, JobError> {
        let bad = |message: String| JobError::Model { model: self.name.clone(), message };
        let truncation = TruncationParams { max_length: max_len, ..TruncationParams::default() };
        self.tokenizer.with_truncation(Some(truncation)).map_err(|e| bad(format!("truncation: {e}")))?;
        self.tokenizer.with_padding(None);
        let encodings =
            self.tokenizer.encode_batch_fast(sentences.to_vec(), true).map_err(|e| bad(format!("tokenizing: {e}")))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

/// A tokenizer that draws its tokens (BPE dropout) would tokenize a job differently on every run,
/// so that no two replicas agree: refused.
pub(crate) fn refuse_dropout(tokenizer: &Tokenizer) -> Result<(), String> {
    match tokenizer.get_model() {
        tokenizers::models::ModelWrapper::BPE(bpe) if bpe.dropout.is_some_and(|p| p > 0.0) => Err(format!(
            "BPE dropout {} draws tokens at random, and a job's tokens must be the same on every run (set it to null)",
            bpe.dropout.unwrap_or_default()
        )),
        _ => Ok(()),
    }
}

/// Where the manifest's `model` is: a folder inside the package, or a name in the model cache.
pub fn resolve_model(paths: &Paths, package: &Package, model: &str) -> Result<PathBuf, JobError> {
    if let Ok(inside) = package.file("model", model)
        && inside.is_dir()
    {
        for file in MODEL_FILES.iter().chain(["sentence_bert_config.json", SHARD_INDEX].iter()) {
            package.refuse_links("model", &format!("{model}/{file}"), &inside.join(file))?;
        }
        return Ok(inside);
    }
    cached_model(paths, model)
}

/// The folder of the model named `model` in this node's model cache, holding every file a model
/// needs; else why not.
pub fn cached_model(paths: &Paths, model: &str) -> Result<PathBuf, JobError> {
    let cached = paths.model(model);
    let bad = |message: String| Err(JobError::Model { model: model.to_owned(), message });
    if model.is_empty() || model.contains(['/', '\\']) || model.starts_with('.') {
        return bad("is not a folder in the package, nor a name in the model cache".into());
    }
    if !cached.is_dir() {
        return bad(format!(
            "not a folder in the package and not in the model cache ({}); `make setup` puts all-MiniLM-L6-v2 there",
            cached.display()
        ));
    }
    // A decoder's weights may be shards named by an index instead of one file.
    let present =
        |f: &&str| cached.join(f).is_file() || (*f == "model.safetensors" && cached.join(SHARD_INDEX).is_file());
    if let Some(missing) = MODEL_FILES.iter().find(|f| !present(f)) {
        return bad(format!("the model cache's copy ({}) has no {missing}", cached.display()));
    }
    Ok(cached)
}

/// The sentences of the input file, one per line; empty lines and empty files are errors.
pub fn sentences<'a>(file: &str, text: &'a str) -> Result<Vec<&'a str>, JobError> {
    let mut out = Vec::new();
    for (line, sentence) in textfile::lines(text) {
        if sentence.trim().is_empty() {
            return Err(JobError::input(file, format!("line {line} is empty; every line must hold a sentence")));
        }
        out.push(sentence);
    }
    if out.is_empty() {
        return Err(JobError::input(file, "has no sentences"));
    }
    Ok(out)
}

/// A sentence is a step of the job's trace, and the court opens traces of at most
/// [`trace::MAX_STEPS`] steps: a job with more could not be defended by its honest replicas.
fn within_court_steps(file: &str, sentences: usize) -> Result<(), JobError> {
    if sentences > trace::MAX_STEPS {
        return Err(JobError::input(
            file,
            format!("{sentences} sentences; a job holds at most {} (one step each in its trace)", trace::MAX_STEPS),
        ));
    }
    Ok(())
}

/// An embed job read and tokenized, ready for the device.
struct Prepared {
    model: Model,
    ids: Vec<Vec<u32>>,
    max_len: usize,
    batch_tokens: Option<usize>,
    work_units: u64,
}

/// Reads the sentences, loads the model and tokenizes: what both the estimate and the run need.
fn prepare(paths: &Paths, package: &Package) -> Result<Prepared, JobError> {
    let m = &package.manifest;
    let model_name = package.required("model", &m.model)?;
    let input = package.required("input", &m.input)?;
    let settings = m.embed.clone().unwrap_or_default();
    let text = textfile::utf8(input, package.read("input", input, MAX_INPUT_BYTES)?)?;
    let sentences = sentences(input, &text)?;
    within_court_steps(input, sentences.len())?;
    let mut model = Model::load(model_name, &resolve_model(paths, package, model_name)?)?;
    // The embeddings must fit a result a buyer takes (a peer's bundle is read into memory).
    let bytes = (sentences.len() as u64).saturating_mul(model.config.hidden as u64).saturating_mul(4);
    if bytes > MAX_EMBEDDINGS_BYTES {
        return Err(JobError::input(
            input,
            format!(
                "{} sentences of {}-wide embeddings are {bytes} bytes; a result holds at most {MAX_EMBEDDINGS_BYTES} (split the input)",
                sentences.len(),
                model.config.hidden
            ),
        ));
    }
    let max_len = checked_max_len(&settings, &model)?;
    let ids = model.tokenize(&sentences, max_len)?;
    let work_units = ids.iter().map(|s| model.config.work_units(s.len())).sum();
    Ok(Prepared { model, ids, max_len, batch_tokens: settings.batch_tokens, work_units })
}

/// What an embed job is: its work units (the tokenizer's lengths through the model's shapes)
/// and what a buyer reads of it.
pub fn describe(paths: &Paths, package: &Package) -> Result<crate::Description, JobError> {
    let p = prepare(paths, package)?;
    let c = &p.model.config;
    let tokens: usize = p.ids.iter().map(Vec::len).sum();
    let facts = vec![
        (
            "Model".to_owned(),
            format!("{}: BERT-family encoder, {} layers, {} wide, {} heads", p.model.name, c.layers, c.hidden, c.heads),
        ),
        ("Sentences".to_owned(), p.ids.len().to_string()),
        ("Tokens".to_owned(), format!("{tokens} (at most {} per sentence)", p.max_len)),
    ];
    Ok(crate::Description { work_units: p.work_units, facts })
}

/// The batch size, in tokens, of an embed job on a CPU driver whose owner may take it back.
const STEERED_CPU_BATCH_TOKENS: usize = 512;

/// Runs an embed job: returns the sentences and the trace (one step per sentence: its tokens in,
/// its embedding row out, through the whole encoder).
pub fn run(
    paths: &Paths,
    gpu: &Gpu,
    class: ReproClass,
    package: &Package,
    staging: &mut Staging,
    progress: ProgressFn,
) -> Result<(u64, Traced), JobError> {
    let Prepared { model, ids, max_len, batch_tokens, work_units } = prepare(paths, package)?;
    let hidden = model.config.hidden;
    let total = ids.len() as u64;
    progress(&Progress { stage: "embedding".to_owned(), done: 0, total });
    let encoder = Encoder::new(gpu, model.weights, class)?;
    let mut batch_tokens = batch_tokens.unwrap_or(DEFAULT_BATCH_TOKENS).max(max_len);
    if gpu.is_steered() && gpu.info().device_type == gpu_engine::DeviceType::Cpu {
        // An owner may want the device back: on a CPU driver a kernel over 512 tokens takes tens
        // of milliseconds, over 4096 several hundred. Batching changes no bit of any row.
        batch_tokens = batch_tokens.min(STEERED_CPU_BATCH_TOKENS.max(max_len));
    }
    let embeddings = encoder.encode(gpu, &ids, batch_tokens, |done| {
        progress(&Progress { stage: "embedding".to_owned(), done: done as u64, total });
    })?;
    let started = std::time::Instant::now();
    let steps = ids
        .iter()
        .zip(&embeddings)
        .map(|(tokens, row)| trace::Step {
            flops: model.config.work_units(tokens.len()),
            prev: 0,
            input: trace::hash_u32s(tokens),
            output: trace::hash_f32s(row),
        })
        .collect();
    let traced = Traced { trace: trace::Trace { steps }, seconds: started.elapsed().as_secs_f64() };
    debug_assert_eq!(traced.flops(), work_units, "the steps' flops are the job's");
    let flat: Vec<f32> = embeddings.concat();
    staging.write(EMBEDDINGS_FILE, &npy::f32_matrix(&flat, ids.len(), hidden))?;
    Ok((total, traced))
}

fn checked_max_len(settings: &EmbedSettings, model: &Model) -> Result<usize, JobError> {
    if let Some(tokens) = settings.batch_tokens
        && !(1..=MAX_BATCH_TOKENS).contains(&tokens)
    {
        return Err(JobError::Model {
            model: model.name.clone(),
            message: format!("job.toml: [embed] batch_tokens {tokens} is outside 1..={MAX_BATCH_TOKENS}"),
        });
    }
    let max_len = settings.max_seq_length.unwrap_or(model.max_seq_length);
    if !(3..=model.config.max_positions).contains(&max_len) {
        return Err(JobError::Model {
            model: model.name.clone(),
            message: format!("max_seq_length {max_len} is outside 3..={}", model.config.max_positions),
        });
    }
    Ok(max_len)
}

#[cfg(test)]
mod tests {
    /// A buyer posts more sentences than the court opens trace steps: its honest replicas could
    /// not open their trace in a dispute, so they would lose it and be slashed. Refused up front.
    #[test]
    fn attack_a_job_with_more_sentences_than_a_trace_holds_is_refused() {
        assert!(super::within_court_steps("s.txt", crate::trace::MAX_STEPS).is_ok());
        let e = super::within_court_steps("s.txt", crate::trace::MAX_STEPS + 1).expect_err("refused");
        assert!(e.to_string().contains("s.txt") && e.to_string().contains("at most 16777216"), "{e}");
    }

    /// A package's tokenizer that draws tokens (BPE dropout) would make replicas disagree: refused.
    #[test]
    fn attack_a_tokenizer_with_bpe_dropout_is_refused() {
        let json = |dropout: &str| {
            format!(
                r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
                "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {{"type": "BPE",
                "dropout": {dropout}, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "vocab": {{"a": 0, "b": 1, "ab": 2}}, "merges": ["a b"]}}}}"#
            )
        };
        let tokenizer = |dropout: &str| tokenizers::Tokenizer::from_bytes(json(dropout)).expect("a tokenizer");
        let err = super::refuse_dropout(&tokenizer("0.5")).expect_err("draws");
        assert!(err.starts_with("BPE dropout 0.5 draws tokens at random"), "{err}");
        assert!(super::refuse_dropout(&tokenizer("null")).is_ok());
    }
}
