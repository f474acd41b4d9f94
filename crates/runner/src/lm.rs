//! A causal language model folder as people download it from Hugging Face: `config.json`,
//! `model.safetensors` (F32, F16 or BF16) and `tokenizer.json`. GPT-2 (`GPT2LMHeadModel`) runs;
//! every config field that would change what transformers computes and the engine does not is
//! refused up front, by name.

use std::path::Path;

use gpu_engine::workloads::decoder::{DecoderConfig, DecoderWeights, Head};
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::{
    JobError,
    embed::{MAX_CONFIG_BYTES, MAX_TOKENIZER_BYTES, MAX_WEIGHTS_BYTES, MODEL_FILES},
};

/// A decoder model folder, loaded.
#[derive(Debug)]
pub struct LanguageModel {
    pub name: String,
    pub weights: DecoderWeights,
    pub codec: TextCodec,
    /// The tokens that end a sequence (`eos_token_id`).
    pub eos: Vec<u32>,
}

fn yes() -> bool {
    true
}
fn gpt2_eps() -> f32 {
    1e-5
}
fn gelu_new() -> String {
    "gelu_new".into()
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
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
}

/// The architectures named in a config that this runner cannot run yet, with what it runs.
fn architecture(name: &str, config: &serde_json::Value) -> Result<(), String> {
    let model_type = config.get("model_type").and_then(|t| t.as_str());
    let names: Vec<&str> = config
        .get("architectures")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if model_type.is_some_and(|t| t != "gpt2") || names.iter().any(|n| *n != "GPT2LMHeadModel") {
        return Err(format!(
            "config.json: architecture {} (model_type {}) is not supported; {name} must be a GPT2LMHeadModel \
             (the Llama family is to come)",
            if names.is_empty() { "(none named)".to_owned() } else { names.join(", ") },
            model_type.unwrap_or("(none)")
        ));
    }
    if model_type.is_none() && names.is_empty() {
        return Err("config.json: names no model_type or architectures; a GPT2LMHeadModel says so".into());
    }
    Ok(())
}

impl LanguageModel {
    /// Loads the model folder `dir` (named `name` in messages).
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
        let bytes = read("config.json", MAX_CONFIG_BYTES)?;
        let raw: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("config.json: {e}")))?;
        architecture(name, &raw).map_err(bad)?;
        let c: Gpt2Config = serde_json::from_value(raw).map_err(|e| bad(format!("config.json: {e}")))?;
        let refuse = |field: &str, value: String, why: &str| {
            bad(format!("config.json: {field} {value} is not supported ({why})"))
        };
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
        // The shapes first: the weights are read only for a config within the limits.
        config.validate().map_err(|e| bad(format!("config.json: {e}")))?;
        let eos = match c.eos_token_id {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(value) => serde_json::from_value::<EosIds>(value)
                .map_err(|e| bad(format!("config.json: eos_token_id: {e}")))?
                .into_vec(),
        };
        if let Some(id) = eos.iter().find(|id| **id as usize >= config.vocab_size) {
            return Err(bad(format!(
                "config.json: eos_token_id {id} is outside the vocabulary of {}",
                config.vocab_size
            )));
        }
        let head = if c.tie_word_embeddings { Head::Tied } else { Head::Own };
        let weights = DecoderWeights::from_safetensors(&read("model.safetensors", MAX_WEIGHTS_BYTES)?, config, head)
            .map_err(|e| bad(format!("model.safetensors: {e}")))?;
        let tokenizer = Tokenizer::from_bytes(read("tokenizer.json", MAX_TOKENIZER_BYTES)?)
            .map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        Ok(Self { name: name.to_owned(), weights, codec: TextCodec(tokenizer), eos })
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.weights.config
    }
}

/// A model's tokenizer: text to token ids and back.
#[derive(Debug)]
pub struct TextCodec(Tokenizer);

impl TextCodec {
    /// A prompt's token ids as transformers' `tokenizer(prompt)` gives them (special tokens the
    /// tokenizer adds included).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>, String> {
        self.0.encode(prompt, true).map(|e| e.get_ids().to_vec()).map_err(|e| format!("tokenizing: {e}"))
    }

    /// The text of `ids`, special tokens skipped (transformers' `decode(ids, skip_special_tokens=True)`).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.0.decode(ids, true).map_err(|e| format!("decoding: {e}"))
    }
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
