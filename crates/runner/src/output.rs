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

/// The domain byte of a result leaf. Inner nodes are `BLAKE3(0x01 || left || right)` and
/// dispatch leaves `BLAKE3(0x00 || output)` ([`commitment`]); a result leaf is neither.
const RESULT_LEAF: u8 = 0x02;

/// One output file's leaf: `BLAKE3(0x02 || len(path) as u64 LE || path || BLAKE3(content))`. It
/// binds the file's path as well as its content, and can never pass for an inner node: a one-file
/// result whose bytes spell an inner node (`0x01 || a || b`) has another root than the two-file
/// result under it.
pub fn result_leaf(path: &str, content: &blake3::Hash) -> commitment::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[RESULT_LEAF]);
    hasher.update(&(path.len() as u64).to_le_bytes());
    hasher.update(path.as_bytes());
    hasher.update(content.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The result root of output files given as (`/`-separated path, BLAKE3 of the content): the
/// Merkle root ([`commitment::root`]) over their [`result_leaf`]s in path order. The one place a
/// result root is computed: the runner's report, the provider's commitment and the buyer's check
/// all come here.
pub fn result_root<'a>(files: impl IntoIterator<Item = (&'a str, &'a blake3::Hash)>) -> commitment::Hash {
    let mut files: Vec<(&str, &blake3::Hash)> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let leaves: Vec<commitment::Hash> = files.iter().map(|(path, hash)| result_leaf(path, hash)).collect();
    commitment::root(&leaves)
}

/// A run's trace and the seconds spent building it.
#[derive(Debug, Clone, Default)]
pub struct Traced {
    pub trace: crate::trace::Trace,
    pub seconds: f64,
}

impl std::ops::Deref for Traced {
    type Target = crate::trace::Trace;
    fn deref(&self) -> &Self::Target {
        &self.trace
    }
}

/// The roots of a committed run (hex): the claim root a provider commits (the trace's, which
/// binds the files), the outputs root (the files' content address, the trace among them), the
/// trace root, and the seconds spent on the trace's file and tree.
#[derive(Debug, Clone)]
pub struct Roots {
    pub claim: String,
    pub outputs: String,
    pub trace: String,
    pub seconds: f64,
}

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

    /// Writes the trace among the outputs, then the report, and moves the folder into place.
    pub fn commit(
        mut self,
        trace: &Traced,
        report: impl FnOnce(Vec<OutputFile>, Roots) -> RunReport,
    ) -> Result<RunReport, JobError> {
        let started = std::time::Instant::now();
        self.write(crate::trace::TRACE_FILE, &trace.trace.encode())?;
        self.files.sort_by(|a, b| a.0.cmp(&b.0));
        let root = result_root(self.files.iter().map(|(path, _, hash)| (path.as_str(), hash)));
        let hex = |bytes: &[u8; 32]| blake3::Hash::from_bytes(*bytes).to_hex().to_string();
        let roots = Roots {
            claim: hex(&crate::trace::claim_root(&trace.trace)),
            outputs: hex(&root),
            trace: hex(&trace.trace.root()),
            seconds: started.elapsed().as_secs_f64(),
        };
        let outputs = self
            .files
            .iter()
            .map(|(path, bytes, hash)| OutputFile {
                path: path.clone(),
                bytes: *bytes,
                blake3: hash.to_hex().to_string(),
            })
            .collect();
        let report = report(outputs, roots);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_spelling_an_inner_node_does_not_pass_for_two_files() {
        let (a, b) = (b"first file".to_vec(), b"second file".to_vec());
        let two = [("a", blake3::hash(&a)), ("b", blake3::hash(&b))];
        let two_root = result_root(two.iter().map(|(p, h)| (*p, h)));
        // The 65 bytes of the inner node over the two leaves, as one file, under either name.
        let mut forged = vec![0x01];
        forged.extend_from_slice(&result_leaf("a", &two[0].1));
        forged.extend_from_slice(&result_leaf("b", &two[1].1));
        assert_eq!(forged.len(), 65);
        for name in ["a", "b", "forged"] {
            let one = result_root([(name, &blake3::hash(&forged))]);
            assert_ne!(one, two_root, "a one-file result under `{name}` spells the two-file root");
        }
        // Nor do the old plain-content leaves collide: the one-file root is its leaf, not BLAKE3(bytes).
        let plain = [0x01].iter().chain(two[0].1.as_bytes()).chain(two[1].1.as_bytes()).copied().collect::<Vec<u8>>();
        assert_ne!(
            result_root([("x", &blake3::hash(&plain))]),
            commitment::root(&[*two[0].1.as_bytes(), *two[1].1.as_bytes()])
        );
    }

    #[test]
    fn the_root_binds_names_and_ignores_order() {
        let h = blake3::hash(b"same bytes");
        let g = blake3::hash(b"other bytes");
        assert_ne!(result_root([("a.npy", &h)]), result_root([("b.npy", &h)]), "a renamed file changes the root");
        assert_ne!(
            result_root([("a", &h), ("b", &g)]),
            result_root([("a", &g), ("b", &h)]),
            "swapped contents change the root"
        );
        assert_eq!(result_root([("a", &h), ("b", &g)]), result_root([("b", &g), ("a", &h)]), "input order does not");
        // A path's length is bound: ("ab", x) and ("a", "b" || x) are different leaves.
        assert_ne!(result_leaf("ab", &h), result_leaf("a", &h));
    }
}
