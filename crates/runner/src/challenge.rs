//! Device checks on this machine (issue #23): answering a challenge on the device, opening the
//! rows a jury samples, and checking another device's openings as a juror (on the CPU: a row
//! costs one row of a GEMM). The market's terms are `gridmint_protocol::challenge`; the
//! computation is `gpu_engine::workloads::challenge`.

use gpu_engine::{
    Gpu,
    commitment::Proof,
    workloads::challenge::{ChallengeFault, ChallengeProver, ChallengeSpec, StepOpening, check_answer},
};
use gridmint_protocol::{ReproClass, challenge as terms};
use serde::{Deserialize, Serialize};

use crate::{RunnerError, engine_class};

/// A challenge as a node derives it from the chain: the hash of the block the check was opened
/// in, the memory the provider declared, and the class it is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeTerms {
    pub seed: [u8; 32],
    pub memory_mib: u32,
    pub class: ReproClass,
}

impl ChallengeTerms {
    /// The challenge's shape: 90% of the declared memory in blocks ([`ChallengeSpec::for_fill`]).
    pub fn spec(&self) -> Result<ChallengeSpec, RunnerError> {
        Ok(ChallengeSpec::for_fill(self.seed, terms::fill_bytes(self.memory_mib), engine_class(self.class))?)
    }
}

/// What a provider serves its jurors: the rows sampled by the seed drawn after its answer, and
/// the proof that its first matrix is the challenge's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Openings {
    pub root: [u8; 32],
    pub origin_proof: Proof,
    /// One per sample, in the samples' order.
    pub steps: Vec<StepOpening>,
}

/// Answers the challenge on `gpu`: its Merkle root. Refuses, before allocating, a fill the
/// device cannot hold (a provider that declared more memory than it has cannot answer).
pub fn answer(gpu: &Gpu, challenge: &ChallengeTerms) -> Result<[u8; 32], RunnerError> {
    let spec = challenge.spec()?;
    Ok(ChallengeProver::new(gpu, spec.class)?.answer(gpu, &spec)?.root)
}

/// Computes the answer again and opens the rows `sample_seed` draws (the device does not keep
/// its fill between the answer and the jury's draw: a second run costs what the first did, once
/// per check, and nothing is held meanwhile).
pub fn open(gpu: &Gpu, challenge: &ChallengeTerms, sample_seed: [u8; 32]) -> Result<Openings, RunnerError> {
    let spec = challenge.spec()?;
    let prover = ChallengeProver::new(gpu, spec.class)?;
    let answer = prover.answer(gpu, &spec)?;
    let samples = spec.samples(sample_seed, terms::SAMPLES);
    let steps = prover.open(gpu, &spec, &answer, &samples)?;
    Ok(Openings { root: answer.root, origin_proof: answer.origin_proof(), steps })
}

/// Why a juror found an answer wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFault {
    #[error("the openings are of another answer than the root on chain")]
    OtherRoot,
    #[error("{got} openings for {want} samples")]
    Count { got: usize, want: usize },
    #[error("the challenge's terms are out of range: {message}")]
    Terms { message: String },
    #[error(transparent)]
    Row(#[from] ChallengeFault),
}

/// What a juror checks: `openings` against the `root` the provider answered on chain, at the rows
/// `sample_seed` (the hash of the answer's block) draws. Runs on the CPU, no device needed.
pub fn check(
    challenge: &ChallengeTerms,
    root: [u8; 32],
    sample_seed: [u8; 32],
    openings: &Openings,
) -> Result<(), CheckFault> {
    let spec = challenge.spec().map_err(|e| CheckFault::Terms { message: e.to_string() })?;
    if openings.root != root {
        return Err(CheckFault::OtherRoot);
    }
    let samples = spec.samples(sample_seed, terms::SAMPLES);
    if openings.steps.len() != samples.len() {
        return Err(CheckFault::Count { got: openings.steps.len(), want: samples.len() });
    }
    let mut steps = openings.steps.iter();
    check_answer(&spec, &root, &openings.origin_proof, &samples, |_| steps.next().expect("counted").clone())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu() -> Option<Gpu> {
        let required = std::env::var("GRIDMINT_REQUIRE_VULKAN").is_ok_and(|v| v == "1");
        let opened = gpu_engine::Vulkan::load()
            .and_then(|vk| Gpu::open(&vk, gpu_engine::DeviceChoice::Best, gpu_engine::GpuOptions::default()));
        match opened {
            Ok(gpu) => Some(gpu),
            Err(e) if !required => {
                eprintln!("SKIPPED: no Vulkan device ({e})");
                None
            }
            Err(e) => panic!("GRIDMINT_REQUIRE_VULKAN=1 but no Vulkan device: {e}"),
        }
    }

    #[test]
    fn a_device_answers_opens_and_a_juror_checks_it_and_catches_a_forgery() {
        let Some(gpu) = gpu() else { return };
        // 1 MiB declared: 921 blocks of 16² and as many walk steps.
        let terms = ChallengeTerms { seed: [4; 32], memory_mib: 1, class: ReproClass::Unfused };
        let root = answer(&gpu, &terms).expect("answers");
        let seed = [6; 32];
        let opened = open(&gpu, &terms, seed).expect("opens");
        assert_eq!(opened.root, root, "the second run is the first, bit for bit");
        assert_eq!(check(&terms, root, seed, &opened), Ok(()));
        // Over the wire and back.
        let wire: Openings =
            serde_json::from_str(&serde_json::to_string(&opened).expect("serializes")).expect("parses");
        assert_eq!(check(&terms, root, seed, &wire), Ok(()));
        // Openings for another sample seed, another root, a row changed, one missing.
        assert!(check(&terms, root, [7; 32], &opened).is_err(), "samples of another seed");
        assert_eq!(check(&terms, [1; 32], seed, &opened), Err(CheckFault::OtherRoot));
        let mut forged = opened.clone();
        let v = &mut forged.steps[3].output.values[0];
        *v = f32::from_bits(v.to_bits() ^ 1);
        assert!(matches!(check(&terms, root, seed, &forged), Err(CheckFault::Row(_))));
        let mut short = opened.clone();
        short.steps.pop();
        assert!(matches!(check(&terms, root, seed, &short), Err(CheckFault::Count { .. })));
        // Another seed's challenge is another answer.
        let other = ChallengeTerms { seed: [5; 32], ..terms };
        assert_ne!(answer(&gpu, &other).expect("answers"), root);
    }
}
