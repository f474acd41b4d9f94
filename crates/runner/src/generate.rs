//! `kind = "generate"`: text generation with a decoder language model ([`crate::lm`]: GPT-2 or
//! the Llama family), each prompt of `prompts.jsonl` ([`crate::prompts`]) continued greedily or
//! sampled, as `completions.jsonl`: one line per prompt, in input order (`{"index",
//! "token_ids", "text", "finish_reason"}`).
//!
//! A prompt is a step of the job's trace: its input the hash of the request (its tokens, index,
//! seeds and settings), its output the BLAKE3 of its completion's line. A prompt's completion does
//! not depend on which prompts share its batch, on the batch size or on the device, so any
//! prompt (with its index) re-run alone gives its line: a spot check's sample, a juror's step.
//!
//! A stop string is looked for, after each token, in the text of the sequence's last
//! (its length + 8) tokens (so a long completion costs no more per token than a short one); the
//! completion's text is cut before the first stop string in its whole text.

use gpu_engine::{
    Gpu, ReproClass,
    workloads::generation::{self, Next},
};
use serde::Serialize;

use crate::{
    JobError, Package, Paths, Progress, ProgressFn,
    lm::{DeviceModel, LanguageModel, ModelConfig},
    output::{Staging, Traced},
    prompts::{self, PromptText, Request},
    textfile, trace,
};

/// The generate job's output file.
pub const COMPLETIONS_FILE: &str = "completions.jsonl";
/// Sequences on the device at once when the manifest does not say, and the most it may say.
pub const DEFAULT_BATCH: usize = 32;
pub const MAX_BATCH: usize = 1024;
/// The most the completions may hold: what a buyer takes as one result, less room for the trace.
pub const MAX_COMPLETIONS_BYTES: u64 = 768 << 20;
/// What one generated token's id adds to the completions at most (7 bytes with its comma): the
/// check up front. The text is checked as each completion is made.
const ID_BYTES: u64 = 7;
/// The most bytes of a prompt's text per position of the model (and 1 MiB at most): the
/// tokenizer's work on a prompt is bounded before it runs.
pub const PROMPT_BYTES_PER_POSITION: usize = 16;
pub const MAX_PROMPT_BYTES: usize = 1 << 20;
/// Work units of a generated token beyond the model's flops: a round of the device (its
/// submission, the logits' download) whatever the model's size, and the choice on the host:
/// a pass over the vocabulary, and for a sampled token the sort of its candidates.
pub const TOKEN_ROUND_UNITS: u64 = 1 << 20;
pub const CHOICE_UNITS_PER_LOGIT: u64 = 4;
pub const SAMPLE_UNITS_PER_LOGIT: u64 = 32;

/// One prompt's completion, as its line is written.
#[derive(Serialize)]
struct Completion<'a> {
    index: u64,
    token_ids: &'a [u32],
    text: &'a str,
    finish_reason: &'a str,
}

/// A generate job read and tokenized, ready for the device.
struct Prepared {
    model: LanguageModel,
    requests: Vec<Request>,
    ids: Vec<Vec<u32>>,
    seed: u64,
    batch: usize,
    work_units: u64,
}

/// The work units of a sequence: a prefill of `prompt` tokens, then `generated - 1` tokens fed
/// back (the last token chosen is not fed), each up to its logits, and the rounds and choices of
/// its `generated` tokens. In closed form: a fed token's flops are linear in its position.
pub fn sequence_units(config: &ModelConfig, prompt: usize, generated: usize, sampled: bool) -> u64 {
    let (w0, w1) = (u128::from(config.work_units(0, 1)), u128::from(config.work_units(1, 1)));
    let per_key = w1.saturating_sub(w0);
    let fixed = w0.saturating_sub(per_key);
    let fed = generated.saturating_sub(1) as u128;
    // Fed token j sits at position prompt + j and attends to prompt + j + 1 keys.
    let keys = fed * (prompt as u128 + 1) + fed * fed.saturating_sub(1) / 2;
    let vocab = config.vocab_size() as u128;
    let per_logit = if sampled { CHOICE_UNITS_PER_LOGIT + SAMPLE_UNITS_PER_LOGIT } else { CHOICE_UNITS_PER_LOGIT };
    let rounds = generated as u128 * (u128::from(TOKEN_ROUND_UNITS) + vocab * u128::from(per_logit));
    let total = u128::from(config.work_units(0, prompt)) + fed * fixed + keys * per_key + rounds;
    u64::try_from(total).unwrap_or(u64::MAX)
}

fn prepare(paths: &Paths, package: &Package) -> Result<Prepared, JobError> {
    let m = &package.manifest;
    let model_name = package.required("model", &m.model)?;
    let input = package.required("input", &m.input)?;
    let settings = m.generate.clone().unwrap_or_default();
    let batch = settings.batch.unwrap_or(DEFAULT_BATCH);
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(JobError::Package {
            path: package.root.clone(),
            message: format!("job.toml: [generate] batch {batch} is outside 1..={MAX_BATCH}"),
        });
    }
    let text = textfile::utf8(input, package.read("input", input, prompts::MAX_PROMPTS_BYTES)?)?;
    let requests = prompts::read(input, &text)?;
    if requests.len() > trace::MAX_STEPS {
        return Err(JobError::input(
            input,
            format!(
                "{} prompts; a job holds at most {} (one step each in its trace)",
                requests.len(),
                trace::MAX_STEPS
            ),
        ));
    }
    let ids_bytes = requests.iter().fold(0u64, |b, r| b.saturating_add(r.max_new_tokens as u64 * ID_BYTES));
    if ids_bytes > MAX_COMPLETIONS_BYTES {
        return Err(JobError::input(
            input,
            format!(
                "up to {ids_bytes} bytes of token ids; a result holds at most {MAX_COMPLETIONS_BYTES} (split the input)"
            ),
        ));
    }
    let packaged = package.file("model", model_name).is_ok_and(|dir| dir.is_dir());
    let model = LanguageModel::load(model_name, &crate::embed::resolve_model(paths, package, model_name)?, packaged)?;
    let shapes = model.weights.shapes();
    let max_prompt_bytes = MAX_PROMPT_BYTES.min(shapes.max_positions.saturating_mul(PROMPT_BYTES_PER_POSITION));
    let mut ids = Vec::with_capacity(requests.len());
    let mut work_units = 0u64;
    for r in &requests {
        let bad = |message: String| JobError::input(input, format!("line {}: {message}", r.line));
        let tokens = match &r.prompt {
            PromptText::Text(text) if text.len() > max_prompt_bytes => {
                return Err(bad(format!(
                    "the prompt is {} bytes; this model's prompts are at most {max_prompt_bytes}",
                    text.len()
                )));
            }
            PromptText::Text(text) => model.codec.encode(text).map_err(bad)?,
            PromptText::Ids(tokens) => tokens.clone(),
        };
        if tokens.is_empty() {
            return Err(bad("the prompt is no tokens".into()));
        }
        if let Some(id) = tokens.iter().find(|id| **id as usize >= shapes.vocab_size) {
            return Err(bad(format!("token id {id} is outside the model's vocabulary of {}", shapes.vocab_size)));
        }
        if tokens.len().saturating_add(r.max_new_tokens) > shapes.max_positions {
            return Err(bad(format!(
                "{} prompt tokens and max_new_tokens {} are more than the model's {} positions",
                tokens.len(),
                r.max_new_tokens,
                shapes.max_positions
            )));
        }
        let sampled = r.sampling.temperature > 0.0;
        let units = sequence_units(&model.weights.config(), tokens.len(), r.max_new_tokens, sampled);
        work_units = work_units.saturating_add(units);
        ids.push(tokens);
    }
    Ok(Prepared { model, requests, ids, seed: settings.seed, batch, work_units })
}

/// What a generate job is: its work units (every prompt run to its `max_new_tokens`: an upper
/// bound, as a sequence that stops early costs less and its trace says so) and what a buyer
/// reads of it.
pub fn describe(paths: &Paths, package: &Package) -> Result<crate::Description, JobError> {
    let p = prepare(paths, package)?;
    let s = p.model.weights.shapes();
    let sampled = p.requests.iter().filter(|r| r.sampling.temperature > 0.0).count();
    let new: usize = p.requests.iter().map(|r| r.max_new_tokens).sum();
    let heads = if s.kv_heads == s.heads {
        format!("{} heads", s.heads)
    } else {
        format!("{} heads ({} key-value)", s.heads, s.kv_heads)
    };
    let facts = vec![
        (
            "Model".to_owned(),
            format!(
                "{}: {}, {:.1} M parameters ({} layers, {} wide, {heads}, {} positions, {}-token vocabulary)",
                p.model.name,
                p.model.architecture,
                p.model.parameters() as f64 / 1e6,
                s.layers,
                s.hidden,
                s.max_positions,
                s.vocab_size
            ),
        ),
        (
            "Prompts".to_owned(),
            format!("{} ({} greedy, {sampled} sampled)", p.requests.len(), p.requests.len() - sampled),
        ),
        ("Prompt tokens".to_owned(), p.ids.iter().map(Vec::len).sum::<usize>().to_string()),
        ("Tokens to generate".to_owned(), format!("at most {new}")),
    ];
    Ok(crate::Description { work_units: p.work_units, facts })
}

/// One sequence as it is generated.
struct Sequence {
    tokens: Vec<u32>,
    draws: gpu_engine::seeded::SplitMix64,
    /// Its completion's line, once it has ended.
    line: Option<String>,
}

/// The earliest place any of `stops` starts in `text`.
fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

/// Runs a generate job: returns the prompts and the trace (one step per prompt).
pub fn run(
    paths: &Paths,
    gpu: &Gpu,
    class: ReproClass,
    package: &Package,
    staging: &mut Staging,
    progress: ProgressFn,
) -> Result<(u64, Traced), JobError> {
    let Prepared { model, requests, ids, seed, batch, .. } = prepare(paths, package)?;
    let LanguageModel { name, weights, codec, eos, .. } = model;
    let input = package.manifest.input.clone().unwrap_or_default();
    let total = requests.len() as u64;
    progress(&Progress { stage: "generating".to_owned(), done: 0, total });
    let cap = ids.iter().zip(&requests).map(|(t, r)| t.len() + r.max_new_tokens).max().unwrap_or(1);
    let mut sequences: Vec<Sequence> =
        requests.iter().map(|r| Sequence { tokens: Vec::new(), draws: r.draws(seed), line: None }).collect();
    let model_error = |message: String| JobError::Model { model: name.clone(), message };
    let config = weights.config();
    let device = DeviceModel::new(gpu, weights, class)?;
    let (mut done, mut bytes) = (0u64, 0u64);
    generation::generate(&device, gpu, &ids, batch, cap, |p, logits| -> Result<Next, JobError> {
        let (r, s) = (&requests[p], &mut sequences[p]);
        let token = generation::choose(logits, &r.sampling, s.draws.next_u64());
        s.tokens.push(token);
        let stopped = eos.contains(&token) || {
            let longest = r.stop.iter().map(String::len).max().unwrap_or(0);
            let tail = &s.tokens[s.tokens.len().saturating_sub(longest + 8)..];
            !r.stop.is_empty() && first_stop(&codec.decode(tail).map_err(model_error)?, &r.stop).is_some()
        };
        if !stopped && s.tokens.len() < r.max_new_tokens {
            return Ok(Next::Feed(token));
        }
        let mut text = codec.decode(&s.tokens).map_err(model_error)?;
        if let Some(at) = first_stop(&text, &r.stop) {
            text.truncate(at);
        }
        let finish_reason = if stopped { "stop" } else { "length" };
        let completion = Completion { index: r.index, token_ids: &s.tokens, text: &text, finish_reason };
        let line = serde_json::to_string(&completion).map_err(|e| model_error(format!("writing a completion: {e}")))?;
        bytes += line.len() as u64 + 1;
        if bytes > MAX_COMPLETIONS_BYTES {
            return Err(JobError::input(
                &input,
                format!("the completions are over the {MAX_COMPLETIONS_BYTES} bytes a result holds (split the input)"),
            ));
        }
        s.line = Some(line);
        done += 1;
        progress(&Progress { stage: "generating".to_owned(), done, total });
        Ok(Next::End)
    })?;
    let started = std::time::Instant::now();
    let mut file = Vec::with_capacity(bytes as usize);
    let mut steps = Vec::with_capacity(requests.len());
    for ((r, s), prompt) in requests.iter().zip(&sequences).zip(&ids) {
        let line = s.line.as_deref().ok_or_else(|| model_error(format!("prompt {} never ended", r.index)))?;
        let sampled = r.sampling.temperature > 0.0;
        steps.push(trace::Step {
            flops: sequence_units(&config, prompt.len(), s.tokens.len(), sampled),
            prev: 0,
            input: r.input_hash(seed, prompt),
            output: *blake3::hash(line.as_bytes()).as_bytes(),
        });
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
    }
    let traced = Traced { trace: trace::Trace { steps }, seconds: started.elapsed().as_secs_f64() };
    staging.write(COMPLETIONS_FILE, &file)?;
    Ok((total, traced))
}

#[cfg(test)]
mod tests {
    use gpu_engine::workloads::{decoder::DecoderConfig, llama::LlamaConfig};

    use super::*;

    /// The closed form is the sum it replaces: a prefill, then each fed token at its position.
    #[test]
    fn a_sequences_units_are_its_steps_summed() {
        let gpt2 = DecoderConfig {
            vocab_size: 97,
            hidden: 32,
            layers: 2,
            heads: 4,
            intermediate: 128,
            max_positions: 40,
            layer_norm_eps: 1e-5,
        };
        let llama = LlamaConfig {
            vocab_size: 97,
            hidden: 32,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            intermediate: 48,
            max_positions: 40,
            rms_norm_eps: 1e-6,
            rope_theta: 1e4,
        };
        for config in [ModelConfig::Gpt2(gpt2), ModelConfig::Llama(llama)] {
            for (prompt, generated) in [(1, 1), (5, 1), (5, 2), (3, 30)] {
                let fed: u64 = (0..generated - 1).map(|j| config.work_units(prompt + j, 1)).sum();
                let rounds = generated as u64 * (TOKEN_ROUND_UNITS + 97 * CHOICE_UNITS_PER_LOGIT);
                let want = config.work_units(0, prompt) + fed + rounds;
                assert_eq!(sequence_units(&config, prompt, generated, false), want, "{prompt} + {generated}");
                let sampled = want + generated as u64 * 97 * SAMPLE_UNITS_PER_LOGIT;
                assert_eq!(sequence_units(&config, prompt, generated, true), sampled);
            }
        }
    }

    #[test]
    fn the_first_stop_string_cuts_the_text() {
        let stops = ["\n".to_owned(), "END".to_owned()];
        assert_eq!(super::first_stop("abc END\nx", &stops), Some(4));
        assert_eq!(super::first_stop("ab\nEND", &stops), Some(2));
        assert_eq!(super::first_stop("abc", &stops), None);
    }
}
