//! Where the node keeps things. Resolved once, by the binary, and passed down.

use std::path::{Path, PathBuf};

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

    /// The same, with models from `models`.
    pub fn with_models(self, models: PathBuf) -> Self {
        Self { models, ..self }
    }

    /// The folder holding the named model (`<models>/<name>`).
    pub fn model(&self, name: &str) -> PathBuf {
        self.models.join(name)
    }

    /// The driver pipeline cache's folder.
    pub fn pipeline_cache(&self) -> PathBuf {
        self.cache.join("pipelines")
    }
}
