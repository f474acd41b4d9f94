//! Opening a job package: a folder, or a .zip of one (extracted to a temporary folder that lives
//! as long as the [`Package`]).

use std::{
    fs,
    io::Read as _,
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

/// The manifest `bytes` of the package at `path` (named in messages), parsed.
pub fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<JobManifest, JobError> {
    let bad = |message: String| JobError::Package { path: path.to_owned(), message };
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(bad(format!("{MANIFEST_FILE} is over {MAX_MANIFEST_BYTES} bytes")));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("{MANIFEST_FILE} is not UTF-8: {e}")))?;
    toml::from_str(text).map_err(|e| bad(format!("{MANIFEST_FILE}: {}", e.to_string().trim_end())))
}

impl Package {
    pub fn open(path: &Path) -> Result<Self, JobError> {
        let bad = |message: String| JobError::Package { path: path.to_owned(), message };
        let meta = fs::metadata(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let (root, extracted) = if meta.is_dir() {
            (path.to_owned(), None)
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
            let dir = extract_zip(path)?;
            (
                find_root(dir.path()).ok_or_else(|| {
                    bad(format!("has no {MANIFEST_FILE} at its top level or in a single top-level folder"))
                })?,
                Some(dir),
            )
        } else {
            return Err(bad("is neither a folder nor a .zip".to_owned()));
        };
        let manifest_path = root.join(MANIFEST_FILE);
        let manifest_bytes = read_within(&manifest_path, MAX_MANIFEST_BYTES)
            .map_err(|e| bad(format!("{MANIFEST_FILE} cannot be read: {e}")))?;
        let manifest = parse_manifest(path, &manifest_bytes)?;
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
        let path = self.root.join(rel);
        self.refuse_links(key, relative, &path)?;
        Ok(path)
    }

    /// Refuses `path` (inside the package) if it or a folder on the way is a symbolic link: a
    /// link could lead anywhere on the machine (`data -> ~/.ssh`), and a package carries its own
    /// files. What does not exist is left to the caller's read to report.
    pub fn refuse_links(&self, key: &str, relative: &str, path: &Path) -> Result<(), JobError> {
        let Ok(below) = path.strip_prefix(&self.root) else { return Ok(()) };
        let mut at = self.root.clone();
        for part in below.components() {
            at.push(part);
            match fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let to = fs::read_link(&at).map(|t| t.display().to_string()).unwrap_or_default();
                    return Err(JobError::Package {
                        path: self.source.clone(),
                        message: format!(
                            "`{key}` = \"{relative}\": `{}` is a symbolic link (to {to}); a package carries its own files, so copy them in",
                            at.strip_prefix(&self.root).unwrap_or(&at).display()
                        ),
                    });
                }
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Reads a file named by the manifest's `key`, of at most `max_bytes`.
    pub fn read(&self, key: &str, relative: &str, max_bytes: u64) -> Result<Vec<u8>, JobError> {
        let path = self.file(key, relative)?;
        read_within(&path, max_bytes).map_err(|e| JobError::Package {
            path: self.source.clone(),
            message: format!("`{key}` = \"{relative}\" cannot be read: {e}"),
        })
    }
}

/// The most a manifest may hold: it is a few lines of settings.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// Reads `path` if it is a regular file of at most `max_bytes` (checked before reading, and
/// while reading, in case it grows).
pub fn read_within(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let too_big = || std::io::Error::other(format!("it holds more than {max_bytes} bytes, the most it may"));
    if meta.len() > max_bytes {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The most a zip package may expand to, and the most files it may hold: a package is data a
/// person collected, not an archive of a disk (a 10 MB deflate bomb would otherwise fill 10 GB).
pub const MAX_PACKAGE_BYTES: u64 = 4 << 30;
pub const MAX_PACKAGE_ENTRIES: usize = 10_000;

/// Extracts a zip, refusing entries that would land outside the folder, and a zip with more than
/// [`MAX_PACKAGE_ENTRIES`] entries or expanding to more than [`MAX_PACKAGE_BYTES`].
fn extract_zip(path: &Path) -> Result<tempfile::TempDir, JobError> {
    extract_zip_within(path, MAX_PACKAGE_BYTES, MAX_PACKAGE_ENTRIES)
}

fn extract_zip_within(path: &Path, max_bytes: u64, max_entries: usize) -> Result<tempfile::TempDir, JobError> {
    let bad = |message: String| JobError::Package { path: path.to_owned(), message };
    let file = fs::File::open(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(format!("is not a readable zip: {e}")))?;
    if archive.len() > max_entries {
        return Err(bad(format!("has {} entries, more than the {max_entries} a package may hold", archive.len())));
    }
    let mut left = max_bytes;
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
        let name = entry.name().to_owned();
        // What the entry expands to, read (its header may lie), at most one byte past the limit.
        let written = std::io::copy(&mut (&mut entry).take(left + 1), &mut out)
            .map_err(|e| bad(format!("entry `{name}`: {e}")))?;
        if written > left {
            return Err(bad(format!(
                "entry `{name}`: the package expands to more than {max_bytes} bytes, the most a package may hold"
            )));
        }
        left -= written;
    }
    Ok(dir)
}

/// The folder holding `job.toml`: the zip's top level, or its one top-level folder.
fn find_root(dir: &Path) -> Option<PathBuf> {
    if dir.join(MANIFEST_FILE).is_file() {
        return Some(dir.to_owned());
    }
    let entries: Vec<PathBuf> =
        fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    match entries.as_slice() {
        [only] if only.join(MANIFEST_FILE).is_file() => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A hostile package: 64 MiB of zeros deflated into a zip under 1 MiB. Extracting it wrote
    /// every byte the entry expanded to; now it stops at the limit and leaves nothing behind.
    #[test]
    fn attack_a_zip_bomb_package_is_refused_at_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bomb.zip");
        let mut zip = zip::ZipWriter::new(fs::File::create(&path).expect("create"));
        let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("job.toml", deflated).expect("entry");
        zip.write_all(b"kind = \"embed\"\n").expect("write");
        zip.start_file("input.txt", deflated).expect("entry");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            zip.write_all(&zeros).expect("write");
        }
        zip.finish().expect("zip");
        assert!(fs::metadata(&path).expect("size").len() < 1 << 20);
        let err = extract_zip_within(&path, 8 << 20, 100).expect_err("over the limit");
        let message = err.to_string();
        assert!(message.contains("input.txt") && message.contains("more than 8388608 bytes"), "{message}");
        let err = extract_zip_within(&path, 128 << 20, 1).expect_err("too many entries");
        assert!(err.to_string().contains("2 entries"), "{err}");
        assert!(extract_zip_within(&path, 128 << 20, 2).is_ok(), "within the limits it extracts");
    }
}
