//! Model workloads built from the kernel library: a BERT-family sentence encoder (inference), a
//! GPT-2 decoder (generation, greedy and sampled) and an MLP classifier (training). Each runs as a few command buffers of deterministic kernels, so
//! its outputs are the same bits on every device; each has a CPU twin for tests and referees.
//!
//! Workloads take tensors and token ids, never files or jobs: reading packages, tokenizing and
//! writing outputs is the node's runner.

pub mod challenge;
pub mod decoder;
pub mod encoder;
pub mod finetune;
pub mod generation;
pub mod llama;
pub mod mlp;
pub mod sequences;
pub mod tensors;

use crate::{EngineError, attention::MAX_HEAD_DIM, numeric::canonicalize, seeded::SplitMix64};

/// A transformer's shapes as its `config.json` names them: the rules the encoder's and the
/// decoder's configs share. Each size at least 1 and within its limit (`(name, value, limit)`),
/// the layer norm's epsilon a positive number below 1, the width a multiple of the heads and each
/// head within the attention kernels. `model` names the kind in messages ("an encoder").
/// The smallest epsilon a norm may add (2^-100).
pub const MIN_NORM_EPS: f32 = f32::from_bits(0x0d80_0000);

pub(crate) fn check_shapes(
    model: &str,
    sizes: &[(&str, usize, usize)],
    eps: (&str, f32),
    width: (&str, usize),
    heads: usize,
) -> Result<(), EngineError> {
    let bad = |message: String| Err(EngineError::Weights { tensor: "(config)".to_owned(), message });
    for &(name, value, limit) in sizes {
        if value == 0 {
            return bad(format!("{name} must be at least 1"));
        }
        if value > limit {
            return bad(format!("{name} {value} is over {limit}, the most {model} may have"));
        }
    }
    let (eps_name, eps) = eps;
    // Far from the subnormals: a norm of a row of zeros takes rsqrt(eps), whose first step halves
    // it, and a device that flushes subnormals would differ from one that does not.
    if !(eps.is_finite() && (MIN_NORM_EPS..1.0).contains(&eps)) {
        return bad(format!("{eps_name} {eps} must be a number from 2^-100 to below 1"));
    }
    let (width_name, width) = width;
    if heads == 0 || !width.is_multiple_of(heads) {
        return bad(format!("{width_name} {width} is not a multiple of {heads} heads"));
    }
    if width / heads > MAX_HEAD_DIM {
        return bad(format!("head width {} is over {MAX_HEAD_DIM}", width / heads));
    }
    Ok(())
}

/// `len` values drawn uniformly from `offset ± scale`, canonicalized: weights made from a seed.
pub(crate) fn uniform(rng: &mut SplitMix64, len: usize, scale: f32, offset: f32) -> Vec<f32> {
    (0..len).map(|_| canonicalize(offset + rng.range(-scale, scale))).collect()
}
