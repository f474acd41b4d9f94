//! The output folder, written all at once: files go to a hidden staging folder beside it, which
//! becomes the output folder only when the run has succeeded. A failed run (or a crash) leaves no
//! partial output under the output folder's name.

use std::{
    fs,
    path::{Path, PathBuf},
};

use gpu_engine::commitment;
use gridmint_protocol::{RunReport, job::OutputFile};

use super::JobError;

/// The report's file name inside the output folder.
pub const REPORT_FILE: &str = "result.json";

#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: PathBuf,
    files: Vec<(String, u64, blake3::Hash)>,
    committed: bool,
}

impl Staging {
    /// Checks `target` is absent or an empty folder, then creates the staging folder beside it.
    pub fn create(target: &Path) -> Result<Self, JobError> {
        let bad = |message: String| JobError::Output { path: target.to_owned(), message };
        if target.exists() {
            let mut entries = fs::read_dir(target).map_err(|e| bad(format!("cannot be read: {e}")))?;
            if entries.next().is_some() {
                return Err(bad(
                    "is not empty; choose a new folder so that no earlier result is overwritten".to_owned()
                ));
            }
        }
        let name = target.file_name().ok_or_else(|| bad("has no folder name".to_owned()))?.to_string_lossy();
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(JobError::io("creating", parent))?;
        let dir = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(JobError::io("removing a stale", &dir))?;
        }
        fs::create_dir(&dir).map_err(JobError::io("creating", &dir))?;
        Ok(Self { target: target.to_owned(), dir, files: Vec::new(), committed: false })
    }

    /// Writes one output file (`relative` is `/`-separated).
    pub fn write(&mut self, relative: &str, bytes: &[u8]) -> Result<(), JobError> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(JobError::io("creating", parent))?;
        }
        fs::write(&path, bytes).map_err(JobError::io("writing", &path))?;
        self.files.push((relative.to_owned(), bytes.len() as u64, blake3::hash(bytes)));
        Ok(())
    }

    /// Writes the report (built from the outputs and their Merkle root) and moves the folder into
    /// place.
    pub fn commit(mut self, report: impl FnOnce(Vec<OutputFile>, String) -> RunReport) -> Result<RunReport, JobError> {
        self.files.sort_by(|a, b| a.0.cmp(&b.0));
        let leaves: Vec<commitment::Hash> = self.files.iter().map(|f| *f.2.as_bytes()).collect();
        let root = commitment::root(&leaves);
        let outputs = self
            .files
            .iter()
            .map(|(path, bytes, hash)| OutputFile {
                path: path.clone(),
                bytes: *bytes,
                blake3: hash.to_hex().to_string(),
            })
            .collect();
        let report = report(outputs, blake3::Hash::from_bytes(root).to_hex().to_string());
        let json = serde_json::to_vec_pretty(&report).expect("a report always serializes");
        let path = self.dir.join(REPORT_FILE);
        fs::write(&path, json).map_err(JobError::io("writing", &path))?;
        if self.target.exists() {
            fs::remove_dir(&self.target).map_err(JobError::io("replacing the empty folder", &self.target))?;
        }
        fs::rename(&self.dir, &self.target).map_err(JobError::io("moving the outputs to", &self.target))?;
        self.committed = true;
        Ok(report)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
