//! Where the app keeps things. Resolved once, by the binary, and passed down.

use std::path::{Path, PathBuf};

use crate::HomeError;

/// The data folder the owner chose, kept in the config folder.
fn data_pointer(paths: &Paths) -> PathBuf {
    paths.config.join("data-folder")
}

/// A move of the data folder asked for, done at the next start (nothing has it open then).
fn pending_move(paths: &Paths) -> PathBuf {
    paths.config.join("data-folder.next")
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HomeError + 'a {
    move |source| HomeError::Io { what, path: path.to_owned(), source }
}

/// Writes `value` as JSON to `path`, creating its folder: to a temporary file, then renamed, so a
/// reader never sees half of it.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), HomeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    }
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(value).map_err(|e| HomeError::InvalidRequest { message: e.to_string() })?;
    std::fs::write(&tmp, json).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("renaming", path))
}

/// Asks for the data folder to move to `to` at the next start: `to` must be a full path, new
/// or empty, and not inside the current one.
pub fn request_data_move(paths: &Paths, to: &Path) -> Result<(), HomeError> {
    let bad = |why: &str| Err(HomeError::InvalidRequest { message: format!("data folder {}: {why}", to.display()) });
    if !to.is_absolute() {
        return bad("give a full path (from /)");
    }
    if to.starts_with(&paths.data) {
        return bad("is inside the current data folder");
    }
    match std::fs::read_dir(to).map(|mut entries| entries.next().is_none()) {
        Ok(false) => return bad("is not empty; choose a new or empty folder"),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return bad(&format!("cannot be read ({e})")),
        _ => {}
    }
    std::fs::create_dir_all(&paths.config).map_err(io("creating", &paths.config))?;
    let pending = pending_move(paths);
    std::fs::write(&pending, to.display().to_string()).map_err(io("writing", &pending))
}

/// Creates the config, data, cache and log folders readable by the owner alone (0700), and
/// narrows them to that if they exist wider: keys' metadata, job data, results, logs and the
/// control socket live there. (The model cache is shared and holds public weights.)
pub fn secure_folders(paths: &Paths) -> Result<(), HomeError> {
    for dir in [&paths.config, &paths.data, &paths.cache, &paths.logs] {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io("restricting to its owner", dir))?;
        }
    }
    Ok(())
}

/// Where the data folder will be after the next start, if a move waits.
pub fn pending_data_move(paths: &Paths) -> Option<PathBuf> {
    std::fs::read_to_string(pending_move(paths)).ok().map(|p| PathBuf::from(p.trim()))
}

/// The paths with the data folder the owner chose, after doing a move that waits. Call once at
/// start, before anything opens the data folder. A move that fails leaves the data where it was
/// (the paths returned say where) and the error says why; it is tried again at the next start.
pub fn resolve_data(paths: Paths) -> (Paths, Option<HomeError>) {
    let paths = match std::fs::read_to_string(data_pointer(&paths)) {
        Ok(p) if !p.trim().is_empty() => {
            let data = PathBuf::from(p.trim());
            paths.with_data(data)
        }
        _ => paths,
    };
    let Some(to) = pending_data_move(&paths) else { return (paths, None) };
    match move_data(&paths, &to) {
        Ok(moved) => (moved, None),
        Err(e) => (paths, Some(e)),
    }
}

fn move_data(paths: &Paths, to: &Path) -> Result<Paths, HomeError> {
    let to = to.to_owned();
    let from = paths.data.clone();
    if from.exists() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        // An empty folder made by the owner is replaced.
        if to.is_dir() {
            std::fs::remove_dir(&to).map_err(io("replacing the empty folder", &to))?;
        }
        if std::fs::rename(&from, &to).is_err() {
            // Another file system: copy, then remove the original.
            copy_tree(&from, &to)?;
            std::fs::remove_dir_all(&from).map_err(io("removing the moved", &from))?;
        }
    }
    let moved = paths.clone().with_data(to.clone());
    let pointer = data_pointer(paths);
    std::fs::write(&pointer, to.display().to_string()).map_err(io("writing", &pointer))?;
    let pending = pending_move(paths);
    std::fs::remove_file(&pending).map_err(io("removing", &pending))?;
    tracing::info!(from = %from.display(), to = %to.display(), "data folder moved");
    Ok(moved)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), HomeError> {
    std::fs::create_dir_all(to).map_err(io("creating", to))?;
    for entry in std::fs::read_dir(from).map_err(io("reading", from))? {
        let entry = entry.map_err(io("reading", from))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io("reading", &entry.path()))?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io("copying", &target))?;
        }
    }
    Ok(())
}

/// The node's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Settings and network profiles.
    pub config: PathBuf,
    /// The database, job data, results.
    pub data: PathBuf,
    /// Model weights, the pipeline cache: anything that can be fetched or rebuilt.
    pub cache: PathBuf,
    /// Log files.
    pub logs: PathBuf,
    /// Model folders by name (`make setup` puts all-MiniLM-L6-v2 here). Large and read-only, so
    /// nodes under `--home` share the machine's by default (see [`Paths::with_models`]).
    pub models: PathBuf,
}

impl Paths {
    /// The platform's directories for Gridmint (`~/.config/gridmint`, `~/.local/share/gridmint`,
    /// `~/.cache/gridmint` on Linux). Call this once, at the edge.
    pub fn discover() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("net", "Gridmint", "gridmint")?;
        let data = dirs.data_local_dir().to_path_buf();
        Some(Self {
            config: dirs.config_dir().to_path_buf(),
            logs: dirs.state_dir().map_or_else(|| data.join("logs"), |s| s.join("logs")),
            cache: dirs.cache_dir().to_path_buf(),
            models: dirs.cache_dir().join("models"),
            data,
        })
    }

    /// Every directory under one root: for tests, several nodes on one machine, and `--home`.
    pub fn under(root: &Path) -> Self {
        Self {
            config: root.join("config"),
            data: root.join("data"),
            cache: root.join("cache"),
            logs: root.join("logs"),
            models: root.join("cache").join("models"),
        }
    }

    /// The desktop's directories, from its environment: GRIDMINT_HOME (every folder under it),
    /// else the platform's (else the temporary folder's `gridmint`); models from GRIDMINT_MODELS,
    /// else the machine's model cache. The window and the agent both resolve them so.
    pub fn from_env() -> Self {
        let machine = Self::discover();
        let mut paths = match std::env::var_os("GRIDMINT_HOME") {
            Some(home) => {
                let paths = Self::under(Path::new(&home));
                match &machine {
                    Some(m) => paths.with_models(m.models.clone()),
                    None => paths,
                }
            }
            None => machine.unwrap_or_else(|| Self::under(&std::env::temp_dir().join("gridmint"))),
        };
        if let Some(models) = std::env::var_os("GRIDMINT_MODELS") {
            paths = paths.with_models(PathBuf::from(models));
        }
        paths
    }

    /// The same, with models from `models`.
    pub fn with_models(self, models: PathBuf) -> Self {
        Self { models, ..self }
    }

    /// The same, with data in `data`.
    pub fn with_data(self, data: PathBuf) -> Self {
        Self { data, ..self }
    }

    /// The folder holding the named model (`<models>/<name>`).
    pub fn model(&self, name: &str) -> PathBuf {
        self.models.join(name)
    }

    /// The GEMM layouts `gridmint bench` measured fastest, per device, driver and class.
    pub fn gemm_layouts(&self) -> PathBuf {
        self.cache.join("gemm-layouts.json")
    }

    /// The driver pipeline cache's folder.
    pub fn pipeline_cache(&self) -> PathBuf {
        self.cache.join("pipelines")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another user on the machine could list and read the data folder (job packages, results,
    /// the node's state) and the logs: they were created with the umask's 0755.
    #[cfg(unix)]
    #[test]
    fn attack_another_user_cannot_read_the_apps_folders() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().expect("tempdir");
        let paths = Paths::under(&root.path().join("home"));
        std::fs::create_dir_all(&paths.data).expect("mkdir");
        std::fs::set_permissions(&paths.data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        secure_folders(&paths).expect("secured");
        for dir in [&paths.config, &paths.data, &paths.cache, &paths.logs] {
            let mode = std::fs::metadata(dir).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
        }
    }

    #[test]
    fn the_data_folder_moves_at_the_next_start_and_stays_there() {
        let root = tempfile::tempdir().expect("tempdir");
        let paths = Paths::under(&root.path().join("home"));
        std::fs::create_dir_all(paths.data.join("results/job-1")).expect("mkdir");
        std::fs::write(paths.data.join("results/job-1/embeddings.npy"), b"npy").expect("write");
        std::fs::write(paths.data.join("settings.json"), b"{}").expect("write");

        let refuse = |to: &Path, says: &str| {
            let err = request_data_move(&paths, to).expect_err(says);
            assert!(err.to_string().contains(says), "{says}: {err}");
        };
        refuse(Path::new("relative/data"), "full path");
        refuse(&paths.data.join("inner"), "inside the current data folder");
        let busy = root.path().join("busy");
        std::fs::create_dir_all(&busy).expect("mkdir");
        std::fs::write(busy.join("x"), b"x").expect("write");
        refuse(&busy, "not empty");
        assert_eq!(pending_data_move(&paths), None, "a refused move is not kept");

        let to = root.path().join("elsewhere/gridmint data");
        request_data_move(&paths, &to).expect("a move is asked for");
        assert_eq!(pending_data_move(&paths), Some(to.clone()));
        assert!(paths.data.join("settings.json").is_file(), "nothing moves before the next start");

        let (moved, error) = resolve_data(paths.clone());
        assert!(error.is_none(), "{error:?}");
        assert_eq!(moved.data, to);
        assert_eq!(std::fs::read(to.join("results/job-1/embeddings.npy")).expect("moved"), b"npy");
        assert!(!paths.data.exists(), "the old folder is gone");
        assert_eq!(pending_data_move(&paths), None, "done");
        // Every later start finds it there.
        let (again, error) = resolve_data(paths.clone());
        assert!(error.is_none());
        assert_eq!(again.data, to);
        assert_eq!(again.config, paths.config, "settings stay put");
    }
}
