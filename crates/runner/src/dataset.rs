//! Training data larger than memory: a file of `{"text": ..., "label": ...}` lines, read in
//! chunks and never held whole.
//!
//! A **chunk** is [`CHUNK_LINES`] consecutive lines (the file's last may hold fewer). One pass over
//! the file ([`Dataset::index`]) checks every line, tokenizes it, and keeps only what the job needs
//! without the text: where each chunk starts, the BLAKE3 of its bytes, and each sample's token
//! count (two bytes a sample, for the work units and the memory check). A chunk read again later is
//! checked against its BLAKE3, so a file changed under a running job is an error, not another model.
//!
//! The **order** of an epoch comes from the seed ([`Order`]): the chunks are shuffled, taken
//! [`WINDOW_CHUNKS`] at a time as windows, and each window's samples shuffled among themselves; the
//! epoch is the windows' samples one window after the other, and its batches are that sequence cut
//! into `batch_size` (the last one short). A run holds one window's tokens at a time
//! ([`Batches`]): at most `WINDOW_CHUNKS × CHUNK_LINES` samples and what is left of a batch,
//! whatever the file's size. Data of
//! at most one window is one window: its order is `epoch_order(samples, seed, epoch)`, the order of
//! every sample at once, as before windows.

use std::{
    collections::VecDeque,
    fs::File,
    io::{BufRead, BufReader, Read, Seek, SeekFrom},
    path::Path,
};

use gpu_engine::workloads::mlp::epoch_order;
use serde::Deserialize;

use super::JobError;

/// Lines a chunk.
pub const CHUNK_LINES: usize = 1024;
/// Chunks a window: the samples shuffled together, and what a run holds at once.
pub const WINDOW_CHUNKS: usize = 64;
/// The longest line: a text to classify is cut to a few hundred tokens anyway.
pub const MAX_LINE_BYTES: usize = 64 << 10;
/// The most samples a file may hold (a sample's token count is kept for each).
pub const MAX_SAMPLES: usize = 1 << 24;
/// Texts tokenized at once: a tokenizer holds every token of its batch (and the ones truncation
/// cuts off), so a chunk of long lines goes through in small batches (the ids are the same).
const TOKENIZE_BATCH: usize = 16;

/// Tokenizes a chunk's texts: (the file's name, the chunk's first line number, the texts); checks
/// them, naming the line.
pub type Tokenize<'a> = dyn FnMut(&str, usize, &[&str]) -> Result<Vec<Vec<u32>>, JobError> + 'a;

/// One line of the data: a text and its class.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    text: String,
    label: u32,
}

/// Reads line `n` of `file`; errors name the line.
pub fn parse_line(file: &str, n: usize, line: &str) -> Result<(String, u32), JobError> {
    let parsed: Line = serde_json::from_str(line).map_err(|e| {
        JobError::input(file, format!("line {n}: {e} (each line is {{\"text\": \"...\", \"label\": 0}})"))
    })?;
    if parsed.text.trim().is_empty() {
        return Err(JobError::input(file, format!("line {n}: the text is empty")));
    }
    Ok((parsed.text, parsed.label))
}

/// A chunk of the file: where it starts, its bytes, and their BLAKE3.
#[derive(Debug, Clone)]
struct Chunk {
    offset: u64,
    bytes: u64,
    hash: blake3::Hash,
}

/// A data file, indexed: see the module's documentation. The file stays open: a chunk is read
/// again from the file indexed, not from whatever its path names later.
#[derive(Debug)]
pub struct Dataset {
    name: String,
    file: File,
    chunks: Vec<Chunk>,
    tokens: Vec<u16>,
    max_label: u32,
}

/// Reads a file's lines one at a time, as [`crate::textfile::lines`] numbers them, at most
/// [`MAX_LINE_BYTES`] each.
struct LineReader<R> {
    inner: R,
    name: String,
    /// Lines read, and bytes read.
    lines: usize,
    offset: u64,
    /// The bytes read, hashed (the index pass's; a chunk read again is hashed whole first).
    hasher: Option<blake3::Hasher>,
}

impl<R: BufRead> LineReader<R> {
    /// The next line without its ending into `text`, and its number; `None` at the end.
    fn next_line(&mut self, text: &mut String) -> Result<Option<usize>, JobError> {
        let mut raw = Vec::new();
        let read = (&mut self.inner)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut raw)
            .map_err(|e| JobError::input(&self.name, format!("cannot be read after byte {}: {e}", self.offset)))?;
        if read == 0 {
            return Ok(None);
        }
        self.lines += 1;
        let n = self.lines;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&raw);
        }
        let start = self.offset;
        self.offset += read as u64;
        let body = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.len() > MAX_LINE_BYTES {
            return Err(JobError::input(&self.name, format!("line {n} is longer than {MAX_LINE_BYTES} bytes")));
        }
        text.clear();
        match std::str::from_utf8(body) {
            Ok(s) => text.push_str(s),
            Err(e) => {
                let at = start + e.valid_up_to() as u64;
                return Err(JobError::input(&self.name, format!("line {n}: invalid UTF-8 at byte {at}")));
            }
        }
        Ok(Some(n))
    }
}

/// A chunk's samples: tokens and label.
type Samples = Vec<(Vec<u32>, u32)>;

impl Dataset {
    /// One pass over `path` (named `name` in errors), at most `max_bytes` and `max_samples.0` lines
    /// (`max_samples.1` says why, in an error): every line read, checked (its label below `classes`
    /// when given) and tokenized, chunk by chunk.
    pub fn index(
        name: &str,
        path: &Path,
        max_bytes: u64,
        max_samples: (usize, &str),
        classes: Option<usize>,
        tokenize: &mut Tokenize<'_>,
    ) -> Result<Self, JobError> {
        let file = open_regular(name, path)?;
        let unreadable = |e: std::io::Error| JobError::input(name, format!("cannot be read: {e}"));
        let too_big = || JobError::input(name, format!("holds more than {max_bytes} bytes, the most it may"));
        if file.metadata().map_err(unreadable)?.len() > max_bytes {
            return Err(too_big());
        }
        let mut reader = LineReader {
            inner: BufReader::with_capacity(1 << 20, &file),
            name: name.to_owned(),
            lines: 0,
            offset: 0,
            hasher: None,
        };
        let (mut chunks, mut tokens, mut max_label) = (Vec::new(), Vec::new(), 0u32);
        let mut text = String::new();
        loop {
            let offset = reader.offset;
            reader.hasher = Some(blake3::Hasher::new());
            let mut texts = Vec::with_capacity(CHUNK_LINES);
            while texts.len() < CHUNK_LINES {
                let Some(n) = reader.next_line(&mut text)? else { break };
                let (sample, label) = parse_line(name, n, &text)?;
                if let Some(c) = classes
                    && label as usize >= c
                {
                    return Err(JobError::input(
                        name,
                        format!("line {n}: label {label} is out of range for {c} classes"),
                    ));
                }
                max_label = max_label.max(label);
                texts.push(sample);
            }
            if reader.offset > max_bytes {
                return Err(too_big());
            }
            if texts.is_empty() {
                break;
            }
            let most = max_samples.0.min(MAX_SAMPLES);
            if tokens.len() + texts.len() > most {
                let why = if most < max_samples.0 { "a file's most" } else { max_samples.1 };
                return Err(JobError::input(name, format!("holds more than {most} lines ({why})")));
            }
            let ids = tokenize_all(tokenize, name, tokens.len() + 1, &texts)?;
            tokens.extend(ids.iter().map(|s| u16::try_from(s.len()).unwrap_or(u16::MAX)));
            let hash = reader.hasher.take().unwrap_or_default().finalize();
            chunks.push(Chunk { offset, bytes: reader.offset - offset, hash });
            if texts.len() < CHUNK_LINES {
                break;
            }
        }
        if tokens.is_empty() {
            return Err(JobError::input(name, "has no lines"));
        }
        drop(reader);
        Ok(Self { name: name.to_owned(), file, chunks, tokens, max_label })
    }

    /// The number of lines, without reading them (a `\n` ends a line; one final newline does not
    /// make an extra one).
    pub fn count_lines(name: &str, path: &Path, max_bytes: u64) -> Result<usize, JobError> {
        let unreadable = |e: std::io::Error| JobError::input(name, format!("cannot be read: {e}"));
        let file = open_regular(name, path)?;
        let (mut reader, mut buf) =
            (BufReader::with_capacity(1 << 20, file.take(max_bytes.saturating_add(1))), [0u8; 1 << 16]);
        let (mut lines, mut read, mut last) = (0usize, 0u64, b'\n');
        loop {
            let n = reader.read(&mut buf).map_err(unreadable)?;
            if n == 0 {
                break;
            }
            lines += bytecount(&buf[..n]);
            read += n as u64;
            last = buf[n - 1];
        }
        if read > max_bytes {
            return Err(JobError::input(name, format!("holds more than {max_bytes} bytes, the most it may")));
        }
        Ok(lines + usize::from(last != b'\n'))
    }

    /// The file's name in the package.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn samples(&self) -> usize {
        self.tokens.len()
    }

    /// The largest label.
    pub fn max_label(&self) -> u32 {
        self.max_label
    }

    /// A sample's token count.
    pub fn tokens(&self, sample: usize) -> usize {
        usize::from(self.tokens[sample])
    }

    /// The most tokens a sample has.
    pub fn longest(&self) -> usize {
        self.tokens.iter().copied().max().map_or(1, usize::from)
    }

    /// The lines of chunk `k` (counted from 0).
    fn chunk_lines(&self, k: usize) -> std::ops::Range<usize> {
        k * CHUNK_LINES..((k + 1) * CHUNK_LINES).min(self.samples())
    }

    /// Reads chunk `k` again, checked against its BLAKE3 before anything is read from it, tokenized.
    fn read_chunk(&self, k: usize, tokenize: &mut Tokenize<'_>) -> Result<Samples, JobError> {
        let chunk = &self.chunks[k];
        let range = self.chunk_lines(k);
        let changed = || {
            JobError::input(
                &self.name,
                format!(
                    "changed while the job ran: lines {} to {} no longer hash to {}",
                    range.start + 1,
                    range.end,
                    chunk.hash
                ),
            )
        };
        let unreadable = |e: std::io::Error| JobError::input(&self.name, format!("cannot be read: {e}"));
        (&self.file).seek(SeekFrom::Start(chunk.offset)).map_err(unreadable)?;
        let mut raw = Vec::with_capacity(chunk.bytes as usize);
        (&self.file).take(chunk.bytes).read_to_end(&mut raw).map_err(unreadable)?;
        if raw.len() as u64 != chunk.bytes || blake3::hash(&raw) != chunk.hash {
            return Err(changed());
        }
        let mut reader = LineReader {
            inner: raw.as_slice(),
            name: self.name.clone(),
            lines: range.start,
            offset: chunk.offset,
            hasher: None,
        };
        let (mut texts, mut labels, mut text) = (Vec::with_capacity(range.len()), Vec::new(), String::new());
        while let Some(n) = reader.next_line(&mut text)? {
            let (sample, label) = parse_line(&self.name, n, &text)?;
            texts.push(sample);
            labels.push(label);
        }
        let ids = tokenize_all(tokenize, &self.name, range.start + 1, &texts)?;
        if ids.len() != range.len()
            || ids.iter().zip(range.clone()).any(|(s, i)| u16::try_from(s.len()).unwrap_or(u16::MAX) != self.tokens[i])
        {
            return Err(changed());
        }
        Ok(ids.into_iter().zip(labels).collect())
    }

    /// Every sample in file order, `batch` at a time (the last batch short): a test set's pass.
    pub fn in_order(
        &self,
        batch: usize,
        tokenize: &mut Tokenize<'_>,
        mut each: impl FnMut(Samples) -> Result<(), JobError>,
    ) -> Result<(), JobError> {
        let mut pending: VecDeque<(Vec<u32>, u32)> = VecDeque::new();
        for k in 0..self.chunks.len() {
            pending.extend(self.read_chunk(k, tokenize)?);
            while pending.len() >= batch {
                each(pending.drain(..batch).collect())?;
            }
        }
        if !pending.is_empty() {
            each(pending.into_iter().collect())?;
        }
        Ok(())
    }
}

/// `path` opened if it is a regular file (a FIFO or a device is refused before it is opened).
fn open_regular(name: &str, path: &Path) -> Result<File, JobError> {
    let unreadable = |e: std::io::Error| JobError::input(name, format!("cannot be read: {e}"));
    if !std::fs::symlink_metadata(path).map_err(unreadable)?.is_file() {
        return Err(JobError::input(name, "is not a regular file"));
    }
    let file = File::open(path).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(JobError::input(name, "is not a regular file"));
    }
    Ok(file)
}

/// `texts` (the first of them line `first` of `name`) tokenized [`TOKENIZE_BATCH`] at a time.
fn tokenize_all(
    tokenize: &mut Tokenize<'_>,
    name: &str,
    first: usize,
    texts: &[String],
) -> Result<Vec<Vec<u32>>, JobError> {
    let mut ids = Vec::with_capacity(texts.len());
    for (i, batch) in texts.chunks(TOKENIZE_BATCH).enumerate() {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        ids.extend(tokenize(name, first + i * TOKENIZE_BATCH, &refs)?);
    }
    Ok(ids)
}

/// Counts `\n` bytes.
fn bytecount(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

/// The seed of window `w`'s shuffle (window 0's is the job's seed).
fn window_seed(seed: u64, w: usize) -> u64 {
    seed ^ (w as u64).wrapping_mul(0xe703_7ed1_a0b4_28db)
}

/// The seed of the chunks' shuffle.
fn chunk_seed(seed: u64) -> u64 {
    seed ^ 0x8ebc_6af0_9c88_c6e3
}

/// The order of a dataset's samples, epoch by epoch, from a seed: see the module's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Order<'a> {
    set: &'a Dataset,
    seed: u64,
}

impl<'a> Order<'a> {
    pub fn new(set: &'a Dataset, seed: u64) -> Self {
        Self { set, seed }
    }

    /// Epoch `epoch`'s windows: each its chunks, in ascending order.
    fn windows(&self, epoch: u32) -> Vec<Vec<usize>> {
        let chunks = self.set.chunks.len();
        let order = if chunks <= WINDOW_CHUNKS {
            (0..chunks).collect()
        } else {
            epoch_order(chunks, chunk_seed(self.seed), epoch)
        };
        order
            .chunks(WINDOW_CHUNKS)
            .map(|w| {
                let mut w = w.to_vec();
                w.sort_unstable();
                w
            })
            .collect()
    }

    /// The samples of a window's chunks, ascending.
    fn members(&self, chunks: &[usize]) -> Vec<usize> {
        chunks.iter().flat_map(|&k| self.set.chunk_lines(k)).collect()
    }

    /// Window `w`'s shuffle of its `len` samples in epoch `epoch`.
    fn shuffle(&self, w: usize, len: usize, epoch: u32) -> Vec<usize> {
        epoch_order(len, window_seed(self.seed, w), epoch)
    }

    /// Calls `each` with every sample of epoch `epoch`, in order; one window's order at a time.
    pub fn for_each(&self, epoch: u32, mut each: impl FnMut(usize)) {
        for (w, chunks) in self.windows(epoch).iter().enumerate() {
            let members = self.members(chunks);
            for i in self.shuffle(w, members.len(), epoch) {
                each(members[i]);
            }
        }
    }

    /// The whole of epoch `epoch`'s order (a test's; a run never holds it).
    pub fn epoch(&self, epoch: u32) -> Vec<usize> {
        let mut all = Vec::with_capacity(self.set.samples());
        self.for_each(epoch, |s| all.push(s));
        all
    }
}

/// A run's batches, from optimizer step `step` on, read from the file a window at a time.
#[derive(Debug)]
pub struct Batches<'a> {
    order: Order<'a>,
    batch: usize,
    epoch: u32,
    windows: Vec<Vec<usize>>,
    next_window: usize,
    /// The samples read and not yet taken, in order.
    pending: VecDeque<(Vec<u32>, u32)>,
    /// Samples of the epoch not yet taken.
    left: usize,
}

impl<'a> Batches<'a> {
    /// Positioned at optimizer step `step` (counted from 0) of batches of `batch`.
    pub fn at(order: Order<'a>, batch: usize, step: u64, tokenize: &mut Tokenize<'_>) -> Result<Self, JobError> {
        let samples = order.set.samples();
        let per_epoch = samples.div_ceil(batch) as u64;
        let epoch = u32::try_from(step / per_epoch).unwrap_or(u32::MAX);
        let mut skip = (step % per_epoch) as usize * batch;
        let mut this = Self {
            order,
            batch,
            epoch,
            windows: order.windows(epoch),
            next_window: 0,
            pending: VecDeque::new(),
            left: samples - skip,
        };
        while skip > 0 {
            let size: usize = this.windows[this.next_window].iter().map(|&k| order.set.chunk_lines(k).len()).sum();
            if skip < size {
                this.load(tokenize)?;
                this.pending.drain(..skip);
                break;
            }
            skip -= size;
            this.next_window += 1;
        }
        Ok(this)
    }

    /// Reads the next window of the epoch into `pending`.
    fn load(&mut self, tokenize: &mut Tokenize<'_>) -> Result<(), JobError> {
        let w = self.next_window;
        let chunks = &self.windows[w];
        let mut read: Vec<Option<(Vec<u32>, u32)>> = Vec::new();
        for &k in chunks {
            read.extend(self.order.set.read_chunk(k, tokenize)?.into_iter().map(Some));
        }
        for i in self.order.shuffle(w, read.len(), self.epoch) {
            self.pending.push_back(read[i].take().expect("a shuffle visits each sample once"));
        }
        self.next_window += 1;
        Ok(())
    }

    /// The next step's samples: tokens and labels.
    pub fn next_batch(&mut self, tokenize: &mut Tokenize<'_>) -> Result<(Vec<Vec<u32>>, Vec<u32>), JobError> {
        if self.left == 0 {
            self.epoch += 1;
            self.windows = self.order.windows(self.epoch);
            self.next_window = 0;
            self.left = self.order.set.samples();
        }
        let take = self.batch.min(self.left);
        while self.pending.len() < take {
            self.load(tokenize)?;
        }
        self.left -= take;
        Ok(self.pending.drain(..take).unzip())
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, io::Write, path::Path};

    use gpu_engine::workloads::mlp::epoch_order;

    use super::{Batches, CHUNK_LINES, Dataset, JobError, Order, WINDOW_CHUNKS};

    /// A stand-in tokenizer for the index alone: a token per word, its id the word's length.
    fn words(_: &str, _: usize, texts: &[&str]) -> Result<Vec<Vec<u32>>, JobError> {
        Ok(texts.iter().map(|t| t.split_whitespace().map(|w| w.len() as u32).collect()).collect())
    }

    /// `lines` lines, sample `i`'s text `i` words long (mod 7) and its label `i % 3`.
    fn write(path: &Path, lines: usize) {
        let mut file = std::io::BufWriter::new(fs::File::create(path).expect("create"));
        for i in 0..lines {
            let text = vec!["w"; 1 + i % 7].join(" ");
            writeln!(file, "{{\"text\": \"{text} {i}\", \"label\": {}}}", i % 3).expect("write");
        }
    }

    fn index(path: &Path) -> Result<Dataset, JobError> {
        Dataset::index("d.jsonl", path, u64::MAX, (usize::MAX, ""), None, &mut words)
    }

    #[test]
    fn one_window_is_the_order_of_every_sample_at_once() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("d.jsonl");
        write(&path, 3000);
        let set = index(&path).expect("indexes");
        assert_eq!((set.samples(), set.chunks.len(), set.max_label()), (3000, 3, 2));
        for epoch in 0..3 {
            assert_eq!(Order::new(&set, 7).epoch(epoch), epoch_order(3000, 7, epoch));
        }
        assert_eq!(Dataset::count_lines("d.jsonl", &path, u64::MAX).expect("counts"), 3000);
    }

    /// More than a window: each epoch visits every sample once, in an order of its own that mixes
    /// the whole file (a window holds samples from all over it), and a run started at any step
    /// reads what a run from the start reads there.
    #[test]
    fn many_windows_shuffle_the_whole_file_and_resume_anywhere() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("d.jsonl");
        let samples = 2 * WINDOW_CHUNKS * CHUNK_LINES + 1500;
        write(&path, samples);
        let set = index(&path).expect("indexes");
        assert_eq!(set.chunks.len(), 2 * WINDOW_CHUNKS + 2);
        let order = Order::new(&set, 11);
        let (first, second) = (order.epoch(0), order.epoch(1));
        for epoch in [&first, &second] {
            let mut sorted = epoch.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..samples).collect::<Vec<_>>(), "a permutation");
        }
        assert_ne!(first, second);
        let window = WINDOW_CHUNKS * CHUNK_LINES;
        let spread = |w: &[usize]| w.iter().map(|s| s / window).collect::<std::collections::BTreeSet<_>>().len();
        assert_eq!(spread(&first[..window]), 3, "the first window draws from all of the file");

        // Labels and token counts as the file has them, batch by batch, from step 0 and from
        // steps inside the second window, across an epoch's end, and in the second epoch.
        let batch = 1000;
        let per_epoch = samples.div_ceil(batch) as u64;
        let expect = |step: u64| -> Vec<usize> {
            let epoch = (step / per_epoch) as usize;
            let at = (step % per_epoch) as usize * batch;
            [&first, &second][epoch][at..(at + batch).min(samples)].to_vec()
        };
        let mut from_start = Batches::at(order, batch, 0, &mut words).expect("positions");
        for step in 0..per_epoch + 3 {
            let (tokens, labels) = from_start.next_batch(&mut words).expect("reads");
            let want = expect(step);
            assert_eq!(labels, want.iter().map(|s| (s % 3) as u32).collect::<Vec<_>>(), "step {step}");
            let lens: Vec<usize> = tokens.iter().map(Vec::len).collect();
            assert_eq!(lens, want.iter().map(|&s| set.tokens(s)).collect::<Vec<_>>(), "step {step}");
            assert!(tokens.iter().zip(&want).all(|(t, s)| *t.last().expect("a token") as usize == s.to_string().len()));
        }
        for step in [70, 131, per_epoch - 1, per_epoch, per_epoch + 66] {
            let mut resumed = Batches::at(order, batch, step, &mut words).expect("positions");
            for s in step..step + 2 {
                let (_, labels) = resumed.next_batch(&mut words).expect("reads");
                assert_eq!(
                    labels,
                    expect(s).iter().map(|s| (s % 3) as u32).collect::<Vec<_>>(),
                    "from {step}: step {s}"
                );
            }
        }
    }

    #[test]
    fn data_lines_are_checked_with_their_line_numbers() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("t.jsonl");
        let err = |text: &str| {
            fs::write(&path, text).expect("write");
            index(&path).expect_err("bad").to_string()
        };
        assert!(
            err("{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\"}\n")
                .starts_with("d.jsonl: line 2: missing field `label`")
        );
        assert!(err("{\"text\": \" \", \"label\": 1}\n").contains("line 1: the text is empty"));
        assert!(err("{\"text\": \"a\", \"label\": -1}\n").starts_with("d.jsonl: line 1:"));
        assert!(err("{\"text\": \"a\", \"label\": 0, \"x\": 1}\n").contains("unknown field `x`"));
        assert_eq!(err(""), "d.jsonl: has no lines");
        fs::write(&path, "{\"text\": \"a b\", \"label\": 3}\r\n{\"text\": \"c\", \"label\": 1}").expect("write");
        let set = index(&path).expect("reads");
        assert_eq!((set.samples(), set.max_label(), set.tokens(0), set.tokens(1)), (2, 3, 2, 1));
    }

    #[test]
    fn a_file_changed_under_a_run_is_an_error_naming_the_lines() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("d.jsonl");
        write(&path, 3000);
        let set = index(&path).expect("indexes");
        let text = fs::read_to_string(&path).expect("read").replacen("\"label\": 1", "\"label\": 2", 1);
        fs::write(&path, text).expect("write");
        let mut batches = Batches::at(Order::new(&set, 7), 32, 0, &mut words).expect("positions");
        let err = batches.next_batch(&mut words).expect_err("changed").to_string();
        assert!(err.starts_with("d.jsonl: changed while the job ran: lines 1 to 1024 no longer hash to"), "{err}");
    }

    #[test]
    fn bad_lines_are_refused_naming_the_line_past_the_first_chunk() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("d.jsonl");
        let refused = |tail: &[u8], classes: Option<usize>| {
            write(&path, 1500);
            let mut file = fs::OpenOptions::new().append(true).open(&path).expect("open");
            file.write_all(tail).expect("append");
            Dataset::index("d.jsonl", &path, u64::MAX, (usize::MAX, ""), classes, &mut words)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            refused(b"{\"text\": \"a\", \"label\": 5}\n", Some(5)),
            "d.jsonl: line 1501: label 5 is out of range for 5 classes"
        );
        assert!(
            refused(b"\n{\"text\": \"a\", \"label\": 0}\n", None).starts_with("d.jsonl: line 1501: EOF while parsing")
        );
        assert!(refused(b"{\"text\": \" \", \"label\": 0}", None).ends_with("line 1501: the text is empty"));
        let long = format!("{{\"text\": \"{}\", \"label\": 0}}\n", "a".repeat(super::MAX_LINE_BYTES));
        assert_eq!(
            refused(long.as_bytes(), None),
            format!("d.jsonl: line 1501 is longer than {} bytes", super::MAX_LINE_BYTES)
        );
        write(&path, 1500);
        let at = fs::metadata(&path).expect("written").len();
        let err = refused(b"{\"text\": \"\xff\", \"label\": 0}\n", None);
        assert_eq!(err, format!("d.jsonl: line 1501: invalid UTF-8 at byte {}", at + 10));
        fs::write(&path, "").expect("empty");
        assert_eq!(index(&path).expect_err("empty").to_string(), "d.jsonl: has no lines");
        write(&path, 100);
        let err = Dataset::index("d.jsonl", &path, 1000, (usize::MAX, ""), None, &mut words)
            .expect_err("too big")
            .to_string();
        assert_eq!(err, "d.jsonl: holds more than 1000 bytes, the most it may");
        write(&path, 2100);
        let err = Dataset::index("d.jsonl", &path, u64::MAX, (2000, "the most it may"), None, &mut words)
            .expect_err("too long")
            .to_string();
        assert_eq!(err, "d.jsonl: holds more than 2000 lines (the most it may)");
        let fifo = tmp.path().join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            let err = index(&fifo).expect_err("a FIFO").to_string();
            assert_eq!(err, "d.jsonl: is not a regular file");
        }
    }
}
