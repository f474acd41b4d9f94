//! Execution traces: the steps a runner ran, each with its flops and the hashes of its input and
//! output, committed with the outputs so that a dispute can be narrowed to one step and that step
//! re-run by a jury (the contracts' court, `contracts/src/court/Court.sol`).
//!
//! A step is a unit any machine can re-run alone and get the same bits: for an embed job one
//! sentence through the whole encoder (the rows do not depend on the batch they ran in, so the
//! steps are the same on every device, however it batches); for a training run one epoch. The
//! trace is written among the outputs as [`TRACE_FILE`]. What a replica commits on chain is the
//! [`claim_root`], `keccak256(abi.encode(traceRoot, flops, steps))`: the trace alone, because it
//! binds every byte of the other outputs (each is its steps' outputs, or made from them:
//! [`crate::binding`]), so a claim cannot pair right steps with wrong files. The trace root is a Merkle
//! tree whose nodes sum the flops beneath them (keccak, so the court checks every node it is
//! shown): leaf `keccak256(abi.encode(uint32 step, uint64 flops, uint32 prev, bytes32 input,
//! bytes32 output))`, node `keccak256(abi.encode(left, uint64 leftFlops, right, uint64
//! rightFlops))`, over `2^⌈log2 steps⌉` leaves, those past the last step zero with no flops.

use sha3::{Digest, Keccak256};

/// The trace's file name among a run's outputs.
pub const TRACE_FILE: &str = "trace.bin";

/// The file's first bytes, and the version of its layout.
const MAGIC: &[u8; 8] = b"GMTRACE1";

/// The most steps a trace holds (the court's limit).
pub const MAX_STEPS: usize = 1 << 24;

/// One step of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Floating-point operations, from the shapes alone ([`gpu_engine::work`]).
    pub flops: u64,
    /// 1 + the index of the step whose output is this step's input; 0 when the input comes from
    /// the package (a sentence's tokens).
    pub prev: u32,
    /// The hash of the step's input: BLAKE3 of a sentence's token ids; for a training epoch, the
    /// epoch before's output (BLAKE3 of `job.toml` for the first).
    pub input: [u8; 32],
    /// The hash of the step's output: BLAKE3 of an embedding row (its 32-bit floats,
    /// little-endian); for a training epoch, [`crate::train::epoch_output`].
    pub output: [u8; 32],
}

/// A run's steps in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub steps: Vec<Step>,
}

/// Why a trace file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("not a trace file (it does not start with {MAGIC:?})")]
    Magic,
    #[error("a trace of {0} steps is over the limit of {MAX_STEPS}")]
    TooLong(u64),
    #[error("the trace file is {actual} bytes; {steps} steps need {expected}")]
    Length { steps: u64, expected: u64, actual: u64 },
    #[error("the steps' flops add up past 2^64")]
    Flops,
}

const STEP_BYTES: usize = 8 + 4 + 32 + 32;

/// A node of the tree: its hash and the flops beneath it.
pub type Node = ([u8; 32], u64);

fn keccak(words: &[&[u8; 32]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for word in words {
        hasher.update(word);
    }
    hasher.finalize().into()
}

/// A number as an ABI word (big-endian, left-padded).
fn word(value: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&value.to_be_bytes());
    w
}

/// The leaf of step `index`.
pub fn leaf(index: u32, step: &Step) -> [u8; 32] {
    keccak(&[&word(u64::from(index)), &word(step.flops), &word(u64::from(step.prev)), &step.input, &step.output])
}

/// The parent of two nodes.
pub fn parent(left: &Node, right: &Node) -> Node {
    (keccak(&[&left.0, &word(left.1), &right.0, &word(right.1)]), left.1.saturating_add(right.1))
}

impl Trace {
    /// Total flops (the run's work).
    pub fn flops(&self) -> u64 {
        self.steps.iter().map(|s| s.flops).sum()
    }

    /// Levels of the tree above the leaves: ⌈log2 steps⌉, the bisection's rounds.
    pub fn depth(&self) -> u32 {
        self.steps.len().max(1).next_power_of_two().trailing_zeros()
    }

    /// Every level of the tree, leaves first (padded to a power of two), the root last.
    pub fn levels(&self) -> Vec<Vec<Node>> {
        let width = 1usize << self.depth();
        let mut level: Vec<Node> = (0..width)
            .map(|i| match self.steps.get(i) {
                Some(step) => (leaf(i as u32, step), step.flops),
                None => ([0u8; 32], 0),
            })
            .collect();
        let mut levels = Vec::with_capacity(self.depth() as usize + 1);
        while level.len() > 1 {
            let next = level.chunks(2).map(|pair| parent(&pair[0], &pair[1])).collect();
            levels.push(std::mem::replace(&mut level, next));
        }
        levels.push(level);
        levels
    }

    /// The tree's root.
    pub fn root(&self) -> [u8; 32] {
        self.levels().last().expect("a tree has a root level")[0].0
    }

    /// The file's bytes: [`MAGIC`], the step count (u64 LE), then per step its flops (u64 LE),
    /// prev (u32 LE), input and output hashes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.steps.len() * STEP_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.steps.len() as u64).to_le_bytes());
        for s in &self.steps {
            out.extend_from_slice(&s.flops.to_le_bytes());
            out.extend_from_slice(&s.prev.to_le_bytes());
            out.extend_from_slice(&s.input);
            out.extend_from_slice(&s.output);
        }
        out
    }

    /// Reads a trace file (from a peer: every length is checked before it is used).
    pub fn decode(bytes: &[u8]) -> Result<Self, TraceError> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(TraceError::Magic);
        }
        let steps = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        if steps > MAX_STEPS as u64 {
            return Err(TraceError::TooLong(steps));
        }
        let expected = 16 + steps * STEP_BYTES as u64;
        if bytes.len() as u64 != expected {
            return Err(TraceError::Length { steps, expected, actual: bytes.len() as u64 });
        }
        let mut total: u64 = 0;
        let steps = bytes[16..]
            .chunks_exact(STEP_BYTES)
            .map(|c| {
                let flops = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
                total = total.checked_add(flops).ok_or(TraceError::Flops)?;
                Ok(Step {
                    flops,
                    prev: u32::from_le_bytes(c[8..12].try_into().expect("4 bytes")),
                    input: c[12..44].try_into().expect("32 bytes"),
                    output: c[44..76].try_into().expect("32 bytes"),
                })
            })
            .collect::<Result<Vec<_>, TraceError>>()?;
        Ok(Self { steps })
    }
}

/// What a replica commits on chain for a result with this trace: `keccak256(abi.encode(traceRoot,
/// uint64 flops, uint32 steps))`. The result's files are bound to the trace
/// ([`crate::binding::check`]); files that are not have no claim.
pub fn claim_root(trace: &Trace) -> [u8; 32] {
    keccak(&[&trace.root(), &word(trace.flops()), &word(trace.steps.len() as u64)])
}

/// BLAKE3 of 32-bit values as little-endian bytes (token ids, embedding rows).
pub fn hash_u32s(values: &[u32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for v in values {
        hasher.update(&v.to_le_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// BLAKE3 of 32-bit floats as little-endian bytes.
pub fn hash_f32s(values: &[f32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for v in values {
        hasher.update(&v.to_le_bytes());
    }
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain of `test/utils/Traces.sol` (`Traces.build(8, 5e9, 8, "wrong")`): each step's input
    /// the previous output, outputs `keccak256(abi.encode("step", i, input))`.
    fn solidity_chain(steps: u32, flops: u64) -> Trace {
        let mut prev_out: [u8; 32] = Keccak256::digest(b"the package's input").into();
        let per = flops / u64::from(steps);
        let mut trace = Trace::default();
        for i in 0..steps {
            // abi.encode("step", i, input): a string is dynamic (offset, then length and bytes).
            let mut enc = Vec::new();
            enc.extend_from_slice(&word(0x60));
            enc.extend_from_slice(&word(u64::from(i)));
            enc.extend_from_slice(&prev_out);
            enc.extend_from_slice(&word(4));
            let mut s = [0u8; 32];
            s[..4].copy_from_slice(b"step");
            enc.extend_from_slice(&s);
            let output: [u8; 32] = Keccak256::digest(&enc).into();
            let step_flops = if i == 0 { flops - per * u64::from(steps - 1) } else { per };
            trace.steps.push(Step { flops: step_flops, prev: i, input: prev_out, output });
            prev_out = output;
        }
        trace
    }

    /// The same tree as the contracts' tests build (and the court checks): a cross-language
    /// vector. `forge test --match-test test_traceVector -vv` prints the root this asserts.
    #[test]
    fn the_tree_is_the_one_the_court_checks() {
        let trace = solidity_chain(8, 5_000_000_000);
        assert_eq!(trace.depth(), 3);
        assert_eq!(trace.flops(), 5_000_000_000);
        let root = trace.root();
        let hex: String = root.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, include_str!("../tests/trace_vector.txt").trim(), "the Solidity tree's root");
    }

    #[test]
    fn padding_leaves_are_zero_and_the_flops_add_up() {
        let step = Step { flops: 7, prev: 0, input: [1; 32], output: [2; 32] };
        let trace = Trace { steps: vec![step; 5] };
        let levels = trace.levels();
        assert_eq!(levels.len(), 4, "5 steps: 8 leaves, 3 levels above");
        assert_eq!(levels[0][5], ([0u8; 32], 0), "past the last step: empty");
        assert_eq!(levels[3][0].1, 35, "the root sums the flops");
        let one = Trace { steps: vec![step] };
        assert_eq!(one.depth(), 0);
        assert_eq!(one.root(), leaf(0, &step), "one step: the root is its leaf");
    }

    #[test]
    fn a_trace_file_round_trips_and_hostile_ones_are_refused() {
        let trace = solidity_chain(5, 100);
        let bytes = trace.encode();
        assert_eq!(Trace::decode(&bytes).expect("decodes"), trace);
        assert!(matches!(Trace::decode(b"GMTRACE0\0\0\0\0\0\0\0\0"), Err(TraceError::Magic)));
        let mut long = bytes.clone();
        long[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(Trace::decode(&long), Err(TraceError::TooLong(_))), "a count of 2^64 is refused before use");
        assert!(matches!(Trace::decode(&bytes[..bytes.len() - 1]), Err(TraceError::Length { .. })));
        let mut overflow =
            Trace { steps: vec![Step { flops: u64::MAX, prev: 0, input: [0; 32], output: [0; 32] }; 2] }.encode();
        overflow.truncate(overflow.len());
        assert!(matches!(Trace::decode(&overflow), Err(TraceError::Flops)));
    }
}
