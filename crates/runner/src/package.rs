//! Opening a job package: a folder, or a .zip of one (extracted to a temporary folder that lives
//! as long as the [`Package`]).

use std::{
    fs,
    path::{Component, Path, PathBuf},
};

use gridmint_protocol::{JobManifest, job::MANIFEST_FILE};

use super::JobError;

/// An opened package with its parsed manifest.
#[derive(Debug)]
pub struct Package {
    /// Where the package's files are (inside the temporary folder for a zip).
    pub root: PathBuf,
    /// What the caller passed, for messages.
    pub source: PathBuf,
    pub manifest: JobManifest,
    /// The manifest's exact bytes: the training hash chain starts from them.
    pub manifest_bytes: Vec<u8>,
    _extracted: Option<tempfile::TempDir>,
}

impl Package {
    pub fn open(path: &Path) -> Result<Self, JobError> {
        let bad = |message: String| JobError::Package { path: path.to_owned(), message };
        let meta = fs::metadata(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let (root, extracted) = if meta.is_dir() {
            (path.to_owned(), None)
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
            let dir = extract_zip(path)?;
            (find_root(dir.path()).map_err(bad)?, Some(dir))
        } else {
            return Err(bad("is neither a folder nor a .zip".to_owned()));
        };
        let manifest_path = root.join(MANIFEST_FILE);
        let manifest_bytes =
            fs::read(&manifest_path).map_err(|e| bad(format!("{MANIFEST_FILE} cannot be read: {e}")))?;
        let text =
            std::str::from_utf8(&manifest_bytes).map_err(|e| bad(format!("{MANIFEST_FILE} is not UTF-8: {e}")))?;
        let manifest: JobManifest =
            toml::from_str(text).map_err(|e| bad(format!("{MANIFEST_FILE}: {}", e.to_string().trim_end())))?;
        Ok(Self { root, source: path.to_owned(), manifest, manifest_bytes, _extracted: extracted })
    }

    /// The manifest value of `key`, which must be present for this kind of job.
    pub fn required<'a>(&self, key: &str, value: &'a Option<String>) -> Result<&'a str, JobError> {
        value.as_deref().ok_or_else(|| JobError::Package {
            path: self.source.clone(),
            message: format!("{MANIFEST_FILE}: `{key}` is required for kind = \"{}\"", self.manifest.kind.as_str()),
        })
    }

    /// A path named by the manifest's `key`, inside the package.
    pub fn file(&self, key: &str, relative: &str) -> Result<PathBuf, JobError> {
        let rel = Path::new(relative);
        let inside =
            !relative.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !inside {
            return Err(JobError::Package {
                path: self.source.clone(),
                message: format!(
                    "{MANIFEST_FILE}: `{key}` = \"{relative}\" must be a relative path inside the package"
                ),
            });
        }
        Ok(self.root.join(rel))
    }

    /// Reads a file named by the manifest's `key`.
    pub fn read(&self, key: &str, relative: &str) -> Result<Vec<u8>, JobError> {
        let path = self.file(key, relative)?;
        fs::read(&path).map_err(|e| JobError::Package {
            path: self.source.clone(),
            message: format!("`{key}` = \"{relative}\" cannot be read: {e}"),
        })
    }
}

/// Extracts a zip, refusing entries that would land outside the folder.
fn extract_zip(path: &Path) -> Result<tempfile::TempDir, JobError> {
    let bad = |message: String| JobError::Package { path: path.to_owned(), message };
    let file = fs::File::open(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(format!("is not a readable zip: {e}")))?;
    let dir = tempfile::Builder::new()
        .prefix("gridmint-package-")
        .tempdir()
        .map_err(JobError::io("creating a temporary folder in", std::env::temp_dir()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(format!("entry {i}: {e}")))?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(bad(format!("entry `{}` would be written outside the package", entry.name())));
        };
        let target = dir.path().join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(JobError::io("creating", &target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(JobError::io("creating", parent))?;
        }
        let mut out = fs::File::create(&target).map_err(JobError::io("creating", &target))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| bad(format!("entry `{}`: {e}", entry.name())))?;
    }
    Ok(dir)
}

/// The folder holding `job.toml`: the zip's top level, or its one top-level folder.
fn find_root(dir: &Path) -> Result<PathBuf, String> {
    if dir.join(MANIFEST_FILE).is_file() {
        return Ok(dir.to_owned());
    }
    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match entries.as_slice() {
        [only] if only.join(MANIFEST_FILE).is_file() => Ok(only.clone()),
        _ => Err(format!("has no {MANIFEST_FILE} at its top level or in a single top-level folder")),
    }
}
