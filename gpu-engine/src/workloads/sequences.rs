//! What the decoders (GPT-2's and the Llama family's) share on the device: the key-value caches
//! of a batch of sequences ([`DeviceCache`]), a step's new rows gathered from the sequences'
//! tokens ([`Batch`]), and the final norm and head of each sequence's last row ([`head_logits`]).

use vulkano::buffer::Subbuffer;

use crate::{
    EngineError, Gpu,
    attention::cache::CacheShape,
    kernels::{
        Gemm,
        gemm::GemmShape,
        rows::{LayerNormRows, RowsShape},
    },
};

/// The key-value caches of a batch of sequences on the device: one buffer per layer, `slots`
/// sequences of at most `cap` positions, how many rows each sequence holds, and (for a model
/// with rotary embeddings) the rotation table of the cache's positions.
#[derive(Debug)]
pub struct DeviceCache {
    shape: CacheShape,
    layers: Vec<Subbuffer<[f32]>>,
    rows: Vec<usize>,
    rope: Option<Subbuffer<[f32]>>,
}

/// A step's new rows: their input rows `x` (`[rows, hidden]`), `meta` (slot, position per row)
/// checked against the cache, and the row of each sequence's last new token.
#[derive(Debug)]
pub struct Batch {
    pub x: Vec<f32>,
    pub meta: Vec<u32>,
    pub last: Vec<usize>,
    pub rows: usize,
}

impl DeviceCache {
    /// Caches of `shape` for a model of `layers` layers, with the rotation table `rope` if any.
    pub fn new(gpu: &Gpu, shape: CacheShape, layers: usize, rope: Option<&[f32]>) -> Result<Self, EngineError> {
        shape.check()?;
        let table_bytes = rope.map_or(0, |t| t.len() as u64 * 4);
        gpu.check_memory("the decoder's key-value cache", (shape.len() * layers) as u64 * 4 + table_bytes)?;
        let buffers = (0..layers).map(|_| gpu.output::<f32>(shape.len() as u64)).collect::<Result<Vec<_>, _>>()?;
        let rope = rope.map(|t| gpu.upload(t)).transpose()?;
        Ok(Self { shape, layers: buffers, rows: vec![0; shape.slots], rope })
    }

    /// Rows sequence `slot` holds.
    pub fn rows(&self, slot: usize) -> usize {
        self.rows.get(slot).copied().unwrap_or(0)
    }

    /// Positions each sequence may hold.
    pub fn cap(&self) -> usize {
        self.shape.cap
    }

    pub fn shape(&self) -> CacheShape {
        self.shape
    }

    pub(crate) fn layers(&self) -> &[Subbuffer<[f32]>] {
        &self.layers
    }

    pub(crate) fn rope_table(&self) -> Result<&Subbuffer<[f32]>, EngineError> {
        self.rope.as_ref().ok_or(EngineError::Shape {
            kernel: "decoder",
            message: "this cache was made for a model without rotary embeddings".into(),
        })
    }

    /// Empties sequence `slot`, for a new one (its old rows are overwritten as the new grows).
    pub fn reset(&mut self, slot: usize) {
        if let Some(rows) = self.rows.get_mut(slot) {
            *rows = 0;
        }
    }

    /// Gathers a step's new rows from `work` (slot and new ids, each slot at most once), the
    /// input rows of each sequence's ids from `embed(slot, past, ids)` (which checks them first);
    /// every row is checked against the cache before anything runs.
    pub fn batch(
        &self,
        work: &[(usize, &[u32])],
        mut embed: impl FnMut(usize, usize, &[u32]) -> Result<Vec<f32>, EngineError>,
    ) -> Result<Batch, EngineError> {
        let bad = |message: String| Err(EngineError::Shape { kernel: "decoder", message });
        if work.is_empty() {
            return bad("a step needs at least one sequence".into());
        }
        let mut seen = vec![false; self.shape.slots];
        let (mut x, mut meta, mut last) = (Vec::new(), Vec::new(), Vec::with_capacity(work.len()));
        for &(slot, ids) in work {
            if slot >= self.shape.slots || std::mem::replace(&mut seen[slot], true) {
                return bad(format!("slot {slot} is not in the cache's {} or comes twice", self.shape.slots));
            }
            let past = self.rows[slot];
            x.extend(embed(slot, past, ids)?);
            if past + ids.len() > self.shape.cap {
                return bad(format!(
                    "sequence {slot} would hold {} rows; its cache holds {}",
                    past + ids.len(),
                    self.shape.cap
                ));
            }
            for j in 0..ids.len() {
                meta.extend([slot as u32, (past + j) as u32]);
            }
            last.push(meta.len() / 2 - 1);
        }
        self.shape.check_rows(&meta)?;
        let rows = meta.len() / 2;
        Ok(Batch { x, meta, last, rows })
    }

    /// The sequences of `work` hold their new rows (after the step ran).
    pub fn advance(&mut self, work: &[(usize, &[u32])]) {
        for &(slot, ids) in work {
            self.rows[slot] += ids.len();
        }
    }
}

/// Checks `ids` after `past` rows of sequence `sequence`: at least one, in the vocabulary, within
/// the model's positions.
pub fn check_ids(sequence: usize, past: usize, ids: &[u32], vocab: usize, positions: usize) -> Result<(), EngineError> {
    let bad = |message: String| Err(EngineError::Shape { kernel: "decoder", message });
    if ids.is_empty() {
        return bad(format!("sequence {sequence} has no new tokens"));
    }
    if past + ids.len() > positions {
        return bad(format!(
            "sequence {sequence} would hold {} tokens, more than the {positions} positions of the model",
            past + ids.len()
        ));
    }
    if let Some((t, id)) = ids.iter().enumerate().find(|(_, id)| **id as usize >= vocab) {
        return bad(format!("sequence {sequence}, token {}: id {id} is outside the vocabulary", past + t));
    }
    Ok(())
}

/// The head `[h, v]` as the device holds it: each row padded with zeros to a multiple of 4
/// columns, so that the GEMM takes its fastest layout (texel loads need N a multiple of 4; a
/// vocabulary of 50,257 fell back to one four times slower). A column's sums do not depend on the
/// others: the first `v` columns are the same bits.
pub(crate) fn padded_head(head: &[f32], h: usize, v: usize) -> std::borrow::Cow<'_, [f32]> {
    let padded = v.next_multiple_of(4);
    if padded == v {
        return std::borrow::Cow::Borrowed(head);
    }
    let mut out = Vec::with_capacity(h * padded);
    for row in head.chunks_exact(v) {
        out.extend_from_slice(row);
        out.resize(out.len() + padded - v, 0.0);
    }
    std::borrow::Cow::Owned(out)
}

/// The logits of the rows `last` of `hidden` (`[rows, h]` on the device): their final norm
/// (`final_norm` with its scale and bias; an RMS norm reads no bias) and the head (as
/// [`padded_head`] made it from `[h, v]`), in a submission of their own.
#[allow(clippy::too_many_arguments)]
pub(crate) fn head_logits(
    gpu: &Gpu,
    norm: &LayerNormRows,
    gemm: &Gemm,
    hidden: &Subbuffer<[f32]>,
    last: &[usize],
    final_norm: (&Subbuffer<[f32]>, &Subbuffer<[f32]>),
    head: &Subbuffer<[f32]>,
    (h, v): (usize, usize),
    eps: f32,
) -> Result<Vec<Vec<f32>>, EngineError> {
    let all = gpu.download(hidden)?;
    let mut picked = Vec::with_capacity(last.len() * h);
    for &r in last {
        picked.extend_from_slice(&all[r * h..(r + 1) * h]);
    }
    let m = last.len();
    let padded = v.next_multiple_of(4);
    let picked = gpu.upload(&picked)?;
    let normed = gpu.output::<f32>((m * h) as u64)?;
    let logits = gpu.output::<f32>((m * padded) as u64)?;
    let mut rec = gpu.recorder()?;
    norm.record(gpu, &mut rec, &picked, final_norm.0, final_norm.1, &normed, RowsShape { rows: m, n: h }, eps)?;
    gemm.record(gpu, &mut rec, &normed, head, &logits, GemmShape { m, n: padded, k: h })?;
    gpu.submit("decoder head", rec)?;
    let logits = gpu.download(&logits)?;
    Ok(logits.chunks_exact(padded).map(|row| row[..v].to_vec()).collect())
}
