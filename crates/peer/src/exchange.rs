//! Content-addressed job data: BLAKE3-named blobs in a node's own store, and deterministic
//! bundles (zip archives) of a folder's files. Moving them between nodes is [`crate::endpoint`]'s job.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use crate::PeerError;

/// A content-addressed blob folder, with a quota: a `put` that would take the blobs over it is
/// refused (nothing already stored is dropped to make room), and [`BlobStore::prune`] deletes
/// what has not been written or linked for a while.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    quota: u64,
}

/// The most a node's store holds unless told otherwise.
pub const DEFAULT_QUOTA: u64 = 64 << 30;

/// How long a blob or name stays after it was last stored or linked: longer than any job lives
/// (claim, commit and reveal windows of at most a week each, then the check window), so what a
/// job in progress needs is never pruned.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// What [`BlobStore::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PeerError {
    let path = path.to_owned();
    move |source| PeerError::Io { what, path, source }
}

impl BlobStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, quota: DEFAULT_QUOTA }
    }

    /// The same folder with a quota of `bytes`.
    pub fn with_quota(self, bytes: u64) -> Self {
        Self { quota: bytes, ..self }
    }

    /// Bytes the quota still leaves for new blobs.
    pub fn room(&self) -> Result<u64, PeerError> {
        Ok(self.quota.saturating_sub(self.usage()?))
    }

    /// Bytes the blobs take (names are a few bytes each and not counted).
    pub fn usage(&self) -> Result<u64, PeerError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(PeerError::Io { what: "listing", path: self.dir.clone(), source: e }),
        };
        let mut total = 0u64;
        for entry in entries {
            let entry = entry.map_err(io("listing", &self.dir))?;
            let meta = entry.metadata().map_err(io("reading", &entry.path()))?;
            if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
        Ok(total)
    }

    /// Deletes every blob and name last written before `cutoff` (callers pass now minus
    /// [`RETENTION`]), and leftovers of interrupted writes; then empty folders of names.
    pub fn prune(&self, cutoff: std::time::SystemTime) -> Result<Pruned, PeerError> {
        let mut pruned = Pruned::default();
        if !self.dir.exists() {
            return Ok(pruned);
        }
        let mut stack = vec![self.dir.clone()];
        let mut dirs = Vec::new();
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).map_err(io("listing", &d))? {
                let entry = entry.map_err(io("listing", &d))?;
                let path = entry.path();
                let meta = fs::symlink_metadata(&path).map_err(io("reading", &path))?;
                if meta.is_dir() {
                    stack.push(path.clone());
                    dirs.push(path);
                    continue;
                }
                let modified = meta.modified().map_err(io("reading the time of", &path))?;
                if modified < cutoff {
                    fs::remove_file(&path).map_err(io("deleting", &path))?;
                    pruned.files += 1;
                    pruned.bytes += meta.len();
                }
            }
        }
        // Deepest first, so a folder emptied by its children goes too.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = fs::remove_dir(&d); // fails while not empty: kept
        }
        Ok(pruned)
    }

    fn path(&self, hash: &blake3::Hash) -> PathBuf {
        self.dir.join(hash.to_hex().as_str())
    }

    /// Stores `bytes` under their BLAKE3 (written to a temporary name, then renamed: readers never
    /// see half a blob).
    pub fn put(&self, bytes: &[u8]) -> Result<blake3::Hash, PeerError> {
        self.put_hashed(bytes, blake3::hash(bytes))
    }

    /// [`BlobStore::put`] of bytes whose BLAKE3 the caller computed already (`hash` must be it).
    pub fn put_hashed(&self, bytes: &[u8], hash: blake3::Hash) -> Result<blake3::Hash, PeerError> {
        let path = self.path(&hash);
        if path.exists() {
            // Stored again: it is in use, so its retention starts over.
            let file = fs::File::options().append(true).open(&path).map_err(io("opening", &path))?;
            file.set_modified(std::time::SystemTime::now()).map_err(io("touching", &path))?;
        } else {
            let used = self.usage()?;
            if used.saturating_add(bytes.len() as u64) > self.quota {
                return Err(PeerError::TooBig {
                    message: format!(
                        "the store {} holds {used} bytes; {} more would pass its quota of {} bytes",
                        self.dir.display(),
                        bytes.len(),
                        self.quota
                    ),
                });
            }
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

/// Every regular file under `dir` (relative, `/`-separated, sorted), skipping hidden names. A
/// symbolic link anywhere under `dir` is refused, naming it.
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
            // The entry itself, not what a link points at: a link could lead anywhere on the
            // machine (`data -> ~/.ssh`), and what is bundled leaves it.
            let kind = entry.file_type().map_err(io("reading the type of", &path))?;
            if kind.is_symlink() {
                let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                let to = fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
                return Err(PeerError::Exchange {
                    message: format!(
                        "{}: `{rel}` is a symbolic link (to {to}); a package carries its own files, so copy them in",
                        dir.display()
                    ),
                });
            }
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
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

/// How much a bundle from a peer may hold once read: it is read into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Bytes of all entries together, as read (not as the headers claim).
    pub max_bytes: u64,
    pub max_entries: usize,
}

impl BundleLimits {
    /// What a job's package or result may hold: 1 GiB in 10,000 files.
    pub const DEFAULT: Self = Self { max_bytes: 1 << 30, max_entries: 10_000 };
}

/// The entries of a bundle, refusing names that would leave a folder, within
/// [`BundleLimits::DEFAULT`].
pub fn unbundle(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, PeerError> {
    unbundle_within(bytes, BundleLimits::DEFAULT)
}

/// [`unbundle`] within `limits`: a bundle with more entries, or whose entries expand to more
/// bytes (a deflate bomb), is refused as soon as reading shows it, without holding the excess.
pub fn unbundle_within(bytes: &[u8], limits: BundleLimits) -> Result<Vec<(String, Vec<u8>)>, PeerError> {
    let bad = |message: String| PeerError::Exchange { message };
    // The entry count from the end record first: the zip reader parses the whole central
    // directory before anyone can count it (a GiB of 46-byte entries is millions of them).
    if let Some(entries) = declared_entries(bytes)
        && entries > limits.max_entries
    {
        return Err(bad(format!(
            "the bundle declares {entries} entries, more than the {} a bundle may hold",
            limits.max_entries
        )));
    }
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(format!("not a bundle: {e}")))?;
    if archive.len() > limits.max_entries {
        return Err(bad(format!(
            "the bundle has {} entries, more than the {} a bundle may hold",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut out = Vec::new();
    let mut left = limits.max_bytes;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry_name(entry.name())?.to_owned();
        let mut data = Vec::new();
        entry.take(left + 1).read_to_end(&mut data).map_err(|e| bad(format!("entry `{name}`: {e}")))?;
        if data.len() as u64 > left {
            return Err(bad(format!(
                "entry `{name}`: the bundle expands to more than {} bytes, the most a bundle may hold",
                limits.max_bytes
            )));
        }
        left -= data.len() as u64;
        out.push((name, data));
    }
    Ok(out)
}

/// The entry count a zip's end-of-central-directory record declares (`u16::MAX` for a ZIP64
/// archive, which no bundle needs), if the record is found in the last 64 KiB.
fn declared_entries(bytes: &[u8]) -> Option<usize> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    let from = bytes.len().saturating_sub(22 + 65_535);
    let at = bytes[from..].windows(4).rposition(|w| w == EOCD)? + from;
    let total = bytes.get(at + 10..at + 12)?;
    Some(usize::from(u16::from_le_bytes([total[0], total[1]])))
}

/// The root a replica commits for output files held in memory: the claim root
/// ([`gridmint_runner::trace::claim_root`], the one definition; `result.json` carries the same)
/// of the trace among them, when every file is bound to it ([`gridmint_runner::binding`]).
/// Files that are not, or whose trace is missing or unreadable, count as an empty trace: a root
/// no honest run commits, and one no court accepts.
pub fn result_root(entries: &[(String, Vec<u8>)]) -> [u8; 32] {
    gridmint_runner::trace::claim_root(&claim_trace(entries))
}

/// The one root every set of files not bound to a trace hashes to (an empty trace's claim): no
/// result has it. A buyer refuses a delivery under it, challenges replicas that agree on it (they
/// cannot open it in the court), and never takes it as verified; a provider never commits it.
pub fn unbound_root() -> [u8; 32] {
    gridmint_runner::trace::claim_root(&gridmint_runner::trace::Trace::default())
}

/// The trace among the files when every file is bound to it, else why not (the file, and what).
pub fn bound_trace(
    entries: &[(String, Vec<u8>)],
) -> Result<gridmint_runner::trace::Trace, gridmint_runner::binding::Unbound> {
    use gridmint_runner::{
        binding::Unbound,
        trace::{TRACE_FILE, Trace},
    };
    let unbound = |message: String| Unbound { file: TRACE_FILE.to_owned(), message };
    let (_, bytes) =
        entries.iter().find(|(name, _)| name == TRACE_FILE).ok_or_else(|| unbound("is missing".to_owned()))?;
    let trace = Trace::decode(bytes).map_err(|e| unbound(e.to_string()))?;
    gridmint_runner::binding::check(entries, &trace)?;
    Ok(trace)
}

/// What a result root commits to: the trace among the files, when every file is bound to it
/// (else an empty trace). A replica opens it in the court.
pub fn claim_trace(entries: &[(String, Vec<u8>)]) -> gridmint_runner::trace::Trace {
    match bound_trace(entries) {
        Ok(trace) => trace,
        Err(e) => {
            // The message may quote the peer's bytes (an .npy header, a JSON error): shortened
            // and escaped.
            let message: String = e.message.chars().take(160).collect();
            tracing::warn!(file = %e.file.escape_debug(), why = %message.escape_debug(), "a result's files are not bound to its trace");
            gridmint_runner::trace::Trace::default()
        }
    }
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

    mod hostile_input {
        use proptest::prelude::*;

        use super::super::*;

        fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for (name, bytes) in entries {
                if zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).is_err() {
                    continue;
                }
                zip.write_all(bytes).expect("in memory");
            }
            zip.finish().expect("in memory").into_inner()
        }

        proptest! {
            /// Bytes from a peer: a bundle, or an error; never a panic.
            #[test]
            fn any_bytes_unbundle_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
                let _ = unbundle(&bytes);
            }

            /// Whatever names a peer puts in a bundle, what is read back stays inside the folder
            /// it is written to.
            #[test]
            fn every_name_read_from_a_bundle_stays_inside_its_folder(
                names in proptest::collection::vec("[a-z./\\\\:\\x00-\\x1f]{0,24}", 1..8),
            ) {
                let entries: Vec<(String, Vec<u8>)> = names.into_iter().map(|n| (n, b"x".to_vec())).collect();
                if let Ok(read) = unbundle(&zip_of(&entries)) {
                    for (name, _) in read {
                        let path = std::path::Path::new(&name);
                        prop_assert!(
                            path.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                            "{name:?} leaves its folder"
                        );
                        prop_assert!(!name.contains('\\'), "{name:?}");
                    }
                }
            }
        }
    }

    /// A peer (or a buyer's replicas) cannot fill the disk: past its quota the store refuses new
    /// blobs, says why, and keeps what it has.
    #[test]
    fn attack_a_store_refuses_blobs_past_its_quota() {
        let dir = tempfile::tempdir().expect("dir");
        let store = BlobStore::new(dir.path().join("blobs")).with_quota(1000);
        let first = store.put(&[1u8; 600]).expect("under the quota");
        let refused = store.put(&[2u8; 600]).expect_err("over the quota");
        assert!(matches!(refused, PeerError::TooBig { .. }), "{refused}");
        assert!(refused.to_string().contains("quota of 1000 bytes"), "{refused}");
        assert_eq!(store.put(&[1u8; 600]).expect("stored again"), first, "what is there can be stored again");
        assert_eq!(store.usage().expect("usage"), 600);
        assert!(store.get(&first).expect("read").is_some());
    }

    /// Nothing stays forever: what was not stored or linked within the retention goes, what
    /// was stays, and so do the folders of names still in use.
    #[test]
    fn prune_deletes_what_was_not_used_within_the_retention() {
        let dir = tempfile::tempdir().expect("dir");
        let store = BlobStore::new(dir.path().join("blobs"));
        let old = store.put(b"an old job's package").expect("put");
        store.link("results/old", &old).expect("link");
        let now = std::time::SystemTime::now();
        let long_ago = now - RETENTION - std::time::Duration::from_secs(3600);
        for path in [dir.path().join("blobs").join(old.to_hex().as_str()), dir.path().join("blobs/results/old")] {
            fs::File::options().append(true).open(&path).expect("open").set_modified(long_ago).expect("age");
        }
        let fresh = store.put(b"a job in progress").expect("put");
        store.link("sealed/fresh", &fresh).expect("link");
        let pruned = store.prune(now - RETENTION).expect("prune");
        assert_eq!(pruned.files, 2, "the old blob and its name");
        assert_eq!(pruned.bytes, b"an old job's package".len() as u64 + 64);
        assert!(store.get(&old).expect("read").is_none());
        assert!(!dir.path().join("blobs/results").exists(), "an emptied folder of names goes");
        assert_eq!(store.resolve("sealed/fresh").expect("read").as_deref(), Some(&b"a job in progress"[..]));
        // Stored again, an old blob starts over.
        let again = store.put(b"an old job's package").expect("put");
        assert_eq!(store.prune(now - RETENTION).expect("prune").files, 0);
        assert!(store.get(&again).expect("read").is_some());
    }

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
        let result = bound_result();
        let reversed: Vec<_> = result.iter().rev().cloned().collect();
        assert_eq!(result_root(&result), result_root(&reversed), "order does not matter");
    }

    /// An embed result of two rows as the runner writes it: its files bound to its trace.
    fn bound_result() -> Vec<(String, Vec<u8>)> {
        use gridmint_runner::{npy, trace};
        let rows = [[0.5f32, -1.0, 2.0], [3.0, 0.25, -0.125]];
        let steps = rows
            .iter()
            .map(|row| trace::Step { flops: 7, prev: 0, input: [1; 32], output: trace::hash_f32s(row) })
            .collect();
        vec![
            ("embeddings.npy".to_owned(), npy::f32_matrix(&rows.concat(), 2, 3)),
            (trace::TRACE_FILE.to_owned(), trace::Trace { steps }.encode()),
        ]
    }

    /// A delivered result is checked against the root it was offered for: replicas that agree on
    /// the right steps but deliver a wrong file deliver files with no claim (the buyer refuses
    /// them), and a replica committing such files commits a root no court opens.
    #[test]
    fn attack_files_not_bound_to_their_trace_hash_to_no_claim() {
        use gridmint_runner::trace::{Trace, claim_root};
        let result = bound_result();
        let trace = claim_trace(&result);
        assert_eq!(trace.steps.len(), 2);
        assert_eq!(result_root(&result), claim_root(&trace), "the claim is the trace's");
        let mut wrong_row = result.clone();
        let last = wrong_row[0].1.len() - 1;
        wrong_row[0].1[last] ^= 1;
        let unbound = claim_root(&Trace::default());
        assert_eq!(unbound, unbound_root());
        assert_eq!(result_root(&wrong_row), unbound, "a row that is not its step's output");
        assert_eq!(claim_trace(&wrong_row), Trace::default());
        let mut extra = result.clone();
        extra.push(("readme.txt".to_owned(), b"made by no step".to_vec()));
        assert_eq!(result_root(&extra), unbound, "a file no step made");
        assert_eq!(result_root(&result[..1]), unbound, "no trace");
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

    /// A package folder holding a link out of it (`data -> ~/.ssh`, say, left in a template) had
    /// the linked files bundled and served to every claimant: the buyer's secrets left the machine.
    #[cfg(unix)]
    #[test]
    fn attack_a_link_in_a_package_folder_cannot_ship_files_from_outside_it() {
        let root = tempfile::tempdir().expect("tmp");
        let secrets = root.path().join("home/.ssh");
        fs::create_dir_all(&secrets).expect("mkdir");
        fs::write(secrets.join("id_ed25519"), b"-----BEGIN OPENSSH PRIVATE KEY-----").expect("key");
        let package = root.path().join("job");
        fs::create_dir_all(&package).expect("mkdir");
        fs::write(package.join("job.toml"), b"kind = \"embed\"").expect("manifest");
        std::os::unix::fs::symlink(&secrets, package.join("data")).expect("link a folder");
        let err = files(&package).expect_err("a linked folder is refused");
        assert!(err.to_string().contains("data") && err.to_string().contains("link"), "{err}");
        fs::remove_file(package.join("data")).expect("unlink");
        std::os::unix::fs::symlink(secrets.join("id_ed25519"), package.join("input.txt")).expect("link a file");
        let err = files(&package).expect_err("a linked file is refused");
        assert!(err.to_string().contains("input.txt"), "{err}");
    }

    /// A bundle from a peer is read into memory: a few megabytes of deflated zeros claimed
    /// gigabytes. It is refused once what it expands to passes the limit, whatever its headers say.
    #[test]
    fn attack_a_deflate_bomb_from_a_peer_is_refused_at_the_limit() {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("bomb.bin", deflated).expect("entry");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            zip.write_all(&zeros).expect("write");
        }
        let bytes = zip.finish().expect("zip").into_inner();
        assert!(bytes.len() < 1 << 20, "64 MiB of zeros deflate to {} bytes", bytes.len());
        let limits = BundleLimits { max_bytes: 8 << 20, max_entries: 100 };
        let err = unbundle_within(&bytes, limits).expect_err("over the limit");
        assert!(err.to_string().contains("bomb.bin") && err.to_string().contains("more than"), "{err}");
        // Many small entries: the count is limited too.
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..101 {
            zip.start_file(format!("f{i}"), zip::write::SimpleFileOptions::default()).expect("entry");
        }
        let many = zip.finish().expect("zip").into_inner();
        let err = unbundle_within(&many, limits).expect_err("too many entries");
        assert!(err.to_string().contains("101 entries"), "{err}");
        // Within the limits it reads as before.
        assert_eq!(unbundle_within(&many, BundleLimits { max_entries: 101, ..limits }).expect("fits").len(), 101);
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
