//! A generate job's prompts file (`prompts.jsonl`): one JSON object per line, read into
//! [`Request`]s with every value checked and every error naming its line.

use gpu_engine::{seeded::SplitMix64, workloads::generation::Sampling};
use serde::Deserialize;

use crate::{JobError, textfile};

/// The most a prompts file may hold.
pub const MAX_PROMPTS_BYTES: u64 = 256 << 20;
/// Tokens generated for a prompt that does not say.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 64;
/// The most stop strings a prompt may have, and the longest one, in bytes.
pub const MAX_STOPS: usize = 16;
pub const MAX_STOP_BYTES: usize = 256;

/// One line as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    prompt_ids: Option<Vec<u32>>,
    #[serde(default)]
    max_new_tokens: Option<usize>,
    // Read as f64 and narrowed: the same f32 whether the line is the buyer's or re-written with
    // its index (a decimal read straight to f32 and one re-printed from f64 can round apart).
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_k: Option<usize>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Option<Vec<String>>,
    #[serde(default)]
    index: Option<u64>,
}

/// What a prompt is, before tokenizing.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptText {
    Text(String),
    Ids(Vec<u32>),
}

/// One prompt and how to continue it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The line it came from (from 1), for messages.
    pub line: usize,
    /// Its place in the job (the line's, from 0, unless the line names it).
    pub index: u64,
    pub prompt: PromptText,
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    pub seed: u64,
    pub stop: Vec<String>,
}

impl Request {
    /// The generator of this prompt's draws: seeded by the job's seed, the prompt's and its index.
    pub fn draws(&self, job_seed: u64) -> SplitMix64 {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"gridmint generate: draws v1");
        for value in [job_seed, self.seed, self.index] {
            hasher.update(&value.to_le_bytes());
        }
        let hash = hasher.finalize();
        SplitMix64::new(u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes")))
    }

    /// The hash of everything a completion depends on besides the package's model: a step's
    /// input in the job's trace (`ids`: the prompt's tokens).
    pub fn input_hash(&self, job_seed: u64, ids: &[u32]) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"gridmint generate: request v1");
        for value in [job_seed, self.seed, self.index, self.max_new_tokens as u64] {
            h.update(&value.to_le_bytes());
        }
        let s = &self.sampling;
        h.update(&s.temperature.to_bits().to_le_bytes());
        h.update(&s.top_k.map_or(u64::MAX, |k| k as u64).to_le_bytes());
        h.update(&s.top_p.map_or(u32::MAX, f32::to_bits).to_le_bytes());
        h.update(&(self.stop.len() as u64).to_le_bytes());
        for stop in &self.stop {
            h.update(&(stop.len() as u64).to_le_bytes());
            h.update(stop.as_bytes());
        }
        h.update(&(ids.len() as u64).to_le_bytes());
        for id in ids {
            h.update(&id.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }
}

/// The requests of the prompts file `file` (its text), in order; indices must increase.
pub fn read(file: &str, text: &str) -> Result<Vec<Request>, JobError> {
    let mut out: Vec<Request> = Vec::new();
    for (line, raw) in textfile::lines(text) {
        let bad = |message: String| JobError::input(file, format!("line {line}: {message}"));
        if raw.trim().is_empty() {
            return Err(bad("is empty; every line must hold a prompt (a JSON object)".into()));
        }
        let l: Line = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let prompt = match (l.prompt, l.prompt_ids) {
            (Some(text), None) => PromptText::Text(text),
            (None, Some(ids)) if !ids.is_empty() => PromptText::Ids(ids),
            (None, Some(_)) => return Err(bad("prompt_ids is empty".into())),
            _ => return Err(bad("needs exactly one of `prompt` and `prompt_ids`".into())),
        };
        let max_new_tokens = l.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
        if max_new_tokens == 0 {
            return Err(bad("max_new_tokens must be at least 1".into()));
        }
        let sampling = Sampling {
            temperature: l.temperature.unwrap_or(0.0) as f32,
            top_k: l.top_k,
            top_p: l.top_p.map(|p| p as f32),
        };
        sampling.check().map_err(bad)?;
        let stop = l.stop.unwrap_or_default();
        if stop.len() > MAX_STOPS {
            return Err(bad(format!("{} stop strings; at most {MAX_STOPS}", stop.len())));
        }
        if let Some(s) = stop.iter().find(|s| s.is_empty() || s.len() > MAX_STOP_BYTES) {
            return Err(bad(format!("stop string {s:?} is not 1 to {MAX_STOP_BYTES} bytes")));
        }
        if let Some(s) = stop.iter().find(|s| s.contains('\u{FFFD}')) {
            // A partly decoded character decodes as U+FFFD until its last byte comes.
            return Err(bad(format!("stop string {s:?} holds U+FFFD, which a character not yet whole decodes to")));
        }
        let index = l.index.unwrap_or(line as u64 - 1);
        if let Some(before) = out.last()
            && index <= before.index
        {
            return Err(bad(format!("index {index} does not follow the line before's {}", before.index)));
        }
        out.push(Request { line, index, prompt, max_new_tokens, sampling, seed: l.seed.unwrap_or(0), stop });
    }
    if out.is_empty() {
        return Err(JobError::input(file, "has no prompts"));
    }
    Ok(out)
}

/// The lines of the prompts file `text`, each with its index written in (`"index"`), so that any
/// subset of them, as a package of its own, gives each prompt the completion it has in the whole
/// job: what a shard, a spot check's sample and a juror's step run. Checked as [`read`] checks.
pub fn indexed_lines(file: &str, text: &str) -> Result<Vec<String>, JobError> {
    let requests = read(file, text)?;
    let mut out = Vec::with_capacity(requests.len());
    for ((_, raw), request) in textfile::lines(text).zip(&requests) {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(raw).map_err(|e| JobError::input(file, format!("line {}: {e}", request.line)))?;
        object.insert("index".into(), request.index.into());
        out.push(serde_json::Value::Object(object).to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_with_defaults_and_indices_that_follow() {
        let text = "{\"prompt\": \"Hello\"}\n{\"prompt_ids\": [1, 2], \"temperature\": 0.7, \"top_k\": 5, \"seed\": 3, \
                    \"stop\": [\"\\n\"], \"max_new_tokens\": 9}\n{\"prompt\": \"x\", \"index\": 10}\n";
        let r = read("p.jsonl", text).expect("reads");
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].index, r[0].max_new_tokens, r[0].sampling), (0, 64, Sampling::GREEDY));
        assert_eq!(r[1].prompt, PromptText::Ids(vec![1, 2]));
        assert_eq!(
            (r[1].index, r[1].seed, r[1].sampling.top_k, r[1].stop.as_slice()),
            (1, 3, Some(5), &["\n".to_owned()][..])
        );
        assert_eq!(r[2].index, 10);
        // Indexed lines read back as the same requests, alone or in any subset.
        let lines = indexed_lines("p.jsonl", text).expect("indexed");
        let again = read("p.jsonl", &(lines.join("\n") + "\n")).expect("reads");
        assert_eq!(again.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 10]);
        let alone = read("p.jsonl", &lines[1]).expect("one line");
        assert_eq!((alone[0].index, alone[0].input_hash(0, &[1, 2])), (1, r[1].input_hash(0, &[1, 2])));
        assert_eq!(alone[0].draws(0).next_u64(), r[1].draws(0).next_u64());
        assert_ne!(r[0].draws(0).next_u64(), r[0].draws(1).next_u64(), "the job's seed counts");
    }

    /// A value that reads one way from the buyer's line and another once the line is re-written
    /// with its index would give honest replicas and the jurors who re-run a prompt alone
    /// different settings: a decimal just above 1 in f32's terms reads the same on both paths.
    #[test]
    fn attack_a_setting_reads_the_same_from_the_line_and_its_indexed_copy() {
        let text = "{\"prompt_ids\": [1], \"temperature\": 1.00000005960464477539062499, \"top_p\": 1.00000005960464477539062499}\n";
        let direct = read("p.jsonl", text).expect("reads");
        let indexed = indexed_lines("p.jsonl", text).expect("indexed");
        let again = read("p.jsonl", &indexed[0]).expect("reads again");
        assert_eq!(direct[0].sampling, again[0].sampling);
        assert_eq!(direct[0].input_hash(0, &[1]), again[0].input_hash(0, &[1]));
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("", "has no prompts"),
            ("{\"prompt\": \"a\"}\n\n", "line 2: is empty"),
            ("[1]\n", "line 1:"),
            ("{\"prompt\": \"a\", \"prompt_ids\": [1]}", "exactly one"),
            ("{}", "exactly one"),
            ("{\"prompt_ids\": []}", "prompt_ids is empty"),
            ("{\"prompt_ids\": [-1]}", "line 1:"),
            ("{\"prompt\": \"a\", \"max_new_tokens\": 0}", "at least 1"),
            ("{\"prompt\": \"a\", \"temperature\": -1}", "temperature"),
            ("{\"prompt\": \"a\", \"top_p\": 2}", "top_p"),
            ("{\"prompt\": \"a\", \"stop\": [\"\"]}", "stop string"),
            ("{\"prompt\": \"a\", \"stop\": [\"x\\ufffd\"]}", "holds U+FFFD"),
            ("{\"prompt\": \"a\", \"temperature\": 1e-9}", "temperature"),
            ("{\"prompt\": \"a\", \"colour\": 1}", "unknown field `colour`"),
            ("{\"prompt\": \"a\", \"index\": 4}\n{\"prompt\": \"b\", \"index\": 4}", "line 2: index 4 does not follow"),
            ("{\"prompt\": \"a\", \"index\": 4}\n{\"prompt\": \"b\"}", "line 2: index 1 does not follow"),
        ];
        for (text, want) in cases {
            let e = read("p.jsonl", text).expect_err(text).to_string();
            assert!(e.starts_with("p.jsonl: ") && e.contains(want), "{text:?}: {e}");
        }
        let many = format!("{{\"prompt\": \"a\", \"stop\": {:?}}}", vec!["x"; MAX_STOPS + 1]);
        assert!(read("p.jsonl", &many).expect_err("many").to_string().contains("at most 16"));
    }
}
