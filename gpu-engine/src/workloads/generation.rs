//! Generation with a decoder: choosing each next token from the logits (greedy, or sampled
//! with temperature, top-k and top-p from a given random draw), and [`generate`], which
//! keeps a fixed number of sequences on the device and starts the next prompt in a slot as soon
//! as its sequence ends (a prefill beside the others' single tokens, in one step).
//!
//! A token's choice is a function of its logits and its draw alone, computed on the host in a
//! fixed order with the deterministic `exp` ([`crate::detmath::exp`]): the logits are the same
//! bits on every device and in the CPU twin, so a sampled token is too.

use crate::{EngineError, Gpu, detmath};

use super::{
    decoder::{Decoder, argmax},
    llama::Llama,
    sequences::DeviceCache,
};

/// The smallest temperature that samples (0 is greedy).
pub const MIN_TEMPERATURE: f32 = 1e-3;

/// How a next token is chosen. `temperature` 0 is greedy (`top_k` and `top_p` then change nothing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    /// Only the `k` likeliest tokens (at least 1).
    pub top_k: Option<usize>,
    /// Only the likeliest tokens whose probabilities add up to `top_p` (0 < top_p ≤ 1), at least one.
    pub top_p: Option<f32>,
}

impl Sampling {
    pub const GREEDY: Sampling = Sampling { temperature: 0.0, top_k: None, top_p: None };

    /// Checks the settings; the message names the setting.
    pub fn check(&self) -> Result<(), String> {
        // No temperature so small that a logit's distance over it leaves the normal range (a
        // host that flushes subnormals would draw another token).
        if !(self.temperature == 0.0 || (MIN_TEMPERATURE..=100.0).contains(&self.temperature)) {
            return Err(format!("temperature {} is not 0 (greedy) or {MIN_TEMPERATURE} to 100", self.temperature));
        }
        if self.top_k == Some(0) {
            return Err("top_k must be at least 1".into());
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("top_p {p} is outside (0, 1]"));
        }
        Ok(())
    }
}

/// The token `sampling` picks from `logits` with the random `draw` (64 bits; only the top 24
/// are used, as a uniform number in [0, 1)). NaN logits are never picked (unless all are).
pub fn choose(logits: &[f32], sampling: &Sampling, draw: u64) -> u32 {
    if sampling.temperature == 0.0 {
        return argmax(logits);
    }
    // Candidates from the likeliest, equal logits by index: the same order everywhere.
    let order = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    let mut candidates: Vec<u32> = (0..logits.len() as u32).filter(|&j| !logits[j as usize].is_nan()).collect();
    if candidates.is_empty() {
        return argmax(logits);
    }
    if let Some(k) = sampling.top_k
        && k < candidates.len()
    {
        candidates.select_nth_unstable_by(k - 1, order);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(order);
    let top = logits[candidates[0] as usize];
    if top.is_infinite() {
        // An infinite logit is certain (or every one is impossible): the first.
        return candidates[0];
    }
    let weights: Vec<f32> =
        candidates.iter().map(|&j| detmath::exp((logits[j as usize] - top) / sampling.temperature)).collect();
    let mut kept = weights.len();
    if let Some(p) = sampling.top_p {
        let total: f32 = weights.iter().fold(0.0, |s, w| s + w);
        let mut sum = 0.0f32;
        for (n, w) in weights.iter().enumerate() {
            sum += w;
            if sum >= p * total {
                kept = n + 1;
                break;
            }
        }
    }
    let total: f32 = weights[..kept].iter().fold(0.0, |s, w| s + w);
    let target = (draw >> 40) as f32 * (1.0 / (1u32 << 24) as f32) * total;
    let mut sum = 0.0f32;
    for (n, w) in weights[..kept].iter().enumerate() {
        sum += w;
        if sum > target {
            return candidates[n];
        }
    }
    // Rounding left the draw past the sum: the last token that could be drawn.
    let last = weights[..kept].iter().rposition(|w| *w > 0.0).unwrap_or(0);
    candidates[last]
}

/// What to do with a sequence after its next token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Feed the token and go on.
    Feed(u32),
    /// The sequence ends (its last token was chosen): its slot takes the next prompt.
    End,
}

/// A decoder on the device that [`generate`] drives: GPT-2's ([`Decoder`]) or the Llama
/// family's ([`Llama`]).
pub trait CausalLm {
    /// Caches for `slots` sequences of at most `cap` positions each.
    fn cache(&self, gpu: &Gpu, slots: usize, cap: usize) -> Result<DeviceCache, EngineError>;
    /// New tokens of some of the cache's sequences in one batch: the logits of each one's last row.
    fn step(&self, gpu: &Gpu, cache: &mut DeviceCache, work: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, EngineError>;
}

impl CausalLm for Decoder {
    fn cache(&self, gpu: &Gpu, slots: usize, cap: usize) -> Result<DeviceCache, EngineError> {
        Decoder::cache(self, gpu, slots, cap)
    }
    fn step(&self, gpu: &Gpu, cache: &mut DeviceCache, work: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, EngineError> {
        Decoder::step(self, gpu, cache, work)
    }
}

impl CausalLm for Llama {
    fn cache(&self, gpu: &Gpu, slots: usize, cap: usize) -> Result<DeviceCache, EngineError> {
        Llama::cache(self, gpu, slots, cap)
    }
    fn step(&self, gpu: &Gpu, cache: &mut DeviceCache, work: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, EngineError> {
        Llama::step(self, gpu, cache, work)
    }
}

/// The most prompt rows one step starts (more prompts wait for the next step): a step's memory
/// stays bounded however long the prompts are. It changes no bit of any sequence.
pub const PREFILL_ROWS: usize = 4096;

/// Generates for `prompts` with at most `slots` sequences on the device at a time (fewer when
/// their caches do not fit the device's memory), each holding at most `cap` positions: every
/// step runs the new prompts' prefills and the other sequences' last tokens in one batch.
/// `next(prompt, logits)` hears each sequence's logits in turn (the last prompt row's, then each
/// fed token's) and says what follows; a sequence that reaches `cap` positions ends there (`next`
/// has heard its last logits). Returns when every prompt has ended. A prompt's logits depend
/// neither on the others nor on `slots`.
pub fn generate<E: From<EngineError>>(
    model: &impl CausalLm,
    gpu: &Gpu,
    prompts: &[Vec<u32>],
    slots: usize,
    cap: usize,
    mut next: impl FnMut(usize, &[f32]) -> Result<Next, E>,
) -> Result<(), E> {
    if prompts.is_empty() {
        return Ok(());
    }
    let mut slots = slots.clamp(1, prompts.len());
    let mut cache = loop {
        match model.cache(gpu, slots, cap) {
            Ok(cache) => break cache,
            // Too much for the device, or for the kernels' 32-bit indices: fewer sequences at once.
            Err(EngineError::OverMemoryLimit { .. } | EngineError::Shape { .. }) if slots > 1 => slots /= 2,
            Err(e) => return Err(e.into()),
        }
    };
    let cap = cache.cap();
    // Each slot's prompt and the token it feeds next (None: it starts its prompt).
    let mut held: Vec<Option<(usize, Option<u32>)>> = vec![None; slots];
    let mut queue = (0..prompts.len()).peekable();
    loop {
        let mut prefill = 0;
        for (slot, entry) in held.iter_mut().enumerate() {
            if entry.is_none()
                && let Some(&p) = queue.peek()
                && (prefill == 0 || prefill + prompts[p].len() <= PREFILL_ROWS)
            {
                queue.next();
                prefill += prompts[p].len();
                cache.reset(slot);
                *entry = Some((p, None));
            }
        }
        let tokens: Vec<(usize, usize, [u32; 1])> =
            held.iter().enumerate().filter_map(|(s, e)| e.and_then(|(p, t)| Some((s, p, [t?])))).collect();
        let mut work: Vec<(usize, usize, &[u32])> = Vec::with_capacity(slots);
        for (slot, entry) in held.iter().enumerate() {
            if let Some((p, None)) = entry {
                work.push((slot, *p, prompts[*p].as_slice()));
            }
        }
        work.extend(tokens.iter().map(|(s, p, t)| (*s, *p, &t[..])));
        if work.is_empty() {
            return Ok(());
        }
        work.sort_unstable_by_key(|w| w.0);
        let batch: Vec<(usize, &[u32])> = work.iter().map(|(s, _, ids)| (*s, *ids)).collect();
        let logits = model.step(gpu, &mut cache, &batch)?;
        for ((slot, prompt, _), row) in work.iter().zip(&logits) {
            held[*slot] = match next(*prompt, row)? {
                Next::Feed(token) if cache.rows(*slot) < cap => Some((*prompt, Some(token))),
                _ => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampled(t: f32) -> Sampling {
        Sampling { temperature: t, top_k: None, top_p: None }
    }

    /// The draw picks tokens in proportion to their probability, top-k and top-p cut the tail,
    /// and greedy is the first largest logit.
    #[test]
    fn draws_follow_the_probabilities_and_the_cuts() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NAN, -1e30, (4.0f32).ln()];
        // Weights 1, 3, -, 0, 4 of 8: sorted 4 (id 4), 3 (id 1), 1 (id 0), 0 (id 3).
        let at = |u: f64| ((u * (1u64 << 24) as f64) as u64) << 40;
        let s = sampled(1.0);
        assert_eq!(choose(&logits, &s, at(0.0)), 4);
        assert_eq!(choose(&logits, &s, at(0.49)), 4);
        assert_eq!(choose(&logits, &s, at(0.51)), 1);
        assert_eq!(choose(&logits, &s, at(0.86)), 1);
        assert_eq!(choose(&logits, &s, at(0.9)), 0);
        assert_eq!(choose(&logits, &s, u64::MAX), 0, "the largest draw stays within the kept tokens");
        let top2 = Sampling { top_k: Some(2), ..s };
        assert_eq!(choose(&logits, &top2, u64::MAX), 1);
        let nucleus = Sampling { top_p: Some(0.5), ..s };
        assert_eq!(choose(&logits, &nucleus, u64::MAX), 4, "4/8 already reach 0.5");
        let nucleus = Sampling { top_p: Some(0.6), ..s };
        assert_eq!(choose(&logits, &nucleus, u64::MAX), 1);
        assert_eq!(choose(&[1.0, 5.0, 5.0], &Sampling::GREEDY, 0), 1);
        assert_eq!(choose(&[f32::NAN, f32::NAN], &s, 0), 0);
        assert_eq!(choose(&[1.0, f32::INFINITY, f32::INFINITY], &s, u64::MAX), 1);
        // A cold temperature is nearly greedy; equal logits are drawn evenly, the first first.
        assert_eq!(choose(&logits, &sampled(0.01), u64::MAX), 4);
        assert_eq!(choose(&[2.0, 2.0], &s, at(0.49)), 0);
        assert_eq!(choose(&[2.0, 2.0], &s, at(0.51)), 1);
    }

    #[test]
    fn settings_out_of_range_are_named() {
        for (bad, what) in [
            (sampled(-1.0), "temperature"),
            (sampled(f32::NAN), "temperature"),
            (Sampling { top_k: Some(0), ..sampled(1.0) }, "top_k"),
            (Sampling { top_p: Some(0.0), ..sampled(1.0) }, "top_p"),
            (Sampling { top_p: Some(1.5), ..sampled(1.0) }, "top_p"),
        ] {
            assert!(bad.check().expect_err(what).contains(what));
        }
        Sampling { top_k: Some(5), top_p: Some(1.0), ..sampled(0.7) }.check().expect("fine");
    }
}
