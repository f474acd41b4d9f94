//! Content-addressed job data: BLAKE3-named blobs in a node's own store, and deterministic
//! bundles (zip archives) of a folder's files. Moving them between nodes is [`crate::endpoint`]'s job.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use crate::PeerError;

/// A content-addressed blob folder.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PeerError {
    let path = path.to_owned();
    move |source| PeerError::Io { what, path, source }
}

impl BlobStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, hash: &blake3::Hash) -> PathBuf {
        self.dir.join(hash.to_hex().as_str())
    }

    /// Stores `bytes` under their BLAKE3 (written to a temporary name, then renamed: readers never
    /// see half a blob).
    pub fn put(&self, bytes: &[u8]) -> Result<blake3::Hash, PeerError> {
        let hash = blake3::hash(bytes);
        let path = self.path(&hash);
        if !path.exists() {
            fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
            fs::rename(&tmp, &path).map_err(io("storing", &path))?;
        }
        Ok(hash)
    }

    /// The blob named `hash`, checked against it; `None` if this store does not have it.
    pub fn get(&self, hash: &blake3::Hash) -> Result<Option<Vec<u8>>, PeerError> {
        let path = self.path(hash);
        match fs::read(&path) {
            Ok(bytes) if blake3::hash(&bytes) == *hash => Ok(Some(bytes)),
            Ok(_) => Err(PeerError::Exchange { message: format!("blob {} does not match its name", hash.to_hex()) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PeerError::Io { what: "reading", path, source: e }),
        }
    }

    /// Names a blob (e.g. `results/<root>`), so that a reader who knows only the name finds it.
    pub fn link(&self, name: &str, hash: &blake3::Hash) -> Result<(), PeerError> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        fs::write(&tmp, hash.to_hex().as_bytes()).map_err(io("writing", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("storing", &path))
    }

    /// The blob a name points to.
    pub fn resolve(&self, name: &str) -> Result<Option<Vec<u8>>, PeerError> {
        let path = self.dir.join(name);
        let Ok(hex) = fs::read_to_string(&path) else { return Ok(None) };
        let hash = blake3::Hash::from_hex(hex.trim())
            .map_err(|e| PeerError::Exchange { message: format!("{}: {e}", path.display()) })?;
        self.get(&hash)
    }
}

/// Every regular file under `dir` (relative, `/`-separated, sorted), skipping hidden names.
pub fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>, PeerError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(io("listing", &d))? {
            let entry = entry.map_err(io("listing", &d))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let rel = path.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A zip of `(name, bytes)` entries in name order, stored uncompressed with fixed timestamps:
/// the same files always give the same bytes, so the same BLAKE3.
pub fn bundle(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, PeerError> {
    let mut sorted: Vec<&(String, Vec<u8>)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let bad = |e: &dyn std::fmt::Display| PeerError::Exchange { message: format!("bundling: {e}") };
    for (name, bytes) in sorted {
        // What a reader would refuse is refused here, where the sender can still rename it.
        entry_name(name)?;
        zip.start_file(name.as_str(), options).map_err(|e| bad(&e))?;
        zip.write_all(bytes).map_err(|e| bad(&e))?;
    }
    Ok(zip.finish().map_err(|e| bad(&e))?.into_inner())
}

/// The entries of a bundle, refusing names that would leave a folder.
pub fn unbundle(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, PeerError> {
    let bad = |message: String| PeerError::Exchange { message };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(format!("not a bundle: {e}")))?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry_name(entry.name())?.to_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| bad(format!("entry `{name}`: {e}")))?;
        out.push((name, data));
    }
    Ok(out)
}

/// The result root of output files held in memory ([`gridmint_runner::output::result_root`], the
/// one definition; `result.json` carries the same).
pub fn result_root(entries: &[(String, Vec<u8>)]) -> [u8; 32] {
    let hashes: Vec<(&str, blake3::Hash)> =
        entries.iter().map(|(name, bytes)| (name.as_str(), blake3::hash(bytes))).collect();
    gridmint_runner::output::result_root(hashes.iter().map(|(name, hash)| (*name, hash)))
}

/// A bundle entry's name as it may be written under a folder: relative, `/`-separated, every
/// component a plain name. Refused with the name in the error: empty names and components, `.`
/// and `..`, a leading `/`, a backslash (a separator on Windows, a plain character on Unix: checking
/// first and converting after let `..\\..\\x` through), `:` (drive letters, alternate streams) and
/// control characters.
pub fn entry_name(raw: &str) -> Result<&str, PeerError> {
    let refuse = |why: &str| Err(PeerError::Exchange { message: format!("entry {raw:?}: {why}") });
    if raw.is_empty() {
        return refuse("has no name");
    }
    if raw.contains('\\') || raw.contains(':') || raw.chars().any(char::is_control) {
        return refuse("has a backslash, a colon or a control character");
    }
    if raw.starts_with('/') {
        return refuse("is an absolute path");
    }
    if raw.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return refuse("leaves the folder or has an empty part");
    }
    Ok(raw)
}

/// Writes entries under `dir`; a name that could leave `dir` ([`entry_name`]) is refused before
/// anything is written.
pub fn write_all(dir: &Path, entries: &[(String, Vec<u8>)]) -> Result<(), PeerError> {
    for (name, _) in entries {
        entry_name(name)?;
    }
    for (name, bytes) in entries {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        fs::write(&path, bytes).map_err(io("writing", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_deterministic_and_round_trip() {
        let entries = vec![("b.txt".to_owned(), b"two".to_vec()), ("a/x.bin".to_owned(), vec![0, 1, 2])];
        let one = bundle(&entries).expect("bundle");
        let reversed: Vec<_> = entries.iter().rev().cloned().collect();
        assert_eq!(one, bundle(&reversed).expect("bundle"), "order does not matter");
        let mut back = unbundle(&one).expect("unbundle");
        back.sort();
        let mut want = entries.clone();
        want.sort();
        assert_eq!(back, want);
        assert_eq!(result_root(&entries), result_root(&reversed));
    }

    /// A peer's result bundle naming an entry with backslashes (`..\\..\\x`) passed
    /// `enclosed_name()` (a backslash is a plain character on Unix) and was then turned into
    /// `../../x`, which `write_all` wrote outside the results folder.
    #[test]
    fn attack_a_bundle_entry_named_with_backslashes_cannot_leave_the_results_folder() {
        let root = tempfile::tempdir().expect("tmp");
        let results = root.path().join("a/b/c/results");
        fs::create_dir_all(&results).expect("mkdir");
        for evil in [
            "..\\..\\..\\.config\\autostart\\x.desktop",
            "..\\escape.txt",
            "ok\\..\\..\\escape.txt",
            "C:\\Windows\\x.txt",
        ] {
            assert!(bundle(&[(evil.to_owned(), b"x".to_vec())]).is_err(), "{evil:?} is not bundled");
            // A hostile peer writes its zip by hand.
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            zip.start_file(evil, zip::write::SimpleFileOptions::default()).expect("entry");
            zip.write_all(b"pwned").expect("write");
            let bytes = zip.finish().expect("zip").into_inner();
            match unbundle(&bytes) {
                Err(e) => assert!(e.to_string().contains("entry"), "names the entry: {e}"),
                Ok(entries) => {
                    let _ = write_all(&results, &entries);
                }
            }
        }
        // Nothing landed anywhere but inside the results folder.
        let mut outside = Vec::new();
        let mut stack = vec![root.path().to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("read").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if !path.starts_with(&results) {
                    outside.push(path);
                }
            }
        }
        assert!(outside.is_empty(), "written outside the results folder: {outside:?}");
        // And the writer refuses such names from any caller.
        for evil in ["../x", "/etc/x", "a/../../x", "a\\..\\..\\x", ""] {
            let err = write_all(&results, &[(evil.to_owned(), b"x".to_vec())]).expect_err(evil);
            assert!(err.to_string().contains("entry"), "{evil:?}: {err}");
        }
    }

    #[test]
    fn the_store_checks_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = BlobStore::new(dir.path().to_owned());
        let h = store.put(b"hello").expect("put");
        assert_eq!(store.get(&h).expect("get"), Some(b"hello".to_vec()));
        fs::write(dir.path().join(h.to_hex().as_str()), b"tampered").expect("tamper");
        assert!(store.get(&h).is_err(), "a tampered blob is refused");
        assert_eq!(store.get(&blake3::hash(b"absent")).expect("get"), None);
    }
}
