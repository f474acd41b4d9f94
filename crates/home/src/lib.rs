//! Gridmint's home on one machine: what the window (`src-tauri`) and the agent (`crates/agent`)
//! both need and nothing more: the app's folders ([`Paths`], the data folder's move), logging to
//! stderr and a daily file, and the control channel the window talks to the agent over (a Unix socket, a Windows named pipe).
//!
//! It knows nothing of chains, peers, devices or wallets, so the window links none of them
//! (`scripts/check-architecture.sh` holds it to that).

pub mod control;
pub mod logging;
pub mod paths;

pub use paths::Paths;

/// What went wrong with the app's folders.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// A request that cannot be done as asked (the message says what and why).
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
}

impl HomeError {
    /// The wire form: what the UI shows.
    pub fn to_api(&self) -> gridmint_protocol::ApiError {
        use gridmint_protocol::{ApiError, ErrorCode};
        let code = match self {
            HomeError::InvalidRequest { .. } => ErrorCode::InvalidInput,
            HomeError::Io { .. } => ErrorCode::Internal,
        };
        ApiError::new(code, self.to_string())
    }
}
