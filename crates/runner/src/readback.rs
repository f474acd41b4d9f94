//! A result folder read back for people (the app's result view): each kind's outputs summed up,
//! a generate job's first completions as text. Reads only what it shows, with limits: a result
//! may be large, and may come from a peer.

use std::path::Path;

use gridmint_protocol::{CompletionView, ResultView, job::MAX_LOSS_POINTS};

use crate::{JobError, generate::COMPLETIONS_FILE, kernel::BUFFERS_FILE};

/// The most completions shown, and the most bytes read to show them.
pub const SHOWN_COMPLETIONS: usize = 100;
pub const MAX_SHOWN_BYTES: u64 = 4 << 20;

/// The first bytes of `path`, at most `max`.
fn head(path: &Path, max: u64) -> Result<Vec<u8>, JobError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(JobError::io("reading", path))?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(JobError::io("reading", path))?;
    Ok(bytes)
}

/// Lines in the file at `path` (counted as it streams; nothing kept).
fn count_lines(path: &Path) -> Result<u64, JobError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(JobError::io("reading", path))?;
    let (mut lines, mut buffer) = (0u64, vec![0u8; 1 << 16]);
    loop {
        let n = file.read(&mut buffer).map_err(JobError::io("reading", path))?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// The most entries, and folder levels, a result folder is read for.
pub const MAX_ENTRIES: usize = 100_000;
pub const MAX_DEPTH: usize = 4;

/// Reads the result folder `dir` for people: its regular files (no link or device is followed
/// or opened), at most [`MAX_ENTRIES`] of them, [`MAX_DEPTH`] folders deep.
pub fn read(dir: &Path) -> Result<ResultView, JobError> {
    let mut view = ResultView::default();
    let mut folders = vec![(dir.to_owned(), 0)];
    let mut seen = 0usize;
    while let Some((folder, depth)) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(JobError::io("reading", &folder))? {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(JobError::Output { path: dir.to_owned(), message: format!("over {MAX_ENTRIES} entries") });
            }
            let entry = entry.map_err(JobError::io("reading", &folder))?;
            let kind = entry.file_type().map_err(JobError::io("reading", entry.path()))?;
            if kind.is_dir() && depth < MAX_DEPTH {
                folders.push((entry.path(), depth + 1));
            } else if kind.is_file()
                && let Ok(name) = entry.path().strip_prefix(dir)
            {
                let len = entry.metadata().map_err(JobError::io("reading", entry.path()))?.len();
                view.files.push((name.to_string_lossy().replace('\\', "/"), len));
            }
        }
    }
    view.files.sort();
    let has = |name: &str| view.files.iter().any(|(n, _)| n == name);
    if has(COMPLETIONS_FILE) {
        view.kind = "generate".into();
        let path = dir.join(COMPLETIONS_FILE);
        view.completions_total = count_lines(&path)?;
        let bytes = head(&path, MAX_SHOWN_BYTES)?;
        for line in bytes.split(|b| *b == b'\n').take(SHOWN_COMPLETIONS) {
            #[derive(serde::Deserialize)]
            struct Line {
                index: u64,
                token_ids: Vec<u32>,
                text: String,
                finish_reason: String,
            }
            // A line cut by the read's limit is not shown.
            let Ok(l) = serde_json::from_slice::<Line>(line) else { continue };
            view.completions.push(CompletionView {
                index: l.index,
                text: l.text,
                finish_reason: l.finish_reason,
                tokens: l.token_ids.len() as u64,
            });
        }
        view.facts.push(("Completions".into(), view.completions_total.to_string()));
    } else if has("embeddings.npy") {
        view.kind = "embed".into();
        let bytes = head(&dir.join("embeddings.npy"), 4096)?;
        if let Some(shape) = npy_shape(&bytes) {
            view.facts.push(("Embeddings".into(), format!("{shape} float32 (one row per sentence)")));
        }
    } else if has(BUFFERS_FILE) {
        view.kind = "kernel".into();
        let bytes = head(&dir.join(BUFFERS_FILE), 64 << 10)?;
        let records: Vec<crate::kernel::BufferRecord> = serde_json::from_slice(&bytes).unwrap_or_default();
        for r in records {
            let label = format!("Buffer {}", r.binding);
            let value =
                format!("{:?} {:?}{}", r.dtype, r.shape, r.output.map(|o| format!(" → {o}")).unwrap_or_default());
            view.facts.push((label, value.to_lowercase()));
        }
    } else if has("metrics.json")
        && let Ok(metrics) =
            serde_json::from_slice::<crate::finetune::Metrics>(&head(&dir.join("metrics.json"), 64 << 20)?)
    {
        view.kind = "finetune".into();
        let losses: Vec<f64> = metrics.segments.iter().flat_map(|s| s.losses.iter().copied()).collect();
        view.facts.push(("Segments".into(), metrics.segments.len().to_string()));
        view.facts.push(("Optimizer steps".into(), losses.len().to_string()));
        if let (Some(first), Some(last)) = (losses.first(), losses.last()) {
            view.facts.push(("Loss".into(), format!("{first:.4} at the first step, {last:.4} at the last")));
        }
        view.facts.push(("Classes".into(), metrics.classes.to_string()));
        if let Some(test) = metrics.test_accuracy {
            view.facts.push(("Test accuracy".into(), format!("{:.2}%", test * 100.0)));
        }
        view.losses = loss_curve(&losses);
    } else if has("metrics.json") {
        view.kind = "train".into();
        let bytes = head(&dir.join("metrics.json"), 16 << 20)?;
        if let Ok(metrics) = serde_json::from_slice::<crate::train::Metrics>(&bytes)
            && let Some(last) = metrics.epochs.last()
        {
            view.facts.push(("Epochs".into(), metrics.epochs.len().to_string()));
            view.facts.push(("Last loss".into(), format!("{:.4}", last.loss)));
            view.facts.push(("Train accuracy".into(), format!("{:.2}%", last.train_accuracy * 100.0)));
            if let Some(test) = last.test_accuracy {
                view.facts.push(("Test accuracy".into(), format!("{:.2}%", test * 100.0)));
            }
        }
    }
    Ok(view)
}

/// The losses as a curve of at most [`MAX_LOSS_POINTS`] points: every one, or that many evenly
/// spread from the first to the last.
fn loss_curve(losses: &[f64]) -> Vec<f64> {
    if losses.len() <= MAX_LOSS_POINTS {
        return losses.to_vec();
    }
    (0..MAX_LOSS_POINTS).map(|i| losses[i * (losses.len() - 1) / (MAX_LOSS_POINTS - 1)]).collect()
}

/// A `.npy` header's shape, as written (`(3, 384)`).
fn npy_shape(bytes: &[u8]) -> Option<String> {
    let len = u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + len)?).ok()?;
    let shape = header.split("'shape': ").nth(1)?.split(')').next()?;
    Some(format!("{shape})").replace(", ", " × ").replace("(", "").replace(")", ""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_generate_result_reads_as_its_completions() {
        let dir = tempfile::tempdir().expect("tmp");
        let lines: String = (0..150)
            .map(|i| {
                format!("{{\"index\":{i},\"token_ids\":[1,2,3],\"text\":\"line {i}\",\"finish_reason\":\"length\"}}\n")
            })
            .collect();
        std::fs::write(dir.path().join("completions.jsonl"), &lines).expect("write");
        std::fs::write(dir.path().join("trace.bin"), b"x").expect("write");
        let view = super::read(dir.path()).expect("reads");
        assert_eq!((view.kind.as_str(), view.completions_total, view.completions.len()), ("generate", 150, 100));
        assert_eq!((view.completions[7].text.as_str(), view.completions[7].tokens), ("line 7", 3));
        assert_eq!(view.files.len(), 2);
        let e = tempfile::tempdir().expect("tmp");
        std::fs::write(e.path().join("embeddings.npy"), crate::npy::f32_matrix(&[0.0; 6], 2, 3)).expect("write");
        let view = super::read(e.path()).expect("reads");
        assert_eq!(view.facts, [("Embeddings".to_owned(), "2 × 3 float32 (one row per sentence)".to_owned())]);
    }

    /// A fine-tuning result (a run's, or a chain's joined one) reads as its segments and loss
    /// curve, not as an MLP's training.
    #[test]
    fn a_finetune_result_reads_as_its_loss_curve() {
        use crate::finetune::{Metrics, SegmentMetrics, metrics_file};
        let dir = tempfile::tempdir().expect("tmp");
        let segments: Vec<SegmentMetrics> = (0..300)
            .map(|k| SegmentMetrics { segment: k + 1, losses: vec![1.0 / f64::from(k + 1), 0.5 / f64::from(k + 1)] })
            .collect();
        let metrics = Metrics { segments, classes: 2, test_accuracy: Some(0.875) };
        std::fs::write(dir.path().join("metrics.json"), metrics_file(&metrics)).expect("write");
        let view = super::read(dir.path()).expect("reads");
        assert_eq!(view.kind, "finetune");
        let fact = |label: &str| view.facts.iter().find(|(l, _)| l == label).map(|(_, v)| v.as_str());
        assert_eq!((fact("Segments"), fact("Optimizer steps")), (Some("300"), Some("600")));
        assert_eq!(fact("Loss"), Some("1.0000 at the first step, 0.0017 at the last"));
        assert_eq!(fact("Test accuracy"), Some("87.50%"));
        assert_eq!(view.losses.len(), super::MAX_LOSS_POINTS);
        assert_eq!((view.losses[0], view.losses[super::MAX_LOSS_POINTS - 1]), (1.0, 0.5 / 300.0));
        assert_eq!(view.losses[1], 0.5, "step 1 of 599 is point 1 of 511");
        assert_eq!(super::loss_curve(&[0.7, 0.6, 0.65]), [0.7, 0.6, 0.65], "a short curve whole");
    }
}
