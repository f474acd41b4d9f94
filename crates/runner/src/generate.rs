//! `kind = "generate"`: text generation with a decoder language model ([`crate::lm`]), each
//! prompt of `prompts.jsonl` ([`crate::prompts`]) continued greedily or sampled, as
//! `completions.jsonl`: one line per prompt, in input order (`{"index", "token_ids", "text",
//! "finish_reason"}`).
//!
//! A prompt is a step of the job's trace: its input the hash of the request (its tokens, index,
//! seeds and settings), its output the BLAKE3 of its completion's line. A prompt's completion does
//! not depend on which prompts share its batch, on the batch size or on the device, so any
//! prompt (with its index) re-run alone gives its line: a spot check's sample, a juror's step.

use gpu_engine::{
    Gpu, ReproClass,
    workloads::{
        decoder::{Decoder, DecoderConfig},
        generation::{self, Next},
    },
};
use serde::Serialize;

use crate::{
    JobError, Package, Paths, Progress, ProgressFn,
    lm::LanguageModel,
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
/// check up front. The text is checked as the file is written.
const ID_BYTES: u64 = 7;

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

/// The flops of a sequence: a prefill of `prompt` tokens, then `generated - 1` tokens fed back
/// (the last token chosen is not fed), each up to its logits.
pub fn sequence_flops(config: &DecoderConfig, prompt: usize, generated: usize) -> u64 {
    let fed = (0..generated.saturating_sub(1)).map(|j| config.work_units(prompt + j, 1));
    config.work_units(0, prompt).saturating_add(fed.fold(0u64, u64::saturating_add))
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
    let model = LanguageModel::load(model_name, &crate::embed::resolve_model(paths, package, model_name)?)?;
    let config = *model.config();
    let mut ids = Vec::with_capacity(requests.len());
    let (mut work_units, mut bytes) = (0u64, 0u64);
    for r in &requests {
        let bad = |message: String| JobError::input(input, format!("line {}: {message}", r.line));
        let tokens = match &r.prompt {
            PromptText::Text(text) => model.codec.encode(text).map_err(bad)?,
            PromptText::Ids(tokens) => tokens.clone(),
        };
        if tokens.is_empty() {
            return Err(bad("the prompt is no tokens".into()));
        }
        if let Some(id) = tokens.iter().find(|id| **id as usize >= config.vocab_size) {
            return Err(bad(format!("token id {id} is outside the model's vocabulary of {}", config.vocab_size)));
        }
        if tokens.len().saturating_add(r.max_new_tokens) > config.max_positions {
            return Err(bad(format!(
                "{} prompt tokens and max_new_tokens {} are more than the model's {} positions",
                tokens.len(),
                r.max_new_tokens,
                config.max_positions
            )));
        }
        work_units = work_units.saturating_add(sequence_flops(&config, tokens.len(), r.max_new_tokens));
        bytes = bytes.saturating_add(r.max_new_tokens as u64 * ID_BYTES);
        ids.push(tokens);
    }
    if bytes > MAX_COMPLETIONS_BYTES {
        return Err(JobError::input(
            input,
            format!(
                "up to {bytes} bytes of token ids; a result holds at most {MAX_COMPLETIONS_BYTES} (split the input)"
            ),
        ));
    }
    Ok(Prepared { model, requests, ids, seed: settings.seed, batch, work_units })
}

/// What a generate job is: its work units (every prompt run to its `max_new_tokens`: an upper
/// bound, as a sequence that stops early costs less and its trace says so) and what a buyer
/// reads of it.
pub fn describe(paths: &Paths, package: &Package) -> Result<crate::Description, JobError> {
    let p = prepare(paths, package)?;
    let c = p.model.config();
    let parameters = c.vocab_size * c.hidden
        + c.max_positions * c.hidden
        + c.layers * (4 * c.hidden * c.hidden + 2 * c.hidden * c.intermediate + 9 * c.hidden + c.intermediate)
        + 2 * c.hidden;
    let sampled = p.requests.iter().filter(|r| r.sampling.temperature > 0.0).count();
    let new: usize = p.requests.iter().map(|r| r.max_new_tokens).sum();
    let facts = vec![
        (
            "Model".to_owned(),
            format!(
                "{}: GPT-2, {:.1} M parameters ({} layers, {} wide, {} heads, {} positions, {}-token vocabulary)",
                p.model.name,
                parameters as f64 / 1e6,
                c.layers,
                c.hidden,
                c.heads,
                c.max_positions,
                c.vocab_size
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
    finish: &'static str,
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
    let LanguageModel { name, weights, codec, eos } = model;
    let total = requests.len() as u64;
    progress(&Progress { stage: "generating".to_owned(), done: 0, total });
    let cap = ids.iter().zip(&requests).map(|(t, r)| t.len() + r.max_new_tokens).max().unwrap_or(1);
    let mut sequences: Vec<Sequence> =
        requests.iter().map(|r| Sequence { tokens: Vec::new(), draws: r.draws(seed), finish: "length" }).collect();
    let decoder = Decoder::new(gpu, weights, class)?;
    let config = *decoder.config();
    let mut done = 0u64;
    decoder.generate(gpu, &ids, batch, cap, |p, logits| -> Result<Next, JobError> {
        let (r, s) = (&requests[p], &mut sequences[p]);
        let token = generation::choose(logits, &r.sampling, s.draws.next_u64());
        s.tokens.push(token);
        let stopped = if eos.contains(&token) {
            true
        } else if r.stop.is_empty() {
            false
        } else {
            let text = codec.decode(&s.tokens).map_err(|m| JobError::Model { model: name.clone(), message: m })?;
            first_stop(&text, &r.stop).is_some()
        };
        if stopped {
            s.finish = "stop";
        }
        if stopped || s.tokens.len() >= r.max_new_tokens {
            done += 1;
            progress(&Progress { stage: "generating".to_owned(), done, total });
            return Ok(Next::End);
        }
        Ok(Next::Feed(token))
    })?;
    let started = std::time::Instant::now();
    let mut file = Vec::new();
    let mut steps = Vec::with_capacity(requests.len());
    for ((r, s), prompt) in requests.iter().zip(&sequences).zip(&ids) {
        let mut text = codec.decode(&s.tokens).map_err(|m| JobError::Model { model: name.clone(), message: m })?;
        if let Some(at) = first_stop(&text, &r.stop) {
            text.truncate(at);
        }
        let line = serde_json::to_string(&Completion {
            index: r.index,
            token_ids: &s.tokens,
            text: &text,
            finish_reason: s.finish,
        })
        .map_err(|e| JobError::Model { model: name.clone(), message: format!("writing a completion: {e}") })?;
        steps.push(trace::Step {
            flops: sequence_flops(&config, prompt.len(), s.tokens.len()),
            prev: 0,
            input: r.input_hash(seed, prompt),
            output: *blake3::hash(line.as_bytes()).as_bytes(),
        });
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
        if file.len() as u64 > MAX_COMPLETIONS_BYTES {
            let input = package.manifest.input.as_deref().unwrap_or_default();
            return Err(JobError::input(
                input,
                format!("the completions are over the {MAX_COMPLETIONS_BYTES} bytes a result holds (split the input)"),
            ));
        }
    }
    let traced = Traced { trace: trace::Trace { steps }, seconds: started.elapsed().as_secs_f64() };
    staging.write(COMPLETIONS_FILE, &file)?;
    Ok((total, traced))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_stop_string_cuts_the_text() {
        let stops = ["\n".to_owned(), "END".to_owned()];
        assert_eq!(super::first_stop("abc END\nx", &stops), Some(4));
        assert_eq!(super::first_stop("ab\nEND", &stops), Some(2));
        assert_eq!(super::first_stop("abc", &stops), None);
    }
}
