//! A causal language model folder as people download it from Hugging Face: `config.json`, the
//! weights (`model.safetensors`, or shards named by `model.safetensors.index.json`; F32, F16 or
//! BF16) and `tokenizer.json`. GPT-2 (`GPT2LMHeadModel`) and the Llama family
//! (`LlamaForCausalLM`, `Qwen2ForCausalLM`, `MistralForCausalLM`) run; every config field that
//! would change what transformers computes and the engine does not is refused up front, by name.

use std::path::Path;

use gpu_engine::{
    EngineError, Gpu, ReproClass,
    workloads::{
        decoder::{Decoder, DecoderConfig, DecoderWeights, Head},
        generation::CausalLm,
        llama::{Biases, Llama, LlamaConfig, LlamaWeights},
        sequences::DeviceCache,
        tensors::Tensors,
    },
};
use serde::Deserialize;
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::{
    JobError,
    embed::{MAX_CONFIG_BYTES, MAX_TOKENIZER_BYTES, MAX_WEIGHTS_BYTES},
};

/// The most end-of-sequence ids a config may name.
pub const MAX_EOS_IDS: usize = 64;
/// The most bytes one token may decode to: real vocabularies' longest pieces are a few hundred.
pub const MAX_PIECE_BYTES: usize = 1024;
/// The most files a checkpoint may be sharded into, and the most its headers may hold together.
pub const MAX_SHARDS: usize = 256;
pub const MAX_HEADER_BYTES: u64 = 100 << 20;
/// The most a tokenizer's `Replace` steps may grow a text, all of them together (Llama 2's
/// normalizer writes a 3-byte "▁" for a space: 3).
pub const MAX_REPLACE_GROWTH: f64 = 16.0;

/// A model's weights, by family.
#[derive(Debug, Clone)]
pub enum Weights {
    Gpt2(DecoderWeights),
    Llama(LlamaWeights),
}

/// A decoder model folder, loaded.
#[derive(Debug)]
pub struct LanguageModel {
    pub name: String,
    pub weights: Weights,
    pub codec: TextCodec,
    /// The tokens that end a sequence (`eos_token_id`).
    pub eos: Vec<u32>,
    /// The architecture, as its config names it (`GPT2LMHeadModel`, `LlamaForCausalLM`, ...).
    pub architecture: String,
    /// Whether the head is the token embeddings.
    pub tied: bool,
}

impl LanguageModel {
    /// The model's size in parameters (a tied head counted once).
    pub fn parameters(&self) -> u64 {
        let s = self.weights.shapes();
        s.parameters + if self.tied { 0 } else { s.vocab_size as u64 * s.hidden as u64 }
    }
}

/// The shapes every family has, for checks, estimates and descriptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shapes {
    pub vocab_size: usize,
    pub max_positions: usize,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// The embeddings' and the blocks' (and GPT-2's positions'); a head of its own is not counted.
    pub parameters: u64,
}

impl Weights {
    pub fn shapes(&self) -> Shapes {
        match self {
            Weights::Gpt2(w) => {
                let c = w.config;
                let (h, i) = (c.hidden as u64, c.intermediate as u64);
                let parameters = (c.vocab_size + c.max_positions) as u64 * h
                    + c.layers as u64 * (4 * h * h + 2 * h * i + 9 * h + i)
                    + 2 * h;
                Shapes {
                    vocab_size: c.vocab_size,
                    max_positions: c.max_positions,
                    layers: c.layers,
                    hidden: c.hidden,
                    heads: c.heads,
                    kv_heads: c.heads,
                    parameters,
                }
            }
            Weights::Llama(w) => {
                let c = w.config;
                let (h, i) = (c.hidden as u64, c.intermediate as u64);
                let (qw, kw) = (c.q_width() as u64, c.kv_width() as u64);
                let per_layer = h * (qw + 2 * kw) + qw * h + 3 * h * i + 2 * h;
                Shapes {
                    vocab_size: c.vocab_size,
                    max_positions: c.max_positions,
                    layers: c.layers,
                    hidden: c.hidden,
                    heads: c.heads,
                    kv_heads: c.kv_heads,
                    parameters: c.vocab_size as u64 * h + c.layers as u64 * per_layer + h,
                }
            }
        }
    }

    pub fn config(&self) -> ModelConfig {
        match self {
            Weights::Gpt2(w) => ModelConfig::Gpt2(w.config),
            Weights::Llama(w) => ModelConfig::Llama(w.config),
        }
    }
}

/// A model's config, by family: what its work is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelConfig {
    Gpt2(DecoderConfig),
    Llama(LlamaConfig),
}

impl ModelConfig {
    /// Work units of `t` new rows after `past`, up to the last row's logits.
    pub fn work_units(&self, past: usize, t: usize) -> u64 {
        match self {
            ModelConfig::Gpt2(c) => c.work_units(past, t),
            ModelConfig::Llama(c) => c.work_units(past, t),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.vocab_size,
            ModelConfig::Llama(c) => c.vocab_size,
        }
    }
}

/// A model on a device: what generation drives.
#[derive(Debug)]
pub enum DeviceModel {
    Gpt2(Decoder),
    Llama(Llama),
}

impl DeviceModel {
    pub fn new(gpu: &Gpu, weights: Weights, class: ReproClass) -> Result<Self, EngineError> {
        Ok(match weights {
            Weights::Gpt2(w) => DeviceModel::Gpt2(Decoder::new(gpu, w, class)?),
            Weights::Llama(w) => DeviceModel::Llama(Llama::new(gpu, w, class)?),
        })
    }
}

impl CausalLm for DeviceModel {
    fn cache(&self, gpu: &Gpu, slots: usize, cap: usize) -> Result<DeviceCache, EngineError> {
        match self {
            DeviceModel::Gpt2(m) => m.cache(gpu, slots, cap),
            DeviceModel::Llama(m) => m.cache(gpu, slots, cap),
        }
    }

    fn step(&self, gpu: &Gpu, cache: &mut DeviceCache, work: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, EngineError> {
        match self {
            DeviceModel::Gpt2(m) => m.step(gpu, cache, work),
            DeviceModel::Llama(m) => m.step(gpu, cache, work),
        }
    }
}

fn yes() -> bool {
    true
}
fn gpt2_eps() -> f32 {
    1e-5
}
fn llama_eps() -> f32 {
    1e-6
}
fn gelu_new() -> String {
    "gelu_new".into()
}
fn silu() -> String {
    "silu".into()
}

/// A GPT-2 `config.json`: the shapes, and the fields that change the computation.
#[derive(Deserialize)]
struct Gpt2Config {
    vocab_size: usize,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    #[serde(default)]
    n_inner: Option<usize>,
    n_positions: usize,
    #[serde(default = "gpt2_eps")]
    layer_norm_epsilon: f32,
    #[serde(default = "gelu_new")]
    activation_function: String,
    #[serde(default = "yes")]
    scale_attn_weights: bool,
    #[serde(default)]
    scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    reorder_and_upcast_attn: bool,
    #[serde(default)]
    add_cross_attention: bool,
    #[serde(default = "yes")]
    tie_word_embeddings: bool,
}

/// A Llama-family `config.json` (Llama, Qwen2, Mistral).
#[derive(Deserialize)]
struct LlamaHfConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    #[serde(default)]
    head_dim: Option<usize>,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "llama_eps")]
    rms_norm_eps: f32,
    #[serde(default)]
    rope_theta: Option<f64>,
    #[serde(default)]
    rope_parameters: Option<Value>,
    #[serde(default)]
    rope_scaling: Option<Value>,
    #[serde(default)]
    partial_rotary_factor: Option<f64>,
    #[serde(default = "silu")]
    hidden_act: String,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    use_sliding_window: bool,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
}

/// The architectures this runner runs, by `model_type`, with their class names.
const FAMILIES: [(&str, &str); 4] = [
    ("gpt2", "GPT2LMHeadModel"),
    ("llama", "LlamaForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("mistral", "MistralForCausalLM"),
];

/// The family a config names (its `model_type`, and its `architectures` if any, must agree).
fn family(name: &str, config: &Value) -> Result<&'static str, String> {
    let model_type = config.get("model_type").and_then(Value::as_str);
    let names: Vec<&str> = config
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let known =
        FAMILIES.iter().find(|(t, class)| model_type == Some(*t) || (model_type.is_none() && names.contains(class)));
    match known {
        Some((family, class)) if names.iter().all(|n| n == class) => Ok(family),
        _ => Err(format!(
            "config.json: architecture {} (model_type {}) is not supported; {name} must be one of {}",
            if names.is_empty() { "(none named)".to_owned() } else { names.join(", ") },
            model_type.unwrap_or("(none)"),
            FAMILIES.iter().map(|(_, c)| *c).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Whether the model folder holds `file` under exactly that name (a case-insensitive file system
/// would open `Model.safetensors` for `model.safetensors`; a case-sensitive one would not).
fn has_file(dir: &Path, file: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().any(|e| e.file_name() == file))
}

/// Refuses a model folder two of whose names differ only in case: which file a name opens would
/// depend on the file system.
fn check_names(dir: &Path) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if !seen.insert(name.clone()) {
            return Err(format!("two files in the model folder are named {name:?} but for case"));
        }
    }
    Ok(())
}

/// Reads `file` of the model folder `dir`, at most `max` bytes; a link, a name that is not a
/// plain file name (letters, digits, `.`, `-`, `_`; not starting or ending with `.`) or a name
/// the folder does not hold exactly is refused (a model in a package may not reach outside it).
fn read_model_file(dir: &Path, file: &str, max: u64) -> Result<Vec<u8>, String> {
    let plain = file.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if file.is_empty() || !plain || file.starts_with('.') || file.ends_with('.') || file.len() > 255 {
        return Err(format!("{file:?} is not a file name in the model folder"));
    }
    if !has_file(dir, file) {
        return Err(format!("{} is missing", dir.join(file).display()));
    }
    let path = dir.join(file);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => return Err(format!("{} is a link", path.display())),
        Ok(_) => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    crate::package::read_within(&path, max).map_err(|e| format!("{}: {e}", path.display()))
}

/// The weights' files: `model.safetensors`, or the shards its index names (each once, in order
/// of first mention), at most [`MAX_WEIGHTS_BYTES`] in all.
fn weight_files(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    if has_file(dir, "model.safetensors") {
        return Ok(vec![read_model_file(dir, "model.safetensors", MAX_WEIGHTS_BYTES)?]);
    }
    let index = "model.safetensors.index.json";
    let bytes = read_model_file(dir, index, MAX_CONFIG_BYTES * 16)
        .map_err(|e| format!("neither model.safetensors nor {index}: {e}"))?;
    let index: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{index}: {e}"))?;
    let map = index.get("weight_map").and_then(Value::as_object).ok_or_else(|| format!("{index}: no weight_map"))?;
    let mut files: Vec<&str> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in map.values() {
        let file = file.as_str().ok_or_else(|| format!("model.safetensors.index.json: {file} is not a file name"))?;
        if seen.insert(file) {
            files.push(file);
        }
        if files.len() > MAX_SHARDS {
            return Err(format!("model.safetensors.index.json names over {MAX_SHARDS} files"));
        }
    }
    let (mut left, mut headers) = (MAX_WEIGHTS_BYTES, 0u64);
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let bytes = read_model_file(dir, file, left)?;
        left -= bytes.len() as u64;
        // Every shard's header is held at once: their sizes together are bounded as one file's.
        let header = bytes.get(..8).map_or(0, |h| u64::from_le_bytes(h.try_into().expect("8 bytes")));
        headers = headers.saturating_add(header);
        if headers > MAX_HEADER_BYTES {
            return Err(format!("the shards' headers are over {MAX_HEADER_BYTES} bytes together"));
        }
        out.push(bytes);
    }
    Ok(out)
}

impl LanguageModel {
    /// Loads the model folder `dir` (named `name` in messages). `packaged`: the folder is the
    /// job's own (its every file the job's data); a model-cache copy's generation_config.json is
    /// not read, since nodes' copies may differ in it (config.json's eos ids then).
    pub fn load(name: &str, dir: &Path, packaged: bool) -> Result<Self, JobError> {
        let bad = |message: String| JobError::Model { model: name.to_owned(), message };
        check_names(dir).map_err(bad)?;
        let raw: Value = serde_json::from_slice(&read_model_file(dir, "config.json", MAX_CONFIG_BYTES).map_err(bad)?)
            .map_err(|e| bad(format!("config.json: {e}")))?;
        let family = family(name, &raw).map_err(bad)?;
        let architecture =
            FAMILIES.iter().find(|(f, _)| *f == family).map(|(_, c)| (*c).to_owned()).unwrap_or_default();
        // transformers' generate stops at generation_config.json's eos ids where it names them.
        let generation = if packaged && has_file(dir, "generation_config.json") {
            let bytes = read_model_file(dir, "generation_config.json", MAX_CONFIG_BYTES).map_err(bad)?;
            Some(serde_json::from_slice::<Value>(&bytes).map_err(|e| bad(format!("generation_config.json: {e}")))?)
        } else {
            None
        };
        let eos = match generation.as_ref().filter(|g| g.get("eos_token_id").is_some_and(|e| !e.is_null())) {
            Some(g) => eos_ids(g).map_err(|e| bad(e.replace("config.json", "generation_config.json")))?,
            None => eos_ids(&raw).map_err(bad)?,
        };
        // The shapes first: the weights are read only for a config within the limits.
        let load = if family == "gpt2" { gpt2(raw) } else { llama(family, raw) };
        let (loader, vocab, tied) = load.map_err(bad)?;
        if let Some(id) = eos.iter().find(|id| **id as usize >= vocab) {
            return Err(bad(format!("config.json: eos_token_id {id} is outside the vocabulary of {vocab}")));
        }
        let files = weight_files(dir).map_err(bad)?;
        let slices: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
        let tensors = Tensors::parse(&slices).map_err(|e| bad(format!("the weights: {e}")))?;
        let weights = loader(&tensors).map_err(|e| bad(format!("the weights: {e}")))?;
        let tokenizer_bytes = read_model_file(dir, "tokenizer.json", MAX_TOKENIZER_BYTES).map_err(bad)?;
        let tokenizer_json: Value =
            serde_json::from_slice(&tokenizer_bytes).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        check_growth(&tokenizer_json).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        let tokenizer = Tokenizer::from_bytes(tokenizer_bytes).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        crate::embed::refuse_dropout(&tokenizer).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        let codec = TextCodec::new(tokenizer, vocab).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        Ok(Self { name: name.to_owned(), weights, codec, eos, architecture, tied })
    }
}

type Loader = Box<dyn FnOnce(&Tensors) -> Result<Weights, EngineError>>;

fn gpt2(raw: Value) -> Result<(Loader, usize, bool), String> {
    let c: Gpt2Config = serde_json::from_value(raw).map_err(|e| format!("config.json: {e}"))?;
    let refuse =
        |field: &str, value: String, why: &str| format!("config.json: {field} {value} is not supported ({why})");
    if !matches!(c.activation_function.as_str(), "gelu_new" | "gelu_pytorch_tanh") {
        return Err(refuse(
            "activation_function",
            format!("{:?}", c.activation_function),
            "GPT-2's tanh GELU, gelu_new, is",
        ));
    }
    for (field, value, want) in [
        ("scale_attn_weights", c.scale_attn_weights, true),
        ("scale_attn_by_inverse_layer_idx", c.scale_attn_by_inverse_layer_idx, false),
        ("reorder_and_upcast_attn", c.reorder_and_upcast_attn, false),
        ("add_cross_attention", c.add_cross_attention, false),
    ] {
        if value != want {
            return Err(refuse(field, value.to_string(), &format!("only {want} is")));
        }
    }
    let config = DecoderConfig {
        vocab_size: c.vocab_size,
        hidden: c.n_embd,
        layers: c.n_layer,
        heads: c.n_head,
        intermediate: c.n_inner.unwrap_or(c.n_embd.saturating_mul(4)),
        max_positions: c.n_positions,
        layer_norm_eps: c.layer_norm_epsilon,
    };
    config.validate().map_err(|e| format!("config.json: {e}"))?;
    let head = if c.tie_word_embeddings { Head::Tied } else { Head::Own };
    let load = move |t: &Tensors| DecoderWeights::from_tensors(t, config, head).map(Weights::Gpt2);
    Ok((Box::new(load), config.vocab_size, c.tie_word_embeddings))
}

fn llama(family: &str, raw: Value) -> Result<(Loader, usize, bool), String> {
    // Absent and null differ (serde reads both as None): Mistral's absent window is 4096.
    let sliding_window = raw.get("sliding_window").cloned();
    let c: LlamaHfConfig = serde_json::from_value(raw).map_err(|e| format!("config.json: {e}"))?;
    let refuse =
        |field: &str, value: String, why: &str| format!("config.json: {field} {value} is not supported ({why})");
    if c.hidden_act != "silu" {
        return Err(refuse("hidden_act", format!("{:?}", c.hidden_act), "the Llama family's silu is"));
    }
    if let Some(scaling) = c.rope_scaling.as_ref().filter(|v| !v.is_null()) {
        return Err(refuse("rope_scaling", scaling.to_string(), "only unscaled rotary embeddings are"));
    }
    if let Some(f) = c.partial_rotary_factor.filter(|f| *f != 1.0) {
        return Err(refuse("partial_rotary_factor", f.to_string(), "only 1 is"));
    }
    let mut theta = c.rope_theta.unwrap_or(10_000.0);
    if let Some(p) = c.rope_parameters.as_ref().filter(|v| !v.is_null()) {
        let kind = p.get("rope_type").and_then(Value::as_str).unwrap_or("default");
        if kind != "default" {
            return Err(refuse("rope_parameters.rope_type", format!("{kind:?}"), "only \"default\" is"));
        }
        if let Some(extra) =
            p.as_object().and_then(|o| o.keys().find(|k| !["rope_type", "rope_theta"].contains(&k.as_str())))
        {
            return Err(refuse("rope_parameters", format!("key {extra:?}"), "only rope_type and rope_theta are read"));
        }
        theta = p.get("rope_theta").and_then(Value::as_f64).unwrap_or(theta);
    }
    // transformers' Mistral attends within a window of 4096 positions unless its config says
    // otherwise (null: every position); Qwen2 only with use_sliding_window; Llama never.
    let window = match (&sliding_window, family) {
        (None, "mistral") => Some(4096),
        (None | Some(Value::Null), _) => None,
        (Some(v), _) => {
            Some(v.as_u64().ok_or_else(|| refuse("sliding_window", v.to_string(), "a whole number or null is"))?)
        }
    };
    let windowed = if family == "qwen2" { c.use_sliding_window } else { window.is_some() };
    if windowed && window.is_none_or(|w| w < c.max_position_embeddings as u64) {
        return Err(refuse("sliding_window", format!("{window:?}"), "attention over every earlier position is"));
    }
    if let Some(kind) = c.layer_types.iter().flatten().find(|k| *k != "full_attention") {
        return Err(refuse("layer_types", format!("{kind:?}"), "only full_attention is"));
    }
    let heads = c.num_attention_heads;
    let config = LlamaConfig {
        vocab_size: c.vocab_size,
        hidden: c.hidden_size,
        layers: c.num_hidden_layers,
        heads,
        kv_heads: c.num_key_value_heads.unwrap_or(heads),
        head_dim: c.head_dim.unwrap_or(c.hidden_size.checked_div(heads).unwrap_or(0)),
        intermediate: c.intermediate_size,
        max_positions: c.max_position_embeddings,
        rms_norm_eps: c.rms_norm_eps,
        rope_theta: theta as f32,
    };
    config.validate().map_err(|e| format!("config.json: {e}"))?;
    let biases = match family {
        "qwen2" => Biases { qkv: true, o: false, mlp: false },
        "mistral" => Biases::default(),
        _ => Biases { qkv: c.attention_bias, o: c.attention_bias, mlp: c.mlp_bias },
    };
    let head = if c.tie_word_embeddings { Head::Tied } else { Head::Own };
    let load = move |t: &Tensors| LlamaWeights::from_tensors(t, config, biases, head).map(Weights::Llama);
    Ok((Box::new(load), config.vocab_size, c.tie_word_embeddings))
}

/// Refuses a tokenizer whose `Replace` steps (in its normalizer and its decoder) could grow a
/// text more than [`MAX_REPLACE_GROWTH`] times, all together: each grows it at most by its
/// content's length over its pattern's (a regular expression may match one byte). Other steps do
/// not grow a text by more than a few bytes per token; tokens are bounded by [`MAX_PIECE_BYTES`].
fn check_growth(tokenizer: &Value) -> Result<(), String> {
    fn walk(v: &Value, growth: &mut f64) {
        match v {
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some("Replace") {
                    let content = o.get("content").and_then(Value::as_str).map_or(0, str::len);
                    let pattern = match o.get("pattern") {
                        Some(Value::Object(p)) => p.get("String").and_then(Value::as_str).map_or(1, |s| s.len().max(1)),
                        _ => 1,
                    };
                    *growth *= (content as f64 / pattern as f64).max(1.0);
                }
                o.values().for_each(|v| walk(v, growth));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, growth)),
            _ => {}
        }
    }
    for part in ["normalizer", "decoder"] {
        let mut growth = 1.0;
        walk(tokenizer.get(part).unwrap_or(&Value::Null), &mut growth);
        if growth > MAX_REPLACE_GROWTH {
            return Err(format!("its {part}'s Replace steps grow a text {growth} times; at most {MAX_REPLACE_GROWTH}"));
        }
    }
    Ok(())
}

/// `eos_token_id`: absent, null, one id or a list (at most [`MAX_EOS_IDS`]).
fn eos_ids(config: &Value) -> Result<Vec<u32>, String> {
    let ids = match config.get("eos_token_id") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value::<EosIds>(v.clone())
            .map_err(|e| format!("config.json: eos_token_id: {e}"))?
            .into_vec(),
    };
    if ids.len() > MAX_EOS_IDS {
        return Err(format!("config.json: {} eos_token_id values; at most {MAX_EOS_IDS}", ids.len()));
    }
    Ok(ids)
}

/// `eos_token_id`: one id or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum EosIds {
    One(u32),
    Many(Vec<u32>),
}

impl EosIds {
    fn into_vec(self) -> Vec<u32> {
        match self {
            EosIds::One(id) => vec![id],
            EosIds::Many(ids) => ids,
        }
    }
}

/// A model's tokenizer: text to token ids and back, with the most bytes a token decodes to.
#[derive(Debug)]
pub struct TextCodec {
    tokenizer: Tokenizer,
    /// The most bytes any one token of the model's vocabulary decodes to.
    pub max_piece_bytes: usize,
}

impl TextCodec {
    /// Checks that no token of the model's `vocab` decodes to more than [`MAX_PIECE_BYTES`]: a
    /// completion's text is then bounded by its tokens before it is made.
    fn new(tokenizer: Tokenizer, vocab: usize) -> Result<Self, String> {
        let mut max_piece_bytes = 0;
        for id in 0..vocab as u32 {
            let piece = tokenizer.decode(&[id], false).map(|s| s.len()).unwrap_or(0);
            if piece > MAX_PIECE_BYTES {
                return Err(format!(
                    "token {id} decodes to {piece} bytes; a token may decode to at most {MAX_PIECE_BYTES}"
                ));
            }
            max_piece_bytes = max_piece_bytes.max(piece);
        }
        Ok(Self { tokenizer, max_piece_bytes })
    }

    /// A prompt's token ids as transformers' `tokenizer(prompt)` gives them (special tokens the
    /// tokenizer adds included).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>, String> {
        self.tokenizer.encode(prompt, true).map(|e| e.get_ids().to_vec()).map_err(|e| format!("tokenizing: {e}"))
    }

    /// The text of `ids`, special tokens skipped (transformers' `decode(ids, skip_special_tokens=True)`).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.tokenizer.decode(ids, true).map_err(|e| format!("decoding: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word_level(tokens: &[&str]) -> Tokenizer {
        let vocab: Vec<String> = tokens.iter().enumerate().map(|(i, t)| format!("{t:?}: {i}")).collect();
        let json = format!(
            r#"{{"version":"1.0","model":{{"type":"WordLevel","vocab":{{{}}},"unk_token":"a"}},"pre_tokenizer":{{"type":"Whitespace"}}}}"#,
            vocab.join(",")
        );
        Tokenizer::from_bytes(json.as_bytes()).expect("a tokenizer")
    }

    /// A buyer's tokenizer with a token that decodes to a megabyte would make every completion
    /// that draws it a megabyte per token (and every replica and juror hold it): refused when the
    /// model loads, before any work.
    #[test]
    fn attack_a_token_that_decodes_to_more_than_a_piece_is_refused() {
        let long = "x".repeat(MAX_PIECE_BYTES + 1);
        let err = TextCodec::new(word_level(&["a", "b", &long]), 3).expect_err("too long a piece");
        assert!(err.contains("token 2 decodes to 1025 bytes"), "{err}");
        let codec = TextCodec::new(word_level(&["a", "bb"]), 2).expect("short pieces");
        assert_eq!(codec.max_piece_bytes, 2);
    }

    /// A decoder that replaces two bytes with megabytes would make a completion of a few tokens
    /// gigabytes: refused when the model loads; Llama 2's normalizer (a space as "▁") is not.
    #[test]
    fn attack_a_tokenizer_that_grows_text_is_refused() {
        let big = "x".repeat(1 << 20);
        let fused = serde_json::json!({"decoder": {"type": "Sequence", "decoders": [
            {"type": "Fuse"}, {"type": "Replace", "pattern": {"String": "ab"}, "content": big}]}});
        assert!(check_growth(&fused).expect_err("grows").contains("decoder's Replace steps grow"));
        let regex = serde_json::json!({"normalizer": {"type": "Replace", "pattern": {"Regex": "a+"},
            "content": "bbbbbbbbbbbbbbbbbbbbbbbbb"}});
        assert!(check_growth(&regex).is_err(), "a regular expression may match one byte");
        let llama2 = serde_json::json!({
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}});
        check_growth(&llama2).expect("Llama 2's tokenizer");
    }

    /// Names that open other files on other systems are refused: a name the folder holds only in
    /// another case, a shard named with a drive or a path, two names but for case.
    #[test]
    fn attack_names_that_differ_between_file_systems_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("config.json"), b"{}").expect("write");
        assert!(read_model_file(dir.path(), "Config.json", 100).expect_err("not that name").contains("missing"));
        for name in ["C:x.safetensors", "../x", "a/b", ".hidden", "x.", ""] {
            assert!(read_model_file(dir.path(), name, 100).expect_err(name).contains("not a file name"), "{name}");
        }
        check_names(dir.path()).expect("one name");
        std::fs::write(dir.path().join("CONFIG.json"), b"{}").expect("write");
        if has_file(dir.path(), "config.json") && has_file(dir.path(), "CONFIG.json") {
            // A case-sensitive file system holds both.
            assert!(check_names(dir.path()).expect_err("two").contains("but for case"));
        }
    }

    /// Mistral's window: absent is transformers' 4096 (refused under 32,768 positions), null is
    /// every position (v0.2 and later, accepted).
    #[test]
    fn a_mistral_window_absent_and_null_differ() {
        let config = |window: &str| {
            serde_json::from_str::<Value>(&format!(
                r#"{{"model_type": "mistral", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 1,
                "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 32,
                "max_position_embeddings": 32768{window}}}"#
            ))
            .expect("json")
        };
        assert!(llama("mistral", config("")).err().expect("absent: 4096").contains("sliding_window"));
        assert!(llama("mistral", config(r#", "sliding_window": null"#)).is_ok(), "null: every position");
        assert!(llama("mistral", config(r#", "sliding_window": 32768"#)).is_ok(), "as long as the positions");
    }

    #[test]
    fn configs_name_the_family_or_are_refused() {
        let cfg = |v: &str| serde_json::from_str::<Value>(v).expect("json");
        assert_eq!(family("m", &cfg(r#"{"model_type": "qwen2"}"#)), Ok("qwen2"));
        assert_eq!(family("m", &cfg(r#"{"architectures": ["LlamaForCausalLM"]}"#)), Ok("llama"));
        for bad in
            [r#"{}"#, r#"{"model_type": "llama", "architectures": ["GPT2LMHeadModel"]}"#, r#"{"model_type": "t5"}"#]
        {
            assert!(family("m", &cfg(bad)).expect_err(bad).contains("must be one of"), "{bad}");
        }
        assert_eq!(eos_ids(&cfg(r#"{"eos_token_id": [1, 2]}"#)), Ok(vec![1, 2]));
        let many = format!(r#"{{"eos_token_id": {:?}}}"#, vec![1; MAX_EOS_IDS + 1]);
        assert!(eos_ids(&cfg(&many)).expect_err("too many").contains("at most 64"));
    }
}
