use std::path::PathBuf;

/// Why a job package could not run. Each message names the file, and the line, row or column
/// where there is one.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The package itself: a missing or malformed `job.toml`, a bad zip, a path leaving the package.
    #[error("job package {path}: {message}")]
    Package { path: PathBuf, message: String },
    /// A data file the manifest names.
    #[error("{file}: {message}")]
    Input { file: String, message: String },
    /// The model: missing files, bad config, weights of the wrong shapes.
    #[error("model {model}: {message}")]
    Model { model: String, message: String },
    /// The output folder.
    #[error("output folder {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error(transparent)]
    Engine(#[from] gpu_engine::EngineError),
    /// The job's reproducibility class is not one this device reproduces (a fused job on a
    /// device whose `fma` is not fused): its results would not match the other replicas'.
    #[error(
        "{device} does not compute the {class} class this job is in: its results would differ from every device that does"
    )]
    Class { class: gridmint_protocol::ReproClass, device: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    /// Reported by the device worker process that ran the job (`input`: the job's own input is
    /// at fault).
    #[error("{message}")]
    Worker { message: String, input: bool },
}

impl JobError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| JobError::Io { what, path, source }
    }

    pub(crate) fn input(file: &str, message: impl Into<String>) -> Self {
        JobError::Input { file: file.to_owned(), message: message.into() }
    }

    /// Whether the job's own input is at fault (not the machine).
    pub fn is_input_error(&self) -> bool {
        match self {
            JobError::Package { .. } | JobError::Input { .. } | JobError::Model { .. } | JobError::Output { .. } => {
                true
            }
            JobError::Engine(e) => {
                matches!(e, gpu_engine::EngineError::Shape { .. } | gpu_engine::EngineError::Weights { .. })
            }
            JobError::Io { .. } | JobError::Class { .. } => false,
            JobError::Worker { input, .. } => *input,
        }
    }
}

/// Errors of device work outside one job's run: opening and benchmarking a device, the device
/// worker process, idle detection.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Engine(#[from] gpu_engine::EngineError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error("device worker: {message}")]
    Worker { message: String },
    #[error("idle detection: {message}")]
    IdleDetection { message: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{message}")]
    InvalidRequest { message: String },
}

impl From<gridmint_home::HomeError> for RunnerError {
    fn from(e: gridmint_home::HomeError) -> Self {
        match e {
            gridmint_home::HomeError::InvalidRequest { message } => RunnerError::InvalidRequest { message },
            gridmint_home::HomeError::Io { what, path, source } => RunnerError::Io { what, path, source },
        }
    }
}
