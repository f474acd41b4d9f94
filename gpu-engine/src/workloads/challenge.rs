//! Device challenges: evidence that a device holds the memory it declared and computes at the
//! rate it declared, checked by re-running a few sampled rows.
//!
//! A challenge fills device memory with `blocks` square matrices of side `side`, each computed
//! from the one before (`B[i] = tanh(B[i-1] · W)`, `B[0]` and `W` from the seed): the fill. Then
//! it walks: `Y[0] = B[last]`, `Y[j+1] = tanh((Y[j] + B[a1] + … + B[a8]) · V)`, where the eight
//! indices `a` come from the leaf of the whole `Y[j]` (the root over its rows), so nobody knows
//! which blocks a step reads before the whole step before it is done (rows of a GEMM are
//! independent: reads named by one row would let a prover run the walk a slice of rows at a time,
//! in a slice of the memory). A device that kept every block reads them; one that kept
//! a share `q` recomputes each missing block from the nearest one it kept, about `(1/q - 1) / 2`
//! GEMMs per read and eight reads a step, and misses the deadline; or it writes a wrong step.
//!
//! The answer is a Merkle root ([`crate::commitment`]) over one leaf per matrix (the fill's
//! blocks, then the walk's outputs), each leaf itself the root over the matrix's rows. A checker
//! samples steps and rows from a seed the prover did not know when it answered, and re-runs each
//! sampled row from its opened input rows ([`check_opening`]): rows of a GEMM are independent,
//! so one row of a step costs `2 · side²` flops and its opening a few rows and two proofs.
//! A wrong row is caught when it is sampled; a prover that wrote a share `f` of its (step, row)
//! pairs wrong passes `S` samples with probability about `(1 - f)^S`.
//!
//! The engine knows nothing of who asks, of deadlines or of stake: the node derives the seed
//! and the deadline from the chain.

use vulkano::buffer::Subbuffer;

use crate::{
    EngineError, Gpu, ReproClass,
    commitment::{self, Hash, Proof},
    kernels::{
        Gemm,
        elementwise::{Binary, BinaryOp},
        gemm::GemmShape,
        rows::Unary,
    },
    numeric::canonicalize,
    reference::{self, UnaryOp},
    seeded::SplitMix64,
};

/// Blocks each walk step reads.
pub const READS_PER_STEP: usize = 8;
/// The most blocks a fill holds: larger memories get larger blocks, so the walk's host work
/// (one small read-back per step) stays small against its GEMMs.
pub const MAX_BLOCKS: u64 = 4096;
/// The smallest and largest block side.
pub const MIN_SIDE: u32 = 16;
pub const MAX_SIDE: u32 = 4096;

const KERNEL: &str = "device challenge";

fn shape_error(message: String) -> EngineError {
    EngineError::Shape { kernel: KERNEL, message }
}

/// What a challenge asks: its seed, its shape and the class it is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeSpec {
    pub seed: [u8; 32],
    /// Rows and columns of every matrix.
    pub side: u32,
    /// Matrices the fill keeps (at least 2).
    pub blocks: u32,
    /// Walk steps (at least 1).
    pub walk: u32,
    pub class: ReproClass,
}

impl ChallengeSpec {
    pub fn new(seed: [u8; 32], side: u32, blocks: u32, walk: u32, class: ReproClass) -> Result<Self, EngineError> {
        if !(MIN_SIDE..=MAX_SIDE).contains(&side) || !side.is_multiple_of(4) {
            return Err(shape_error(format!(
                "block side {side} must be a multiple of 4 within {MIN_SIDE}..={MAX_SIDE}"
            )));
        }
        if blocks < 2 || u64::from(blocks) > MAX_BLOCKS {
            return Err(shape_error(format!("{blocks} blocks: a fill holds 2 to {MAX_BLOCKS}")));
        }
        if walk == 0 || walk > 4 * MAX_BLOCKS as u32 {
            return Err(shape_error(format!("{walk} walk steps: a walk takes 1 to {}", 4 * MAX_BLOCKS)));
        }
        Ok(Self { seed, side, blocks, walk, class })
    }

    /// The challenge for a device that declared `fill_bytes` to fill: the smallest power-of-two
    /// side (at least [`MIN_SIDE`]) whose blocks number at most [`MAX_BLOCKS`], as many blocks as
    /// fit, and as many walk steps as blocks.
    pub fn for_fill(seed: [u8; 32], fill_bytes: u64, class: ReproClass) -> Result<Self, EngineError> {
        let mut side = MIN_SIDE;
        while side < MAX_SIDE && fill_bytes / block_bytes(side) > MAX_BLOCKS {
            side *= 2;
        }
        let blocks = (fill_bytes / block_bytes(side)).min(MAX_BLOCKS);
        if blocks < 2 {
            return Err(shape_error(format!("{fill_bytes} bytes hold fewer than two blocks of {side}x{side} floats")));
        }
        Self::new(seed, side, blocks as u32, blocks as u32, class)
    }

    /// Matrices committed to: the fill's blocks, then the walk's outputs.
    pub fn leaves(&self) -> u64 {
        u64::from(self.blocks) + u64::from(self.walk)
    }

    /// Steps, each producing one leaf from the leaf before it: `1..leaves()`.
    pub fn steps(&self) -> u64 {
        self.leaves() - 1
    }

    /// Bytes of device memory the fill keeps.
    pub fn fill_bytes(&self) -> u64 {
        u64::from(self.blocks) * block_bytes(self.side)
    }

    fn elements(&self) -> usize {
        self.side as usize * self.side as usize
    }

    /// Floating-point operations of an honest answer: a GEMM per step, and the walk's additions.
    pub fn flops(&self) -> u64 {
        let m = u64::from(self.side);
        self.steps() * 2 * m * m * m + u64::from(self.walk) * READS_PER_STEP as u64 * m * m
    }

    fn stream(&self, label: &[u8]) -> SplitMix64 {
        let mut h = blake3::Hasher::new();
        h.update(b"gridmint.device-challenge");
        h.update(&self.seed);
        h.update(label);
        let bytes = h.finalize();
        SplitMix64::new(u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes")))
    }

    /// The first block: uniform in [-1, 1).
    pub fn origin(&self) -> Vec<f32> {
        let mut rng = self.stream(b"origin");
        (0..self.elements()).map(|_| rng.range(-1.0, 1.0)).collect()
    }

    /// The fill's matrix `W` and the walk's `V`: uniform, scaled so that a step neither dies out
    /// nor saturates (a gain of about 2 over the step's input spread).
    pub fn weights(&self) -> (Vec<f32>, Vec<f32>) {
        let m = f64::from(self.side);
        let fill_scale = (2.0 * (3.0 / m).sqrt()) as f32;
        let walk_scale = (2.0 * (3.0 / (m * (READS_PER_STEP as f64 + 1.0))).sqrt()) as f32;
        let mut rng = self.stream(b"weights");
        let w = (0..self.elements()).map(|_| rng.range(-1.0, 1.0) * fill_scale).collect();
        let v = (0..self.elements()).map(|_| rng.range(-1.0, 1.0) * walk_scale).collect();
        (w, v)
    }

    /// The blocks a walk step reads, from its input's leaf (the root over all its rows).
    pub fn reads(&self, input_leaf: &Hash) -> [u32; READS_PER_STEP] {
        let mut rng = SplitMix64::new(u64::from_le_bytes(input_leaf[..8].try_into().expect("8 bytes")));
        std::array::from_fn(|_| rng.below(u64::from(self.blocks)) as u32)
    }

    /// The steps and rows a checker re-runs, from a seed drawn after the answer.
    pub fn samples(&self, sample_seed: [u8; 32], count: usize) -> Vec<Sample> {
        let mut h = blake3::Hasher::new();
        h.update(b"gridmint.device-challenge.samples");
        h.update(&self.seed);
        h.update(&sample_seed);
        let bytes = h.finalize();
        let mut rng = SplitMix64::new(u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes")));
        (0..count)
            .map(|_| Sample { step: 1 + rng.below(self.steps()), row: rng.below(u64::from(self.side)) as u32 })
            .collect()
    }
}

fn block_bytes(side: u32) -> u64 {
    u64::from(side) * u64::from(side) * 4
}

/// One sampled step and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sample {
    pub step: u64,
    pub row: u32,
}

/// The leaf of one matrix: the Merkle root over its rows' hashes.
pub fn block_leaf(values: &[f32], side: u32) -> Hash {
    commitment::root(&row_hashes(values, side))
}

fn row_hashes(values: &[f32], side: u32) -> Vec<Hash> {
    values.chunks(side as usize).map(commitment::output_hash).collect()
}

/// One row of a fill step, as the kernels compute it: `tanh(prev · W)`.
pub fn fill_row(spec: &ChallengeSpec, w: &[f32], prev: &[f32]) -> Vec<f32> {
    let m = spec.side as usize;
    reference::unary(UnaryOp::Tanh, &reference::gemm(spec.class, prev, w, 1, m, m))
}

/// One row of a walk step: `tanh((y + s1 + … + s8) · V)`, the sum in that order.
pub fn walk_row(spec: &ChallengeSpec, v: &[f32], y: &[f32], stored: &[&[f32]]) -> Vec<f32> {
    let m = spec.side as usize;
    let mut acc = y.to_vec();
    for s in stored {
        for (a, b) in acc.iter_mut().zip(s.iter()) {
            *a = canonicalize(BinaryOp::Add.apply(*a, *b));
        }
    }
    reference::unary(UnaryOp::Tanh, &reference::gemm(spec.class, &acc, v, 1, m, m))
}

/// A whole answer computed on the CPU, every matrix kept: the reference the device is held to in
/// tests, and the honest prover of the simulations.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// One matrix per leaf.
    pub matrices: Vec<Vec<f32>>,
    pub leaves: Vec<Hash>,
    pub root: Hash,
}

impl Transcript {
    /// Computes the answer on the CPU. Each step's matrix is computed row by row (rows of a GEMM
    /// are independent), so this is `fill_row` and `walk_row` over every row.
    pub fn compute(spec: &ChallengeSpec) -> Self {
        Self::compute_with(spec, |_, _, _| None)
    }

    /// Like [`Transcript::compute`], but `substitute(step, read, block)` may hand a walk step
    /// another matrix for a read (what a prover that did not keep the block writes in its place).
    pub fn compute_with(spec: &ChallengeSpec, mut substitute: impl FnMut(u64, usize, u32) -> Option<Vec<f32>>) -> Self {
        let m = spec.side as usize;
        let (w, v) = spec.weights();
        let mut matrices = vec![spec.origin()];
        for _ in 1..spec.blocks {
            let prev = matrices.last().expect("the origin");
            let next: Vec<f32> = prev.chunks(m).flat_map(|row| fill_row(spec, &w, row)).collect();
            matrices.push(next);
        }
        for j in 0..u64::from(spec.walk) {
            let step = u64::from(spec.blocks) + j;
            let y = matrices.last().expect("the fill").clone();
            let reads = spec.reads(&block_leaf(&y, spec.side));
            let held: Vec<Vec<f32>> = reads
                .iter()
                .enumerate()
                .map(|(i, &b)| substitute(step, i, b).unwrap_or_else(|| matrices[b as usize].clone()))
                .collect();
            let next: Vec<f32> = (0..m)
                .flat_map(|r| {
                    let stored: Vec<&[f32]> = held.iter().map(|h| &h[r * m..(r + 1) * m]).collect();
                    walk_row(spec, &v, &y[r * m..(r + 1) * m], &stored)
                })
                .collect();
            matrices.push(next);
        }
        let leaves: Vec<Hash> = matrices.iter().map(|x| block_leaf(x, spec.side)).collect();
        let root = commitment::root(&leaves);
        Self { matrices, leaves, root }
    }

    /// The opening of `sample` from this transcript (the matrices it committed to).
    pub fn open(&self, spec: &ChallengeSpec, sample: Sample) -> StepOpening {
        let row_of =
            |leaf: u64, row: u32| RowOpening::new(spec.side, &self.leaves, leaf, &self.matrices[leaf as usize], row);
        open_with(spec, &self.leaves, sample, &row_of)
    }
}

/// The rows of matrices an opening of `sample` holds, as (leaf, row): the input, the output and
/// a walk step's reads (named by the input's leaf among `leaves`).
fn rows_of(spec: &ChallengeSpec, leaves: &[Hash], sample: Sample) -> Vec<(u64, u32)> {
    let Sample { step, row } = sample;
    let mut rows = vec![(step - 1, row), (step, row)];
    if step >= u64::from(spec.blocks) {
        rows.extend(spec.reads(&leaves[(step - 1) as usize]).iter().map(|&b| (u64::from(b), row)));
    }
    rows
}

fn open_with(
    spec: &ChallengeSpec,
    leaves: &[Hash],
    sample: Sample,
    row_of: &dyn Fn(u64, u32) -> RowOpening,
) -> StepOpening {
    let Sample { step, row } = sample;
    let stored = if step >= u64::from(spec.blocks) {
        spec.reads(&leaves[(step - 1) as usize]).iter().map(|&b| row_of(u64::from(b), row)).collect()
    } else {
        Vec::new()
    };
    StepOpening { step, row, input: row_of(step - 1, row), stored, output: row_of(step, row) }
}

/// One row of one committed matrix, with the proofs that tie it to the answer's root.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RowOpening {
    pub leaf: u64,
    pub leaf_hash: Hash,
    pub leaf_proof: Proof,
    pub row: u32,
    pub values: Vec<f32>,
    pub row_proof: Proof,
}

impl RowOpening {
    /// Opens row `row` of `matrix`, the matrix at `leaf` among `leaves`.
    pub fn new(side: u32, leaves: &[Hash], leaf: u64, matrix: &[f32], row: u32) -> Self {
        let rows = row_hashes(matrix, side);
        let m = side as usize;
        let r = row as usize;
        Self {
            leaf,
            leaf_hash: leaves[leaf as usize],
            leaf_proof: commitment::prove(leaves, leaf as usize).expect("a committed leaf"),
            row,
            values: matrix[r * m..(r + 1) * m].to_vec(),
            row_proof: commitment::prove(&rows, r).expect("a row of the matrix"),
        }
    }

    fn check(&self, spec: &ChallengeSpec, root: &Hash, leaf: u64, row: u32) -> Result<(), ChallengeFault> {
        let bad = |what: &'static str| ChallengeFault::Proof { leaf, row, what };
        if self.leaf != leaf || self.row != row || self.values.len() != spec.side as usize {
            return Err(bad("the opening is of another row, or of another length"));
        }
        let row_hash = commitment::output_hash(&self.values);
        if self.row_proof.index != row as usize
            || !commitment::verify(&self.leaf_hash, &row_hash, spec.side as usize, &self.row_proof)
        {
            return Err(bad("the row is not in its matrix"));
        }
        if self.leaf_proof.index != leaf as usize
            || !commitment::verify(root, &self.leaf_hash, spec.leaves() as usize, &self.leaf_proof)
        {
            return Err(bad("the matrix is not in the answer"));
        }
        Ok(())
    }
}

/// What a checker needs to re-run one row of one step.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StepOpening {
    pub step: u64,
    pub row: u32,
    /// The step's input row (`step - 1`, `row`); its matrix's leaf names a walk step's reads.
    pub input: RowOpening,
    /// A walk step's read blocks, row `row` of each, in read order.
    pub stored: Vec<RowOpening>,
    /// The step's output row (`step`, `row`).
    pub output: RowOpening,
}

/// Why an answer failed a check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeFault {
    #[error("row {row} of matrix {leaf}: {what}")]
    Proof { leaf: u64, row: u32, what: &'static str },
    #[error("step {step} is not a step of this challenge (1..{steps})")]
    NoSuchStep { step: u64, steps: u64 },
    #[error("walk step {step} opened the wrong blocks")]
    Reads { step: u64 },
    #[error("row {row} of step {step} is not what the step computes from its inputs")]
    Output { step: u64, row: u32 },
    #[error("the first matrix is not the challenge's origin")]
    Origin,
}

/// Checks one sampled row of one step against the answer's `root`: every opened row is in the
/// answer, a walk step read the blocks its input names, and the output row is what the step
/// computes from its inputs, bit for bit. Costs one row's GEMM.
pub fn check_opening(
    spec: &ChallengeSpec,
    root: &Hash,
    sample: Sample,
    weights: &(Vec<f32>, Vec<f32>),
    opening: &StepOpening,
) -> Result<(), ChallengeFault> {
    let Sample { step, row } = sample;
    if step == 0 || step > spec.steps() || row >= spec.side {
        return Err(ChallengeFault::NoSuchStep { step, steps: spec.leaves() });
    }
    if opening.step != step || opening.row != row {
        return Err(ChallengeFault::Proof { leaf: step, row, what: "the opening is of another sample" });
    }
    opening.input.check(spec, root, step - 1, row)?;
    opening.output.check(spec, root, step, row)?;
    let want = if step < u64::from(spec.blocks) {
        if !opening.stored.is_empty() {
            return Err(ChallengeFault::Reads { step });
        }
        fill_row(spec, &weights.0, &opening.input.values)
    } else {
        // The reads from the input's leaf, which its proof just tied to index `step - 1`.
        let reads = spec.reads(&opening.input.leaf_hash);
        if opening.stored.len() != READS_PER_STEP {
            return Err(ChallengeFault::Reads { step });
        }
        for (s, &b) in opening.stored.iter().zip(&reads) {
            s.check(spec, root, u64::from(b), row)?;
        }
        let stored: Vec<&[f32]> = opening.stored.iter().map(|s| s.values.as_slice()).collect();
        walk_row(spec, &weights.1, &opening.input.values, &stored)
    };
    let same = want.len() == opening.output.values.len()
        && want.iter().zip(&opening.output.values).all(|(a, b)| a.to_bits() == b.to_bits());
    if !same {
        return Err(ChallengeFault::Output { step, row });
    }
    Ok(())
}

/// Checks that the answer's first matrix is the challenge's origin (its leaf, with its proof).
pub fn check_origin(spec: &ChallengeSpec, root: &Hash, proof: &Proof) -> Result<(), ChallengeFault> {
    let leaf = block_leaf(&spec.origin(), spec.side);
    if proof.index != 0 || !commitment::verify(root, &leaf, spec.leaves() as usize, proof) {
        return Err(ChallengeFault::Origin);
    }
    Ok(())
}

/// Checks `samples` and the origin with openings from `open`; the first fault, if any.
pub fn check_answer(
    spec: &ChallengeSpec,
    root: &Hash,
    origin_proof: &Proof,
    samples: &[Sample],
    mut open: impl FnMut(Sample) -> StepOpening,
) -> Result<(), ChallengeFault> {
    check_origin(spec, root, origin_proof)?;
    let weights = spec.weights();
    for &s in samples {
        check_opening(spec, root, s, &weights, &open(s))?;
    }
    Ok(())
}

/// The challenge's kernels on one device.
#[derive(Debug)]
pub struct ChallengeProver {
    gemm: Gemm,
    tanh: Unary,
    add: Binary,
}

/// A device's answer: the root, the leaves, and the fill it keeps (on the device) to open.
#[derive(Debug)]
pub struct Answer {
    pub root: Hash,
    pub leaves: Vec<Hash>,
    blocks: Vec<Subbuffer<[f32]>>,
}

impl ChallengeProver {
    pub fn new(gpu: &Gpu, class: ReproClass) -> Result<Self, EngineError> {
        Ok(Self {
            gemm: Gemm::with_variant(gpu, class, gpu.gemm_layout(class))?,
            tanh: Unary::new(gpu, UnaryOp::Tanh)?,
            add: Binary::new(gpu, BinaryOp::Add, false)?,
        })
    }

    /// Computes the answer on the device, keeping the fill in device memory. Refuses up front
    /// (without allocating) when the fill and the walk's buffers exceed the device's memory.
    pub fn answer(&self, gpu: &Gpu, spec: &ChallengeSpec) -> Result<Answer, EngineError> {
        if spec.class != self.gemm.class() {
            return Err(shape_error(format!(
                "the challenge is in the {:?} class; this prover computes {:?}",
                spec.class,
                self.gemm.class()
            )));
        }
        let m = spec.side as usize;
        // The fill, and the walk's working matrices: W, V, the scratch, two sums, two outputs.
        gpu.check_memory("the device challenge's fill", spec.fill_bytes() + 7 * block_bytes(spec.side))?;
        let (w, v) = spec.weights();
        let (w, v) = (gpu.upload(&w)?, gpu.upload(&v)?);
        let shape = GemmShape { m, n: m, k: m };
        let scratch = gpu.output::<f32>(spec.elements() as u64)?;
        let mut blocks = vec![gpu.upload(&spec.origin())?];
        let mut leaves = vec![block_leaf(&gpu.download(&blocks[0])?, spec.side)];
        for _ in 1..spec.blocks {
            let next = gpu.output::<f32>(spec.elements() as u64)?;
            let prev = blocks.last().expect("the origin");
            crate::kernels::run_alone(gpu, KERNEL, |b| {
                self.gemm.record(gpu, b, prev, &w, &scratch, shape)?;
                self.tanh.record(gpu, b, &scratch, &next)
            })?;
            leaves.push(block_leaf(&gpu.download(&next)?, spec.side));
            blocks.push(next);
        }
        let mut y = blocks.last().expect("the fill").clone();
        let sums = [gpu.output::<f32>(spec.elements() as u64)?, gpu.output::<f32>(spec.elements() as u64)?];
        let outs = [gpu.output::<f32>(spec.elements() as u64)?, gpu.output::<f32>(spec.elements() as u64)?];
        for j in 0..spec.walk as usize {
            let reads = spec.reads(leaves.last().expect("the fill's leaves"));
            let out = &outs[j % 2];
            crate::kernels::run_alone(gpu, KERNEL, |b| {
                let mut acc = &y;
                for (i, &r) in reads.iter().enumerate() {
                    let sum = &sums[i % 2];
                    self.add.record(gpu, b, acc, &blocks[r as usize], sum, m)?;
                    acc = sum;
                }
                self.gemm.record(gpu, b, acc, &v, &scratch, shape)?;
                self.tanh.record(gpu, b, &scratch, out)
            })?;
            leaves.push(block_leaf(&gpu.download(out)?, spec.side));
            y = out.clone();
        }
        let root = commitment::root(&leaves);
        Ok(Answer { root, leaves, blocks })
    }

    /// Opens `samples` of `answer`: fill rows come from the kept blocks, walk rows from a replay
    /// of the walk (its outputs are not kept). Each matrix an opening needs is read back once,
    /// its rows opened and the matrix dropped: the host holds one matrix at a time, whatever the
    /// fill.
    pub fn open(
        &self,
        gpu: &Gpu,
        spec: &ChallengeSpec,
        answer: &Answer,
        samples: &[Sample],
    ) -> Result<Vec<StepOpening>, EngineError> {
        use std::collections::{BTreeMap, BTreeSet};
        let mut wanted: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
        for &s in samples {
            if s.step == 0 || s.step > spec.steps() || s.row >= spec.side {
                return Err(shape_error(format!("sample {s:?} is not in this challenge")));
            }
            for (leaf, row) in rows_of(spec, &answer.leaves, s) {
                wanted.entry(leaf).or_default().insert(row);
            }
        }
        let mut opened: BTreeMap<(u64, u32), RowOpening> = BTreeMap::new();
        let keep = |leaf: u64, matrix: &[f32], opened: &mut BTreeMap<(u64, u32), RowOpening>| {
            for &row in &wanted[&leaf] {
                opened.insert((leaf, row), RowOpening::new(spec.side, &answer.leaves, leaf, matrix, row));
            }
        };
        let fill = u64::from(spec.blocks);
        for &leaf in wanted.keys().filter(|&&l| l < fill) {
            keep(leaf, &gpu.download(&answer.blocks[leaf as usize])?, &mut opened);
        }
        if let Some(&last) = wanted.keys().next_back().filter(|&&l| l >= fill) {
            self.replay(gpu, spec, answer, last, &mut |leaf, matrix| {
                if wanted.contains_key(&leaf) {
                    keep(leaf, matrix, &mut opened);
                }
            })?;
        }
        let row_of = |leaf: u64, row: u32| opened[&(leaf, row)].clone();
        Ok(samples.iter().map(|&s| open_with(spec, &answer.leaves, s, &row_of)).collect())
    }

    /// Runs the walk again up to leaf `last`, handing each output (its leaf index, the matrix) to
    /// `each`.
    fn replay(
        &self,
        gpu: &Gpu,
        spec: &ChallengeSpec,
        answer: &Answer,
        last: u64,
        each: &mut dyn FnMut(u64, &[f32]),
    ) -> Result<(), EngineError> {
        let m = spec.side as usize;
        let (_, v) = spec.weights();
        let v = gpu.upload(&v)?;
        let shape = GemmShape { m, n: m, k: m };
        let scratch = gpu.output::<f32>(spec.elements() as u64)?;
        let sums = [gpu.output::<f32>(spec.elements() as u64)?, gpu.output::<f32>(spec.elements() as u64)?];
        let outs = [gpu.output::<f32>(spec.elements() as u64)?, gpu.output::<f32>(spec.elements() as u64)?];
        let mut y = answer.blocks.last().expect("the fill").clone();
        for leaf in u64::from(spec.blocks)..=last {
            let reads = spec.reads(&answer.leaves[(leaf - 1) as usize]);
            let out = &outs[(leaf % 2) as usize];
            crate::kernels::run_alone(gpu, KERNEL, |b| {
                let mut acc = &y;
                for (i, &r) in reads.iter().enumerate() {
                    let sum = &sums[i % 2];
                    self.add.record(gpu, b, acc, &answer.blocks[r as usize], sum, m)?;
                    acc = sum;
                }
                self.gemm.record(gpu, b, acc, &v, &scratch, shape)?;
                self.tanh.record(gpu, b, &scratch, out)
            })?;
            each(leaf, &gpu.download(out)?);
            y = out.clone();
        }
        Ok(())
    }
}

impl Answer {
    /// The proof that the answer's first matrix is the origin ([`check_origin`]).
    pub fn origin_proof(&self) -> Proof {
        commitment::prove(&self.leaves, 0).expect("an answer has a first leaf")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(side: u32, blocks: u32, walk: u32) -> ChallengeSpec {
        ChallengeSpec::new([7; 32], side, blocks, walk, ReproClass::Unfused).expect("a valid shape")
    }

    #[test]
    fn a_fill_takes_the_smallest_side_that_keeps_blocks_few() {
        let s = ChallengeSpec::for_fill([1; 32], 1 << 20, ReproClass::Unfused).expect("fits");
        assert_eq!((s.side, s.blocks, s.walk), (16, 1024, 1024));
        let s = ChallengeSpec::for_fill([1; 32], 80 << 30, ReproClass::Unfused).expect("fits");
        assert_eq!(s.side, 4096);
        assert_eq!(s.blocks, 1280);
        assert!(s.fill_bytes() <= 80 << 30);
        assert!(ChallengeSpec::for_fill([1; 32], 1000, ReproClass::Unfused).is_err(), "too small for two blocks");
        assert!(ChallengeSpec::new([0; 32], 18, 4, 4, ReproClass::Unfused).is_err(), "side not a multiple of 4");
    }

    #[test]
    fn an_honest_answer_passes_every_sample_and_its_origin() {
        let spec = spec(16, 12, 12);
        let t = Transcript::compute(&spec);
        let samples: Vec<Sample> = (1..=spec.steps()).map(|step| Sample { step, row: (step % 16) as u32 }).collect();
        let proof = commitment::prove(&t.leaves, 0).expect("leaf 0");
        check_answer(&spec, &t.root, &proof, &samples, |s| t.open(&spec, s)).expect("honest passes");
    }

    #[test]
    fn the_walk_reads_blocks_its_input_names_and_the_values_stay_lively() {
        let spec = spec(16, 16, 16);
        let t = Transcript::compute(&spec);
        let last = t.matrices.last().expect("a walk");
        let saturated = last.iter().filter(|x| x.abs() == 1.0).count();
        let distinct: std::collections::HashSet<u32> = last.iter().map(|x| x.to_bits()).collect();
        assert!(saturated < last.len() / 4, "{saturated} of {} values saturated", last.len());
        assert!(distinct.len() > last.len() / 2, "only {} distinct values", distinct.len());
        let reads: std::collections::HashSet<u32> = (16..31).flat_map(|l| spec.reads(&t.leaves[l])).collect();
        assert!(reads.len() > 8, "the walk read only {reads:?}");
    }

    #[test]
    fn a_substituted_read_is_caught_at_its_step_and_only_there() {
        let spec = spec(16, 12, 12);
        let honest = Transcript::compute(&spec);
        let faked_step = 15;
        let liar = Transcript::compute_with(&spec, |step, read, _| {
            (step == faked_step && read == 3).then(|| honest.matrices[0].clone())
        });
        assert_ne!(liar.root, honest.root);
        let weights = spec.weights();
        for step in 1..=spec.steps() {
            let s = Sample { step, row: 5 };
            let got = check_opening(&spec, &liar.root, s, &weights, &liar.open(&spec, s));
            if step == faked_step {
                assert_eq!(got, Err(ChallengeFault::Output { step, row: 5 }));
            } else {
                assert_eq!(got, Ok(()), "step {step}");
            }
        }
    }

    #[test]
    fn openings_that_do_not_belong_are_refused() {
        let spec = spec(16, 8, 8);
        let t = Transcript::compute(&spec);
        let weights = spec.weights();
        let s = Sample { step: 10, row: 2 };
        let good = t.open(&spec, s);
        assert_eq!(check_opening(&spec, &t.root, s, &weights, &good), Ok(()));
        let mut bad = good.clone();
        bad.output.values[0] = f32::from_bits(bad.output.values[0].to_bits() ^ 1);
        assert!(matches!(check_opening(&spec, &t.root, s, &weights, &bad), Err(ChallengeFault::Proof { .. })));
        let mut bad = good.clone();
        let read = bad.stored[0].leaf;
        let other = (read + 1) % u64::from(spec.blocks);
        bad.stored[0] = RowOpening::new(spec.side, &t.leaves, other, &t.matrices[other as usize], 2);
        assert!(
            matches!(check_opening(&spec, &t.root, s, &weights, &bad), Err(ChallengeFault::Proof { .. })),
            "a block the step did not read"
        );
        let mut bad = good.clone();
        bad.stored.pop();
        assert_eq!(check_opening(&spec, &t.root, s, &weights, &bad), Err(ChallengeFault::Reads { step: 10 }));
        // The review's forgery: a committed row passed off as a row of another matrix, its proof
        // relabelled (the directions come from the index, so the path no longer leads to the root).
        let mut bad = good.clone();
        let real = t.open(&spec, Sample { step: 4, row: 2 }).output;
        bad.output = RowOpening { leaf: 10, leaf_proof: Proof { index: 10, ..real.leaf_proof.clone() }, ..real };
        assert!(matches!(check_opening(&spec, &t.root, s, &weights, &bad), Err(ChallengeFault::Proof { .. })));
        let other = Sample { step: 3, row: 2 };
        assert!(check_opening(&spec, &t.root, other, &weights, &good).is_err(), "another sample's opening");
        assert!(matches!(
            check_opening(&spec, &t.root, Sample { step: 99, row: 0 }, &weights, &good),
            Err(ChallengeFault::NoSuchStep { .. })
        ));
        let wrong_origin = commitment::prove(&t.leaves, 1).expect("leaf 1");
        assert_eq!(check_origin(&spec, &t.root, &wrong_origin), Err(ChallengeFault::Origin));
        let other_seed = ChallengeSpec { seed: [8; 32], ..spec };
        let proof = commitment::prove(&t.leaves, 0).expect("leaf 0");
        assert_eq!(check_origin(&other_seed, &t.root, &proof), Err(ChallengeFault::Origin));
    }
}
